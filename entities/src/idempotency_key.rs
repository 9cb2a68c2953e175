//! A partner's push kept for 24 hours under its `Idempotency-Key`: the same push sent again
//! gets the same reply, and changes nothing.
use sea_orm::entity::prelude::*;
use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    pub key: String,
    /// The fingerprint of the push: a key sent again with another push is refused.
    pub request_hash: String,
    /// The reply, as it was given.
    pub response: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
