//! A volunteer's application to a mission.
use sea_orm::entity::prelude::*;

use crate::enums::ApplicationStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub volunteer_id: i64,
    pub mission_id: i64,
    pub status: ApplicationStatus,
    pub motivation: Option<String>,
    /// Made by a referent's proposal (the volunteer accepts it), not by the volunteer.
    pub proposed: bool,
    /// Why the last move was made, as its author wrote it.
    pub status_comment: Option<String>,
    /// The hours the structure reported when the mission was done.
    pub hours_done: Option<i32>,
    /// Bumped by every move: a move may name the version it read.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::volunteer::Entity",
        from = "Column::VolunteerId",
        to = "super::volunteer::Column::Id"
    )]
    Volunteer,
    #[sea_orm(
        belongs_to = "super::mission::Entity",
        from = "Column::MissionId",
        to = "super::mission::Column::Id"
    )]
    Mission,
}

impl Related<super::volunteer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Volunteer.def()
    }
}

impl Related<super::mission::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Mission.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
