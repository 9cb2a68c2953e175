//! The plans of the hot statements on SQLite, checked so that a plan regression (a lost index, a
//! sort of every row for a page) fails CI: the statements of the benchmark's queries are
//! captured from real requests, and each is asked `EXPLAIN QUERY PLAN` with its own values.
use std::sync::{Arc, Mutex};

use passerelle::config::Settings;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::helpers::{
    As, DEMO_ADMIN, TestApp, TestDatabase, execute_anonymous, terminate_and_rest, test_settings,
};

/// The benchmark's queries (bench/src/peer.rs), and the viewer who asks.
const QUERIES: &[(&str, bool)] = &[
    // The listing every visitor sees first: the newest missions.
    ("{ missions(first: 20) { totalCount nodes { title postedAt } } }", false),
    (
        "{ missions(filter: {domains: [SPORT]}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            nodes { title startAt
              organization { name missions(first: 5) { nodes { title startAt } } }
              publisher { name }
              addresses { city lat lon } } } }",
        false,
    ),
    (
        "{ missions(filter: {keywords: \"sport\"}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            totalCount nodes { title startAt organization { name } } } }",
        false,
    ),
    // A word few missions hold (about 80 of 20,000, where "sport" matches about 1,600).
    (
        "{ missions(filter: {keywords: \"essonne\"}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            nodes { title } } }",
        false,
    ),
    (
        "{ missions(filter: {near: {lat: 45.764, lon: 4.8357, radiusKm: 30}}, orderBy: {field: DISTANCE, direction: ASC}, first: 20) {
            totalCount nodes { title addresses { city } }
            facets { domains { value count } types { value count } departmentCodes { value count } remote { value count } } } }",
        false,
    ),
    // The facets of every public mission, the search page's first view (from the tally), and
    // those of a few domains (from the missions).
    (
        "{ missions(first: 0) { facets { domains { value count } departmentCodes { value count } } } }",
        false,
    ),
    (
        "{ missions(first: 0, filter: {domains: [SPORT, SANTE]}) { totalCount
            facets { domains { value count } types { value count } departmentCodes { value count } remote { value count } } } }",
        false,
    ),
    (
        "{ volunteers(first: 20) { nodes { firstName lastName
            applications(first: 10) { nodes { status mission { title } } } } } }",
        true,
    ),
];

/// Each captured statement with its plan, one line per step.
async fn plans() -> Option<Vec<(String, Vec<String>)>> {
    let database = TestDatabase::create("plans").await;
    if database.is_postgres() {
        // PostgreSQL picks its plans from the table's size and statistics; these checks are
        // SQLite's, whose plans follow the indexes.
        database.drop_database().await;
        return None;
    }
    let conn = database.connect_migrated().await;
    // Enough missions for the planner to weigh a sort against an index walk as it will in
    // production (with a few thousand, sorting them all looks cheap to it).
    passerelle::seed::seed_demo(&conn, 20_000)
        .await
        .expect("seed");
    // A server started on the seeded file, as `serve` is: its connections read the statistics
    // the seed's `ANALYZE` wrote.
    conn.close().await.expect("close");
    let conn = database.connect_migrated().await;
    let captured: Arc<Mutex<Vec<Statement>>> = Arc::default();
    let sink = Arc::clone(&captured);
    let settings = Settings {
        count_cache_ms: 0,
        ..test_settings()
    };
    let app = TestApp::start_observed(conn.clone(), settings, move |info| {
        sink.lock().expect("lock").push(info.statement.clone());
    })
    .await;
    for (query, admin) in QUERIES {
        let who = if *admin {
            As::user(DEMO_ADMIN)
        } else {
            As::Anonymous
        };
        app.data_as(&who, query, json!({})).await;
    }
    app.stop().await;
    let statements: Vec<Statement> = std::mem::take(&mut *captured.lock().expect("lock"));
    let mut out = Vec::new();
    for s in statements
        .iter()
        .filter(|s| s.sql.trim_start().starts_with("SELECT"))
    {
        let explain = Statement {
            sql: format!("EXPLAIN QUERY PLAN {}", s.sql),
            values: s.values.clone(),
            db_backend: DbBackend::Sqlite,
        };
        let rows = conn.query_all_raw(explain).await.expect("explain");
        let steps = rows
            .iter()
            .map(|r| r.try_get::<String>("", "detail").expect("detail"))
            .collect();
        out.push((s.sql.clone(), steps));
    }
    database.drop_database().await;
    Some(out)
}

#[tokio::test]
async fn the_hot_statements_walk_their_indexes_on_sqlite() {
    let Some(plans) = plans().await else {
        return;
    };
    let shown = |sql: &str, steps: &[String]| {
        format!("{}\n  {}", &sql[..sql.len().min(400)], steps.join("\n  "))
    };
    assert!(
        plans.len() >= 15,
        "the queries ran their statements ({})",
        plans.len()
    );
    // No statement reads a whole large table.
    for (sql, steps) in &plans {
        for table in [
            "missions",
            "mission_addresses",
            "applications",
            "organizations",
        ] {
            assert!(
                !steps.iter().any(|s| s == &format!("SCAN {table}")),
                "a full scan of {table}: {}",
                shown(sql, steps)
            );
        }
    }
    // A domain's missions in start order: the page walks its index, with no sort.
    let page = plans
        .iter()
        .find(|(sql, _)| {
            sql.contains("\"missions\".\"domain\" IN")
                && sql.contains("ORDER BY \"missions\".\"start_at\"")
        })
        .expect("the nested query's page");
    assert!(
        page.1
            .iter()
            .any(|s| s.contains("USING INDEX missions_public_domain_start_idx")),
        "{}",
        shown(&page.0, &page.1)
    );
    assert!(
        !page.1.iter().any(|s| s.contains("TEMP B-TREE")),
        "the page is not sorted after reading: {}",
        shown(&page.0, &page.1)
    );
    // The organizations' first missions (one `UNION ALL` branch per organization): read from
    // the covering index alone, no row visited (migration 13).
    let (sql, steps) = plans
        .iter()
        .find(|(sql, _)| {
            sql.contains("\"missions\".\"organization_id\" = ?") && sql.contains("UNION ALL")
        })
        .expect("the organizations' first missions");
    assert!(
        steps.iter().any(|s| s
            == "SEARCH missions USING COVERING INDEX missions_public_organization_page_idx (organization_id=?)")
            && !steps.iter().any(|s| s.contains("missions USING INDEX")),
        "{}",
        shown(sql, steps)
    );
    // The newest missions: the page walks the newest-first index backwards, with no sort, and
    // their count reads that index alone.
    let newest = plans
        .iter()
        .find(|(sql, _)| {
            sql.contains("ORDER BY \"missions\".\"posted_at\" DESC")
                && !sql.contains("MATCH")
                && !sql.contains("asin(")
        })
        .expect("the newest missions' page");
    assert!(
        newest
            .1
            .iter()
            .any(|s| s.contains("USING INDEX missions_public_newest_idx")),
        "{}",
        shown(&newest.0, &newest.1)
    );
    assert!(
        !newest.1.iter().any(|s| s.contains("TEMP B-TREE")),
        "{}",
        shown(&newest.0, &newest.1)
    );
    // The total and the facets of every public mission are read from the tally alone: a few
    // hundred rows, whatever the number of missions.
    let tally = plans
        .iter()
        .find(|(sql, _)| sql.contains("FROM \"public_mission_tally\""))
        .expect("the tally of public missions");
    assert_eq!(
        tally.1,
        ["SCAN public_mission_tally", "USE TEMP B-TREE FOR GROUP BY"],
        "{}",
        shown(&tally.0, &tally.1)
    );
    // A few domains' count and facets: their count, and domains, types and remote counted
    // together, each from one covering index; their departments from its missions and their
    // addresses by key.
    let by_domains = |what: &str| {
        plans
            .iter()
            .find(|(sql, _)| {
                sql.contains(what)
                    && sql.contains("\"missions\".\"domain\" IN (?, ?)")
                    && !sql.contains("asin(")
            })
            .unwrap_or_else(|| panic!("{what} of a few domains"))
    };
    let covering = "SEARCH missions USING COVERING INDEX missions_public_facets_idx (domain=?)";
    for what in [
        "SELECT COUNT(*)",
        "GROUP BY \"missions\".\"domain\", \"missions\".\"mission_type\"",
    ] {
        let (sql, steps) = by_domains(what);
        assert_eq!(steps, &[covering], "{}", shown(sql, steps));
    }
    let (sql, steps) = by_domains("GROUP BY \"mission_addresses\".\"department_code\"");
    assert!(
        steps[0] == covering
            && steps[1]
                == "SEARCH mission_addresses USING INDEX mission_addresses_mission_idx (mission_id=?)",
        "{}",
        shown(sql, steps)
    );
    // Keywords matching many missions: the page walks the start dates' index and keeps the
    // matches, with no sort and no row read per match; matching few: each match is read by id.
    let keyword_page = |membership: bool| {
        let kept = if membership {
            "(+\"missions\".\"id\" IN (SELECT \"missions_fts\""
        } else {
            "(\"missions\".\"id\" IN (SELECT \"missions_fts\""
        };
        plans
            .iter()
            .find(|(sql, _)| {
                sql.contains(kept) && sql.contains("ORDER BY \"missions\".\"start_at\"")
            })
            .unwrap_or_else(|| panic!("a page by keywords, membership {membership}"))
    };
    let (sql, steps) = keyword_page(true);
    assert!(
        steps
            .iter()
            .any(|s| s == "SCAN missions USING INDEX missions_public_start_idx")
            && !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "{}",
        shown(sql, steps)
    );
    let (sql, steps) = keyword_page(false);
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH missions USING INTEGER PRIMARY KEY")),
        "{}",
        shown(sql, steps)
    );
    // Keywords go through the full-text index; `near` through the coordinates' index.
    assert!(
        plans
            .iter()
            .filter(|(sql, _)| sql.contains("MATCH"))
            .all(|(_, steps)| steps
                .iter()
                .any(|s| s.contains("missions_fts VIRTUAL TABLE"))),
        "full text"
    );
    let near: Vec<_> = plans
        .iter()
        .filter(|(sql, _)| sql.contains("asin(sqrt("))
        .collect();
    assert!(
        near.len() >= 4,
        "count, page and the two statements of the facets of `near`"
    );
    for (sql, steps) in near {
        assert!(
            steps.iter().any(|s| s.contains("mission_addresses_geo")),
            "{}",
            shown(sql, steps)
        );
    }
    // Nested pages and relations are found by key.
    for (sql, steps) in plans.iter().filter(|(sql, _)| sql.contains("UNION ALL")) {
        assert!(
            steps.iter().filter(|s| s.starts_with("SEARCH")).count() >= 2,
            "{}",
            shown(sql, steps)
        );
    }
}

/// The bundled SQLite is built as `.cargo/config.toml` asks: with the query planner stability
/// guarantee (without it, the STAT4 statistics that libsqlite3-sys enables make SQLite parse and
/// plan a statement again each time it runs with new values, a third of the server's CPU under
/// load) and without memory statistics (a global mutex taken by every allocation).
#[tokio::test]
async fn the_bundled_sqlite_keeps_its_plans_and_counts_no_memory() {
    let database = TestDatabase::create("compile_options").await;
    if database.is_postgres() {
        database.drop_database().await;
        return;
    }
    let conn = database.connect_migrated().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA compile_options",
        ))
        .await
        .expect("compile options");
    let options: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("option"))
        .collect();
    for wanted in [
        "ENABLE_QPSG",
        "DEFAULT_MEMSTATUS=0",
        "ENABLE_MATH_FUNCTIONS",
    ] {
        assert!(
            options.iter().any(|o| o == wanted),
            "SQLite was built without {wanted}: {options:?}"
        );
    }
    database.drop_database().await;
}

/// A pool opening a SQLite database whose log was left large (a bulk load, a process that
/// stopped without closing) copies the log into the file and empties it, so that its reads use
/// the memory-mapped file rather than look every page up in the log.
#[tokio::test]
async fn opening_a_database_empties_a_log_left_large() {
    let (path, url) = temp_sqlite("wal");
    let wal = path.with_extension("db-wal");
    let first = passerelle::db::connect(&url, 2).await.expect("connect");
    first
        .execute_unprepared(
            "CREATE TABLE filler (x TEXT);
             INSERT INTO filler SELECT hex(randomblob(1000)) FROM (WITH RECURSIVE c(n) AS
               (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000) SELECT n FROM c)",
        )
        .await
        .expect("fill");
    let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(left > 1_000_000, "the log holds the writes ({left} bytes)");
    let second = passerelle::db::connect(&url, 2)
        .await
        .expect("connect again");
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0, "emptied");
    let rows = second
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM filler",
        ))
        .await
        .expect("count")
        .expect("a row");
    assert_eq!(
        rows.try_get::<i64>("", "n").expect("n"),
        2000,
        "nothing lost"
    );
    first.close().await.expect("close");
    second.close().await.expect("close");
    remove_sqlite(&path);
}

/// A new SQLite file in the temp directory, and its URL.
fn temp_sqlite(label: &str) -> (std::path::PathBuf, secrecy::SecretString) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = std::env::temp_dir().join(format!(
        "passerelle-{label}-{}-{nanos}.db",
        std::process::id()
    ));
    let url = secrecy::SecretString::from(format!("sqlite://{}", path.display()));
    (path, url)
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A server on a SQLite file writes through one connection and reads through read-only ones:
/// a write sent to a reader is refused, the readers see what the writer committed, and
/// transactions that read then write, all at once, queue for the writer and all succeed (on
/// several writing connections, one that read before another committed could not write:
/// SQLite's `SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out).
#[tokio::test]
async fn a_sqlite_server_writes_through_one_connection_and_reads_beside_it() {
    use sea_orm::TransactionTrait;
    let (path, url) = temp_sqlite("pools");
    let pools = passerelle::db::Pools::connect(&url, 4)
        .await
        .expect("connect");
    assert_eq!(
        pools
            .write
            .get_sqlite_connection_pool()
            .options()
            .get_max_connections(),
        1
    );
    pools
        .write
        .execute_unprepared(
            "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)",
        )
        .await
        .expect("the writer writes");
    let refused = pools
        .read
        .execute_unprepared("UPDATE counter SET n = 100")
        .await
        .expect_err("a reader cannot write");
    assert!(refused.to_string().contains("readonly"), "{refused}");
    let count = |db: sea_orm::DatabaseConnection| async move {
        db.query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT n FROM counter",
        ))
        .await
        .expect("read")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("n")
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let write = pools.write.clone();
            tokio::spawn(async move {
                let txn = write.begin().await?;
                let n = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT n FROM counter",
                    ))
                    .await?
                    .map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
                tokio::task::yield_now().await;
                txn.execute_unprepared(&format!("UPDATE counter SET n = {}", n + 1))
                    .await?;
                txn.commit().await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task runs").expect("no busy error");
    }
    assert_eq!(count(pools.read.clone()).await, 20, "every increment kept");
    pools.read.close().await.expect("close");
    pools.write.close().await.expect("close");
    remove_sqlite(&path);
}

/// A connection that has rested in the pool is checked before it is handed out again (busy
/// ones are not, which saves a round trip per request): one the server dropped meanwhile is
/// replaced, and the next request does not fail.
#[tokio::test]
async fn a_pooled_connection_the_server_dropped_is_replaced_after_a_rest() {
    let database = TestDatabase::create("stale").await;
    if !database.is_postgres() {
        return;
    }
    let url = secrecy::SecretString::from(database.url().to_owned());
    let conn = passerelle_db::connect(&url, 1).await.expect("connect");
    let other = passerelle_db::connect(&url, 1).await.expect("connect");
    let pid = |db: sea_orm::DatabaseConnection| async move {
        db.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .expect("the connection answers")
        .expect("a row")
        .try_get::<i32>("", "pid")
        .expect("pid")
    };
    let first = pid(conn.clone()).await;
    assert_eq!(pid(conn.clone()).await, first, "the pool's one connection");
    terminate_and_rest(&other, first).await;
    let second = pid(conn.clone()).await;
    assert_ne!(second, first, "a new connection replaced the dropped one");
    conn.close().await.expect("close");
    other.close().await.expect("close");
    database.drop_database().await;
}

/// On PostgreSQL a page's statement is planned once per connection, not at every request: with
/// its limits written in the text (`resolvers/src/sql.rs`), PostgreSQL keeps the generic plan
/// after five executions (with the limit a parameter, it planned each of them again), the
/// page joined with its relations and its organizations' first missions included. Read from
/// the one connection's own `pg_prepared_statements`.
#[tokio::test]
async fn postgres_plans_a_page_once_per_connection() {
    let database = TestDatabase::create("generic_plans").await;
    if !database.is_postgres() {
        return;
    }
    let conn = passerelle_db::connect(&secrecy::SecretString::from(database.url().to_owned()), 1)
        .await
        .expect("connect");
    passerelle_db::migrate_up(&conn).await.expect("migrate");
    passerelle::seed::seed_demo(&conn, 2_000)
        .await
        .expect("seed");
    let schema = passerelle_schema::build(conn.clone(), passerelle_schema::Limits::default());
    let query = "{ missions(filter: {domains: [SPORT]}, orderBy: {field: START_AT, direction: ASC}, first: 7) {
        nodes { title organization { name missions(first: 5) { nodes { title startAt } } }
            publisher { name } addresses { city } } } }";
    for _ in 0..10 {
        let (response, _) = execute_anonymous(&schema, query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().expect("json");
        assert_eq!(data["missions"]["nodes"].as_array().map(Vec::len), Some(7));
    }
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements",
        ))
        .await
        .expect("prepared statements");
    let pages: Vec<(String, String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "name").expect("name"),
                r.try_get::<String>("", "statement").expect("statement"),
                r.try_get::<i64>("", "generic_plans").expect("generic"),
                r.try_get::<i64>("", "custom_plans").expect("custom"),
            )
        })
        .filter(|(_, sql, _, _)| sql.contains("FROM \"missions\"") && sql.contains("LIMIT 8"))
        .collect();
    assert_eq!(pages.len(), 1, "one statement for the page: {pages:?}");
    let (name, sql, generic, custom) = &pages[0];
    // The organizations' first missions are read in the page's statement, their limit
    // written in too.
    assert!(!sql.contains("LIMIT $") && sql.contains("LIMIT 6"), "{sql}");
    // They and the addresses come in the mission's row, each an array of records: one row
    // per mission, no lateral join repeating the mission's columns in a row per address or
    // organization's mission, no window function numbering them.
    assert!(
        sql.contains("ARRAY (SELECT ROW(")
            && sql.contains("AS \"m_records\"")
            && sql.contains("AS \"a_records\"")
            && !sql.contains("LATERAL")
            && !sql.contains("OVER ("),
        "{sql}"
    );
    assert!(
        *generic >= 5 && *custom <= 5,
        "planned once, then reused: {generic} generic, {custom} custom plans"
    );
    // The organizations' first missions are read from their index alone (migration 13), not
    // from a row each. The pool's one connection holds the prepared statement.
    let plan: Vec<String> = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN EXECUTE {name}('sport')"),
        ))
        .await
        .expect("explain")
        .iter()
        .map(|r| r.try_get::<String>("", "QUERY PLAN").expect("plan line"))
        .collect();
    assert!(
        plan.iter().any(
            |line| line.contains("Index Only Scan using missions_public_organization_page_idx")
        ),
        "{}",
        plan.join("\n")
    );
    conn.close().await.expect("close");
    database.drop_database().await;
}
