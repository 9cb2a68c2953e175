//! The history of an application: every move of its status, written in the same transaction
//! as the move.
use sea_orm::Set;
use sea_orm::entity::prelude::*;

use crate::enums::ApplicationStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "application_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub application_id: i64,
    pub at: DateTimeUtc,
    /// Who: `user:ID <email>`, `cli:<os user>` or `system`.
    pub actor: String,
    /// As whom: `VOLUNTEER`, `STRUCTURE`, `REFERENT`, `ADMIN`, or `PASSERELLE` (a move made by
    /// Passerelle itself, e.g. on an erasure).
    pub party: String,
    /// A lifecycle action: `APPLY`, `PROPOSE`, `VERIFY`, `ACCEPT`, …
    pub action: String,
    pub from_status: Option<ApplicationStatus>,
    pub to_status: ApplicationStatus,
    pub comment: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An event to insert, in the same transaction as the move it records.
pub fn event(
    application_id: i64,
    actor: &str,
    party: &str,
    action: &str,
    from: Option<ApplicationStatus>,
    to: ApplicationStatus,
    comment: Option<String>,
) -> ActiveModel {
    ActiveModel {
        application_id: Set(application_id),
        at: Set(crate::time::now()),
        actor: Set(actor.to_owned()),
        party: Set(party.to_owned()),
        action: Set(action.to_owned()),
        from_status: Set(from),
        to_status: Set(to),
        comment: Set(comment),
        ..Default::default()
    }
}
