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
    let conn = database.connect_migrated().await;
    let counter = StatementCounter::default();
    let app = TestApp::start_counted(conn, test_settings(), &counter).await;
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
    // The admin's document is kept parsed: the next caller's budget is still its own.
    let (status, body) = post(&app, &As::Anonymous, query).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["cost"], 281);
    // And so are the variables of each request: a kept document costs what they ask.
    let paged = "query($n: Int) { missions(first: $n) { nodes { id title } } }";
    for (n, status, cost) in [(5, 200, None), (60, 400, Some(181)), (5, 200, None)] {
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": paged, "variables": { "n": n } }))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status().as_u16(), status, "first: {n}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["cost"].as_u64(),
            cost,
            "{body}"
        );
    }
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

#[tokio::test]
async fn browsers_call_from_the_listed_origins_only_and_simple_cross_site_requests_are_refused() {
    let database = TestDatabase::create("cors").await;
    let conn = database.connect_migrated().await;
    let settings = Settings {
        cors_origins: vec!["https://front.example".to_owned()],
        ..test_settings()
    };
    let app = TestApp::start(conn, settings).await;
    let url = format!("{}/graphql", app.base);
    for (origin, allowed) in [
        ("https://front.example", true),
        ("https://evil.example", false),
    ] {
        // The preflight of a request with a token.
        let res = app
            .client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .expect("preflight");
        let allow = res
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(allow.as_deref(), allowed.then_some(origin), "{origin}");
        if allowed {
            assert_eq!(res.headers()["access-control-allow-credentials"], "true");
            let headers = res.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap_or_default()
                .to_lowercase();
            assert!(
                headers.contains("authorization") && headers.contains("x-api-key"),
                "{headers}"
            );
        }
        // The request itself: answered, but only a listed origin may read the answer.
        let res = app
            .client
            .post(&url)
            .header("origin", origin)
            .json(&json!({ "query": "{ publishers { id } }" }))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().contains_key("access-control-allow-origin"),
            allowed
        );
    }
    // What a page on another site can send without a preflight: a form or text/plain POST
    // (refused, whatever it holds), a GET (queries only, and never with credentials, which are
    // headers a simple request cannot carry).
    for media in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let res = app
            .client
            .post(&url)
            .header("origin", "https://evil.example")
            .header("content-type", media)
            .body(r#"{"query":"mutation { setDiffusionRules(input: { diffuseurId: \"1\", rules: [] }) { userErrors { code } } }"}"#)
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 415, "{media}");
    }
    let res = app
        .client
        .get(&url)
        .query(&[("query", "mutation { setDiffusionRules(input: { diffuseurId: \"1\", rules: [] }) { userErrors { code } } }")])
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 405);
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn introspection_can_be_closed_to_the_public_and_the_sdl_kept_for_a_router() {
    let database = TestDatabase::create("introspection").await;
    let conn = database.connect_migrated().await;
    passerelle::auth::users::add(
        &conn,
        "analyst@test.example",
        passerelle_entities::Role::Analyst,
        passerelle::auth::users::ScopeArgs::default(),
        None,
        &passerelle_entities::audit_entry::Actor::cli("test"),
    )
    .await
    .expect("analyst");
    for (mode, public, signed_in) in [
        (passerelle::config::Introspection::On, true, true),
        (passerelle::config::Introspection::OffForPublic, false, true),
        (passerelle::config::Introspection::Off, false, false),
    ] {
        let settings = Settings {
            introspection: mode,
            router_secret: Some("a-router-secret-of-16-bytes".to_owned().into()),
            ..test_settings()
        };
        let app = TestApp::start(conn.clone(), settings).await;
        for (who, expected) in [
            (As::Anonymous, public),
            (As::user("analyst@test.example"), signed_in),
        ] {
            for query in [
                "{ __schema { queryType { name } } }",
                "{ __type(name: \"Mission\") { name } }",
                "{ _service { sdl } }",
            ] {
                let body = app.gql_as(&who, query, json!({})).await;
                if expected {
                    assert!(
                        body.get("errors").is_none(),
                        "{mode:?} {who:?} {query}: {body}"
                    );
                } else {
                    assert_eq!(error_code(&body), "FORBIDDEN", "{mode:?} {who:?} {query}");
                }
            }
            // Never hidden: the type names clients ask for.
            let body = app.gql_as(&who, "{ __typename }", json!({})).await;
            assert_eq!(body["data"]["__typename"], "Query");
        }
        // A router with the secret reads the SDL whatever the mode.
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("x-router-secret", "a-router-secret-of-16-bytes")
            .json(&json!({ "query": "{ _service { sdl } }" }))
            .send()
            .await
            .expect("send");
        let body: Value = res.json().await.expect("json");
        assert!(
            body["data"]["_service"]["sdl"]
                .as_str()
                .is_some_and(|s| s.contains("type Mission")),
            "{mode:?}"
        );
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("x-router-secret", "not-the-router-secret")
            .json(&json!({ "query": "{ _service { sdl } }" }))
            .send()
            .await
            .expect("send");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["data"]["_service"].is_null(), !public, "{mode:?}");
        app.stop().await;
    }
    database.drop_database().await;
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_replaced_by_an_error() {
    let database = TestDatabase::create("response-size").await;
    let conn = database.connect_migrated().await;
    let missions: Vec<(&str, &str, usize, &str, &str, f64, f64)> = (0..40)
        .map(|_| {
            (
                "Aide aux devoirs",
                "Une longue description de mission.",
                0,
                "Lyon",
                "69001",
                45.76,
                4.83,
            )
        })
        .collect();
    crate::helpers::insert_missions(&conn, &["Asso"], &missions).await;
    let settings = Settings {
        max_response_bytes: 4096,
        ..test_settings()
    };
    let app = TestApp::start(conn, settings).await;
    let small = app
        .data("{ missions(first: 2) { nodes { title } } }", json!({}))
        .await;
    assert_eq!(small["missions"]["nodes"].as_array().map(Vec::len), Some(2));
    let body = app
        .gql(
            "{ missions(first: 40) { nodes { title description descriptionText } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "RESPONSE_TOO_LARGE", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 4096);
    assert!(body["data"].is_null());
    app.stop().await;
    database.drop_database().await;
}
