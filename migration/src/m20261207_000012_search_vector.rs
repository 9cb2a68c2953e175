//! A mission's full-text vector on PostgreSQL is filled by a trigger rather than generated, so
//! that a bulk load may write vectors it computed itself.
//!
//! Since migration 1, `missions.search_vector` was `GENERATED ALWAYS AS (to_tsvector('simple',
//! search_text)) STORED`: every insert parsed its text on the database's one backend, half of
//! that backend's time while the demo seed wrote a million missions (a profile of the backend:
//! `to_tsvector_byid` 48%). A generated column takes no value from its writer. Now the column is
//! a plain one, and PostgreSQL's built-in `tsvector_update_trigger` fills it before every insert
//! and every update of `search_text`, from the same text and the same configuration: the
//! vectors are the same for every writer (imports, the API), and the seed, which drops the
//! trigger for its load like the other per-row triggers, writes vectors it makes from the
//! same words (`entities::search::simple_positions`, checked equal to PostgreSQL's by the seed's
//! tests), or lets the database parse the text where it cannot.
//!
//! Values stay as they are (`DROP EXPRESSION` keeps them), the GIN index too. SQLite's FTS5
//! index is untouched.
use crate::run_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE missions ALTER COLUMN search_vector DROP EXPRESSION",
    "CREATE TRIGGER missions_search_vector BEFORE INSERT OR UPDATE OF search_text ON missions
     FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.simple', search_text)",
];

/// Back to the generated column (PostgreSQL 15 cannot give an expression to an existing
/// column: it is made again, with its index).
const DOWN: &[&str] = &[
    "DROP TRIGGER missions_search_vector ON missions",
    "ALTER TABLE missions DROP COLUMN search_vector",
    "ALTER TABLE missions ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED",
    "CREATE INDEX missions_search_idx ON missions USING GIN (search_vector)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run_all(manager, UP).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run_all(manager, DOWN).await,
            _ => Ok(()),
        }
    }
}
