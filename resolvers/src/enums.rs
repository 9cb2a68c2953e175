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

/// A moderator publisher's own decision on a mission it diffuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::PublisherModerationStatus")]
pub enum PublisherModerationStatus {
    /// Not decided yet (every mission starts so).
    Pending,
    Accepted,
    Refused,
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

/// What a person who signs in may do (their scope is beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::Role")]
pub enum Role {
    /// An SNU volunteer: their own profile and applications.
    Volunteer,
    /// Staff of a host structure: its missions in every status, the applications to them.
    StructureStaff,
    /// A referent of a department: its volunteers and their applications.
    ReferentDepartment,
    /// A referent of a region: its volunteers and their applications.
    ReferentRegion,
    /// A person of a partner platform: what the platform's API key sees.
    PartnerStaff,
    /// Public data and aggregates over volunteers and applications.
    Analyst,
    /// Everything.
    Admin,
}

/// What a diffusion rule looks at in a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::DiffusionField")]
pub enum DiffusionField {
    /// The mission's publisher (annonceur), by id: the allowlist of a diffuseur.
    Annonceur,
    /// The mission's organization, by id.
    Organization,
    /// The mission type, by its stored value (`benevolat`, `volontariat_service_civique`, …).
    MissionType,
    /// The domain, by its stored value (`sport`, `environnement`, …).
    Domain,
    /// The department of any of the mission's addresses ("69", "2A").
    Department,
    /// The network of the mission's organization (`Organization.parentNetwork`).
    Network,
}

/// Whether a diffusion rule keeps or removes the missions it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "db::DiffusionOperator")]
pub enum DiffusionOperator {
    /// Keep only missions that match one of the field's INCLUDE values.
    Include,
    /// Remove missions that match.
    Exclude,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

impl From<OrderDirection> for sea_orm::Order {
    fn from(direction: OrderDirection) -> Self {
        match direction {
            OrderDirection::Asc => sea_orm::Order::Asc,
            OrderDirection::Desc => sea_orm::Order::Desc,
        }
    }
}

/// The GraphQL name of an enum value, e.g. `ENVIRONNEMENT`: what facets report.
pub fn graphql_name<T: async_graphql::InputType>(value: &T) -> String {
    match value.to_value() {
        async_graphql::Value::Enum(name) => name.to_string(),
        other => other.to_string(),
    }
}
