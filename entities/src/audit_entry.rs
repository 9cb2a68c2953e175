//! The audit log: every admin action and every change of keys, users and diffusion rules.
use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// Who: `user:ID <email>`, `key:PREFIX`, or `cli:<os user>`.
    pub actor: String,
    /// What, SCREAMING_SNAKE_CASE: `KEY_CREATED`, `USER_REMOVED`, …
    pub action: String,
    /// On what: `publisher:ID`, `key:PREFIX`, `user:<email>`, …
    pub target: String,
    /// The details of the change (never a secret).
    pub details: Json,
    /// From where: the client's IP address, or `local` for the command line.
    pub address: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who did something and from where, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub address: String,
}

impl Actor {
    /// Someone at the command line of the machine, by their OS user name.
    pub fn cli(os_user: &str) -> Actor {
        Actor {
            name: format!("cli:{os_user}"),
            address: "local".to_owned(),
        }
    }
}

/// An entry to insert, in the same transaction as the change it records.
pub fn entry(actor: &Actor, action: &str, target: String, details: Json) -> ActiveModel {
    ActiveModel {
        at: Set(crate::time::now()),
        actor: Set(actor.name.clone()),
        action: Set(action.to_owned()),
        target: Set(target),
        details: Set(details),
        address: Set(actor.address.clone()),
        ..Default::default()
    }
}
