//! Publishers' feeds and the record of each import run.
use crate::m20261128_000001_core::engine;
use crate::run_all;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PUBLISHER_COLUMNS: &[&str] = &[
    "ALTER TABLE publishers ADD COLUMN feed_url TEXT",
    "ALTER TABLE publishers ADD COLUMN feed_user TEXT",
    "ALTER TABLE publishers ADD COLUMN feed_password TEXT",
    "ALTER TABLE publishers ADD COLUMN import_every_secs BIGINT",
];

const IMPORT_RUNS: &str = "CREATE TABLE import_runs (
    id {pk},
    publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
    started_at {time} NOT NULL,
    finished_at {time} NOT NULL,
    status TEXT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    refusals {json} NOT NULL DEFAULT '[]',
    warnings {json} NOT NULL DEFAULT '[]')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, PUBLISHER_COLUMNS).await?;
        let table = engine(manager.get_database_backend())?.render(IMPORT_RUNS);
        run_all(
            manager,
            &[table.as_str(), "CREATE INDEX import_runs_publisher_idx ON import_runs (publisher_id, started_at, id)"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(
            manager,
            &[
                "DROP TABLE IF EXISTS import_runs",
                "ALTER TABLE publishers DROP COLUMN import_every_secs",
                "ALTER TABLE publishers DROP COLUMN feed_password",
                "ALTER TABLE publishers DROP COLUMN feed_user",
                "ALTER TABLE publishers DROP COLUMN feed_url",
            ],
        )
        .await
    }
}
