//! A partner's webhook: an HTTPS endpoint, the topics it wants, and the secret that signs each
//! delivery (HMAC-SHA256). The secret is shown once, when made or rotated; the previous one
//! keeps signing, beside the new one, until `previous_secret_expires_at`, so that a receiver
//! can switch without losing a delivery.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The topics a webhook may subscribe to.
pub const TOPICS: [&str; 3] = ["APPLICATION", "MISSION_MODERATION", "IMPORT"];

/// A webhook's topics, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Topics(pub Vec<String>);

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    pub url: String,
    pub topics: Topics,
    /// The signing secret, `whsec_` and 64 hex digits.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// The secrets a delivery is signed with now: the current one, and the previous one while
    /// it has not expired.
    pub fn signing_secrets(&self, now: DateTimeUtc) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
