//! Rate limits over HTTP: a bucket per address, per key and per user; `429` with `Retry-After`,
//! the `RateLimit-*` headers and `RATE_LIMITED`, before any statement runs; guessed credentials
//! count against the address; `X-Forwarded-For` believed from trusted proxies only; Redis down
//! fails open or closed, never a 500. (Two processes sharing buckets in Redis: the `passerelle`
//! crate's command-line tests.)
use passerelle::config::Settings;
use passerelle::ratelimit::{RateLimits, RedisFailure};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{As, StatementCounter, TestApp, TestDatabase, error_code, test_settings};

const QUERY: &str = "{ publishers { id } }";

/// Posts [`QUERY`] with credentials and extra headers: status, headers, body.
async fn send(app: &TestApp, who: &As, headers: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&serde_json::json!({ "query": QUERY }));
    request = match who {
        As::Anonymous => request,
        As::Key(k) => request.header("x-api-key", k),
        As::Token(t) => request.bearer_auth(t),
    };
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.expect("send");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.expect("json"))
}

fn header(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// A fresh database with a publisher, a key for it, and a user.
async fn world(label: &str) -> (TestDatabase, sea_orm::DatabaseConnection, String, String) {
    let database = TestDatabase::create(label).await;
    let conn = database.connect_migrated().await;
    let actor = passerelle_entities::audit_entry::Actor::cli("test");
    let mut keys = Vec::new();
    for name in ["Alpha", "Beta"] {
        passerelle::publishers::add(&conn, name, None, None, None, None)
            .await
            .expect("publisher");
        let key = passerelle::auth::keys::create(&conn, name, None, &actor)
            .await
            .expect("key");
        keys.push(secrecy::ExposeSecret::expose_secret(&key.key).to_owned());
    }
    passerelle::auth::users::add(
        &conn,
        "analyst@test.example",
        passerelle_entities::Role::Analyst,
        passerelle::auth::users::ScopeArgs::default(),
        None,
        &actor,
    )
    .await
    .expect("user");
    let beta = keys.pop().expect("beta");
    let alpha = keys.pop().expect("alpha");
    (database, conn, alpha, beta)
}

#[tokio::test]
async fn each_caller_has_its_own_bucket_and_the_one_over_it_gets_429_before_any_statement() {
    let (database, conn, alpha, beta) = world("ratelimits").await;
    let counter = StatementCounter::default();
    let settings = Settings {
        rate_limits: RateLimits {
            address: 3,
            key: 2,
            user: 1,
            auth_failures: 0,
        },
        ..test_settings()
    };
    let app = TestApp::start_counted(conn, settings, &counter).await;

    // Anonymous: three, counted down in the headers.
    for remaining in [2, 1, 0] {
        let (status, headers, body) = send(&app, &As::Anonymous, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "ratelimit-limit"), Some(3));
        assert_eq!(header(&headers, "ratelimit-remaining"), Some(remaining));
        assert!(header(&headers, "ratelimit-reset").is_some_and(|r| (1..=60).contains(&r)));
        assert_eq!(
            headers
                .get("ratelimit-policy")
                .and_then(|v| v.to_str().ok()),
            Some("3;w=60")
        );
    }
    counter.take();
    let (status, headers, body) = send(&app, &As::Anonymous, &[]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "RATE_LIMITED");
    let retry = header(&headers, "retry-after").expect("Retry-After");
    assert!(
        (1..=20).contains(&retry),
        "a third of a minute at most: {retry}"
    );
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry);
    assert_eq!(header(&headers, "ratelimit-remaining"), Some(0));
    assert!(body.get("data").is_none());
    assert_eq!(counter.take(), 0, "a limited request runs no statement");

    // A key has its own bucket, whatever its address has spent; another key too.
    let key_a = As::Key(alpha);
    for remaining in [1, 0] {
        let (status, headers, body) = send(&app, &key_a, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "ratelimit-limit"), Some(2));
        assert_eq!(header(&headers, "ratelimit-remaining"), Some(remaining));
    }
    let (status, _, body) = send(&app, &key_a, &[]).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "RATE_LIMITED"));
    let (status, _, _) = send(&app, &As::Key(beta), &[]).await;
    assert_eq!(status, 200, "the other key is not touched");

    // A person signed in: their own bucket.
    let analyst = As::user("analyst@test.example");
    let (status, _, _) = send(&app, &analyst, &[]).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(&app, &analyst, &[]).await;
    assert_eq!((status, error_code(&body).as_str()), (429, "RATE_LIMITED"));
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn guessed_keys_are_stopped_per_address_and_forwarded_addresses_need_a_trusted_proxy() {
    let (database, conn, alpha, _) = world("ratelimits-address").await;
    let counter = StatementCounter::default();
    let settings = Settings {
        rate_limits: RateLimits {
            address: 2,
            key: 100,
            user: 100,
            auth_failures: 2,
        },
        ..test_settings()
    };
    let app = TestApp::start_counted(conn, settings, &counter).await;
    let guess = As::Key(format!("pk_0123456789ab.{}", "A".repeat(43)));
    for _ in 0..2 {
        let (status, _, body) = send(&app, &guess, &[]).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (401, "UNAUTHENTICATED")
        );
    }
    counter.take();
    let (status, headers, body) = send(&app, &guess, &[]).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (429, "RATE_LIMITED"),
        "the third guess is not even checked"
    );
    assert!(headers.get("retry-after").is_some());
    // Nor is a right key from the same address: a guesser cannot tell a hit from a miss.
    let (status, _, _) = send(&app, &As::Key(alpha), &[]).await;
    assert_eq!(status, 429);
    assert_eq!(counter.take(), 0, "no credential was looked up");
    // Anonymous requests have their own bucket per address; without a trusted proxy,
    // X-Forwarded-For changes nothing.
    for _ in 0..2 {
        assert_eq!(send(&app, &As::Anonymous, &[]).await.0, 200);
    }
    let (status, _, _) = send(&app, &As::Anonymous, &[("x-forwarded-for", "203.0.113.5")]).await;
    assert_eq!(status, 429, "a client cannot pick its address");
    app.stop().await;

    let conn = database.connect_migrated().await;
    let settings = Settings {
        rate_limits: RateLimits {
            address: 1,
            key: 100,
            user: 100,
            auth_failures: 0,
        },
        trusted_proxies: vec!["127.0.0.1".parse().expect("net")],
        ..test_settings()
    };
    let app = TestApp::start(conn, settings).await;
    // Behind a trusted proxy (the test itself, on 127.0.0.1): each forwarded client has its
    // own bucket, and what a client wrote before the proxy's own entry is not believed.
    let first = [("x-forwarded-for", "198.51.100.1, 203.0.113.1")];
    let second = [("x-forwarded-for", "198.51.100.1, 203.0.113.2")];
    assert_eq!(send(&app, &As::Anonymous, &first).await.0, 200);
    assert_eq!(send(&app, &As::Anonymous, &second).await.0, 200);
    assert_eq!(send(&app, &As::Anonymous, &first).await.0, 429);
    assert_eq!(send(&app, &As::Anonymous, &second).await.0, 429);
    // A client's forged line before the proxy's own line is not believed either.
    let two_lines = [
        ("x-forwarded-for", "192.0.2.77"),
        ("x-forwarded-for", "203.0.113.1"),
    ];
    assert_eq!(
        send(&app, &As::Anonymous, &two_lines).await.0,
        429,
        "read as 203.0.113.1, whose bucket is spent"
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn redis_down_fails_open_or_closed_as_configured_and_never_500() {
    let (database, conn, _, _) = world("ratelimits-redis-down").await;
    // Nothing listens on port 1 of loopback.
    let down = |failure| Settings {
        rate_limits: RateLimits {
            address: 1,
            key: 1,
            user: 1,
            auth_failures: 1,
        },
        redis_url: Some("redis://127.0.0.1:1/0".to_owned().into()),
        rate_limit_redis_failure: failure,
        ..test_settings()
    };
    let app = TestApp::start(conn, down(RedisFailure::Open)).await;
    for _ in 0..3 {
        let (status, headers, body) = send(&app, &As::Anonymous, &[]).await;
        assert_eq!(status, 200, "served without a limit: {body}");
        assert!(body["data"]["publishers"].is_array());
        assert!(headers.get("ratelimit-limit").is_none(), "no quota to show");
    }
    app.stop().await;
    let conn = database.connect_migrated().await;
    let app = TestApp::start(conn, down(RedisFailure::Closed)).await;
    let (status, _, body) = send(&app, &As::Anonymous, &[]).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (503, "RATE_LIMIT_UNAVAILABLE"),
        "{body}"
    );
    // With credentials too: their refusals' allowance cannot be read either.
    let (status, _, body) = send(&app, &As::user("analyst@test.example"), &[]).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (503, "RATE_LIMIT_UNAVAILABLE"),
        "{body}"
    );
    app.stop().await;
    database.drop_database().await;
}
