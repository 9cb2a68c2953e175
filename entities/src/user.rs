//! A person who signs in with a token from an identity provider: their role and its scope.
//!
//! The token only says who the person is (`sub`, or a verified email); what they may see comes
//! from this table, so that a role removed here is removed at the next request.
use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-cased.
    #[sea_orm(unique)]
    pub email: String,
    /// The identity provider's `sub` for this person, when it is pinned.
    pub subject: Option<String>,
    pub role: Role,
    /// REFERENT_DEPARTMENT: the department code ("69").
    pub department_code: Option<String>,
    /// REFERENT_REGION: the region's name ("Auvergne-Rhône-Alpes").
    pub region: Option<String>,
    /// STRUCTURE_STAFF: the organization.
    pub organization_id: Option<i64>,
    /// PARTNER_STAFF: the publisher.
    pub publisher_id: Option<i64>,
    /// VOLUNTEER: the volunteer's own record.
    pub volunteer_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
