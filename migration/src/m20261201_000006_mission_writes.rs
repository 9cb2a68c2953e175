//! The write side of missions: a version per mission (optimistic concurrency), the history of
//! each mission's status, and the index of the moderation queue (waiting missions, oldest
//! first), moderator publishers' own decisions, and the replies kept for partners' pushes sent again with the same
//! `Idempotency-Key`.
use crate::m20261128_000001_core::engine;
use crate::run_all;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE missions ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "CREATE TABLE mission_events (
        id {pk},
        mission_id {ref} NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        at {time} NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT,
        comment TEXT)",
    "CREATE INDEX mission_events_mission_idx ON mission_events (mission_id, id)",
    "CREATE INDEX missions_status_created_idx ON missions (status, created_at, id) WHERE deleted_at IS NULL",
    // Moderator publishers' own decisions, apart from the missions' status; a moderator lists
    // its missions by decision.
    "CREATE TABLE mission_moderations (
        id {pk},
        moderator_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        mission_id {ref} NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        comment TEXT,
        actor TEXT NOT NULL,
        updated_at {time} NOT NULL,
        CONSTRAINT mission_moderations_key UNIQUE (moderator_id, mission_id))",
    "CREATE INDEX mission_moderations_status_idx ON mission_moderations (moderator_id, status, mission_id)",
    // Partners' pushes replayed with the same Idempotency-Key within 24 hours.
    "CREATE TABLE idempotency_keys (
        id {pk},
        publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        response {json} NOT NULL,
        created_at {time} NOT NULL,
        CONSTRAINT idempotency_keys_key UNIQUE (publisher_id, key))",
    "CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS mission_moderations_status_idx",
    "DROP TABLE IF EXISTS mission_moderations",
    "DROP INDEX IF EXISTS idempotency_keys_created_idx",
    "DROP TABLE IF EXISTS idempotency_keys",
    "DROP INDEX IF EXISTS missions_status_created_idx",
    "DROP TABLE IF EXISTS mission_events",
    "ALTER TABLE missions DROP COLUMN version",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let engine = engine(manager.get_database_backend())?;
        let up: Vec<String> = UP.iter().map(|t| engine.render(t)).collect();
        run_all(manager, &up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, DOWN).await
    }
}
