//! A publisher's API key, stored as a hash: the key itself is shown once, when it is made.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    /// The public part of the key, unique: how a key is found, listed and revoked.
    #[sea_orm(unique)]
    pub prefix: String,
    /// SHA-256 of the whole key, in lower-case hex.
    pub hash: String,
    pub label: Option<String>,
    pub created_at: DateTimeUtc,
    /// Recorded at most once a minute per key.
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
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
