//! The database layer below the gateway and the importer: connecting and migrating
//! ([`connect`], [`migrate_up`]), registering a publisher ([`publishers::add`]), and fresh
//! databases for tests and benchmarks ([`testing`]). A crate of its own, so that the importer's
//! tests need not depend on the gateway.
use std::time::Duration;

use anyhow::Context;
use passerelle_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use secrecy::{ExposeSecret, SecretString};

pub mod publishers;
pub mod testing;
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
        .sqlx_logging(false)
        // Every connection of the pool: WAL is durable at each checkpoint, so a commit need not
        // wait for the disk (`synchronous = NORMAL`, SQLite's advice for WAL); 16 MiB of page
        // cache per connection and 256 MiB of memory-mapped reads, shared by all connections through
        // the OS page cache, keep the working set out of read() calls.
        .map_sqlx_sqlite_opts(|o| {
            o.synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .pragma("cache_size", "-16384")
                .pragma("mmap_size", "268435456")
        });
    let db = Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to {}", redact_url(&url)))?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL")
            .await
            .context("cannot switch SQLite to WAL")?;
        // A log left large by a process that stopped without checkpointing (a bulk load, a
        // crash) makes every read look its pages up in it and read them with a system call:
        // copy it into the database file and empty it. Cheap when it is empty; a busy database
        // answers "not done" and is checkpointed later by its writers.
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .context("cannot checkpoint SQLite's log")?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate_up(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("migration failed")
}

/// Hides the password of a URL: `postgres://u:secret@h/db` → `postgres://u:***@h/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
