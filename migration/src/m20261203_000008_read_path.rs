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
    // No index led by `status` serves public missions any more: SQLite's statistics take
    // `status = 'VALIDATED'` for one status in seven (it is most missions), and its planner
    // then searched such an index and sorted every public mission for the newest 20. Indexes of
    // missions by status hold the other statuses only (the scope's condition for managed
    // missions names `status <> 'VALIDATED'`), and the newest-first index carries the public
    // predicate's columns, so that counting public missions reads it alone. (New names: on
    // SQLite, dropping and making an index of the same name in one migration fails.)
    "DROP INDEX IF EXISTS missions_status_idx",
    "DROP INDEX IF EXISTS missions_status_created_idx",
    "CREATE INDEX missions_managed_created_idx ON missions (status, created_at, id) WHERE deleted_at IS NULL AND status <> 'VALIDATED'",
    "DROP INDEX IF EXISTS missions_publisher_status_idx",
    "CREATE INDEX missions_publisher_managed_idx ON missions (publisher_id, status, id) WHERE deleted_at IS NULL AND status <> 'VALIDATED'",
    "DROP INDEX IF EXISTS missions_organization_status_idx",
    "CREATE INDEX missions_organization_managed_idx ON missions (organization_id, status, start_at, id) WHERE deleted_at IS NULL AND status <> 'VALIDATED'",
    "DROP INDEX IF EXISTS missions_public_posted_idx",
    "CREATE INDEX missions_public_newest_idx ON missions (posted_at, id, status, deleted_at) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS missions_public_newest_idx",
    "CREATE INDEX missions_public_posted_idx ON missions (posted_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "DROP INDEX IF EXISTS missions_organization_managed_idx",
    "CREATE INDEX missions_organization_status_idx ON missions (organization_id, status, start_at, id) WHERE deleted_at IS NULL",
    "DROP INDEX IF EXISTS missions_publisher_managed_idx",
    "CREATE INDEX missions_publisher_status_idx ON missions (publisher_id, status, id) WHERE deleted_at IS NULL",
    "DROP INDEX IF EXISTS missions_managed_created_idx",
    "CREATE INDEX missions_status_created_idx ON missions (status, created_at, id) WHERE deleted_at IS NULL",
    "CREATE INDEX missions_status_idx ON missions (status, deleted_at)",
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
