//! One rule of what a diffuseur's API key sees of other publishers' missions.
//!
//! How rules combine is decided in one place, [`crate::access::Diffusion`].
use sea_orm::entity::prelude::*;

use crate::enums::{DiffusionField, DiffusionOperator};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "diffusion_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The diffuseur the rule belongs to.
    pub diffuseur_id: i64,
    pub field: DiffusionField,
    pub operator: DiffusionOperator,
    /// A publisher or organization id in decimal, a stored type or domain string, a
    /// department code, or a network name.
    pub value: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
