//! One run of one publisher's feed import: what it received and did, or why it failed.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{ImportStatus, ImportWarning};

/// A mission the run refused, as the partner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedMission {
    pub client_id: String,
    pub code: String,
    pub message: String,
}

/// The refused missions of a run, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct RefusedMissions(pub Vec<RefusedMission>);

/// Warnings of a run, stored as a JSON list of their names; an unknown name fails the read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Warnings(pub Vec<ImportWarning>);

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "import_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    /// An unknown stored value fails the read (it is never taken for a failure).
    pub status: ImportStatus,
    pub received: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub refused: i64,
    pub deleted: i64,
    /// Why a FAILED run failed, in words fit for the partner (no server paths, no database
    /// text: those are logged under the reference the message quotes).
    pub error: Option<String>,
    pub refusals: RefusedMissions,
    pub warnings: Warnings,
    /// Where the feed came from: its URL (without credentials) or a file name.
    pub source: Option<String>,
    /// The feed answered 304 Not Modified: nothing was read or changed.
    pub not_modified: bool,
    /// Bytes of feed received (after decompression).
    pub fetched_bytes: Option<i64>,
    /// A stable code for why a FAILED run failed (`FEED_HTTP_STATUS`, `FEED_MALFORMED`, …).
    pub error_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::publisher::Entity",
        from = "Column::PublisherId",
        to = "super::publisher::Column::Id"
    )]
    Publisher,
}

impl Related<super::publisher::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Publisher.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
