//! The reference values of the domain, stored as the strings the partner platforms use.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a string-backed enum stored by SeaORM, with its list of values.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $value)] #[serde(rename = $value)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored string of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value,)+ }
            }

            /// The value whose stored string is `s`, if any.
            pub fn from_stored(s: &str) -> Option<Self> {
                match s { $($value => Some($name::$variant),)+ _ => None }
            }
        }

        impl $crate::columns::Cell for $name {
            fn cell(res: &sea_orm::QueryResult, at: usize) -> Result<Self, sea_orm::DbErr> {
                $crate::columns::stored_at(res, at, $name::from_stored)
            }

            fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
                $crate::columns::stored_element(oid, bytes, $name::from_stored)
            }
        }

        impl $crate::columns::Cell for Option<$name> {
            fn cell(res: &sea_orm::QueryResult, at: usize) -> Result<Self, sea_orm::DbErr> {
                $crate::columns::nullable_at(res, at)
            }

            fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
                $crate::columns::nullable_element(oid, bytes)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The field of action of a mission (API Engagement's domain slugs).
    Domain {
        Animaux = "animaux",
        Autre = "autre",
        BatimentIndustrieLogistique = "batiment-industrie-logistique",
        BenevolatCompetences = "benevolat-competences",
        Communication = "communication",
        CultureLoisirs = "culture-loisirs",
        Education = "education",
        Emploi = "emploi",
        Environnement = "environnement",
        GestionFinanceDroit = "gestion-finance-droit",
        Humanitaire = "humanitaire",
        MemoireEtCitoyennete = "memoire-et-citoyennete",
        Numerique = "numerique",
        PreventionProtection = "prevention-protection",
        Recherche = "recherche",
        Sante = "sante",
        ServicePublicDefenseSecurite = "service-public-defense-securite",
        Sport = "sport",
        SolidariteInsertion = "solidarite-insertion",
        VivreEnsemble = "vivre-ensemble",
    }
}

string_enum! {
    /// The kind of engagement a mission offers.
    MissionType {
        Benevolat = "benevolat",
        VolontariatServiceCivique = "volontariat_service_civique",
        VolontariatSapeursPompiers = "volontariat_sapeurs_pompiers",
        VolontariatReserveOperationnelle = "volontariat_reserve_operationnelle",
    }
}

string_enum! {
    /// Whether a mission can be done at a distance.
    Remote {
        No = "no",
        Possible = "possible",
        Full = "full",
    }
}

string_enum! {
    /// Where a mission stands in moderation.
    MissionStatus {
        Draft = "DRAFT",
        WaitingValidation = "WAITING_VALIDATION",
        WaitingCorrection = "WAITING_CORRECTION",
        Validated = "VALIDATED",
        Refused = "REFUSED",
        Cancelled = "CANCELLED",
        Archived = "ARCHIVED",
    }
}

string_enum! {
    /// A moderator publisher's own decision on a mission it diffuses (API Engagement's model),
    /// apart from the mission's status.
    PublisherModerationStatus {
        Pending = "PENDING",
        Accepted = "ACCEPTED",
        Refused = "REFUSED",
    }
}

string_enum! {
    /// How an import run ended.
    ImportStatus {
        Success = "SUCCESS",
        Failed = "FAILED",
    }
}

string_enum! {
    /// What an import run's partner should look at.
    ImportWarning {
        /// The feed held no mission.
        Empty = "EMPTY",
        /// Many of its missions were refused.
        Validation = "VALIDATION",
        /// The run failed.
        Error = "ERROR",
    }
}

string_enum! {
    /// How an outbox message travels.
    OutboxChannel {
        Email = "EMAIL",
        Webhook = "WEBHOOK",
    }
}

string_enum! {
    /// Where an outbox message stands.
    OutboxStatus {
        /// Waiting for its (next) attempt.
        Pending = "PENDING",
        Sent = "SENT",
        /// Failed too many times; `passerelle outbox retry` sends it again.
        Dead = "DEAD",
    }
}

string_enum! {
    /// Where a volunteer's application to a mission stands.
    ApplicationStatus {
        WaitingValidation = "WAITING_VALIDATION",
        WaitingAcceptation = "WAITING_ACCEPTATION",
        Validated = "VALIDATED",
        Refused = "REFUSED",
        Cancelled = "CANCELLED",
        InProgress = "IN_PROGRESS",
        Done = "DONE",
        Abandoned = "ABANDONED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_strings_round_trip_for_every_value() {
        for d in Domain::ALL {
            assert_eq!(Domain::from_stored(d.as_str()), Some(*d));
        }
        assert_eq!(Domain::ALL.len(), 20);
        assert_eq!(Domain::from_stored("ANIMAUX"), None);
        assert_eq!(MissionStatus::Validated.as_str(), "VALIDATED");
    }
}

string_enum! {
    /// Where the coordinates of an address came from.
    GeoSource {
        /// Given by the publisher.
        Publisher = "PUBLISHER",
        /// Found by the address geocoder.
        Geocoder = "GEOCODER",
        /// The centroid of the commune or postal code, from the table shipped with Passerelle.
        Fallback = "FALLBACK",
        /// No coordinates could be found.
        NotFound = "NOT_FOUND",
    }
}

string_enum! {
    /// What a person who signs in may do; their scope (a volunteer, an organization, a
    /// department, a region, a publisher) is stored beside it (see [`crate::user`]).
    Role {
        /// An SNU volunteer: their own profile and applications.
        Volunteer = "VOLUNTEER",
        /// Staff of a host structure: its missions in every status and the applications to them.
        StructureStaff = "STRUCTURE_STAFF",
        /// A referent of a department: its volunteers and their applications.
        ReferentDepartment = "REFERENT_DEPARTMENT",
        /// A referent of a region: its volunteers and their applications.
        ReferentRegion = "REFERENT_REGION",
        /// A person of a partner platform: what the platform's API key sees.
        PartnerStaff = "PARTNER_STAFF",
        /// Public data and aggregates over volunteers and applications; never a row of personal data.
        Analyst = "ANALYST",
        /// Everything.
        Admin = "ADMIN",
    }
}

string_enum! {
    /// What a diffusion rule looks at in a mission.
    DiffusionField {
        /// The publisher (annonceur) of the mission, by id: the allowlist.
        Annonceur = "ANNONCEUR",
        /// The organization of the mission, by id.
        Organization = "ORGANIZATION",
        /// The mission type (`benevolat`, …).
        MissionType = "MISSION_TYPE",
        /// The domain (`sport`, …).
        Domain = "DOMAIN",
        /// The department of any of the mission's addresses ("69").
        Department = "DEPARTMENT",
        /// The network its organization belongs to (`parentNetwork`).
        Network = "NETWORK",
    }
}

string_enum! {
    /// Whether a diffusion rule keeps or removes the missions it matches.
    DiffusionOperator {
        Include = "INCLUDE",
        Exclude = "EXCLUDE",
    }
}
