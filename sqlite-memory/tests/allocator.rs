//! SQLite on Rust's allocator, in a process of its own (this test binary): set before SQLite's
//! first use, it holds; after, SQLite refuses it.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement};

/// The system's allocator, noting the largest block it was asked for: SQLite's blocks are seen
/// here only if SQLite allocates through Rust.
struct Noting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System`, unchanged; the note is an atomic.
unsafe impl GlobalAlloc for Noting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's promises are `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Noting = Noting;

/// The one row `sql` gives on `db`.
async fn one(db: &DatabaseConnection, sql: &str) -> QueryResult {
    db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .expect("query")
        .expect("a row")
}

#[tokio::test]
async fn sqlite_allocates_through_rust_once_set_before_its_first_use() {
    assert_eq!(passerelle_sqlite_memory::use_global_allocator(), Ok(()));
    // Set again before SQLite is used: still accepted.
    assert_eq!(passerelle_sqlite_memory::use_global_allocator(), Ok(()));

    let db = Database::connect("sqlite::memory:").await.expect("sqlite");
    // Values of every size SQLite allocates, grows (a concatenation of 100,000 numbers, grown
    // block by block: `xRealloc`) and frees, read back whole.
    let row = one(
        &db,
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) \
             SELECT length(group_concat(x, '')) AS digits, \
                    sum(length(printf('%.*c', x % 5000 + 1, 'a'))) AS letters, \
                    max(x) AS last FROM n",
    )
    .await;
    // 9 one-digit numbers, 90 of two, 900 of three, 9,000 of four, 90,000 of five, one of six.
    assert_eq!(
        row.try_get::<i64>("", "digits").expect("digits"),
        9 + 90 * 2 + 900 * 3 + 9_000 * 4 + 90_000 * 5 + 6
    );
    // x % 5000 + 1 over 1..=100000: 20 times 1..=5000 letters.
    assert_eq!(
        row.try_get::<i64>("", "letters").expect("letters"),
        20 * (5_000 * 5_001 / 2)
    );
    assert_eq!(row.try_get::<i64>("", "last").expect("last"), 100_000);
    // A string of 20 MB made and measured inside SQLite (only its length leaves it): its block
    // came from Rust's allocator.
    let before = LARGEST.load(Ordering::Relaxed);
    assert!(before < 20_000_000, "{before}");
    let row = one(&db, "SELECT length(printf('%.*c', 20000000, 'c')) AS n").await;
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 20_000_000);
    assert!(LARGEST.load(Ordering::Relaxed) >= 20_000_000);
    // A table written, grown past the page cache's first pages and read back.
    db.execute_unprepared(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); \
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) \
         INSERT INTO t SELECT x, printf('%.*c', x, 'b') FROM n",
    )
    .await
    .expect("write");
    let row = one(
        &db,
        "SELECT count(*) AS n, sum(length(body)) AS bytes FROM t WHERE body LIKE 'b%'",
    )
    .await;
    assert_eq!(row.try_get::<i64>("", "n").expect("n"), 2_000);
    assert_eq!(
        row.try_get::<i64>("", "bytes").expect("bytes"),
        2_000 * 2_001 / 2
    );

    // SQLite in use: its memory can no longer change, and it says so (SQLITE_MISUSE).
    let refused = passerelle_sqlite_memory::use_global_allocator().expect_err("in use");
    assert_eq!(refused.0, 21);
    assert!(refused.to_string().contains("already in use"), "{refused}");
}
