//! Reads on PostgreSQL over connections kept between statements, without SQLx's ping.
//!
//! SQLx pings every connection that goes back to its pool (`PoolConnection`'s drop spawns a
//! task that sends a `Sync` and waits for its `ReadyForQuery`), whatever the statement before
//! it left: one more round trip per statement, a system call and a wake-up on both sides. On
//! the peer bench's nested query, one statement per request, it was 6% of the machine's CPU
//! (docs/BENCHMARKS.md, session 33). A read that ran to its end has had its `ReadyForQuery`
//! already: its connection is ready for the next statement as it is. [`Reads`] keeps such a
//! connection, still checked out of the pool, for the next read, with no ping. A connection
//! whose statement failed, or that was dropped half-way (a request given up), goes back to
//! SQLx, which pings it or closes it, as before.
//!
//! What a kept connection is not: available to the pool's other users (writes, transactions),
//! nor to the pool's `close`, which waits for every connection to come back. So at most half of
//! the pool's connections are kept (none of a pool of one), and a sweeper gives back those kept
//! longer than [`STALE_AFTER`] unused (SQLx pings such a connection before it is used again: one
//! the server dropped meanwhile is replaced, as the pool's own are), and all of them once the
//! pool is closing. SQLite's files are read as before.
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sea_orm::metric::Info;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DbErr,
    QueryResult, RuntimeErr, Statement,
};
use sea_query_sqlx::SqlxValues;

use crate::STALE_AFTER;

/// How a database's reads run: over kept connections on PostgreSQL, through the pool
/// elsewhere (see the module). Cheap to clone: clones share the kept connections.
#[derive(Clone, Default)]
pub struct Reads {
    kept: Option<Arc<Kept>>,
    /// Told of each statement read over a kept connection, as SeaORM's metric callback is of
    /// the pool's (reads through the pool tell the pool's own).
    observe: Option<Observer>,
}

/// A function told of statements, as SeaORM's metric callback.
type Observer = Arc<dyn Fn(&Info<'_>) + Send + Sync>;

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads").field("kept", &self.kept()).finish()
    }
}

/// The connections kept out of a PostgreSQL pool, each with when it was kept, the latest
/// last.
struct Kept {
    pool: PgPool,
    connections: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    most: usize,
}

impl Reads {
    /// The reads of `db`: on PostgreSQL, keeping up to half of its pool's connections, swept
    /// by a task on the current Tokio runtime (outside one, nothing is kept).
    pub fn of(db: &DatabaseConnection) -> Reads {
        // Matched, not asked: a disconnected `db` (a schema built without a database) panics
        // when asked its backend.
        let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &db.inner else {
            return Reads::default();
        };
        let pool = db.get_postgres_connection_pool().clone();
        let most = usize::try_from(pool.options().get_max_connections() / 2).unwrap_or(0);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Reads::default();
        };
        if most == 0 {
            return Reads::default();
        }
        let kept = Arc::new(Kept {
            pool,
            connections: Mutex::new(Vec::with_capacity(most)),
            most,
        });
        runtime.spawn(sweep(Arc::downgrade(&kept)));
        Reads {
            kept: Some(kept),
            observe: None,
        }
    }

    /// Calls `observe` for every statement read over a kept connection, as
    /// `DatabaseConnection::set_metric_callback` does for the pool's: set both to see every
    /// statement (tests count them, the bench logs them).
    pub fn set_metric_callback<F>(&mut self, observe: F)
    where
        F: Fn(&Info<'_>) + Send + Sync + 'static,
    {
        self.observe = Some(Arc::new(observe));
    }

    /// The rows of `statement`, a read, on `db` (the database these reads were made `of`).
    /// Boxed, as SeaORM's own reads are: the statement's future is SQLx's, deep enough that
    /// the schema's request futures, holding it unboxed, overflow the compiler's type limits.
    ///
    /// # Errors
    /// As `db.query_all_raw`: no connection could be had, or the statement failed.
    pub fn query_all<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        statement: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<QueryResult>, DbErr>> + Send + 'a>> {
        Box::pin(async move {
            let Some(kept) = &self.kept else {
                return db.query_all_raw(statement).await;
            };
            let Some(observe) = &self.observe else {
                return kept.query_all(&statement).await;
            };
            let start = Instant::now();
            let rows = kept.query_all(&statement).await;
            observe(&Info {
                elapsed: start.elapsed(),
                statement: &statement,
                failed: rows.is_err(),
            });
            rows
        })
    }

    /// How many connections are kept now.
    pub fn kept(&self) -> usize {
        self.kept.as_ref().map_or(0, |k| k.lock().len())
    }
}

impl Kept {
    async fn query_all(&self, statement: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut connection = match self.take() {
            Some(connection) => connection,
            None => self.pool.acquire().await.map_err(acquire_error)?,
        };
        let values = statement.values.clone().unwrap_or(Values(Vec::new()));
        // On an error the connection is dropped here: back to the pool, which pings it.
        let rows = sqlx::query_with(AssertSqlSafe(statement.sql.as_str()), SqlxValues(values))
            .fetch_all(&mut *connection)
            .await
            .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))?;
        self.keep(connection);
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// The connection kept last, if one is (none once the pool is closing); those kept longer
    /// than [`STALE_AFTER`] ago go back to the pool.
    fn take(&self) -> Option<PoolConnection<Postgres>> {
        let mut kept = self.give_back_rested();
        kept.pop().map(|(c, _)| c)
    }

    /// Gives back to the pool the connections kept longer than [`STALE_AFTER`] ago, or all of
    /// them once it is closing (dropped once the lock is released, since SQLx spawns a task for
    /// each); the lock on those left.
    fn give_back_rested(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        let closing = self.pool.is_closed();
        let mut kept = self.lock();
        let rested = if closing {
            kept.len()
        } else {
            kept.partition_point(|(_, since)| since.elapsed() >= STALE_AFTER)
        };
        if rested == 0 {
            return kept;
        }
        let rested: Vec<_> = kept.drain(..rested).collect();
        drop(kept);
        drop(rested);
        self.lock()
    }

    /// Keeps `connection`, ready for the next read, unless as many as may be are kept already
    /// or the pool is closing (then it goes back to the pool).
    fn keep(&self, connection: PoolConnection<Postgres>) {
        let mut kept = self.lock();
        if kept.len() < self.most && !self.pool.is_closed() {
            kept.push((connection, Instant::now()));
        } else {
            drop(kept);
            drop(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        // The list stays whole whatever panicked while it was held: pushes and pops only.
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Kept {
    /// The kept connections go back to the pool, SQLx spawning a task for each. Outside a
    /// runtime SQLx cannot spawn (it panics, even for a connection detached from its pool, to
    /// keep the pool's minimum): they are dropped in a runtime of their own, shut down at once,
    /// whose tasks' end closes them and takes them off the pool's count.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let connections = std::mem::take(&mut *self.lock());
        if connections.is_empty() {
            return;
        }
        match tokio::runtime::Builder::new_current_thread().build() {
            Ok(runtime) => {
                let _inside = runtime.enter();
                drop(connections);
            }
            // No runtime to be had: left open until the process ends, rather than a panic.
            Err(_) => std::mem::forget(connections),
        }
    }
}

/// How often the sweeper looks at the kept connections: a pool's `close` waits this long at
/// most for them, and a connection rests at most this long past [`STALE_AFTER`] before it goes
/// back.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Gives back the connections of `kept` that rested, and all of them once the pool is
/// closing, until the reads are dropped.
async fn sweep(kept: Weak<Kept>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(kept) = kept.upgrade() else {
            return;
        };
        drop(kept.give_back_rested());
    }
}

/// SeaORM's error for a connection the pool could not give.
fn acquire_error(e: sqlx::Error) -> DbErr {
    match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
    }
}
