//! The database layer below the gateway and the importer: connecting and migrating
//! ([`connect`], [`migrate_up`]), the hot reads' kept connections ([`Reads`]), registering a
//! publisher ([`publishers::add`]), and fresh databases for tests and benchmarks
//! ([`testing`]). A crate of its own, so that the importer's tests need not depend on the
//! gateway.
use std::time::Duration;

use anyhow::Context;
use passerelle_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use secrecy::{ExposeSecret, SecretString};

pub use reads::Reads;

pub mod publishers;
pub mod reads;
pub mod tally;
pub mod testing;

/// How long a pooled connection to a database server may lie idle before it is pinged as it is
/// handed out (HikariCP skips its check for a connection used in the last 500 ms): connections
/// in constant use are never pinged, and one that rested is replaced if the server dropped it.
pub const STALE_AFTER: Duration = Duration::from_secs(1);

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
        // A connection handed out of the pool is pinged first only when it has lain idle: pinging
        // on every acquire (SQLx's default) costs each request one more round trip.
        .test_before_acquire_if_idle_for(STALE_AFTER)
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

/// The pools a server reads and writes through.
///
/// On a SQLite file, one connection writes and a pool of read-only connections reads beside it.
/// SQLite lets one writer at a time: writers queue for the one connection and are woken as soon
/// as it is free, instead of each holding a connection and sleeping in SQLite's busy handler
/// (1, 2, 5, … 100 ms) until the file's write lock comes free; readers never wait for the
/// writer (WAL), and `query_only` makes a write sent to them an error rather than a second
/// writer. On PostgreSQL (and SQLite in memory) one pool does both.
#[derive(Debug, Clone)]
pub struct Pools {
    /// Queries: loaders, pages, counts. Read-only on SQLite.
    pub read: DatabaseConnection,
    /// Mutations, imports, audit records, the scheduler: everything that writes, and what it
    /// reads inside its transactions.
    pub write: DatabaseConnection,
    /// How the hot reads run over `read` (on PostgreSQL, over kept connections: [`Reads`]).
    pub reads: Reads,
}

impl Pools {
    /// One pool for both.
    pub fn shared(db: DatabaseConnection) -> Pools {
        Pools {
            reads: Reads::of(&db),
            read: db.clone(),
            write: db,
        }
    }

    /// Opens the pools of a server on `url`: on a SQLite file, one writing connection and
    /// `readers` read-only ones; elsewhere one pool of `readers` connections.
    ///
    /// # Errors
    /// The database cannot be reached or opened.
    pub async fn connect(url: &SecretString, readers: u32) -> anyhow::Result<Pools> {
        if !url.expose_secret().starts_with("sqlite:") {
            return Ok(Pools::shared(connect(url, readers).await?));
        }
        let writer = connect(url, 1).await?;
        match sqlite_file(&writer) {
            Some(options) => Ok(Pools {
                read: sqlite_pool(options.pragma("query_only", "ON"), readers).await?,
                write: writer,
                reads: Reads::default(),
            }),
            None => Ok(Pools::shared(writer)),
        }
    }

    /// The pools [`Pools::connect`] opens, on the database of `db` and with its options (for
    /// tests and benchmarks, which make their databases first): on a SQLite file, one new
    /// writing connection and `readers` read-only ones; elsewhere `db` for both.
    ///
    /// # Errors
    /// The new connections cannot be opened.
    pub async fn over(db: DatabaseConnection, readers: u32) -> anyhow::Result<Pools> {
        match sqlite_file(&db) {
            Some(options) => Ok(Pools {
                read: sqlite_pool(options.clone().pragma("query_only", "ON"), readers).await?,
                write: sqlite_pool(options, 1).await?,
                reads: Reads::default(),
            }),
            None => Ok(Pools::shared(db)),
        }
    }
}

/// The options of a pool on a SQLite file; none for another engine or a database in memory,
/// which lives in its connections (another pool would see another database).
fn sqlite_file(db: &DatabaseConnection) -> Option<SqliteConnectOptions> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let file = options.get_filename().to_string_lossy();
    (file != ":memory:" && !file.starts_with("file:")).then(|| (*options).clone())
}

/// A pool of `size` connections opened with `options`.
async fn sqlite_pool(
    options: SqliteConnectOptions,
    size: u32,
) -> anyhow::Result<DatabaseConnection> {
    let file = options.get_filename().display().to_string();
    let pool = SqlitePoolOptions::new()
        .max_connections(size.max(1))
        .min_connections(1)
        // A file's connection does not go stale: no ping (a round trip to its thread) before
        // each use.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open connections to {file}"))?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
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
