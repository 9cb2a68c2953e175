//! Credentials: bearer tokens from an identity provider (a stand-in serving a JWKS on loopback)
//! and from the HS256 secret, API keys; every fault is refused with its reason, before the
//! schema runs.
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use passerelle::auth::users::ScopeArgs;
use passerelle::config::Settings;
use passerelle_entities::Role;
use passerelle_entities::audit_entry::Actor;
use sea_orm::{ActiveModelTrait, DatabaseConnection};
use serde_json::{Value, json};

use crate::helpers::{As, StatementCounter, TestApp, TestDatabase, error_code, test_settings};

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "passerelle-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn jwk(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("jwk-{name}.json"))).expect("jwk")
}

/// The stand-in identity provider: the keys it publishes, whether it is down, and how many
/// times its JWKS was fetched.
#[derive(Default)]
struct Provider {
    keys: Vec<Value>,
    down: bool,
    hits: usize,
}

type Shared = Arc<Mutex<Provider>>;

async fn jwks(State(p): State<Shared>) -> axum::response::Response {
    let mut p = p.lock().expect("lock");
    p.hits += 1;
    if p.down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    axum::Json(json!({ "keys": p.keys })).into_response()
}

async fn provider(keys: &[&str]) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Provider {
        keys: keys.iter().map(|k| jwk(k)).collect(),
        ..Provider::default()
    }));
    let app = axum::Router::new()
        .route("/jwks", axum::routing::get(jwks))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

fn hits(p: &Shared) -> usize {
    p.lock().expect("lock").hits
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Good claims for `email`, with `change` applied.
fn claims(email: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut c = json!({
        "sub": format!("idp|{email}"),
        "email": email,
        "email_verified": true,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 600,
        "nbf": now() - 5,
        "iat": now() - 5,
    });
    change(&mut c);
    c
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn rsa(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture(name)).expect("rsa key")
}

async fn server_with(db: DatabaseConnection, jwks_url: &str, min_refresh: u64) -> TestApp {
    let settings = Settings {
        jwks_url: Some(jwks_url.to_owned()),
        jwt_issuer: ISSUER.to_owned(),
        jwt_audience: AUDIENCE.to_owned(),
        jwks_min_refresh_secs: min_refresh,
        // These tests send many refused tokens from one address on purpose.
        rate_limits: passerelle::ratelimit::RateLimits::OFF,
        ..Settings::default()
    };
    TestApp::start(db, settings).await
}

async fn analyst(db: &DatabaseConnection, email: &str) {
    passerelle::auth::users::add(
        db,
        email,
        Role::Analyst,
        ScopeArgs::default(),
        None,
        &Actor::cli("test"),
    )
    .await
    .expect("user");
}

/// The status, `extensions.reason` (or the viewer's kind when the request ran) of a request.
async fn outcome(app: &TestApp, token: &str) -> (u16, String) {
    let (status, headers, body) = app
        .raw_as(&As::Token(token.to_owned()), "{ viewer { kind } }")
        .await;
    if status == 200 {
        return (
            200,
            body["data"]["viewer"]["kind"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
    }
    if status == 401 {
        let www = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            www.starts_with("Bearer realm=\"passerelle\", error=\"invalid_token\""),
            "{www}"
        );
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    (
        status,
        body["errors"][0]["extensions"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[tokio::test]
async fn every_token_fault_is_refused_with_its_reason() {
    let database = TestDatabase::create("tokens").await;
    let conn = database.connect_migrated().await;
    analyst(&conn, "agent@idp.test").await;
    let (url, idp) = provider(&["a", "c"]).await;
    // Unknown key ids never cause more than one fetch per hour here.
    let app = server_with(conn.clone(), &url, 3600).await;
    let a = rsa("rsa-a.pem");
    let good = sign(
        Algorithm::RS256,
        "key-a",
        &a,
        &claims("agent@idp.test", |_| {}),
    );
    assert_eq!(outcome(&app, &good).await, (200, "ANALYST".to_owned()));
    assert_eq!(hits(&idp), 1, "the keys were fetched once");
    let es = EncodingKey::from_ec_pem(&fixture("ec-c.pem")).expect("ec key");
    let es256 = sign(
        Algorithm::ES256,
        "key-c",
        &es,
        &claims("agent@idp.test", |_| {}),
    );
    assert_eq!(outcome(&app, &es256).await, (200, "ANALYST".to_owned()));

    let with = |change: fn(&mut Value)| claims("agent@idp.test", change);
    let b = rsa("rsa-b.pem");
    let none_alg = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(with(|_| {}).to_string())
    );
    // HS256 signed with the RSA key's public half, the classic algorithm confusion.
    let confused = sign(
        Algorithm::HS256,
        "key-a",
        &EncodingKey::from_secret(&fixture("rsa-a.pub.pem")),
        &with(|_| {}),
    );
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "expired",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["exp"] = json!(now() - 120)),
            ),
            401,
            "TOKEN_EXPIRED",
        ),
        (
            "expired, within the leeway",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["exp"] = json!(now() - 10)),
            ),
            200,
            "ANALYST",
        ),
        (
            "not yet valid",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["nbf"] = json!(now() + 3600)),
            ),
            401,
            "TOKEN_NOT_YET_VALID",
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["iss"] = json!("https://evil.test")),
            ),
            401,
            "TOKEN_ISSUER",
        ),
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["aud"] = json!("another-app")),
            ),
            401,
            "TOKEN_AUDIENCE",
        ),
        (
            "signed by another key under key-a's id",
            sign(Algorithm::RS256, "key-a", &b, &with(|_| {})),
            401,
            "TOKEN_SIGNATURE",
        ),
        ("alg: none", none_alg, 401, "TOKEN_MALFORMED"),
        (
            "HS256 against an RS256 key",
            confused,
            401,
            "TOKEN_ALGORITHM",
        ),
        (
            "RS256 header on an EC key",
            sign(Algorithm::RS256, "key-c", &a, &with(|_| {})),
            401,
            "TOKEN_ALGORITHM",
        ),
        (
            "no subject",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| {
                    c.as_object_mut().map(|o| o.remove("sub"));
                }),
            ),
            401,
            "TOKEN_CLAIMS",
        ),
        (
            "not a JWT",
            "not-a-token".to_owned(),
            401,
            "TOKEN_MALFORMED",
        ),
        (
            "an unknown key id",
            sign(Algorithm::RS256, "key-z", &a, &with(|_| {})),
            401,
            "TOKEN_UNKNOWN_KEY",
        ),
        (
            "nobody Passerelle knows",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &claims("stranger@idp.test", |_| {}),
            ),
            403,
            "UNKNOWN_USER",
        ),
        (
            "an email the provider did not verify",
            sign(
                Algorithm::RS256,
                "key-a",
                &a,
                &with(|c| c["email_verified"] = json!(false)),
            ),
            403,
            "UNKNOWN_USER",
        ),
    ];
    for (what, token, status, reason) in cases {
        assert_eq!(
            outcome(&app, &token).await,
            (status, reason.to_owned()),
            "{what}"
        );
    }
    // A flood of made-up key ids costs the provider nothing more.
    for i in 0..20 {
        let t = sign(Algorithm::RS256, &format!("made-up-{i}"), &a, &with(|_| {}));
        assert_eq!(outcome(&app, &t).await.1, "TOKEN_UNKNOWN_KEY");
    }
    assert_eq!(hits(&idp), 1, "unknown kids are rate limited");
    // A user removed in Passerelle is refused at the next request, with a valid token.
    passerelle::auth::users::remove(&conn, "agent@idp.test", &Actor::cli("test"))
        .await
        .expect("remove");
    assert_eq!(outcome(&app, &good).await, (403, "UNKNOWN_USER".to_owned()));
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn an_unknown_kid_is_fetched_once_and_known_keys_outlive_the_provider() {
    let database = TestDatabase::create("jwks").await;
    let conn = database.connect_migrated().await;
    analyst(&conn, "agent@idp.test").await;
    let (url, idp) = provider(&["a"]).await;
    let app = server_with(conn.clone(), &url, 0).await;
    let token = |kid: &str, pem: &str| {
        sign(
            Algorithm::RS256,
            kid,
            &rsa(pem),
            &claims("agent@idp.test", |_| {}),
        )
    };
    assert_eq!(outcome(&app, &token("key-a", "rsa-a.pem")).await.0, 200);
    assert_eq!(hits(&idp), 1);
    // The provider rotates in key b: the first token signed with it costs one fetch.
    idp.lock().expect("lock").keys.push(jwk("b"));
    assert_eq!(outcome(&app, &token("key-b", "rsa-b.pem")).await.0, 200);
    assert_eq!(hits(&idp), 2, "one refresh for the new kid");
    assert_eq!(outcome(&app, &token("key-b", "rsa-b.pem")).await.0, 200);
    assert_eq!(hits(&idp), 2, "then it is known");
    // An id the provider does not publish, after one more fetch.
    assert_eq!(
        outcome(&app, &token("key-z", "rsa-a.pem")).await,
        (401, "TOKEN_UNKNOWN_KEY".to_owned())
    );
    assert_eq!(hits(&idp), 3);
    // The provider goes down: the keys already fetched keep working.
    idp.lock().expect("lock").down = true;
    assert_eq!(outcome(&app, &token("key-a", "rsa-a.pem")).await.0, 200);
    // A gateway that never fetched the keys cannot check a token: 503, not 401.
    let fresh = server_with(conn.clone(), &url, 0).await;
    let (status, headers, body) = fresh
        .raw_as(
            &As::Token(token("key-a", "rsa-a.pem")),
            "{ viewer { kind } }",
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "ISSUER_UNREACHABLE"
    );
    assert!(headers.contains_key("retry-after"));
    // Nobody listening at all: the same.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/jwks", l.local_addr().expect("addr"))
    };
    let nowhere = server_with(conn.clone(), &closed, 0).await;
    assert_eq!(
        outcome(&nowhere, &token("key-a", "rsa-a.pem")).await,
        (503, "ISSUER_UNREACHABLE".to_owned())
    );
    for a in [app, fresh, nowhere] {
        a.stop().await;
    }
    database.drop_database().await;
}

#[tokio::test]
async fn development_tokens_and_foreign_credentials() {
    let database = TestDatabase::create("hs256").await;
    let conn = database.connect_migrated().await;
    analyst(&conn, "dev@passerelle.example").await;
    let app = TestApp::start(conn.clone(), test_settings()).await;
    let good = crate::helpers::token_for("dev@passerelle.example");
    assert_eq!(outcome(&app, &good).await, (200, "ANALYST".to_owned()));
    let forged = passerelle::auth::tokens::mint_for(
        &"another-secret-of-at-least-thirty-two-bytes"
            .to_owned()
            .into(),
        "passerelle",
        "passerelle",
        "dev@passerelle.example",
        None,
        600,
    )
    .expect("token");
    assert_eq!(
        outcome(&app, &forged).await,
        (401, "TOKEN_SIGNATURE".to_owned())
    );
    // RS256 tokens need a JWKS, which this server has not.
    let rs = sign(
        Algorithm::RS256,
        "key-a",
        &rsa("rsa-a.pem"),
        &claims("dev@passerelle.example", |c| {
            c["iss"] = json!("passerelle");
            c["aud"] = json!("passerelle");
        }),
    );
    assert_eq!(
        outcome(&app, &rs).await,
        (401, "TOKEN_ALGORITHM".to_owned())
    );
    // Other schemes, and a key together with a token.
    for (headers, reason) in [
        (
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            "AUTHORIZATION_SCHEME",
        ),
        (vec![("authorization", "Bearer")], "TOKEN_MALFORMED"),
        (
            vec![("authorization", "Bearer x.y.z"), ("x-api-key", "k")],
            "CREDENTIALS_AMBIGUOUS",
        ),
    ] {
        let mut request = app.client.post(format!("{}/graphql", app.base));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let res = request
            .json(&json!({ "query": "{ viewer { kind } }" }))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["reason"], reason);
    }
    // A user whose row lacks the scope of its role (made by hand in the database) reaches
    // nothing: refused as unknown, not read as a broader role.
    passerelle_entities::user::ActiveModel {
        email: sea_orm::Set("broken@passerelle.example".into()),
        role: sea_orm::Set(Role::Volunteer),
        created_at: sea_orm::Set(passerelle_entities::time::now()),
        updated_at: sea_orm::Set(passerelle_entities::time::now()),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("user");
    let broken = crate::helpers::token_for("broken@passerelle.example");
    assert_eq!(
        outcome(&app, &broken).await,
        (403, "UNKNOWN_USER".to_owned())
    );
    // A server without any token setting refuses tokens, and says why.
    let plain = TestApp::start(conn, Settings::default()).await;
    assert_eq!(
        outcome(&plain, &good).await,
        (401, "TOKENS_NOT_CONFIGURED".to_owned())
    );
    app.stop().await;
    plain.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn api_keys_are_checked_revoked_at_once_and_their_use_recorded_once_a_minute() {
    let database = TestDatabase::create("keys").await;
    let conn = database.connect_migrated().await;
    let updates = StatementCounter::matching("UPDATE \"api_keys\"");
    let p = passerelle::publishers::add(&conn, "Partenaire", None, None, None, None)
        .await
        .expect("publisher");
    let actor = Actor::cli("test");
    let key = passerelle::auth::keys::create_for(&conn, &p, Some("site".into()), &actor)
        .await
        .expect("key");
    let secret = secrecy::ExposeSecret::expose_secret(&key.key).to_owned();
    let app = TestApp::start_counted(conn.clone(), Settings::default(), &updates).await;
    let kind = |body: &Value| body["data"]["viewer"]["kind"].as_str().map(str::to_owned);
    // Both headers partners send.
    for header in ["x-api-key", "apikey"] {
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .header(header, &secret)
            .json(&json!({ "query": "{ viewer { kind apiKeyPrefix } }" }))
            .send()
            .await
            .expect("send");
        let body: Value = res.json().await.expect("json");
        assert_eq!(kind(&body).as_deref(), Some("PARTNER"), "{header}");
        assert_eq!(body["data"]["viewer"]["apiKeyPrefix"], key.prefix.as_str());
    }
    // The last use is written once, in the background, then not again within the minute.
    let mut waited = 0;
    while updates.peek() == 0 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    for _ in 0..5 {
        app.data_as(&As::Key(secret.clone()), "{ viewer { kind } }", json!({}))
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(updates.peek(), 1, "one write for seven requests");
    let listed = passerelle::auth::keys::list(&conn, Some("Partenaire"))
        .await
        .expect("list");
    assert!(
        listed[0].contains("site") && !listed[0].contains("last used -"),
        "{listed:?}"
    );
    assert!(
        !listed[0].contains(&secret[key.prefix.len()..]),
        "the key is never listed"
    );

    // Faults.
    let other_prefix = if key.prefix == "pk_000000000000" {
        "pk_111111111111"
    } else {
        "pk_000000000000"
    };
    let unknown = format!("{other_prefix}.{}", "A".repeat(43));
    let wrong_secret = format!("{}.{}", key.prefix, "B".repeat(43));
    for (presented, reason) in [
        (unknown.as_str(), "KEY_UNKNOWN"),
        (wrong_secret.as_str(), "KEY_UNKNOWN"),
        ("abc", "KEY_MALFORMED"),
        ("pk_0123.short", "KEY_MALFORMED"),
        ("", "KEY_MALFORMED"),
    ] {
        let (status, headers, body) = app
            .raw_as(&As::Key(presented.to_owned()), "{ viewer { kind } }")
            .await;
        assert_eq!(status, 401, "{presented}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
        assert_eq!(
            body["errors"][0]["extensions"]["reason"], reason,
            "{presented}"
        );
        assert!(
            headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("ApiKey")),
            "{presented}"
        );
    }
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header(
            "x-api-key",
            reqwest::header::HeaderValue::from_bytes(b"pk_\xff").expect("bytes"),
        )
        .json(&json!({ "query": "{ viewer { kind } }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401, "a key that is not text");
    // Revoked: refused from the next request on.
    passerelle::auth::keys::revoke(&conn, &key.prefix, &actor)
        .await
        .expect("revoke");
    let (status, _, body) = app
        .raw_as(&As::Key(secret.clone()), "{ viewer { kind } }")
        .await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["reason"]),
        (401, &json!("KEY_REVOKED"))
    );
    app.stop().await;
    database.drop_database().await;
}
