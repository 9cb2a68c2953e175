//! The history of a mission: every change of status and every moderation decision, written in
//! the same transaction as the change.
use sea_orm::Set;
use sea_orm::entity::prelude::*;

use crate::enums::MissionStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mission_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub mission_id: i64,
    pub at: DateTimeUtc,
    /// Who: `user:ID <email>`, `key:PREFIX`, `cli:<os user>` or `system`.
    pub actor: String,
    /// What, SCREAMING_SNAKE_CASE: `CREATED`, `UPDATED`, `DUPLICATED`, or a lifecycle action
    /// (`SUBMIT`, `VALIDATE`, `REQUEST_CORRECTION`, `REFUSE`, `CANCEL`, `ARCHIVE`).
    pub action: String,
    pub from_status: Option<MissionStatus>,
    pub to_status: Option<MissionStatus>,
    pub comment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An event to insert, in the same transaction as the change it records.
pub fn event(
    mission_id: i64,
    actor: &str,
    action: &str,
    from: Option<MissionStatus>,
    to: Option<MissionStatus>,
    comment: Option<String>,
) -> ActiveModel {
    ActiveModel {
        mission_id: Set(mission_id),
        at: Set(crate::time::now()),
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        from_status: Set(from),
        to_status: Set(to),
        comment: Set(comment),
        ..Default::default()
    }
}
