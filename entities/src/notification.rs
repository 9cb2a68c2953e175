//! In-app notifications: what a person signed in to Passerelle reads in their inbox. Written in
//! the same transaction as the change they tell of.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The recipient.
    pub user_id: i64,
    /// What happened, SCREAMING_SNAKE_CASE: `APPLICATION_VALIDATED`, …
    pub topic: String,
    /// In French, for the reader.
    pub title: String,
    pub body: String,
    pub application_id: Option<i64>,
    pub mission_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
