//! Publishers, organizations, missions and their addresses, volunteers and applications.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables, written once for both engines. `{pk}`, `{ref}`, `{time}`, `{false}`, `{json}`,
/// `{real}` and `{search}` stand for each engine's own types (see [`Engine`]).
const TABLES: &[&str] = &[
    "CREATE TABLE publishers (
        id {pk},
        name TEXT NOT NULL UNIQUE,
        url TEXT, logo TEXT, description TEXT,
        is_annonceur BOOLEAN NOT NULL DEFAULT {false},
        is_diffuseur BOOLEAN NOT NULL DEFAULT {false},
        moderator BOOLEAN NOT NULL DEFAULT {false},
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL)",
    "CREATE TABLE organizations (
        id {pk},
        publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        name TEXT NOT NULL,
        rna TEXT, siren TEXT, siret TEXT, legal_status TEXT, organization_type TEXT,
        description TEXT, url TEXT, logo TEXT, address TEXT, postal_code TEXT, city TEXT,
        department_code TEXT, region TEXT, parent_network TEXT,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        CONSTRAINT organizations_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE missions (
        id {pk},
        publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        organization_id {ref} REFERENCES organizations(id) ON DELETE SET NULL,
        client_id TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        domain TEXT NOT NULL,
        activities {json} NOT NULL DEFAULT '[]',
        mission_type TEXT NOT NULL,
        remote TEXT NOT NULL,
        start_at {time} NOT NULL,
        end_at {time},
        posted_at {time} NOT NULL,
        places INTEGER NOT NULL,
        places_left INTEGER NOT NULL,
        snu BOOLEAN NOT NULL DEFAULT {false},
        snu_places INTEGER NOT NULL DEFAULT 0,
        open_to_minors BOOLEAN NOT NULL DEFAULT {false},
        reduced_mobility_accessible BOOLEAN NOT NULL DEFAULT {false},
        close_to_transport BOOLEAN NOT NULL DEFAULT {false},
        schedule TEXT,
        tags {json} NOT NULL DEFAULT '[]',
        audience {json} NOT NULL DEFAULT '[]',
        soft_skills {json} NOT NULL DEFAULT '[]',
        requirements {json} NOT NULL DEFAULT '[]',
        application_url TEXT NOT NULL,
        status TEXT NOT NULL,
        status_comment TEXT,
        search_text TEXT NOT NULL DEFAULT '',{search}
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        deleted_at {time},
        CONSTRAINT missions_publisher_client_key UNIQUE (publisher_id, client_id))",
    "CREATE TABLE mission_addresses (
        id {pk},
        mission_id {ref} NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        street TEXT, postal_code TEXT, city TEXT, department_code TEXT, department_name TEXT,
        region TEXT, country TEXT,
        lat {real}, lon {real})",
    "CREATE TABLE volunteers (
        id {pk},
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
        consent_data BOOLEAN NOT NULL DEFAULT {false},
        consent_image BOOLEAN NOT NULL DEFAULT {false},
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL)",
    "CREATE TABLE applications (
        id {pk},
        volunteer_id {ref} NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
        mission_id {ref} NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        motivation TEXT,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        CONSTRAINT applications_volunteer_mission_key UNIQUE (volunteer_id, mission_id))",
];

/// Each engine's words for the placeholders of [`TABLES`] (and of later migrations' tables).
pub(crate) struct Engine {
    pk: &'static str,
    reference: &'static str,
    time: &'static str,
    falsy: &'static str,
    truthy: &'static str,
    json: &'static str,
    real: &'static str,
    search: &'static str,
    /// What only this engine has: its full-text machinery.
    extra: &'static [&'static str],
}

/// The words of the engine a migration runs on.
pub(crate) fn engine(backend: DatabaseBackend) -> Result<&'static Engine, DbErr> {
    match backend {
        DatabaseBackend::Sqlite => Ok(&SQLITE),
        DatabaseBackend::Postgres => Ok(&POSTGRES),
        other => Err(DbErr::Migration(format!("unsupported database: {other:?}"))),
    }
}

impl Engine {
    /// A statement with each placeholder replaced by this engine's word.
    pub(crate) fn render(&self, template: &str) -> String {
        template
            .replace("{pk}", self.pk)
            .replace("{ref}", self.reference)
            .replace("{time}", self.time)
            .replace("{false}", self.falsy)
            .replace("{true}", self.truthy)
            .replace("{json}", self.json)
            .replace("{real}", self.real)
            .replace("{search}", self.search)
    }
}

const SQLITE: Engine = Engine {
    pk: "INTEGER PRIMARY KEY AUTOINCREMENT",
    reference: "INTEGER",
    time: "DATETIME",
    falsy: "0",
    truthy: "1",
    json: "TEXT",
    real: "REAL",
    search: "",
    extra: &[
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
    ],
};

const POSTGRES: Engine = Engine {
    pk: "BIGSERIAL PRIMARY KEY",
    reference: "BIGINT",
    time: "TIMESTAMPTZ",
    falsy: "FALSE",
    truthy: "TRUE",
    json: "JSONB",
    real: "DOUBLE PRECISION",
    search: "\n        search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,",
    extra: &["CREATE INDEX missions_search_idx ON missions USING GIN (search_vector)"],
};

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
        let engine = engine(manager.get_database_backend())?;
        let tables: Vec<String> = TABLES.iter().map(|t| engine.render(t)).collect();
        run_all(manager, &tables).await?;
        run_all(manager, engine.extra).await?;
        run_all(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            // The triggers first: while they stand, a row of `missions` deleted as the tables
            // go (a foreign key's cascade) runs them against an index already dropped ("no such
            // table: main.missions_fts").
            run_all(
                manager,
                &[
                    "DROP TRIGGER IF EXISTS missions_fts_insert",
                    "DROP TRIGGER IF EXISTS missions_fts_delete",
                    "DROP TRIGGER IF EXISTS missions_fts_update",
                    "DROP TABLE IF EXISTS missions_fts",
                ],
            )
            .await?;
        }
        run_all(manager, DOWN).await
    }
}
