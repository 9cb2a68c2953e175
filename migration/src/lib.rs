//! The database schema of Passerelle, for SQLite and PostgreSQL.
//!
//! Each migration holds the DDL of both engines side by side: the tables are the same, the
//! search machinery is each engine's own (PostgreSQL: a `tsvector` filled by a trigger, with a GIN index;
//! SQLite: an FTS5 index kept in step by triggers). Every filter of the API has an index.
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_core;
mod m20261128_000002_import;
mod m20261128_000003_import_runs;
mod m20261129_000004_feed_fetch;
mod m20261130_000005_access;
mod m20261201_000006_mission_writes;
mod m20261202_000007_applications;
mod m20261203_000008_read_path;
mod m20261204_000009_public_addresses;
mod m20261205_000010_public_tally;
mod m20261206_000011_address_lock;
mod m20261207_000012_search_vector;
mod m20261208_000013_covering_organization_pages;
pub mod tally;

/// Applies and rolls back Passerelle's migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core::Migration),
            Box::new(m20261128_000002_import::Migration),
            Box::new(m20261128_000003_import_runs::Migration),
            Box::new(m20261129_000004_feed_fetch::Migration),
            Box::new(m20261130_000005_access::Migration),
            Box::new(m20261201_000006_mission_writes::Migration),
            Box::new(m20261202_000007_applications::Migration),
            Box::new(m20261203_000008_read_path::Migration),
            Box::new(m20261204_000009_public_addresses::Migration),
            Box::new(m20261205_000010_public_tally::Migration),
            Box::new(m20261206_000011_address_lock::Migration),
            Box::new(m20261207_000012_search_vector::Migration),
            Box::new(m20261208_000013_covering_organization_pages::Migration),
        ]
    }
}

/// Runs each statement in order on the connection of `manager`.
pub(crate) async fn run_all<S: AsRef<str>>(
    manager: &SchemaManager<'_>,
    statements: &[S],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql.as_ref()).await?;
    }
    Ok(())
}
