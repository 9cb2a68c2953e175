//! Connecting to the database and applying migrations.
use anyhow::Context;
use passerelle_migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;

pub use passerelle_db::{Pools, connect, migrate_up};

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
