//! A moderator publisher's own decision on a mission (API Engagement's model): ACCEPTED or
//! REFUSED for what it diffuses, apart from the mission's status. No row is PENDING.
use sea_orm::entity::prelude::*;

use crate::enums::PublisherModerationStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mission_moderations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The moderator publisher.
    pub moderator_id: i64,
    pub mission_id: i64,
    pub status: PublisherModerationStatus,
    pub comment: Option<String>,
    /// Who decided, as the audit log names them.
    pub actor: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
