//! An organization's public missions in start order are read from their index alone.
//!
//! A page of missions showing each one's organization and the organization's first missions
//! (`organization { missions(first: 5) { … } }`) reads six missions per organization: with
//! `missions_public_organization_idx (organization_id, start_at, id)`, each of them cost a
//! visit to its row for the columns the page shows, about 126 rows for a page of 21. The index
//! that replaces it carries those columns (the mission's publisher, title and status, which
//! the missions' resolvers read): PostgreSQL answers the page from the index with an index-only
//! scan (`INCLUDE`), SQLite with a covering index (the same columns after the key, and
//! `deleted_at`: SQLite checks the public predicate's columns from the index it reads). Measured on
//! 100,000 missions: the nested query's statement costs PostgreSQL ~10% less CPU (docs/
//! BENCHMARKS.md, session 28). Its entries hold titles, which the rules bound at 500
//! characters (`rules::MAX_TITLE_CHARS`), well within PostgreSQL's 2,704 bytes per entry; a
//! database holding an older, longer title keeps the index without the columns (a page then
//! visits its rows, as before) rather than failing to migrate.
use crate::run_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PUBLIC: &str = "WHERE status = 'VALIDATED' AND deleted_at IS NULL";

/// The new index, then the old one dropped (a new name: on SQLite, dropping and making an index
/// of the same name in one migration fails).
fn up(backend: DatabaseBackend) -> Vec<String> {
    let covered = match backend {
        DatabaseBackend::Postgres => format!(
            "DO $$ BEGIN
               IF EXISTS (SELECT 1 FROM missions WHERE octet_length(title) > 2000) THEN
                 CREATE INDEX missions_public_organization_page_idx ON missions (organization_id, start_at, id) {PUBLIC};
               ELSE
                 CREATE INDEX missions_public_organization_page_idx ON missions (organization_id, start_at, id) INCLUDE (publisher_id, title, status) {PUBLIC};
               END IF;
             END $$"
        ),
        _ => format!(
            "CREATE INDEX missions_public_organization_page_idx ON missions (organization_id, start_at, id, publisher_id, title, status, deleted_at) {PUBLIC}"
        ),
    };
    vec![
        covered,
        "DROP INDEX IF EXISTS missions_public_organization_idx".to_owned(),
    ]
}

fn down() -> Vec<String> {
    vec![
        format!(
            "CREATE INDEX missions_public_organization_idx ON missions (organization_id, start_at, id) {PUBLIC}"
        ),
        "DROP INDEX IF EXISTS missions_public_organization_page_idx".to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, &up(manager.get_database_backend())).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, &down()).await
    }
}
