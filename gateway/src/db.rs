//! Connecting to the database and applying migrations.
use std::time::Duration;

use anyhow::Context;
use passerelle_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use secrecy::{ExposeSecret, SecretString};

/// Opens a pool on `url`. A SQLite file is created if missing and switched to WAL, so that
/// readers are not blocked by a writer.
///
/// # Errors
/// The database cannot be reached or opened; the message never contains the password.
pub async fn connect(
    url: &SecretString,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    let mut url = url.expose_secret().to_owned();
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        url.push_str(if url.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to {}", crate::config::redact_url(&url)))?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL")
            .await
            .context("cannot switch SQLite to WAL")?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate_up(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("migration failed")
}

/// The migrations and whether each is applied, one line each.
pub async fn migration_status(db: &DatabaseConnection) -> anyhow::Result<Vec<(String, bool)>> {
    let applied: Vec<String> = Migrator::get_applied_migrations(db)
        .await
        .context("cannot read the migration table")?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .map(|m| {
            let name = m.name().to_owned();
            let done = applied.contains(&name);
            (name, done)
        })
        .collect())
}

/// Rolls back the last `steps` migrations.
pub async fn migrate_down(db: &DatabaseConnection, steps: u32) -> anyhow::Result<()> {
    Migrator::down(db, Some(steps))
        .await
        .context("rollback failed")
}

/// Rolls back every migration, then applies them all: an empty, current schema.
pub async fn migrate_fresh(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::reset(db).await.context("rollback failed")?;
    migrate_up(db).await
}
