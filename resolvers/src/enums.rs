//! The domain's reference values as GraphQL enums (SCREAMING_CASE of the stored strings).
use async_graphql::Enum;
use passerelle_entities::enums as db;

/// The field of action of a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::Domain")]
pub enum Domain {
    Animaux,
    Autre,
    BatimentIndustrieLogistique,
    BenevolatCompetences,
    Communication,
    CultureLoisirs,
    Education,
    Emploi,
    Environnement,
    GestionFinanceDroit,
    Humanitaire,
    MemoireEtCitoyennete,
    Numerique,
    PreventionProtection,
    Recherche,
    Sante,
    ServicePublicDefenseSecurite,
    Sport,
    SolidariteInsertion,
    VivreEnsemble,
}

/// The kind of engagement a mission offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::MissionType")]
pub enum MissionType {
    /// Volunteering, unpaid.
    Benevolat,
    /// Service Civique: a paid engagement of 6 to 12 months for people aged 16 to 25.
    VolontariatServiceCivique,
    /// Volunteer firefighters.
    VolontariatSapeursPompiers,
    /// The operational reserve of the armed forces.
    VolontariatReserveOperationnelle,
}

/// Whether a mission can be done at a distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::Remote")]
pub enum Remote {
    /// On site only.
    No,
    /// Partly at a distance.
    Possible,
    /// Entirely at a distance.
    Full,
}

/// Where a mission stands in moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::MissionStatus")]
pub enum MissionStatus {
    Draft,
    WaitingValidation,
    WaitingCorrection,
    Validated,
    Refused,
    Cancelled,
    Archived,
}

/// Where a volunteer's application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::ApplicationStatus")]
pub enum ApplicationStatus {
    WaitingValidation,
    WaitingAcceptation,
    Validated,
    Refused,
    Cancelled,
    InProgress,
    Done,
    Abandoned,
}

/// Where the coordinates of an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::GeoSource")]
pub enum GeoSource {
    /// Given by the publisher.
    Publisher,
    /// Found by the address geocoder.
    Geocoder,
    /// The centroid of the commune (from its postal code and name): approximate.
    Fallback,
    /// No coordinates could be found.
    NotFound,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// The GraphQL name of an enum value, e.g. `ENVIRONNEMENT`: what facets report.
pub fn graphql_name<T: async_graphql::InputType>(value: &T) -> String {
    match value.to_value() {
        async_graphql::Value::Enum(name) => name.to_string(),
        other => other.to_string(),
    }
}
