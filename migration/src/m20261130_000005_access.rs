//! Access control: publishers' API keys (hashed), users and their roles, diffusion rules, the
//! audit log; indexes for the lists that scoping narrows (a publisher's or an organization's
//! missions in every status, the applications to a mission); stable codes of failed imports.
use crate::m20261128_000001_core::engine;
use crate::run_all;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "CREATE TABLE api_keys (
        id {pk},
        publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL,
        label TEXT,
        created_at {time} NOT NULL,
        last_used_at {time},
        revoked_at {time},
        CONSTRAINT api_keys_prefix_key UNIQUE (prefix))",
    "CREATE TABLE users (
        id {pk},
        email TEXT NOT NULL,
        subject TEXT,
        role TEXT NOT NULL,
        department_code TEXT,
        region TEXT,
        organization_id {ref} REFERENCES organizations(id) ON DELETE CASCADE,
        publisher_id {ref} REFERENCES publishers(id) ON DELETE CASCADE,
        volunteer_id {ref} REFERENCES volunteers(id) ON DELETE CASCADE,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        CONSTRAINT users_email_key UNIQUE (email),
        CONSTRAINT users_subject_key UNIQUE (subject))",
    "CREATE TABLE diffusion_rules (
        id {pk},
        diffuseur_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        field TEXT NOT NULL,
        operator TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at {time} NOT NULL,
        CONSTRAINT diffusion_rules_key UNIQUE (diffuseur_id, field, operator, value))",
    "CREATE TABLE audit_log (
        id {pk},
        at {time} NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details {json} NOT NULL,
        address TEXT NOT NULL)",
];

const INDEXES: &[&str] = &[
    "CREATE INDEX api_keys_publisher_idx ON api_keys (publisher_id, id)",
    "CREATE INDEX audit_log_at_idx ON audit_log (id)",
    // Missions a partner or a structure manages, in every status, and a referent's by address.
    "CREATE INDEX missions_publisher_status_idx ON missions (publisher_id, status, id) WHERE deleted_at IS NULL",
    "CREATE INDEX missions_organization_status_idx ON missions (organization_id, status, start_at, id) WHERE deleted_at IS NULL",
    // Applications to a mission, paged by id; a volunteer's, by status.
    "CREATE INDEX applications_mission_page_idx ON applications (mission_id, id)",
    "CREATE INDEX applications_status_idx ON applications (status, id)",
];

/// A failed import's stable code, beside the message fit for the partner.
const COLUMNS: &[&str] = &["ALTER TABLE import_runs ADD COLUMN error_code TEXT"];

const DOWN: &[&str] = &[
    "ALTER TABLE import_runs DROP COLUMN error_code",
    "DROP INDEX IF EXISTS applications_status_idx",
    "DROP INDEX IF EXISTS applications_mission_page_idx",
    "DROP INDEX IF EXISTS missions_organization_status_idx",
    "DROP INDEX IF EXISTS missions_publisher_status_idx",
    "DROP TABLE IF EXISTS audit_log",
    "DROP TABLE IF EXISTS diffusion_rules",
    "DROP TABLE IF EXISTS users",
    "DROP TABLE IF EXISTS api_keys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let engine = engine(manager.get_database_backend())?;
        let tables: Vec<String> = TABLES.iter().map(|t| engine.render(t)).collect();
        run_all(manager, &tables).await?;
        run_all(manager, INDEXES).await?;
        run_all(manager, COLUMNS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, DOWN).await
    }
}
