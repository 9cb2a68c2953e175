//! Reads over kept connections (`passerelle_db::Reads`): on PostgreSQL a read that ran to its
//! end keeps its connection for the next one, without SQLx's ping; a failed or abandoned one
//! gives it back to the pool; at most half of the pool is kept, so that writes still get
//! connections; a kept connection the server dropped while it rested is replaced. Elsewhere,
//! reads go through the pool as before.
use std::time::Duration;

use passerelle_db::Reads;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::helpers::{TestDatabase, terminate_and_rest};

/// A pool of `size` connections on `database`.
async fn pool(database: &TestDatabase, size: u32) -> DatabaseConnection {
    let url = secrecy::SecretString::from(database.url().to_owned());
    passerelle_db::connect(&url, size).await.expect("connect")
}

/// Closes `db`'s pool, which waits for every connection to come back: kept ones included,
/// given back by the sweeper once it sees the pool closing.
async fn close(db: &DatabaseConnection) {
    tokio::time::timeout(Duration::from_secs(2), db.close_by_ref())
        .await
        .expect("the pool closes with connections kept")
        .expect("close");
}

/// The backend that answers a read through `reads`.
async fn backend(reads: &Reads, db: &DatabaseConnection) -> i32 {
    let rows = reads
        .query_all(
            db,
            Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"),
        )
        .await
        .expect("the read answers");
    rows[0].try_get::<i32>("", "pid").expect("pid")
}

#[tokio::test]
async fn a_read_keeps_its_connection_for_the_next_and_gives_it_back_when_it_fails() {
    let database = TestDatabase::create("reads_kept").await;
    let db = pool(&database, 4).await;
    let reads = Reads::of(&db);
    if !database.is_postgres() {
        // SQLite's reads go through the pool: nothing kept, the same answer.
        let rows = reads
            .query_all(
                &db,
                Statement::from_string(DbBackend::Sqlite, "SELECT 7 AS n"),
            )
            .await
            .expect("read");
        assert_eq!(rows[0].try_get::<i32>("", "n").expect("n"), 7);
        assert_eq!(reads.kept(), 0);
        database.drop_database().await;
        return;
    }
    let first = backend(&reads, &db).await;
    assert_eq!(reads.kept(), 1, "kept after its read");
    for _ in 0..3 {
        assert_eq!(
            backend(&reads, &db).await,
            first,
            "the kept connection reads again"
        );
    }
    assert_eq!(reads.kept(), 1);
    // Values are bound as SeaORM binds them.
    let rows = reads
        .query_all(
            &db,
            Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT $1::bigint + 1 AS n, $2::text AS s",
                [41_i64.into(), "é".into()],
            ),
        )
        .await
        .expect("read");
    assert_eq!(rows[0].try_get::<i64>("", "n").expect("n"), 42);
    assert_eq!(rows[0].try_get::<String>("", "s").expect("s"), "é");
    // A failed statement: the error is SeaORM's, and its connection goes back to the pool.
    let failed = reads
        .query_all(
            &db,
            Statement::from_string(DbBackend::Postgres, "SELECT 1 / 0"),
        )
        .await
        .expect_err("division by zero");
    assert!(failed.to_string().contains("division by zero"), "{failed}");
    assert_eq!(reads.kept(), 0, "a failed read's connection is not kept");
    backend(&reads, &db).await;
    assert_eq!(reads.kept(), 1, "the next read keeps its connection");
    close(&db).await;
    assert_eq!(reads.kept(), 0, "all given back to the closing pool");
    let closed = reads
        .query_all(&db, Statement::from_string(DbBackend::Postgres, "SELECT 1"))
        .await
        .expect_err("a closed pool reads nothing");
    assert!(
        matches!(closed, sea_orm::DbErr::ConnectionAcquire(_)),
        "{closed:?}"
    );
    database.drop_database().await;
}

#[tokio::test]
async fn a_read_given_up_half_way_gives_its_connection_back() {
    let database = TestDatabase::create("reads_given_up").await;
    if !database.is_postgres() {
        return;
    }
    let db = pool(&database, 4).await;
    let reads = Reads::of(&db);
    let slow = backend(&reads, &db).await;
    let given_up = tokio::time::timeout(
        Duration::from_millis(200),
        reads.query_all(
            &db,
            Statement::from_string(DbBackend::Postgres, "SELECT pg_sleep(2)"),
        ),
    )
    .await;
    assert!(given_up.is_err(), "the read was given up");
    assert_eq!(
        reads.kept(),
        0,
        "a connection left mid-statement is not kept"
    );
    // The next read gets another connection, ready, while the pool drains the first.
    let next = backend(&reads, &db).await;
    assert_ne!(next, slow);
    assert_eq!(reads.kept(), 1);
    close(&db).await;
    database.drop_database().await;
}

#[tokio::test]
async fn at_most_half_the_pool_is_kept_and_writes_still_get_connections() {
    let database = TestDatabase::create("reads_half").await;
    if !database.is_postgres() {
        return;
    }
    let db = pool(&database, 2).await;
    let reads = Reads::of(&db);
    // Two reads at once hold both connections; one of them is kept after.
    let (a, b) = tokio::join!(
        reads.query_all(
            &db,
            Statement::from_string(DbBackend::Postgres, "SELECT pg_sleep(0.2)"),
        ),
        reads.query_all(
            &db,
            Statement::from_string(DbBackend::Postgres, "SELECT pg_sleep(0.2)"),
        ),
    );
    a.expect("read");
    b.expect("read");
    assert_eq!(reads.kept(), 1, "half of a pool of two");
    // The pool's other connection serves a transaction at once.
    let txn = tokio::time::timeout(Duration::from_secs(2), db.begin())
        .await
        .expect("a connection without waiting for the acquire timeout")
        .expect("begin");
    txn.execute_unprepared("SELECT 1")
        .await
        .expect("in the transaction");
    txn.commit().await.expect("commit");
    close(&db).await;
    // A pool of one keeps none.
    let one = pool(&database, 1).await;
    let reads = Reads::of(&one);
    backend(&reads, &one).await;
    assert_eq!(reads.kept(), 0);
    close(&one).await;
    database.drop_database().await;
}

/// As the pool's own (`plans::a_pooled_connection_the_server_dropped_is_replaced_after_a_rest`):
/// a kept connection that rested goes back to the pool, which pings it and replaces it when the
/// server dropped it meanwhile.
#[tokio::test]
async fn a_kept_connection_the_server_dropped_is_replaced_after_a_rest() {
    let database = TestDatabase::create("reads_stale").await;
    if !database.is_postgres() {
        return;
    }
    let db = pool(&database, 2).await;
    let other = pool(&database, 1).await;
    let reads = Reads::of(&db);
    let first = backend(&reads, &db).await;
    assert_eq!(reads.kept(), 1);
    terminate_and_rest(&other, first).await;
    let second = backend(&reads, &db).await;
    assert_ne!(second, first, "a new connection replaced the dropped one");
    close(&db).await;
    close(&other).await;
    database.drop_database().await;
}

/// Reads dropped outside a runtime (a schema that outlives it): SQLx cannot spawn the task that
/// takes a connection back there (it panics), so the kept connections are closed instead and
/// taken off the pool's count.
#[test]
fn reads_dropped_outside_a_runtime_close_their_kept_connections() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (database, db, reads) = runtime.block_on(async {
        let database = TestDatabase::create("reads_outside").await;
        let db = pool(&database, 4).await;
        let reads = Reads::of(&db);
        (database, db, reads)
    });
    if !database.is_postgres() {
        runtime.block_on(database.drop_database());
        return;
    }
    runtime.block_on(backend(&reads, &db));
    assert_eq!(reads.kept(), 1);
    // Made outside a runtime, reads have no sweeper: they go through the pool, keeping none.
    let unswept = Reads::of(&db);
    runtime.block_on(backend(&unswept, &db));
    assert_eq!(unswept.kept(), 0);
    let open = db.get_postgres_connection_pool().size();
    // Not in `block_on`: no runtime here.
    drop(reads);
    assert_eq!(
        db.get_postgres_connection_pool().size(),
        open - 1,
        "the kept connection closed, off the pool's count"
    );
    runtime.block_on(async {
        close(&db).await;
        database.drop_database().await;
    });
}
