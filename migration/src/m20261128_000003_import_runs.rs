//! Publishers' feeds and the record of each import run.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run_all;

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
        let (pk, reference, time, json) = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                ("BIGSERIAL PRIMARY KEY", "BIGINT", "TIMESTAMPTZ", "JSONB")
            }
            _ => (
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "INTEGER",
                "DATETIME",
                "TEXT",
            ),
        };
        run_all(manager, PUBLISHER_COLUMNS).await?;
        let table = IMPORT_RUNS
            .replace("{pk}", pk)
            .replace("{ref}", reference)
            .replace("{time}", time)
            .replace("{json}", json);
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
