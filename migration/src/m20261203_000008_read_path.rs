//! The SNU places a mission offers, apart from those left (so that editing or re-importing a
//! mission keeps the places its applications took), and an index of the read path, checked by
//! the `EXPLAIN QUERY PLAN` tests: a domain's public missions in start order (the listing every
//! domain page shows) walk an index and stop after a page, instead of sorting every mission of
//! the domain.
use crate::run_all;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    // The SNU places offered, apart from those left (accepted applications take them): until
    // now nothing took any, so what is left is what is offered.
    "ALTER TABLE missions ADD COLUMN snu_capacity INTEGER NOT NULL DEFAULT 0",
    "UPDATE missions SET snu_capacity = snu_places",
    "CREATE INDEX missions_public_domain_start_idx ON missions (domain, start_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS missions_public_domain_start_idx",
    "ALTER TABLE missions DROP COLUMN snu_capacity",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, DOWN).await
    }
}
