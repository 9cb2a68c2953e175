//! The bound on requests executing at once (`max_concurrent_requests`): beyond it a request
//! waits its turn (GET and POST alike), `/health` shows the queue, and the wait counts against
//! the request's timeout. The order of the turns is tested on the gate itself
//! (`passerelle::gate`), where it can be observed without a race between sockets.
use std::time::{Duration, Instant};

use passerelle::config::Settings;
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, error_code, test_settings};

/// A server of its own letting one request execute at a time.
async fn one_at_a_time(label: &str, timeout_secs: u64) -> (TestDatabase, TestApp) {
    let database = TestDatabase::create(label).await;
    let conn = database.connect_migrated().await;
    passerelle::seed::seed_demo(&conn, 20).await.expect("seed");
    let settings = Settings {
        max_concurrent_requests: 1,
        request_timeout_secs: timeout_secs,
        ..test_settings()
    };
    let app = TestApp::start(conn, settings).await;
    (database, app)
}

/// `GET /health`'s count of requests: (executing, waiting, limit).
async fn requests(app: &TestApp) -> (u64, u64, u64) {
    let health = app.health().await;
    assert_eq!(health["status"], "ok");
    let count = |name: &str| health["requests"][name].as_u64().expect(name);
    (count("executing"), count("waiting"), count("limit"))
}

/// Polls `/health` until its count of requests is `expected`, for at most ten seconds.
async fn until_requests(app: &TestApp, expected: (u64, u64, u64)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = requests(app).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "requests (executing, waiting, limit) stayed {now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts, a moment later, that none of `waiting` has been answered and that `/health` still
/// counts `expected`: nothing answers before the turn it waits for is given back.
async fn still_waiting(
    app: &TestApp,
    waiting: &[&tokio::task::JoinHandle<Value>],
    expected: (u64, u64, u64),
) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "answered while waiting"
    );
    assert_eq!(requests(app).await, expected);
}

/// Sends a POST in the background; its JSON answer.
fn post(app: &TestApp, query: &str) -> tokio::task::JoinHandle<Value> {
    let request = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query }));
    tokio::spawn(async move {
        let res = request.send().await.expect("send");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    })
}

/// Sends a GET in the background; its JSON answer.
fn get(app: &TestApp, query: &str) -> tokio::task::JoinHandle<Value> {
    let request = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[("query", query)]);
    tokio::spawn(async move {
        let res = request.send().await.expect("send");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    })
}

const TITLES: &str = "{ missions(first: 3) { totalCount nodes { title } } }";

/// The answer to [`TITLES`] while nothing waits: what a request that waited must answer too.
async fn titles_unhindered(app: &TestApp) -> Value {
    let titles = post(app, TITLES).await.expect("answered");
    assert!(
        titles["data"]["missions"]["totalCount"].as_u64() > Some(0),
        "{titles}"
    );
    assert_eq!(
        titles["data"]["missions"]["nodes"].as_array().map(Vec::len),
        Some(3),
        "{titles}"
    );
    titles
}

#[tokio::test]
async fn requests_beyond_the_bound_wait_for_a_turn_and_health_shows_them() {
    let (database, app) = one_at_a_time("gate_wait", 30).await;
    let expected = titles_unhindered(&app).await;
    assert_eq!(requests(&app).await, (0, 0, 1), "nothing runs now");
    // The only turn, held as a slow request would hold it.
    let held = app.gate().enter().await;
    let by_post = post(&app, TITLES);
    until_requests(&app, (1, 1, 1)).await;
    let by_get = get(&app, "{ __typename }");
    until_requests(&app, (1, 2, 1)).await;
    still_waiting(&app, &[&by_post, &by_get], (1, 2, 1)).await;
    drop(held);
    assert_eq!(by_post.await.expect("POST answered"), expected);
    let typename = by_get.await.expect("GET answered");
    assert_eq!(typename, json!({ "data": { "__typename": "Query" } }));
    assert_eq!(requests(&app).await, (0, 0, 1), "the queue drained");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_request_that_waits_past_its_timeout_is_answered_timeout_and_leaves_the_queue() {
    let (database, app) = one_at_a_time("gate_timeout", 1).await;
    let expected = titles_unhindered(&app).await;
    let held = app.gate().enter().await;
    let started = Instant::now();
    let waited = post(&app, TITLES).await.expect("answered");
    assert_eq!(error_code(&waited), "TIMEOUT", "{waited}");
    assert!(waited["data"].is_null(), "{waited}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered after its timeout, not before"
    );
    assert_eq!(requests(&app).await, (1, 0, 1), "it no longer waits");
    drop(held);
    assert_eq!(post(&app, TITLES).await.expect("answered"), expected);
    app.stop().await;
    database.drop_database().await;
}

/// On PostgreSQL a request can be made slow for real: a lock on `missions` holds its statement,
/// and so its turn, until the lock is released.
#[tokio::test]
async fn a_request_held_by_the_database_keeps_its_turn_and_the_next_waits_behind_it() {
    let (database, app) = one_at_a_time("gate_lock", 30).await;
    if !database.is_postgres() {
        app.stop().await;
        database.drop_database().await;
        return;
    }
    let expected = titles_unhindered(&app).await;
    let locker = Database::connect(database.url()).await.expect("connect");
    let lock = locker.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE missions IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock missions");
    let slow = post(&app, TITLES);
    until_requests(&app, (1, 0, 1)).await;
    // Needs no table, yet waits for the turn the slow request holds.
    let quick = post(&app, "{ __typename }");
    until_requests(&app, (1, 1, 1)).await;
    still_waiting(&app, &[&slow, &quick], (1, 1, 1)).await;
    lock.commit().await.expect("release the lock");
    assert_eq!(slow.await.expect("answered"), expected);
    let typename = quick.await.expect("answered");
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
    assert_eq!(requests(&app).await, (0, 0, 1));
    app.stop().await;
    database.drop_database().await;
}
