//! Missions: the type, the filter and order of `missions`, the connection with facets.
mod columns;
mod filter;
mod joined;
mod moderation;
mod publisher_moderation;
mod push;
mod query;
mod search;
mod types;
mod write;

pub(crate) use columns::{
    of_connection as columns_of_connection, of_object as columns_of_object, sets_of_fields,
};
pub use filter::{GeoRadius, MissionFilter, MissionOrder, MissionOrderField};
pub(crate) use moderation::title_key;
pub use moderation::{ModerationProposal, ModerationReason, ModerationRules};
pub use publisher_moderation::{
    ModerateAsPublisherInput, ModerateAsPublisherPayload, PublisherModeration,
    PublisherModerationMutation,
};
pub use push::{
    DeleteMissionsInput, IdempotencyKey, MissionPushInput, MissionPushMutation, MissionPushPayload,
    MissionPushResult, OrganizationPushInput, PushOutcome, UpsertMissionsInput,
};
pub use query::{FacetCount, MissionConnection, MissionFacets, MissionQuery};
pub use search::status_set;
pub(crate) use types::organization_missions_after;
pub use types::{Address, Mission, MissionEvent, OrganizationMissionConnection};
pub use write::{
    AddressInput, CreateMissionInput, MissionActionInput, MissionFieldsInput, MissionMutation,
    MissionPayload, ModerateMissionInput, ModerationDecision, UpdateMissionInput,
};
