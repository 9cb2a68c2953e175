//! A young person of the Service National Universel.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "volunteers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    #[sea_orm(unique)]
    pub email: String,
    pub phone: Option<String>,
    pub birthdate: Date,
    pub department_code: String,
    pub region: String,
    /// The SNU cohort, e.g. "2026 Juin".
    pub cohort: String,
    pub phase1_status: String,
    pub phase2_status: String,
    pub phase3_status: String,
    pub phase2_hours_done: i32,
    pub consent_data: bool,
    pub consent_image: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the volunteer's personal data was erased (GDPR): the row keeps only what
    /// aggregates count.
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::application::Entity")]
    Application,
}

impl Related<super::application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Application.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
