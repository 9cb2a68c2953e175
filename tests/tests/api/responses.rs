//! Whole answers kept a moment (`gateway/src/responses.rs`): who shares them, what is never
//! kept, and what empties them.
use passerelle::seed;
use serde_json::{Value, json};

use crate::helpers::{As, DEMO_ADMIN, StatementCounter, TestApp, TestDatabase, test_settings};

const LIST: &str = "query($n: Int) { missions(first: $n) { totalCount nodes { id title organization { name } } } }";

/// Posts `query` and gives the `cache-status` header, the statements it ran and the body.
async fn ask(
    app: &TestApp,
    counter: &StatementCounter,
    who: &As,
    query: &str,
    variables: Value,
) -> (String, usize, Value) {
    counter.take();
    let (status, headers, body) = app
        .post_as(who, json!({ "query": query, "variables": variables }))
        .await;
    assert_eq!(status, 200);
    (cache_status(&headers), counter.take(), body)
}

fn cache_status(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("cache-status")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn identical_public_queries_share_an_answer_until_a_mutation_or_its_time_is_up() {
    let database = TestDatabase::create("responses").await;
    let conn = database.connect_migrated().await;
    let report = seed::seed_demo(&conn, 200).await.expect("seed");
    let counter = StatementCounter::default();
    let settings = passerelle::config::Settings {
        response_cache_ms: 60_000,
        ..test_settings()
    };
    let app = TestApp::start_counted(conn, settings, &counter).await;
    let key = report
        .credentials
        .keys
        .first()
        .map(|(_, k)| As::Key(secrecy::ExposeSecret::expose_secret(k).to_owned()))
        .expect("a demo key");
    let admin = As::user(DEMO_ADMIN);
    // A key's first use is recorded in the background: out of the counts below.
    app.data_as(&key, "{ viewer { kind } }", json!({})).await;
    counter.settle().await;

    let (status, ran, first) = ask(&app, &counter, &As::Anonymous, LIST, json!({"n": 3})).await;
    assert_eq!(status, "passerelle; fwd=miss");
    assert!(ran > 0 && first["errors"].is_null(), "{first:#}");
    let (status, ran, again) = ask(&app, &counter, &As::Anonymous, LIST, json!({"n": 3})).await;
    assert_eq!((status.as_str(), ran), ("passerelle; hit", 0));
    assert_eq!(again, first, "the kept answer, byte for byte");

    // Other variables, another caller: other answers.
    let (status, ran, _) = ask(&app, &counter, &As::Anonymous, LIST, json!({"n": 4})).await;
    assert_eq!(status, "passerelle; fwd=miss");
    assert!(ran > 0);
    let (status, ran, _) = ask(&app, &counter, &key, LIST, json!({"n": 3})).await;
    assert_eq!(
        status, "passerelle; fwd=miss",
        "a key does not read the anonymous answer"
    );
    assert!(ran > 0);
    let (status, _, _) = ask(&app, &counter, &key, LIST, json!({"n": 3})).await;
    assert_eq!(status, "passerelle; hit");

    // An automatic persisted query served by a kept answer is registered all the same: its
    // hash alone works next.
    let hash = passerelle::documents::sha256_hex(LIST);
    let apq = |query: Option<&str>| {
        let mut body = json!({ "variables": {"n": 3},
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
        if let Some(q) = query {
            body["query"] = json!(q);
        }
        body
    };
    let (_, headers, _) = app.post_as(&As::Anonymous, apq(Some(LIST))).await;
    assert_eq!(cache_status(&headers), "passerelle; hit");
    let (_, _, by_hash) = app.post_as(&As::Anonymous, apq(None)).await;
    assert_eq!(by_hash, first, "the hash alone: {by_hash:#}");

    // A person's answers are never kept.
    for _ in 0..2 {
        let (status, ran, _) = ask(&app, &counter, &admin, LIST, json!({"n": 3})).await;
        assert_eq!((status.as_str(), ran > 0), ("", true));
    }
    // Nor an answer with an error.
    let missing = "{ mission(id: \"999999999\") { id } }";
    for _ in 0..2 {
        let (status, ran, body) = ask(&app, &counter, &As::Anonymous, missing, json!({})).await;
        assert_eq!(status, "passerelle; fwd=miss");
        assert!(ran > 0, "run each time");
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    }

    // A mutation is never looked up: no key, no cell for identical ones to wait on.
    let create =
        "mutation($i: CreateMissionInput!) { createMission(input: $i) { mission { id } } }";
    for _ in 0..2 {
        let (status, _, body) = ask(
            &app,
            &counter,
            &As::Anonymous,
            create,
            json!({ "i": { "title": "x" } }),
        )
        .await;
        assert_eq!(status, "", "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    }

    // A mutation drops every kept answer: its author, and everyone, reads what it wrote.
    let node = &first["data"]["missions"]["nodes"][0];
    let id = node["id"].as_str().expect("id");
    let version = app
        .data_as(
            &admin,
            "query($id: ID!) { mission(id: $id) { version } }",
            json!({ "id": id }),
        )
        .await["mission"]["version"]
        .clone();
    let body = app
        .gql_as(
            &admin,
            "mutation($i: UpdateMissionInput!) { updateMission(input: $i) { userErrors { code } } }",
            json!({ "i": { "id": id, "version": version, "title": "Un titre tout neuf" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body:#}");
    assert_eq!(body["data"]["updateMission"]["userErrors"], json!([]));
    let (status, ran, after) = ask(&app, &counter, &As::Anonymous, LIST, json!({"n": 3})).await;
    assert_eq!(status, "passerelle; fwd=miss");
    assert!(ran > 0);
    assert_eq!(
        after["data"]["missions"]["nodes"][0]["title"],
        "Un titre tout neuf"
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn answers_are_not_kept_when_the_cache_is_off() {
    let database = TestDatabase::create("responses-off").await;
    let conn = database.connect_migrated().await;
    seed::seed_demo(&conn, 50).await.expect("seed");
    let counter = StatementCounter::default();
    let app = TestApp::start_counted(conn, test_settings(), &counter).await;
    for _ in 0..2 {
        let (status, ran, _) = ask(&app, &counter, &As::Anonymous, LIST, json!({"n": 3})).await;
        assert_eq!((status.as_str(), ran > 0), ("", true));
    }
    app.stop().await;
    database.drop_database().await;
}
