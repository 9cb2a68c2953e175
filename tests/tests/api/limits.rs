//! Request limits: a document too large, too many tokens, aliases, root fields or directives, or
//! a query that costs more than the viewer's budget is refused before it runs — no SQL
//! statement — with `GRAPHQL_VALIDATION_FAILED` and the limit in `extensions`.
use passerelle::config::Settings;
use serde_json::{Value, json};

use crate::helpers::{As, StatementCounter, TestApp, TestDatabase, error_code, test_settings};

/// Posts a query under `application/graphql-response+json`: the status and the body.
async fn post(app: &TestApp, who: &As, query: &str) -> (u16, Value) {
    let request = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query }));
    let request = match who {
        As::Anonymous => request,
        As::Key(k) => request.header("x-api-key", k),
        As::Token(t) => request.bearer_auth(t),
    };
    let res = request.send().await.expect("send");
    (res.status().as_u16(), res.json().await.expect("json"))
}

#[tokio::test]
async fn each_limit_refuses_before_any_statement_runs() {
    let database = TestDatabase::create("limits").await;
    let mut conn = database.connect_migrated().await;
    let counter = StatementCounter::default();
    counter.attach(&mut conn);
    let app = TestApp::start(conn, test_settings()).await;
    let many = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(" ");
    let cases: Vec<(&str, String)> = vec![
        ("bytes", format!("{{ publishers {{ id }} }} #{}", "x".repeat(40_000))),
        ("tokens", format!("{{ publishers {{ {} }} }}", "id ".repeat(6_000))),
        ("aliases", format!("{{ publishers {{ {} }} }}", many(31, &|i| format!("a{i}: id")))),
        ("rootFields", format!("{{ {} }}", many(21, &|_| "publishers { id }".to_owned()))),
        (
            "directives",
            "{ publishers @include(if: true) @include(if: true) @skip(if: false) @skip(if: false) @include(if: true) { id } }".to_owned(),
        ),
        (
            "cost",
            "{ missions(first: 100) { nodes { addresses { city street lat lon } organization { missions(first: 100) { nodes { id title } } } } } }".to_owned(),
        ),
        // The attack of the issue: one field aliased 1,900 times under a page of 100 (35 KB: its
        // size stops it first; it would be its aliases, then its cost).
        (
            "bytes",
            format!("{{ missions(first: 100) {{ nodes {{ {} }} }} }}", many(1_900, &|i| format!("d{i}: description"))),
        ),
    ];
    counter.take();
    for (limit, query) in cases {
        let (status, body) = post(&app, &As::Anonymous, &query).await;
        assert_eq!(status, 400, "{limit}: {body}");
        assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{limit}");
        assert_eq!(body["errors"][0]["extensions"]["limit"], limit, "{body}");
        assert!(body["errors"][0]["extensions"]["max"].is_u64());
        assert!(body.get("data").is_none());
        assert_eq!(counter.take(), 0, "{limit}: no statement ran");
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn the_cost_budget_depends_on_who_asks() {
    let database = TestDatabase::create("cost").await;
    let conn = database.connect_migrated().await;
    passerelle::auth::users::add(
        &conn,
        "admin@test.example",
        passerelle_entities::Role::Admin,
        passerelle::auth::users::ScopeArgs::default(),
        None,
        &passerelle_entities::audit_entry::Actor::cli("test"),
    )
    .await
    .expect("admin");
    let settings = Settings {
        max_cost: 100,
        ..test_settings()
    };
    let app = TestApp::start(conn, settings).await;
    // 1 + 20 × (nodes 1 + id 1 + title 1 + addresses (1 + 10 × 1)) = 281.
    let query = "{ missions { nodes { id title addresses { city } } } }";
    let (status, body) = post(&app, &As::Anonymous, query).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["cost"], 281);
    assert_eq!(body["errors"][0]["extensions"]["max"], 100);
    let (status, body) = post(&app, &As::user("admin@test.example"), query).await;
    assert_eq!(status, 200, "an admin's budget is larger: {body}");
    assert!(body.get("errors").is_none(), "{body}");
    // A page larger than allowed is the field's own error, not a cost.
    let (status, body) = post(
        &app,
        &As::user("admin@test.example"),
        "{ missions(first: 5000) { totalCount } }",
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (200, "BAD_USER_INPUT"),
        "{body}"
    );
    app.stop().await;
    database.drop_database().await;
}
