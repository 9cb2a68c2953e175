//! Persisted documents: the manifest made from `examples/queries/` serves every example by id
//! in "required" mode, where anonymous callers, partners and people signed in may run nothing
//! else (analysts and admins still explore); automatic persisted queries over POST and GET.
//! Refusals run no SQL statement.
use std::path::{Path, PathBuf};

use passerelle::config::Settings;
use passerelle::documents::{Manifest, PersistedMode, sha256_hex};
use serde_json::{Value, json};

use crate::helpers::{
    As, DEMO_ADMIN, StatementCounter, TestApp, demo_key, error_code, example_viewer, shared_db,
    test_settings,
};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/queries")
}

const COMMITTED_MANIFEST: &str = "../examples/persisted-documents.json";

/// Posts a body under `application/graphql-response+json`: the status and the JSON answer.
async fn post(app: &TestApp, who: &As, body: Value) -> (u16, Value) {
    let request = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&body);
    let request = match who {
        As::Anonymous => request,
        As::Key(k) => request.header("x-api-key", k),
        As::Token(t) => request.bearer_auth(t),
    };
    let res = request.send().await.expect("send");
    (res.status().as_u16(), res.json().await.expect("json"))
}

/// A GET with query-string parameters: the status and the JSON answer.
async fn get(app: &TestApp, params: &[(&str, String)]) -> (u16, Value) {
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(params)
        .send()
        .await
        .expect("send");
    (res.status().as_u16(), res.json().await.expect("json"))
}

/// A server over the shared demo data with `settings`, and a statement counter on it.
async fn app_over_demo(settings: Settings) -> (TestApp, StatementCounter) {
    // The shared server seeds the demo data; this second server reads the same database.
    let _ = crate::helpers::shared();
    let conn = shared_db().await;
    let counter = StatementCounter::default();
    (
        TestApp::start_counted(conn, settings, &counter).await,
        counter,
    )
}

#[test]
fn the_committed_manifest_is_made_from_the_examples() {
    let made = Manifest::from_directory(&examples_dir()).expect("manifest");
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED_MANIFEST))
            .unwrap_or_default();
    assert!(
        made == committed,
        "examples/persisted-documents.json is out of date; run: cargo run -- documents manifest examples/queries > examples/persisted-documents.json"
    );
}

#[tokio::test]
async fn required_mode_serves_every_example_by_id_and_nothing_else_to_those_who_may_not_explore() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED_MANIFEST);
    let settings = Settings {
        persisted_documents: PersistedMode::Required,
        persisted_documents_file: Some(manifest),
        ..test_settings()
    };
    let (app, counter) = app_over_demo(settings).await;

    // Every example, by id, as its own viewer: data, no error.
    let mut served = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("graphql") {
            continue;
        }
        let document = std::fs::read_to_string(&path).expect("read");
        let variables = std::fs::read_to_string(path.with_extension("json"))
            .map(|t| serde_json::from_str::<Value>(&t).expect("variables"))
            .unwrap_or(json!({}));
        let (status, body) = post(
            &app,
            &example_viewer(&document),
            json!({ "documentId": format!("sha256:{}", sha256_hex(&document)), "variables": variables }),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", path.display());
        assert!(body.get("errors").is_none(), "{}: {body}", path.display());
        let first = body["data"]
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or(Value::Null);
        assert!(!first.is_null(), "{}: {body}", path.display());
        served += 1;
    }
    assert!(served >= 10, "every example ({served})");

    let publishers = std::fs::read_to_string(examples_dir().join("publishers.graphql"))
        .expect("publishers example");
    let hash = sha256_hex(&publishers);
    // The same document by Apollo's hash, by Relay's `doc_id`, over GET, and as its exact text.
    let by_hash = post(
        &app,
        &As::Anonymous,
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }),
    )
    .await;
    let by_doc_id = post(&app, &As::Anonymous, json!({ "doc_id": hash })).await;
    let by_get = get(&app, &[("documentId", hash.clone())]).await;
    let by_text = post(&app, &As::Anonymous, json!({ "query": publishers })).await;
    for (how, (status, body)) in [
        ("hash", by_hash),
        ("doc_id", by_doc_id),
        ("GET", by_get),
        ("text", by_text),
    ] {
        assert_eq!(status, 200, "{how}: {body}");
        assert!(
            body["data"]["publishers"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{how}: {body}"
        );
    }

    // Anything else, from those who may not explore: refused, and nothing runs but the check
    // of the credentials (as much as for a document that does not exist).
    let arbitrary = json!({ "query": "{ publishers { id name } }" });
    for who in [
        As::Anonymous,
        demo_key("JeVeuxAider.gouv.fr"),
        As::user("structure@passerelle.example"),
        As::user("referent.rhone@passerelle.example"),
    ] {
        counter.take();
        let (status, body) = post(&app, &who, arbitrary.clone()).await;
        assert_eq!(status, 400, "{who:?}: {body}");
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{who:?}");
        assert!(body.get("data").is_none());
        let refused = counter.take();
        let (_, body) = post(&app, &who, json!({ "documentId": "unknown" })).await;
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(refused, counter.take(), "{who:?}: credentials only");
        if who == As::Anonymous {
            assert_eq!(refused, 0);
        }
    }
    counter.take();
    // Nor may they register it as an automatic persisted query.
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "query": "{ publishers { id name } }", "extensions": { "persistedQuery": {
            "version": 1, "sha256Hash": sha256_hex("{ publishers { id name } }") } } }),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "PERSISTED_QUERY_NOT_IN_LIST")
    );
    // An unknown id.
    let (status, body) = post(&app, &As::Anonymous, json!({ "documentId": "sha256:0000" })).await;
    assert_eq!(
        status, 200,
        "Apollo's clients read this one from a 200: {body}"
    );
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    // Both a text and an id.
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "documentId": hash, "query": publishers }),
    )
    .await;
    assert_eq!((status, error_code(&body).as_str()), (400, "BAD_REQUEST"));
    assert_eq!(counter.take(), 0, "no anonymous refusal ran a statement");

    // Analysts and admins still explore.
    for who in [
        As::user("analyste@passerelle.example"),
        As::user(DEMO_ADMIN),
    ] {
        let (status, body) = post(&app, &who, arbitrary.clone()).await;
        assert_eq!(status, 200, "{who:?}: {body}");
        assert!(body["data"]["publishers"].is_array(), "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn automatic_persisted_queries_register_a_checked_text_and_serve_it_by_hash() {
    let (app, counter) = app_over_demo(test_settings()).await;
    let query = "query Names { publishers { name } }";
    let hash = sha256_hex(query);
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    counter.take();
    let (status, body) = post(&app, &As::Anonymous, json!({ "extensions": ext })).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (200, "PERSISTED_QUERY_NOT_FOUND")
    );
    assert_eq!(counter.take(), 0);

    // A text that is not the hash's is refused, and not kept.
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "query": "{ publishers { id } }", "extensions": ext }),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "PERSISTED_QUERY_HASH_MISMATCH")
    );
    // An invalid document is answered, and not kept either.
    let invalid = "{ publishers { nope } }";
    let invalid_ext =
        json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(invalid) } });
    let (_, body) = post(
        &app,
        &As::Anonymous,
        json!({ "query": invalid, "extensions": invalid_ext }),
    )
    .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let (_, body) = post(&app, &As::Anonymous, json!({ "extensions": invalid_ext })).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");

    // The text with its hash runs and is kept; then the hash alone works, over POST and GET.
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "query": query, "extensions": ext }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names = body["data"]["publishers"].clone();
    assert!(names.as_array().is_some_and(|n| !n.is_empty()), "{body}");
    let (status, body) = post(&app, &As::Anonymous, json!({ "extensions": ext })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["publishers"], names);
    let (status, body) = get(&app, &[("extensions", ext.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["publishers"], names);

    // A mutation kept by its hash still cannot run over GET.
    let mutation =
        "mutation M { setDiffusionRules(input: { diffuseurId: \"1\", rules: [] }) { __typename } }";
    let m_ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(mutation) } });
    let (status, _) = post(
        &app,
        &As::Anonymous,
        json!({ "query": mutation, "extensions": m_ext }),
    )
    .await;
    assert_eq!(status, 200, "run (and refused FORBIDDEN inside), so kept");
    let (status, body) = get(&app, &[("extensions", m_ext.to_string())]).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );

    // Malformed `persistedQuery`: a clear 400.
    for bad in [
        json!({ "persistedQuery": "x" }),
        json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
    ] {
        let (status, body) = post(&app, &As::Anonymous, json!({ "extensions": bad })).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (400, "BAD_REQUEST"),
            "{body}"
        );
    }
    // A trusted document's id while there is no manifest: not supported.
    let (status, body) = post(&app, &As::Anonymous, json!({ "documentId": hash })).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (200, "PERSISTED_QUERY_NOT_SUPPORTED")
    );
    app.stop().await;

    // With the cache turned off, a hash alone is not supported (Apollo's clients then stop
    // sending hashes).
    let (app, _) = app_over_demo(Settings {
        apq_cache_entries: 0,
        ..test_settings()
    })
    .await;
    let (status, body) = post(&app, &As::Anonymous, json!({ "extensions": ext })).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (200, "PERSISTED_QUERY_NOT_SUPPORTED")
    );
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
    app.stop().await;
}

#[tokio::test]
async fn allowed_mode_serves_manifest_ids_and_arbitrary_documents_alike() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED_MANIFEST);
    let settings = Settings {
        persisted_documents: PersistedMode::Allowed,
        persisted_documents_file: Some(manifest),
        ..test_settings()
    };
    let (app, counter) = app_over_demo(settings).await;
    let publishers = std::fs::read_to_string(examples_dir().join("publishers.graphql"))
        .expect("publishers example");
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "documentId": sha256_hex(&publishers) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["publishers"].is_array(), "{body}");
    let (status, body) = post(
        &app,
        &As::Anonymous,
        json!({ "query": "{ publishers { id name } }" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["publishers"].is_array(), "{body}");
    counter.take();
    let (status, body) = post(&app, &As::Anonymous, json!({ "documentId": "sha256:abc" })).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (200, "PERSISTED_QUERY_NOT_FOUND")
    );
    assert_eq!(counter.take(), 0);
    app.stop().await;
}
