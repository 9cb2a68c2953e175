//! The `passerelle` command as a user runs it: the real binary, real databases, bad arguments
//! answered with a message and a non-zero exit, never a panic.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use passerelle::testing::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");

fn run(args: &[&str], database_url: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PASSERELLE_CONFIG")
        .env("PASSERELLE_GEOCODER_URL", "off")
        .env("PASSERELLE_LOG", "warn");
    match database_url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    cmd.output().expect("run passerelle")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The standard output of a command that must succeed (its standard error otherwise).
fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The address `serve` prints on its first line ("… open http://ADDR/ …"), read from its
/// piped standard output.
fn served_address(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the URL line");
    assert!(line.contains("open http://127.0.0.1:"), "{line}");
    line.split("open ")
        .nth(1)
        .and_then(|s| s.split('/').nth(2))
        .expect("address")
        .to_owned()
}

/// The address `serve --demo` prints on its first line, and the lines of demo credentials that
/// follow it (up to the last demo user's token).
fn served_address_and_demo_credentials(child: &mut std::process::Child) -> (String, Vec<String>) {
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("the URL line");
    let address = first
        .split("open ")
        .nth(1)
        .and_then(|s| s.split('/').nth(2))
        .expect("address")
        .to_owned();
    let mut lines = Vec::new();
    let mut users = 0;
    while users < 7 {
        let mut line = String::new();
        if out.read_line(&mut line).expect("a line") == 0 {
            break;
        }
        if line.contains("@passerelle.example (") {
            users += 1;
        }
        lines.push(line.trim_end().to_owned());
    }
    // Keep reading in the background so that the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (address, lines)
}

/// A partner platform on an ephemeral loopback port: the sample feeds of `examples/feeds/` at
/// `/{name}`, and `/broken.xml` answering 500. Returns its base URL. It runs on the test's
/// runtime: tests that wait for a child process synchronously need a second worker.
async fn partner_server() -> String {
    let feeds = axum::Router::new()
        .route(
            "/broken.xml",
            axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/{name}",
            axum::routing::get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/feeds/");
                    if name.contains('/') || name.contains("..") {
                        return Err(axum::http::StatusCode::NOT_FOUND);
                    }
                    std::fs::read(format!("{dir}{name}"))
                        .map_err(|_| axum::http::StatusCode::NOT_FOUND)
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, feeds).await });
    base
}

/// A fresh database for one test (see `passerelle::testing`).
async fn fresh(label: &str) -> TestDatabase {
    TestDatabase::create(label).await.expect("test database")
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message() {
    for (args, expected) in [
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["serve", "--listen", "not-an-address"], "invalid value"),
        (vec!["seed", "--demo", "--missions", "0"], "--missions"),
        (
            vec!["seed", "--demo", "--missions", "2000000"],
            "--missions",
        ),
        (
            vec!["seed", "--demo", "--missions", "many"],
            "invalid value",
        ),
        (vec!["seed"], "--demo"),
        (vec!["migrate", "sideways"], "unrecognized subcommand"),
        (vec!["migrate", "down", "--steps", "0"], "--steps"),
        (
            vec![
                "--config",
                "/nonexistent/passerelle.toml",
                "schema",
                "print",
            ],
            "cannot read config file",
        ),
        (vec!["--max-depth", "0", "schema", "print"], "max_depth"),
        (
            vec!["--max-concurrent-requests", "0", "schema", "print"],
            "max_concurrent_requests must be at least 1",
        ),
        (
            vec!["--max-concurrent-requests=-3", "schema", "print"],
            "invalid value '-3' for '--max-concurrent-requests",
        ),
        (
            vec![
                "publisher",
                "add",
                "--name",
                "X",
                "--feed-url",
                "https://x.org/f.xml",
                "--every",
                "5s",
            ],
            "at least one minute",
        ),
        (
            vec![
                "publisher",
                "add",
                "--name",
                "X",
                "--feed-url",
                "https://x.org/f.xml",
                "--every",
                "6x",
            ],
            "unit",
        ),
        (
            vec!["publisher", "add", "--name", "X", "--feed-user", "u"],
            "--feed-url",
        ),
        (vec!["import"], "--publisher"),
        (
            vec!["import", "--all", "--file", "f.xml"],
            "cannot be used with",
        ),
        (
            vec![
                "import",
                "--publisher",
                "X",
                "--url",
                "http://x",
                "--file",
                "f",
            ],
            "cannot be used with",
        ),
        (
            vec!["--feed-allow-private", "maybe", "schema", "print"],
            "invalid value",
        ),
        (
            vec!["--geocoder-url", "ftp://geo", "schema", "print"],
            "geocoder_url",
        ),
        (
            vec!["--feed-max-bytes", "10", "schema", "print"],
            "feed_max_bytes",
        ),
        (
            vec!["--jwt-secret", "short", "schema", "print"],
            "at least 32 bytes",
        ),
        (
            vec!["--jwks-url", "https://idp.example/jwks", "schema", "print"],
            "jwt_issuer and jwt_audience",
        ),
        (
            vec!["--jwks-url", "file:///etc/jwks", "schema", "print"],
            "jwks_url must be",
        ),
        (
            vec!["--jwt-leeway-secs", "3600", "schema", "print"],
            "jwt_leeway_secs",
        ),
        (
            vec!["--analyst-min-count", "0", "schema", "print"],
            "analyst_min_count",
        ),
        (vec!["--max-cost", "0", "schema", "print"], "max_cost"),
        (vec!["--max-tokens", "1", "schema", "print"], "max_tokens"),
        (
            vec!["--max-aliases", "many", "schema", "print"],
            "invalid value",
        ),
        (
            vec![
                "--cors-origin",
                "https://front.example/app",
                "schema",
                "print",
            ],
            "cors_origins",
        ),
        (
            vec!["--cors-origin", "*", "schema", "print"],
            "cors_origins",
        ),
        (
            vec!["--introspection", "maybe", "schema", "print"],
            "invalid value",
        ),
        (
            vec!["--router-secret", "short", "schema", "print"],
            "router_secret",
        ),
        (
            vec!["--max-response-bytes", "10", "schema", "print"],
            "max_response_bytes",
        ),
        (vec!["keys", "create"], "--publisher"),
        (vec!["keys", "revoke"], "PREFIX"),
        (
            vec!["users", "add", "--email", "a@b.org", "--role", "root"],
            "not a role",
        ),
        (vec!["users", "add", "--role", "admin"], "--email"),
        (
            vec![
                "users",
                "add",
                "--email",
                "a@b.org",
                "--role",
                "admin",
                "--organization",
                "x",
            ],
            "invalid value",
        ),
        (vec!["token"], "--user"),
        (
            vec!["token", "--user", "a@b.org", "--ttl", "5s"],
            "at least one minute",
        ),
        (
            vec!["token", "--user", "a@b.org", "--ttl", "31d"],
            "at most 30 days",
        ),
        (vec!["audit", "--limit", "0"], "--limit"),
        (vec!["diffusion", "set"], "--diffuseur"),
        (vec!["documents", "check"], "<FILE>"),
        (
            vec!["documents", "check", "/nonexistent/manifest.json"],
            "cannot read the manifest",
        ),
        (
            vec!["documents", "manifest", "/nonexistent"],
            "cannot read the directory",
        ),
        (
            vec!["--persisted-documents", "required", "schema", "print"],
            "needs persisted_documents_file",
        ),
        (
            vec!["--persisted-documents", "sometimes", "schema", "print"],
            "invalid value",
        ),
        (
            vec!["--redis-url", "http://cache:6379", "schema", "print"],
            "redis_url must be a URL like redis://",
        ),
        (
            vec!["--trusted-proxy", "10.0.0.0/99", "schema", "print"],
            "the prefix length must be 0 to 32",
        ),
        (
            vec!["--rate-limit-key=-1", "schema", "print"],
            "--rate-limit-key",
        ),
        (
            vec!["--rate-limit-redis-failure", "maybe", "schema", "print"],
            "invalid value",
        ),
        (
            vec!["--max-live-applications", "0", "schema", "print"],
            "max_live_applications",
        ),
        (
            vec!["--outbox-max-attempts", "51", "schema", "print"],
            "outbox_max_attempts",
        ),
        (
            vec!["--outbox-backoff-ms", "0", "schema", "print"],
            "outbox_backoff_ms",
        ),
        (
            vec!["--outbox-lease-secs", "5", "schema", "print"],
            "outbox_lease_secs",
        ),
        (
            vec!["--count-cache-ms", "120000", "schema", "print"],
            "count_cache_ms",
        ),
        (
            vec!["--response-cache-ms", "60001", "schema", "print"],
            "response_cache_ms",
        ),
        (
            vec!["--response-cache-ms", "soon", "schema", "print"],
            "invalid value",
        ),
        (
            vec!["--smtp-url", "http://mail.example", "schema", "print"],
            "smtp_url",
        ),
        (
            vec!["--mail-from", "not an address", "schema", "print"],
            "mail_from",
        ),
        (
            vec!["--webhook-allow-private", "perhaps", "schema", "print"],
            "invalid value",
        ),
        (vec!["outbox"], "Usage"),
        (vec!["outbox", "list", "--status", "lost"], "invalid value"),
        (vec!["outbox", "list", "--limit", "0"], "--limit"),
        (vec!["outbox", "retry", "abc"], "invalid value"),
        (
            vec!["outbox", "retry", "3", "--dead"],
            "cannot be used with",
        ),
    ] {
        let out = run(&args, None);
        assert!(!out.status.success(), "{args:?} fails");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} does not panic");
    }
}

#[test]
fn database_urls_are_checked_and_passwords_never_printed() {
    let out = run(
        &["migrate", "status"],
        Some("mysql://root:hunter2@127.0.0.1/db"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("DATABASE_URL must start with"));
    assert!(!text(&out.stderr).contains("hunter2"));
    // Nothing listens on port 1: the connection fails, and the message hides the password.
    let out = run(
        &["migrate", "status"],
        Some("postgres://app:hunter2@127.0.0.1:1/db"),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot connect to postgres://app:***@127.0.0.1:1/db"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn schema_print_is_the_committed_contract() {
    let out = run(&["schema", "print"], None);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/schema.graphql"
    ))
    .expect("schema");
    assert_eq!(text(&out.stdout), committed);
}

#[tokio::test]
async fn migrate_and_seed_walk_through_their_states() {
    let db = fresh("migrate").await;
    let url = db.url.as_str();
    assert!(
        ok(run(&["migrate", "status"], Some(url)))
            .lines()
            .all(|l| l.starts_with("pending"))
    );
    ok(run(&["migrate", "up"], Some(url)));
    assert!(
        ok(run(&["migrate", "status"], Some(url)))
            .lines()
            .all(|l| l.starts_with("applied"))
    );
    let seeded = ok(run(&["seed", "--demo", "--missions", "120"], Some(url)));
    assert!(seeded.contains("120 missions"), "{seeded}");
    if !db.is_postgres() {
        assert_back_in_wal(url).await;
    }
    // Seeding twice would mix data sets: refused, and nothing is added.
    let again = run(&["seed", "--demo", "--missions", "50"], Some(url));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("migrate fresh"),
        "{}",
        text(&again.stderr)
    );
    ok(run(&["migrate", "down"], Some(url)));
    let after_down = ok(run(&["migrate", "status"], Some(url)));
    let lines: Vec<&str> = after_down.lines().collect();
    assert!(
        lines.len() >= 2
            && lines[..lines.len() - 1]
                .iter()
                .all(|l| l.starts_with("applied")),
        "{after_down}"
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("pending")),
        "down rolls back the last one only: {after_down}"
    );
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(url).await.expect("connect");
    let (backend, one) = (
        conn.get_database_backend(),
        |r: Option<sea_orm::QueryResult>| r.expect("a row").try_get::<i64>("", "n").expect("n"),
    );
    let query = |sql: &'static str| {
        let conn = conn.clone();
        async move {
            one(conn
                .query_one_raw(sea_orm::Statement::from_string(backend, sql))
                .await
                .expect(sql))
        }
    };
    // The last one, undone, gives the organizations' pages their index without the columns
    // they show (migration 13); done again (below), the index carries them.
    let index = |name: &'static str| -> &'static str {
        match (backend, name) {
            (sea_orm::DbBackend::Postgres, "old") => {
                "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'missions_public_organization_idx'"
            }
            (sea_orm::DbBackend::Postgres, _) => {
                "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'missions_public_organization_page_idx'
                 AND indexdef LIKE '%INCLUDE (publisher_id, title, status)%'"
            }
            (_, "old") => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'missions_public_organization_idx'"
            }
            _ => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'missions_public_organization_page_idx'
                 AND sql LIKE '%title, status, deleted_at)%'"
            }
        }
    };
    assert_eq!(
        (query(index("old")).await, query(index("covering")).await),
        (1, 0)
    );
    // The one before, undone, makes the missions' full-text vector a generated column again
    // (PostgreSQL; on SQLite it has nothing to undo), with its index, the same vectors as the
    // seed wrote, and no trigger left; done again (below), the trigger fills it.
    let on_postgres = backend == sea_orm::DbBackend::Postgres;
    let generated = "SELECT COUNT(*) AS n FROM pg_attribute
                     WHERE attrelid = 'missions'::regclass AND attname = 'search_vector' AND attgenerated = 's'";
    let vector_trigger =
        "SELECT COUNT(*) AS n FROM pg_trigger WHERE tgname = 'missions_search_vector'";
    let vectors_as_made = "SELECT COUNT(*) AS n FROM missions
                           WHERE search_vector = to_tsvector('simple', search_text)";
    ok(run(&["migrate", "down", "--steps", "1"], Some(url)));
    if on_postgres {
        assert_eq!(query(generated).await, 1, "generated again");
        assert_eq!(query(vector_trigger).await, 0);
        assert_eq!(query(vectors_as_made).await, 120);
        assert_eq!(
            query("SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'missions_search_idx'")
                .await,
            1
        );
    }
    // The one before, undone, leaves migration 10's address function, which reads the mission
    // without a lock (PostgreSQL; on SQLite it has nothing to undo); done again, it locks.
    ok(run(&["migrate", "down", "--steps", "1"], Some(url)));
    let address_function =
        "SELECT COUNT(*) AS n FROM pg_proc WHERE proname = 'mission_addresses_public'";
    let locking = "SELECT COUNT(*) AS n FROM pg_proc WHERE proname = 'mission_addresses_public'
                   AND prosrc LIKE '%FOR NO KEY UPDATE%'";
    if on_postgres {
        assert_eq!(
            query(address_function).await,
            1,
            "migration 10's function is back"
        );
        assert_eq!(query(locking).await, 0);
    }
    // The one before, the tally of public missions (migration 11 only changes a PostgreSQL
    // function it wrote): undone, the addresses' triggers are those of migration 9 (an address
    // still takes its mission's visibility); done again over the data, it counts what is there.
    ok(run(&["migrate", "down", "--steps", "1"], Some(url)));
    let after_three = ok(run(&["migrate", "status"], Some(url)));
    assert_eq!(
        after_three
            .lines()
            .filter(|l| l.starts_with("pending"))
            .count(),
        4,
        "{after_three}"
    );
    conn.execute_unprepared(
        "INSERT INTO mission_addresses (mission_id, position, department_code, geo_source)
         SELECT MIN(id), 7, '2B', 'NOT_FOUND' FROM missions WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    )
    .await
    .expect("an address written without the tally");
    assert_eq!(
        query("SELECT COUNT(*) AS n FROM mission_addresses WHERE position = 7 AND mission_public")
            .await,
        1
    );
    // A mission archived passes its visibility to its addresses, as in migration 9.
    conn.execute_unprepared(
        "UPDATE missions SET status = 'ARCHIVED' WHERE id = (SELECT MIN(mission_id) FROM mission_addresses WHERE mission_public)",
    )
    .await
    .expect("a mission archived without the tally");
    let stale =
        "SELECT COUNT(*) AS n FROM mission_addresses a JOIN missions m ON m.id = a.mission_id
                 WHERE a.mission_public <> (m.status = 'VALIDATED' AND m.deleted_at IS NULL)";
    assert_eq!(query(stale).await, 0);
    ok(run(&["migrate", "up"], Some(url)));
    assert_eq!(
        (query(index("old")).await, query(index("covering")).await),
        (0, 1),
        "migration 13 replaces the index"
    );
    if on_postgres {
        assert_eq!(query(locking).await, 1, "migration 11 locks again");
        assert_eq!(
            query(generated).await,
            0,
            "migration 12 drops the expression again"
        );
        assert_eq!(query(vector_trigger).await, 1);
        conn.execute_unprepared(
            "UPDATE missions SET search_text = 'zqxjk' WHERE id = (SELECT MIN(id) FROM missions)",
        )
        .await
        .expect("a text changed");
        assert_eq!(
            query("SELECT COUNT(*) AS n FROM missions WHERE search_vector @@ to_tsquery('simple', 'zqxjk')")
                .await,
            1,
            "the trigger fills the vector"
        );
    }
    let public =
        "SELECT COUNT(*) AS n FROM missions WHERE status = 'VALIDATED' AND deleted_at IS NULL";
    assert!(query(public).await > 0);
    assert_eq!(
        query("SELECT CAST(SUM(n) AS BIGINT) AS n FROM public_mission_tally WHERE department_code IS NULL").await,
        query(public).await
    );
    // Department by department: no count of the tally differs from the missions counted.
    assert_eq!(
        query(
            "WITH t AS (SELECT department_code, CAST(SUM(n) AS BIGINT) AS c FROM public_mission_tally
                        WHERE department_code IS NOT NULL GROUP BY department_code),
                  h AS (SELECT a.department_code, COUNT(DISTINCT a.mission_id) AS c
                        FROM mission_addresses a JOIN missions m ON m.id = a.mission_id
                        WHERE m.status = 'VALIDATED' AND m.deleted_at IS NULL
                          AND a.department_code IS NOT NULL
                        GROUP BY a.department_code)
             SELECT (SELECT COUNT(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM h) x)
                  + (SELECT COUNT(*) FROM (SELECT * FROM h EXCEPT SELECT * FROM t) y) AS n"
        )
        .await,
        0
    );
    assert!(
        query("SELECT COUNT(*) AS n FROM public_mission_tally WHERE department_code IS NOT NULL")
            .await
            > 0
    );
    // A title longer than an index entry holds, written before titles were bounded: migration
    // 13 makes the index without the columns rather than failing (PostgreSQL; SQLite bounds no
    // index entry).
    if on_postgres {
        conn.execute_unprepared(
            "UPDATE missions SET title = repeat('x', 2001) WHERE id = (SELECT MIN(id) FROM missions)",
        )
        .await
        .expect("a long title");
        ok(run(&["migrate", "down"], Some(url)));
        ok(run(&["migrate", "up"], Some(url)));
        assert_eq!(
            (
                query(index("covering")).await,
                query("SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'missions_public_organization_page_idx'")
                    .await
            ),
            (0, 1),
            "the index without its columns"
        );
    }
    conn.close().await.expect("close");
    ok(run(&["migrate", "fresh"], Some(url)));
    assert!(
        ok(run(&["migrate", "status"], Some(url)))
            .lines()
            .all(|l| l.starts_with("applied"))
    );
    let reseeded = ok(run(&["seed", "--demo", "--missions", "50"], Some(url)));
    assert!(
        reseeded.contains("50 missions"),
        "fresh emptied the database: {reseeded}"
    );
    db.drop_database().await;
}

/// The seed left WAL for a rollback journal (the command is alone on the file): the SQLite
/// file at `url` is back in WAL, with no journal left beside it.
async fn assert_back_in_wal(url: &str) {
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(url).await.expect("connect");
    let mode = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .expect("journal mode")
        .and_then(|row| row.try_get_by_index::<String>(0).ok());
    assert_eq!(mode.as_deref(), Some("wal"));
    let file = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    assert!(!std::path::Path::new(&format!("{file}-journal")).exists());
    conn.close().await.expect("close");
}

/// The indexes and triggers of the database, `kind:name`, and on PostgreSQL its foreign keys
/// with their definitions (the seed drops them for its load), sorted.
async fn schema_objects(conn: &sea_orm::DatabaseConnection) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let backend = conn.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        "SELECT 'index:' || indexname AS o FROM pg_indexes WHERE schemaname = current_schema()
         UNION ALL
         SELECT 'trigger:' || tgname FROM pg_trigger WHERE NOT tgisinternal
         UNION ALL
         SELECT 'foreign key:' || conrelid::regclass || '.' || conname || ' '
                || pg_get_constraintdef(oid)
         FROM pg_constraint
         WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
         ORDER BY 1"
    } else {
        "SELECT type || ':' || name AS o FROM sqlite_master WHERE type IN ('index', 'trigger')
         ORDER BY 1"
    };
    conn.query_all_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .expect("schema objects")
        .iter()
        .map(|row| row.try_get::<String>("", "o").expect("name"))
        .collect()
}

/// A seed that fails midway (here a trigger of the database refuses the volunteers, after the
/// missions are written) leaves no row behind, exits non-zero with the cause, and leaves a
/// SQLite file back in WAL with no journal beside it; the next seed works.
#[tokio::test]
async fn a_seed_that_fails_midway_leaves_nothing_and_the_file_as_it_was() {
    use sea_orm::ConnectionTrait;
    let db = fresh("seed_fails").await;
    let url = db.url.as_str();
    ok(run(&["migrate", "up"], Some(url)));
    let conn = sea_orm::Database::connect(url).await.expect("connect");
    let backend = conn.get_database_backend();
    let execute = |sql: &'static str| {
        let conn = conn.clone();
        async move {
            conn.execute_unprepared(sql).await.expect(sql);
        }
    };
    if db.is_postgres() {
        execute(
            "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
        )
        .await;
        execute(
            "CREATE TRIGGER injected_failure BEFORE INSERT ON volunteers
             FOR EACH ROW EXECUTE FUNCTION injected_failure()",
        )
        .await;
    } else {
        execute(
            "CREATE TRIGGER injected_failure BEFORE INSERT ON volunteers
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .await;
    }
    let before = schema_objects(&conn).await;
    assert!(
        before
            .iter()
            .any(|o| o.starts_with("trigger:mission_addresses_public"))
            && before.iter().filter(|o| o.starts_with("index:")).count() > 20
            && (!db.is_postgres()
                || before
                    .iter()
                    .any(|o| o.starts_with("foreign key:mission_addresses."))),
        "{before:?}"
    );
    conn.close().await.expect("close");

    let failed = run(&["seed", "--demo", "--missions", "120"], Some(url));
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(
        stderr.contains("volunteers") && stderr.contains("injected failure"),
        "{stderr}"
    );
    let conn = sea_orm::Database::connect(url).await.expect("connect");
    for table in [
        "publishers",
        "organizations",
        "missions",
        "mission_addresses",
    ] {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        assert_eq!(row.try_get::<i64>("", "n").ok(), Some(0), "{table}");
    }
    if !db.is_postgres() {
        assert_back_in_wal(url).await;
    }
    // The indexes and triggers the load dropped are back, and the next seed works.
    assert_eq!(schema_objects(&conn).await, before);
    let drop = if db.is_postgres() {
        "DROP TRIGGER injected_failure ON volunteers"
    } else {
        "DROP TRIGGER injected_failure"
    };
    conn.execute_unprepared(drop)
        .await
        .expect("drop the injected trigger");
    let seeded = ok(run(&["seed", "--demo", "--missions", "50"], Some(url)));
    assert!(seeded.contains("50 missions"), "{seeded}");
    // A seed that worked leaves every index, trigger and foreign key as it found them.
    let expected: Vec<String> = before
        .into_iter()
        .filter(|o| o != "trigger:injected_failure")
        .collect();
    assert_eq!(schema_objects(&conn).await, expected);
    conn.close().await.expect("close");
    db.drop_database().await;
}

#[tokio::test]
async fn serve_demo_answers_then_stops_cleanly_on_sigterm() {
    let db = fresh("serve").await;
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--missions",
            "100",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("DATABASE_URL", &db.url)
        .env("PASSERELLE_LOG_FORMAT", "json")
        .env_remove("PASSERELLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (base, lines) = served_address_and_demo_credentials(&mut child);
    passerelle_ingest::install_tls_provider();
    let client = reqwest::Client::new();
    // The demo prints one key per publisher and one token per role, and they work.
    let key = lines
        .iter()
        .find_map(|l| l.strip_prefix("  JeVeuxAider.gouv.fr: "))
        .expect("a demo key");
    let admin_token = lines
        .iter()
        .find(|l| l.starts_with("  admin@passerelle.example (ADMIN"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("a demo token");
    for (header, value, kind) in [
        ("x-api-key", key.to_owned(), "PARTNER"),
        ("authorization", format!("Bearer {admin_token}"), "ADMIN"),
    ] {
        let body: serde_json::Value = client
            .post(format!("http://{base}/graphql"))
            .header(header, value)
            .json(&serde_json::json!({ "query": "{ viewer { kind } }" }))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(body["data"]["viewer"]["kind"], kind, "{body}");
    }
    let health = client
        .get(format!("http://{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = client
        .post(format!("http://{base}/graphql"))
        .json(&serde_json::json!({ "query": "{ missions { totalCount } }" }))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let total = body["data"]["missions"]["totalCount"]
        .as_i64()
        .expect("total");
    assert!(
        total > 50 && total <= 100,
        "the demo data is served: {total}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            waited < Duration::from_secs(10),
            "the server stops within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    let log_line = stderr
        .lines()
        .find(|l| l.contains("shutting down"))
        .expect("a shutdown log line");
    let parsed: serde_json::Value =
        serde_json::from_str(log_line).expect("JSON logs with --log-format json");
    assert_eq!(parsed["level"], "INFO");
    db.drop_database().await;
}

#[tokio::test]
async fn publishers_are_added_listed_without_secrets_and_their_feeds_imported() {
    let db = fresh("import").await;
    let url = db.url.as_str();
    let mut add = Command::new(BIN);
    add.args([
        "publisher",
        "add",
        "--name",
        "Réseau Exemple",
        "--feed-url",
        "https://example.org/feed.xml",
    ])
    .args(["--feed-user", "partner", "--every", "6h"])
    .env("DATABASE_URL", url)
    .env("PASSERELLE_GEOCODER_URL", "off")
    .env("PASSERELLE_FEED_PASSWORD", "s3cr3t-feed")
    .env("PASSERELLE_LOG", "warn");
    let added = add.output().expect("run");
    assert!(ok(added).contains("added publisher Réseau Exemple"));
    let listed = ok(run(&["publisher", "list"], Some(url)));
    assert!(
        listed.contains("feed https://example.org/feed.xml (basic auth as partner), every 6h"),
        "{listed}"
    );
    assert!(!listed.contains("s3cr3t"), "the password is never printed");
    let tokened = run(
        &[
            "publisher",
            "add",
            "--name",
            "Jeton",
            "--feed-url",
            "https://user:hunter2@feeds.example.org/missions.xml?token=abc123",
        ],
        Some(url),
    );
    assert!(tokened.status.success(), "{}", text(&tokened.stderr));
    let listed = ok(run(&["publisher", "list"], Some(url)));
    assert!(
        listed.contains("feed https://feeds.example.org/missions.xml")
            && !listed.contains("hunter2")
            && !listed.contains("abc123"),
        "credentials in a feed URL are never printed: {listed}"
    );
    let again = run(&["publisher", "add", "--name", "Réseau Exemple"], Some(url));
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"));
    let bad_url = run(
        &[
            "publisher",
            "add",
            "--name",
            "Autre",
            "--feed-url",
            "ftp://x/f.xml",
        ],
        Some(url),
    );
    assert!(!bad_url.status.success() && text(&bad_url.stderr).contains("http"));

    let feeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/feeds/");
    let valid = format!("{feeds}valid.xml");
    let imported = ok(run(
        &["import", "--publisher", "Réseau Exemple", "--file", &valid],
        Some(url),
    ));
    assert!(
        imported.contains(
            "SUCCESS: received 3, created 3, updated 0, unchanged 0, refused 0, deleted 0"
        ),
        "{imported}"
    );
    let again = ok(run(
        &["import", "--publisher", "Réseau Exemple", "--file", &valid],
        Some(url),
    ));
    assert!(again.contains("unchanged 3"), "{again}");
    let truncated = format!("{feeds}truncated.xml");
    let failed = run(
        &[
            "import",
            "--publisher",
            "Réseau Exemple",
            "--file",
            &truncated,
        ],
        Some(url),
    );
    assert!(!failed.status.success(), "a failed import exits non-zero");
    assert!(
        text(&failed.stdout).contains("FAILED") && text(&failed.stdout).contains("warnings: ERROR")
    );
    assert!(text(&failed.stderr).contains("changed nothing"));
    let unknown = run(
        &["import", "--publisher", "Nobody", "--file", &valid],
        Some(url),
    );
    assert!(!unknown.status.success() && text(&unknown.stderr).contains("no publisher named"));
    let missing = run(
        &[
            "import",
            "--publisher",
            "Réseau Exemple",
            "--file",
            "/nonexistent.xml",
        ],
        Some(url),
    );
    assert!(!missing.status.success() && text(&missing.stderr).contains("cannot open"));
    db.drop_database().await;
}

#[tokio::test]
async fn an_import_killed_part_way_leaves_the_previous_missions_intact() {
    use passerelle_entities::{import_run, mission};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let db = fresh("kill").await;
    let url = db.url.as_str();
    ok(run(&["publisher", "add", "--name", "Banc"], Some(url)));
    let valid = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/feeds/valid.xml");
    ok(run(
        &["import", "--publisher", "Banc", "--file", valid],
        Some(url),
    ));
    let big = std::env::temp_dir().join(format!("passerelle-kill-{}.xml", std::process::id()));
    passerelle_ingest::sample::write_feed(
        std::io::BufWriter::new(std::fs::File::create(&big).expect("create")),
        20_000,
        0,
    )
    .expect("write feed");
    let mut child = Command::new(BIN)
        .args(["import", "--publisher", "Banc", "--file"])
        .arg(&big)
        .env("DATABASE_URL", url)
        .env("PASSERELLE_GEOCODER_URL", "off")
        .env("PASSERELLE_LOG", "warn")
        .env_remove("PASSERELLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Progress lines come from inside the import's transaction: kill at the first one.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a progress line");
    assert!(line.contains("% of the feed read"), "{line}");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "killed part-way: {status:?}");
    std::fs::remove_file(&big).ok();

    let conn = db.connect_migrated().await.expect("reopen");
    let missions = mission::Entity::find()
        .filter(mission::Column::DeletedAt.is_null())
        .all(&conn)
        .await
        .expect("the database is readable");
    let mut ids: Vec<&str> = missions.iter().map(|m| m.client_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["ex-1", "ex-2", "ex-3"],
        "the previous missions, all of them, nothing else"
    );
    let total = mission::Entity::find().count(&conn).await.expect("count");
    assert_eq!(total, 3, "no half-written mission");
    let runs = import_run::Entity::find()
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(runs, 1, "the killed run left no record");
    conn.close().await.ok();
    // The lock died with the process: the next import runs.
    let again = ok(run(
        &["import", "--publisher", "Banc", "--file", valid],
        Some(url),
    ));
    assert!(again.contains("unchanged 3"), "{again}");
    db.drop_database().await;
}

// The partner's server runs on a second worker while this one waits for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_imports_each_feed_on_its_schedule() {
    // The partner's server, on loopback (hence PASSERELLE_FEED_ALLOW_PRIVATE below).
    let feed_url = format!("{}/valid.xml", partner_server().await);

    let db = fresh("schedule").await;
    let added = run(
        &[
            "publisher",
            "add",
            "--name",
            "Planifié",
            "--feed-url",
            &feed_url,
            "--every",
            "1h",
        ],
        Some(&db.url),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    // Import runs are the partner's own: it reads them with its key.
    let key = ok(run(
        &["keys", "create", "--publisher", "Planifié"],
        Some(&db.url),
    ))
    .trim()
    .to_owned();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url)
        .env("PASSERELLE_FEED_ALLOW_PRIVATE", "true")
        .env("PASSERELLE_GEOCODER_URL", "off")
        .env("PASSERELLE_LOG", "warn")
        .env_remove("PASSERELLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let base = served_address(&mut child);
    passerelle_ingest::install_tls_provider();
    let client = reqwest::Client::new();
    let query =
        "{ publishers { name lastImport { status created source } } missions { totalCount } }";
    let mut waited = Duration::ZERO;
    let body = loop {
        let body: serde_json::Value = client
            .post(format!("http://{base}/graphql"))
            .header("x-api-key", &key)
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        if !body["data"]["publishers"][0]["lastImport"].is_null() {
            break body;
        }
        assert!(
            waited < Duration::from_secs(30),
            "the first import runs at start: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    };
    let last = &body["data"]["publishers"][0]["lastImport"];
    assert_eq!(last["status"], "SUCCESS", "{body}");
    assert_eq!(last["created"], 3);
    assert_eq!(last["source"], feed_url.as_str());
    // The missions are listed once the run has committed (the run is recorded after).
    let total: serde_json::Value = client
        .post(format!("http://{base}/graphql"))
        .json(&serde_json::json!({ "query": "{ missions { totalCount } }" }))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(total["data"]["missions"]["totalCount"], 3);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    db.drop_database().await;
}

// The partner's server runs on a second worker while this one waits for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_all_goes_on_after_a_failing_feed_and_exits_non_zero() {
    let base = partner_server().await;
    let db = fresh("import-all").await;
    let url = db.url.as_str();
    let none = run(&["import", "--all"], Some(url));
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("no publisher has a feed"),
        "{}",
        text(&none.stderr)
    );
    // "Cassé" sorts first by id: its failure must not stop "Bon".
    for (name, path) in [("Cassé", "/broken.xml"), ("Bon", "/valid.xml")] {
        let feed_url = format!("{base}{path}");
        let out = run(
            &["publisher", "add", "--name", name, "--feed-url", &feed_url],
            Some(url),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["import", "--all", "--feed-retries", "0"])
        .env("DATABASE_URL", url)
        .env("PASSERELLE_FEED_ALLOW_PRIVATE", "1")
        .env("PASSERELLE_GEOCODER_URL", "off")
        .env("PASSERELLE_LOG", "error")
        .env_remove("PASSERELLE_CONFIG");
    let out = cmd.output().expect("run");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "one import failed: exit non-zero");
    assert!(stdout.contains("import of Cassé FAILED"), "{stdout}");
    assert!(
        stdout.contains("import of Bon SUCCESS: received 3, created 3"),
        "{stdout}"
    );
    assert!(
        stderr.contains("HTTP 500") && stderr.contains("1 of 2 imports failed: Cassé"),
        "{stderr}"
    );
    // Without --feed-allow-private, the loopback feed is refused, and says why.
    let refused = run(&["import", "--publisher", "Bon"], Some(url));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("private or loopback"),
        "{}",
        text(&refused.stderr)
    );
    db.drop_database().await;
}

/// The standard error of a command that must fail.
fn fails(out: Output) -> String {
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[tokio::test]
async fn keys_users_tokens_and_diffusion_rules_are_managed_from_the_command_line() {
    let db = fresh("access").await;
    let url = Some(db.url.as_str());
    ok(run(&["publisher", "add", "--name", "Alpha"], url));
    ok(run(&["publisher", "add", "--name", "Beta"], url));

    // Keys: printed once on standard output, listed without the secret, revoked once.
    let created = run(
        &[
            "keys",
            "create",
            "--publisher",
            "Alpha",
            "--label",
            "site web",
        ],
        url,
    );
    let key = ok(created.clone()).trim().to_owned();
    let (prefix, secret) = key.split_once('.').expect("prefix.secret");
    assert!(prefix.starts_with("pk_") && secret.len() == 43, "{key}");
    assert!(text(&created.stderr).contains(prefix), "the prefix is told");
    let listed = ok(run(&["keys", "list"], url));
    assert!(
        listed.contains(prefix) && listed.contains("Alpha") && listed.contains("site web"),
        "{listed}"
    );
    assert!(
        !listed.contains(secret),
        "the key is never listed: {listed}"
    );
    assert!(
        fails(run(&["keys", "create", "--publisher", "Nobody"], url))
            .contains("no publisher named")
    );
    let long_label = "x".repeat(101);
    assert!(
        fails(run(
            &[
                "keys",
                "create",
                "--publisher",
                "Alpha",
                "--label",
                &long_label
            ],
            url
        ))
        .contains("at most 100 characters")
    );
    assert!(
        fails(run(&["keys", "list", "--publisher", "Nobody"], url)).contains("no publisher named")
    );
    assert!(ok(run(&["keys", "revoke", prefix], url)).contains("revoked"));
    assert!(fails(run(&["keys", "revoke", prefix], url)).contains("already revoked"));
    assert!(
        fails(run(&["keys", "revoke", "pk_000000000000"], url)).contains("no key has the prefix")
    );
    assert!(ok(run(&["keys", "list"], url)).contains("revoked"));

    // Users: a role and the one scope it needs.
    assert!(
        ok(run(
            &[
                "users",
                "add",
                "--email",
                " Admin@Example.ORG ",
                "--role",
                "admin"
            ],
            url
        ))
        .contains("admin@example.org")
    );
    assert!(
        ok(run(
            &[
                "users",
                "add",
                "--email",
                "ref@example.org",
                "--role",
                "referent-region",
                "--region",
                "ile-de-france"
            ],
            url
        ))
        .contains("REFERENT_REGION")
    );
    for (args, expected) in [
        (
            vec!["--email", "admin@example.org", "--role", "analyst"],
            "already exists",
        ),
        (
            vec!["--email", "x@example.org", "--role", "referent-department"],
            "needs --department",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "analyst",
                "--department",
                "69",
            ],
            "takes no scope",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "referent-department",
                "--department",
                "99",
            ],
            "not a French department",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "referent-region",
                "--region",
                "Atlantide",
            ],
            "not a region",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "structure-staff",
                "--organization",
                "999",
            ],
            "no organization has id 999",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "volunteer",
                "--volunteer",
                "999",
            ],
            "no volunteer has id 999",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "partner-staff",
                "--publisher",
                "Nobody",
            ],
            "no publisher named",
        ),
        (
            vec!["--email", "not-an-email", "--role", "admin"],
            "not an email address",
        ),
        (
            vec![
                "--email",
                "x@example.org",
                "--role",
                "volunteer",
                "--volunteer",
                "1",
                "--department",
                "69",
            ],
            "needs --volunteer (and no other scope)",
        ),
    ] {
        let mut full = vec!["users", "add"];
        full.extend(args);
        assert!(fails(run(&full, url)).contains(expected), "{full:?}");
    }
    let users = ok(run(&["users", "list"], url));
    assert!(
        users.contains("admin@example.org\tADMIN") && users.contains("region Île-de-France"),
        "{users}"
    );
    assert!(
        !users.contains("x@example.org"),
        "nothing half-added: {users}"
    );

    // Tokens need the secret the server checks them with.
    assert!(fails(run(&["token", "--user", "admin@example.org"], url)).contains("jwt_secret"));
    let mut cmd = Command::new(BIN);
    cmd.args(["token", "--user", "admin@example.org", "--ttl", "2h"])
        .env("DATABASE_URL", &db.url)
        .env(
            "PASSERELLE_JWT_SECRET",
            "a-test-secret-of-at-least-thirty-two-bytes",
        )
        .env_remove("PASSERELLE_CONFIG");
    let token = ok(cmd.output().expect("token"));
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
    let mut cmd = Command::new(BIN);
    cmd.args(["token", "--user", "nobody@example.org"])
        .env("DATABASE_URL", &db.url)
        .env(
            "PASSERELLE_JWT_SECRET",
            "a-test-secret-of-at-least-thirty-two-bytes",
        )
        .env_remove("PASSERELLE_CONFIG");
    assert!(fails(cmd.output().expect("token")).contains("no user has the email"));

    // Diffusion rules: checked by the same code as the admin mutation.
    let set = ok(run(
        &[
            "diffusion",
            "set",
            "--diffuseur",
            "Alpha",
            "--annonceur",
            "Beta",
            "--department",
            "69",
            "--exclude-type",
            "volontariat_sapeurs_pompiers",
        ],
        url,
    ));
    assert_eq!(set.lines().count(), 3, "{set}");
    let shown = ok(run(&["diffusion", "show", "--diffuseur", "Alpha"], url));
    assert!(
        shown.contains("INCLUDE\tDEPARTMENT\t69")
            && shown.contains("EXCLUDE\tMISSION_TYPE\tvolontariat_sapeurs_pompiers"),
        "{shown}"
    );
    let refused = fails(run(
        &[
            "diffusion",
            "set",
            "--diffuseur",
            "Alpha",
            "--type",
            "cooking",
            "--department",
            "2a",
            "--department",
            "99",
        ],
        url,
    ));
    assert!(
        refused.contains("nothing changed")
            && refused.contains("UNKNOWN_TYPE")
            && refused.contains("UNKNOWN_DEPARTMENT"),
        "{refused}"
    );
    assert_eq!(
        ok(run(&["diffusion", "show", "--diffuseur", "Alpha"], url)),
        shown,
        "unchanged"
    );
    assert!(
        fails(run(&["diffusion", "set", "--diffuseur", "Nobody"], url))
            .contains("no publisher named")
    );
    assert!(
        fails(run(
            &[
                "diffusion",
                "set",
                "--diffuseur",
                "Alpha",
                "--annonceur",
                "Nobody"
            ],
            url
        ))
        .contains("no publisher named")
    );
    assert!(ok(run(&["diffusion", "set", "--diffuseur", "Alpha"], url)).contains("no rules"));

    assert!(
        ok(run(
            &["users", "remove", "--email", "ADMIN@example.org"],
            url
        ))
        .contains("removed")
    );
    assert!(
        fails(run(
            &["users", "remove", "--email", "admin@example.org"],
            url
        ))
        .contains("no user has the email")
    );

    // Every change is in the audit log, with who made it.
    let audit = ok(run(&["audit", "--limit", "100"], url));
    for action in [
        "KEY_CREATED",
        "KEY_REVOKED",
        "USER_ADDED",
        "USER_REMOVED",
        "TOKEN_MINTED",
        "DIFFUSION_RULES_SET",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    assert!(
        audit
            .lines()
            .all(|l| l.contains("\tcli:") && l.contains("\tlocal\t")),
        "{audit}"
    );
    assert!(!audit.contains(secret), "no secret in the audit log");
    assert_eq!(
        audit.lines().filter(|l| l.contains("USER_ADDED")).count(),
        2,
        "refused additions are not recorded"
    );
    db.drop_database().await;
}

#[test]
fn documents_check_accepts_the_examples_manifest_and_names_each_bad_document() {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/persisted-documents.json"
    );
    let out = ok(run(&["documents", "check", manifest], None));
    assert!(out.contains("10 documents, all valid"), "{out}");
    let made = ok(run(
        &[
            "documents",
            "manifest",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/queries"),
        ],
        None,
    ));
    assert_eq!(
        made,
        std::fs::read_to_string(manifest).expect("manifest"),
        "the committed manifest is what the command makes"
    );

    let dir = std::env::temp_dir().join(format!("passerelle-documents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.json");
    let wrong_hash = "0".repeat(64);
    std::fs::write(
        &bad,
        serde_json::json!({
            "unknown-field": "{ publishers { nope } }",
            wrong_hash.as_str(): "{ publishers { id } }",
            "too-costly": "{ missions(first: 100) { nodes { organization { missions(first: 100) { nodes { id } } } } } }",
            "unparsable": "{ publishers { id",
            "fine": "{ publishers { id } }",
        })
        .to_string(),
    )
    .expect("write");
    let out = run(&["documents", "check", bad.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        "unknown-field: Unknown field \"nope\"",
        &format!("{wrong_hash}: the id is not the SHA-256 of the document"),
        "too-costly: the query costs",
        "unparsable: ",
        "4 problems in 5 documents",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!stderr.contains("fine:"), "{stderr}");
    std::fs::write(&bad, "[1]").expect("write");
    let out = run(&["documents", "check", bad.to_str().expect("path")], None);
    assert!(text(&out.stderr).contains("a manifest is a JSON object"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The Redis of the tests: `PASSERELLE_TEST_REDIS_URL`, or the local one.
fn test_redis() -> Option<String> {
    let url = std::env::var("PASSERELLE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let address = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let reachable = address
        .parse::<std::net::SocketAddr>()
        .ok()
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if reachable {
        return Some(url);
    }
    assert!(
        std::env::var_os("PASSERELLE_TEST_REQUIRE_REDIS").is_none(),
        "PASSERELLE_TEST_REQUIRE_REDIS is set but no Redis answers at {url}"
    );
    // Straight to the process's standard error, which the test harness does not capture.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no Redis at {url}; the test of rate limits shared by two processes did not run"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_share_their_rate_limits_through_redis() {
    let Some(redis_url) = test_redis() else {
        return;
    };
    let db = fresh("shared-limits").await;
    ok(run(&["seed", "--demo", "--missions", "20"], Some(&db.url)));
    let key = ok(run(
        &["keys", "create", "--publisher", "JeVeuxAider.gouv.fr"],
        Some(&db.url),
    ))
    .trim()
    .to_owned();
    // A prefix of this run's own, so that runs never share buckets.
    let prefix = format!(
        "passerelle-test-{}-{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let start = || {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &db.url)
            .env("PASSERELLE_REDIS_URL", &redis_url)
            .env("PASSERELLE_REDIS_KEY_PREFIX", &prefix)
            .env("PASSERELLE_RATE_LIMIT_ADDRESS", "3")
            .env("PASSERELLE_RATE_LIMIT_KEY", "4")
            .env("PASSERELLE_RATE_LIMIT_AUTH_FAILURES", "2")
            .env("PASSERELLE_SCHEDULER", "false")
            .env("PASSERELLE_GEOCODER_URL", "off")
            .env("PASSERELLE_LOG", "warn")
            .env_remove("PASSERELLE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let address = served_address(&mut child);
        (child, address)
    };
    let (mut first, a) = start();
    let (mut second, b) = start();
    passerelle_ingest::install_tls_provider();
    let client = reqwest::Client::new();
    let send = |base: String, key: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client
                .post(format!("http://{base}/graphql"))
                .json(&serde_json::json!({ "query": "{ publishers { id } }" }));
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let res = request.send().await.expect("send");
            let status = res.status().as_u16();
            let remaining = res
                .headers()
                .get("ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: serde_json::Value = res.json().await.expect("json");
            (status, remaining, body)
        }
    };
    // The key's four requests, spread over both processes, come out of one bucket.
    let mut remaining = Vec::new();
    for (i, base) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (status, left, body) = send(base.clone(), Some(key.clone())).await;
        assert_eq!(status, 200, "request {i}: {body}");
        remaining.push(left);
    }
    assert_eq!(remaining, [Some(3), Some(2), Some(1), Some(0)]);
    for base in [&a, &b] {
        let (status, _, body) = send(base.clone(), Some(key.clone())).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    }
    // The address's three anonymous requests likewise.
    for base in [&b, &a, &b] {
        assert_eq!(send(base.clone(), None).await.0, 200);
    }
    assert_eq!(send(a.clone(), None).await.0, 429);
    // Two wrong keys, one on each process, spend the address's allowance of refusals: the
    // next key is not even checked, on either.
    let wrong = Some(format!("pk_0123456789ab.{}", "A".repeat(43)));
    assert_eq!(send(a.clone(), wrong.clone()).await.0, 401);
    assert_eq!(send(b.clone(), wrong.clone()).await.0, 401);
    assert_eq!(send(a.clone(), wrong).await.0, 429);
    for child in [&mut first, &mut second] {
        child.kill().ok();
        child.wait().ok();
    }
    db.drop_database().await;
}

#[tokio::test]
async fn outbox_list_shows_messages_and_retry_queues_dead_letters_again() {
    use passerelle_entities::{OutboxStatus, outbox};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let db = fresh("cli-outbox").await;
    let conn = db.connect_migrated().await.expect("migrate");
    let mut dead = outbox::email(
        "APPLICATION_VALIDATED",
        "jeune@example.org",
        "Sujet",
        "Corps",
        None,
    );
    dead.status = Set(OutboxStatus::Dead);
    dead.attempts = Set(8);
    dead.last_error = Set(Some("SMTP: 550 mailbox unavailable".into()));
    let dead = dead.insert(&conn).await.expect("dead letter");
    let mut sent = outbox::email(
        "APPLICATION_DONE",
        "autre@example.org",
        "Sujet",
        "Corps",
        None,
    );
    sent.status = Set(OutboxStatus::Sent);
    let sent = sent.insert(&conn).await.expect("sent");

    let listed = ok(run(&["outbox", "list", "--status", "dead"], Some(&db.url)));
    assert!(
        listed.contains(&format!("{}\tDEAD\tEMAIL\tAPPLICATION_VALIDATED", dead.id)),
        "{listed}"
    );
    assert!(listed.contains("error=SMTP: 550"), "{listed}");
    assert!(
        !listed.contains("autre@example.org"),
        "only dead letters: {listed}"
    );
    // Bad requests exit non-zero, with a message, and change nothing.
    for (args, expected) in [
        (vec!["outbox", "retry"], "name the messages to retry"),
        (
            vec!["outbox", "retry", "987654"],
            "no outbox message 987654",
        ),
        (
            vec!["outbox", "retry", &sent.id.to_string()],
            "was sent already",
        ),
    ] {
        let out = run(&args, Some(&db.url));
        assert!(!out.status.success(), "{args:?} fails");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let still = outbox::Entity::find_by_id(dead.id)
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(still.status, OutboxStatus::Dead);
    let retried = ok(run(&["outbox", "retry", "--dead"], Some(&db.url)));
    assert!(retried.contains("1 message(s) queued again"), "{retried}");
    let again = outbox::Entity::find_by_id(dead.id)
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((again.status, again.attempts), (OutboxStatus::Pending, 0));
    let empty = ok(run(&["outbox", "list", "--status", "dead"], Some(&db.url)));
    assert_eq!(empty.trim(), "no message");
    db.drop_database().await;
}
