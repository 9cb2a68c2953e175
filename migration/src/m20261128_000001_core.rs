//! Publishers, organizations, missions and their addresses, volunteers and applications.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE publishers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        url TEXT, logo TEXT, description TEXT,
        is_annonceur BOOLEAN NOT NULL DEFAULT 0,
        is_diffuseur BOOLEAN NOT NULL DEFAULT 0,
        moderator BOOLEAN NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)",
    "CREATE TABLE organizations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        publisher_id INTEGER NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        name TEXT NOT NULL,
        rna TEXT, siren TEXT, siret TEXT, legal_status TEXT, organization_type TEXT,
        description TEXT, url TEXT, logo TEXT, address TEXT, postal_code TEXT, city TEXT,
        department_code TEXT, region TEXT, parent_network TEXT,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        CONSTRAINT organizations_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE missions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        publisher_id INTEGER NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        organization_id INTEGER REFERENCES organizations(id) ON DELETE SET NULL,
        client_id TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        domain TEXT NOT NULL,
        activities TEXT NOT NULL DEFAULT '[]',
        mission_type TEXT NOT NULL,
        remote TEXT NOT NULL,
        start_at DATETIME NOT NULL,
        end_at DATETIME,
        posted_at DATETIME NOT NULL,
        places INTEGER NOT NULL,
        places_left INTEGER NOT NULL,
        snu BOOLEAN NOT NULL DEFAULT 0,
        snu_places INTEGER NOT NULL DEFAULT 0,
        open_to_minors BOOLEAN NOT NULL DEFAULT 0,
        reduced_mobility_accessible BOOLEAN NOT NULL DEFAULT 0,
        close_to_transport BOOLEAN NOT NULL DEFAULT 0,
        schedule TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        audience TEXT NOT NULL DEFAULT '[]',
        soft_skills TEXT NOT NULL DEFAULT '[]',
        requirements TEXT NOT NULL DEFAULT '[]',
        application_url TEXT NOT NULL,
        status TEXT NOT NULL,
        status_comment TEXT,
        search_text TEXT NOT NULL DEFAULT '',
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        deleted_at DATETIME,
        CONSTRAINT missions_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE mission_addresses (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mission_id INTEGER NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        street TEXT, postal_code TEXT, city TEXT, department_code TEXT, department_name TEXT,
        region TEXT, country TEXT,
        lat REAL, lon REAL)",
    "CREATE TABLE volunteers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        email TEXT NOT NULL UNIQUE,
        phone TEXT,
        birthdate DATE NOT NULL,
        department_code TEXT NOT NULL,
        region TEXT NOT NULL,
        cohort TEXT NOT NULL,
        phase1_status TEXT NOT NULL,
        phase2_status TEXT NOT NULL,
        phase3_status TEXT NOT NULL,
        phase2_hours_done INTEGER NOT NULL DEFAULT 0,
        consent_data BOOLEAN NOT NULL DEFAULT 0,
        consent_image BOOLEAN NOT NULL DEFAULT 0,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL)",
    "CREATE TABLE applications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        volunteer_id INTEGER NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
        mission_id INTEGER NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        motivation TEXT,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL,
        CONSTRAINT applications_volunteer_mission_key UNIQUE (volunteer_id, mission_id))",
    // Full text: an external-content FTS5 index over missions.search_text, which the
    // application fills with folded words (entities::search::document).
    "CREATE VIRTUAL TABLE missions_fts USING fts5(
        search_text, content='missions', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER missions_fts_insert AFTER INSERT ON missions BEGIN
        INSERT INTO missions_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END",
    "CREATE TRIGGER missions_fts_delete AFTER DELETE ON missions BEGIN
        INSERT INTO missions_fts(missions_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    END",
    "CREATE TRIGGER missions_fts_update AFTER UPDATE OF search_text ON missions BEGIN
        INSERT INTO missions_fts(missions_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
        INSERT INTO missions_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE publishers (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        url TEXT, logo TEXT, description TEXT,
        is_annonceur BOOLEAN NOT NULL DEFAULT FALSE,
        is_diffuseur BOOLEAN NOT NULL DEFAULT FALSE,
        moderator BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE organizations (
        id BIGSERIAL PRIMARY KEY,
        publisher_id BIGINT NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        name TEXT NOT NULL,
        rna TEXT, siren TEXT, siret TEXT, legal_status TEXT, organization_type TEXT,
        description TEXT, url TEXT, logo TEXT, address TEXT, postal_code TEXT, city TEXT,
        department_code TEXT, region TEXT, parent_network TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CONSTRAINT organizations_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE missions (
        id BIGSERIAL PRIMARY KEY,
        publisher_id BIGINT NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        organization_id BIGINT REFERENCES organizations(id) ON DELETE SET NULL,
        client_id TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        domain TEXT NOT NULL,
        activities JSONB NOT NULL DEFAULT '[]',
        mission_type TEXT NOT NULL,
        remote TEXT NOT NULL,
        start_at TIMESTAMPTZ NOT NULL,
        end_at TIMESTAMPTZ,
        posted_at TIMESTAMPTZ NOT NULL,
        places INTEGER NOT NULL,
        places_left INTEGER NOT NULL,
        snu BOOLEAN NOT NULL DEFAULT FALSE,
        snu_places INTEGER NOT NULL DEFAULT 0,
        open_to_minors BOOLEAN NOT NULL DEFAULT FALSE,
        reduced_mobility_accessible BOOLEAN NOT NULL DEFAULT FALSE,
        close_to_transport BOOLEAN NOT NULL DEFAULT FALSE,
        schedule TEXT,
        tags JSONB NOT NULL DEFAULT '[]',
        audience JSONB NOT NULL DEFAULT '[]',
        soft_skills JSONB NOT NULL DEFAULT '[]',
        requirements JSONB NOT NULL DEFAULT '[]',
        application_url TEXT NOT NULL,
        status TEXT NOT NULL,
        status_comment TEXT,
        search_text TEXT NOT NULL DEFAULT '',
        search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        deleted_at TIMESTAMPTZ,
        CONSTRAINT missions_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE mission_addresses (
        id BIGSERIAL PRIMARY KEY,
        mission_id BIGINT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        street TEXT, postal_code TEXT, city TEXT, department_code TEXT, department_name TEXT,
        region TEXT, country TEXT,
        lat DOUBLE PRECISION, lon DOUBLE PRECISION)",
    "CREATE TABLE volunteers (
        id BIGSERIAL PRIMARY KEY,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        email TEXT NOT NULL UNIQUE,
        phone TEXT,
        birthdate DATE NOT NULL,
        department_code TEXT NOT NULL,
        region TEXT NOT NULL,
        cohort TEXT NOT NULL,
        phase1_status TEXT NOT NULL,
        phase2_status TEXT NOT NULL,
        phase3_status TEXT NOT NULL,
        phase2_hours_done INTEGER NOT NULL DEFAULT 0,
        consent_data BOOLEAN NOT NULL DEFAULT FALSE,
        consent_image BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE applications (
        id BIGSERIAL PRIMARY KEY,
        volunteer_id BIGINT NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
        mission_id BIGINT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        motivation TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CONSTRAINT applications_volunteer_mission_key UNIQUE (volunteer_id, mission_id))",
    "CREATE INDEX missions_search_idx ON missions USING GIN (search_vector)",
];

/// Indexes shared by both engines: one for every filter and every order of the API.
///
/// Public listings always read `status = 'VALIDATED' AND deleted_at IS NULL` (written as that
/// literal by `entities::mission::is_public`), so their indexes are partial on it: smaller, and
/// narrow enough for index-only counts. Each carries the id of the cursors' tie-break.
const INDEXES: &[&str] = &[
    "CREATE INDEX organizations_department_idx ON organizations (department_code, name, id)",
    "CREATE INDEX organizations_publisher_idx ON organizations (publisher_id, name, id)",
    "CREATE INDEX organizations_name_idx ON organizations (name, id)",
    "CREATE INDEX missions_public_organization_idx ON missions (organization_id, start_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_start_idx ON missions (start_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_posted_idx ON missions (posted_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_created_idx ON missions (created_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_end_idx ON missions (end_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_domain_idx ON missions (domain, places_left, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_type_idx ON missions (mission_type, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_remote_idx ON missions (remote, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_minors_idx ON missions (open_to_minors, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_snu_idx ON missions (snu, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_places_idx ON missions (places_left, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_public_publisher_idx ON missions (publisher_id, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    "CREATE INDEX missions_status_idx ON missions (status, deleted_at)",
    "CREATE INDEX mission_addresses_mission_idx ON mission_addresses (mission_id, position)",
    "CREATE INDEX mission_addresses_department_idx ON mission_addresses (department_code, mission_id)",
    "CREATE INDEX mission_addresses_geo_idx ON mission_addresses (lat, lon, mission_id)",
    "CREATE INDEX volunteers_department_idx ON volunteers (department_code, id)",
    "CREATE INDEX volunteers_cohort_idx ON volunteers (cohort, id)",
    "CREATE INDEX applications_mission_idx ON applications (mission_id)",
    "CREATE INDEX applications_volunteer_idx ON applications (volunteer_id, id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS applications",
    "DROP TABLE IF EXISTS volunteers",
    "DROP TABLE IF EXISTS mission_addresses",
    "DROP TABLE IF EXISTS missions",
    "DROP TABLE IF EXISTS organizations",
    "DROP TABLE IF EXISTS publishers",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run_all(manager, SQLITE_UP).await?,
            DatabaseBackend::Postgres => run_all(manager, POSTGRES_UP).await?,
            other => return Err(DbErr::Migration(format!("unsupported database: {other:?}"))),
        }
        run_all(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            run_all(manager, &["DROP TABLE IF EXISTS missions_fts"]).await?;
        }
        run_all(manager, DOWN).await
    }
}
