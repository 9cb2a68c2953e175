//! The arguments of `missions`: what to keep and in which order.
use async_graphql::{Enum, ID, InputObject};
use chrono::{DateTime, Utc};

use crate::enums::{
    Domain, MissionStatus, MissionType, OrderDirection, PublisherModerationStatus, Remote,
};

/// Which missions to list. Every field narrows the list; an empty list (`domains: []`) narrows
/// nothing. Deleted missions are never listed.
#[derive(Debug, Clone, Default, InputObject)]
pub struct MissionFilter {
    /// Words searched in the title, description, organization name and cities; accents and
    /// case are ignored, every word must match, the last one as a prefix. At most 200
    /// characters and 16 words.
    pub keywords: Option<String>,
    /// Any of these domains.
    pub domains: Option<Vec<Domain>>,
    /// Any of these mission types.
    pub types: Option<Vec<MissionType>>,
    /// Any of these remote modes.
    pub remote: Option<Vec<Remote>>,
    /// Missions with an address in any of these departments ("69", "2A", "971").
    pub department_codes: Option<Vec<String>>,
    /// Missions with an address within this circle.
    pub near: Option<GeoRadius>,
    /// Missions that start at or after this time.
    pub starts_after: Option<DateTime<Utc>>,
    /// Missions that end at or before this time (missions without an end date are left out).
    pub ends_before: Option<DateTime<Utc>>,
    pub open_to_minors: Option<bool>,
    /// Missions open (or not) to SNU volunteers.
    pub snu: Option<bool>,
    /// true: missions with at least one place left; false: full missions.
    pub has_places_left: Option<bool>,
    /// Missions of any of these publishers.
    pub publisher_ids: Option<Vec<ID>>,
    /// Missions of any of these organizations.
    pub organization_ids: Option<Vec<ID>>,
    /// Missions in any of these statuses; VALIDATED when not given. Validated missions are
    /// public; missions in other statuses are listed only to those who manage them: a partner
    /// its own, structure staff their organization's, a referent those with an address in
    /// their territory, an admin all of them.
    pub statuses: Option<Vec<MissionStatus>>,
    /// A moderator publisher's key (or its people): missions of any of these decisions of its
    /// own (PENDING: not decided yet).
    pub moderation_statuses: Option<Vec<PublisherModerationStatus>>,
}

/// A circle on the Earth.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct GeoRadius {
    /// Latitude of the centre, in degrees (-90 to 90).
    pub lat: f64,
    /// Longitude of the centre, in degrees (-180 to 180).
    pub lon: f64,
    /// Radius in kilometres, more than 0 and at most 1000.
    pub radius_km: f64,
}

/// The order of `missions`. Without it: RELEVANCE with `keywords`, else DISTANCE with `near`,
/// else POSTED_AT descending (newest first). Ties are broken by id, in the same direction.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct MissionOrder {
    pub field: MissionOrderField,
    pub direction: OrderDirection,
}

/// What `missions` can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum MissionOrderField {
    StartAt,
    PostedAt,
    CreatedAt,
    /// Distance to the `near` point; needs `near`.
    Distance,
    /// How well the mission matches `keywords`; needs `keywords`. DESC puts the best first.
    Relevance,
}
