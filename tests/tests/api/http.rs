//! HTTP behaviour: the GraphQL-over-HTTP status codes and media types, GraphiQL, health and
//! readiness, request limits, and the example queries of the README.
use serde_json::{Value, json};

use crate::helpers::{error_code, shared_app};

#[tokio::test]
async fn request_errors_are_400_under_graphql_response_json_and_200_under_json() {
    let app = shared_app();
    let url = format!("{}/graphql", app.base);
    for (accept, status, media) in [
        (
            "application/graphql-response+json",
            400,
            "application/graphql-response+json",
        ),
        ("application/json", 200, "application/json"),
    ] {
        let res = app
            .client
            .post(&url)
            .header("accept", accept)
            .json(&json!({ "query": "{ missions( }" }))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), status, "parse error under {accept}");
        assert_eq!(res.headers()["content-type"], media);
        let body: Value = res.json().await.expect("json");
        assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
        assert!(body.get("data").is_none());
    }
    // An execution error is 200 in both.
    let res = app
        .client
        .post(&url)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ mission(id: \"987654321\") { id } }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert!(body["data"].is_object());
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_code() {
    let app = shared_app();
    let url = format!("{}/graphql", app.base);
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, status, code) in [
        ("{not json", "application/json", 400, "BAD_REQUEST"),
        (
            "[{\"query\":\"{ publishers { id } }\"}]",
            "application/json",
            400,
            "BAD_REQUEST",
        ),
        ("{\"variables\":{}}", "application/json", 400, "BAD_REQUEST"),
        (
            "{\"query\":\"{ publishers { id } }\",\"variables\":[1]}",
            "application/json",
            400,
            "BAD_REQUEST",
        ),
        (
            "query { publishers { id } }",
            "text/plain",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ] {
        let res = post(body, content_type).await.expect("send");
        assert_eq!(res.status(), status, "{body}");
        let json: Value = res.json().await.expect("json");
        assert_eq!(error_code(&json), code, "{body}");
    }
    let res = app
        .client
        .post(&url)
        .header("accept", "text/html")
        .json(&json!({ "query": "{ publishers { id } }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 406);
    // Over the body limit (1 MiB by default): refused on the declared length, before the body is
    // sent, so the client can stop there (a client that writes on into a closed connection
    // could lose the answer to a reset).
    let (status, body) = raw_post(&app.base, &format!("content-length: {}\r\n\r\n", 2 << 20)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1048576 bytes")),
        "{body}"
    );
    // The server still answers.
    assert_eq!(
        app.data("{ publishers { id } }", json!({})).await["publishers"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = shared_app();
    let url = format!("{}/graphql", app.base);
    let res = app
        .client
        .get(&url)
        .query(&[
            (
                "query",
                "query($n: Int) { missions(first: $n) { nodes { id } } }",
            ),
            ("variables", "{\"n\": 3}"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["data"]["missions"]["nodes"].as_array().map(Vec::len),
        Some(3)
    );
    let res = app
        .client
        .get(&url)
        .query(&[("query", "mutation { x }")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let res = app
        .client
        .get(&url)
        .query(&[("query", "{ publishers { id } }"), ("variables", "{oops")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn graphiql_is_served_offline_with_an_example_query() {
    let app = shared_app();
    let res = app
        .client
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains("GraphiQL"));
    assert!(html.contains("missions("), "opens with the example query");
    for src in html
        .split("src=\"")
        .skip(1)
        .chain(html.split("href=\"").skip(1))
    {
        let url = src.split('"').next().unwrap_or_default();
        assert!(
            url.starts_with('/'),
            "asset {url} is served by the gateway, not a CDN"
        );
        let asset = app
            .client
            .get(format!("{}{url}", app.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(asset.status(), 200, "{url}");
        assert!(
            asset.bytes().await.expect("bytes").len() > 1000,
            "{url} is a real asset"
        );
    }
    let res = app
        .client
        .get(format!("{}/graphiql/nope.js", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = shared_app();
    let health = app.health().await;
    assert_eq!(health["status"], "ok");
    assert!(
        health["requests"]["limit"].as_u64() > Some(0),
        "the bound on requests at once: {health}"
    );
    let res = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
}

/// Posts to `/graphql` over a bare socket: the request line and the usual headers, then `rest`
/// (the last headers and what follows them) in one write; returns the status and the JSON body.
async fn raw_post(base: &str, rest: &str) -> (u16, Value) {
    let address = base.trim_start_matches("http://").to_owned();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         connection: close\r\n{rest}"
    );
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(&address).expect("connect");
        socket
            .write_all(request.as_bytes())
            .expect("write the request");
        let mut answer = String::new();
        socket.read_to_string(&mut answer).expect("read the answer");
        answer
    })
    .await
    .expect("the client runs");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    (status, body)
}

/// A chunked body (no declared length) is refused once it outgrows the limit, and a body that is
/// not valid chunked encoding is a 400: both with a code. The limit is small here, so that the
/// server reads the whole request before it answers (a client still writing when the server
/// closes could lose the answer to the reset).
#[tokio::test]
async fn bodies_without_a_declared_length_are_held_to_the_limit() {
    use crate::helpers::{TestApp, TestDatabase};
    let database = TestDatabase::create("chunked").await;
    let conn = database.connect_migrated().await;
    let settings = passerelle::config::Settings {
        max_body_bytes: 1024,
        ..passerelle::config::Settings::default()
    };
    let app = TestApp::start(conn, settings).await;
    let chunked = |body: &str| {
        format!(
            "transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    let small = json!({ "query": "{ publishers { id } }" }).to_string();
    let (status, body) = raw_post(&app.base, &chunked(&small)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["publishers"], json!([]));
    let large = json!({ "query": format!("{{ publishers {{ id }} }} #{}", "x".repeat(2000)) });
    let (status, body) = raw_post(&app.base, &chunked(&large.to_string())).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
    let (status, body) = raw_post(
        &app.base,
        "transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "BAD_REQUEST");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    use crate::helpers::{TestApp, TestDatabase};
    let database = TestDatabase::create("ready").await;
    let conn = database.connect_migrated().await;
    let app = TestApp::start(conn, passerelle::config::Settings::default()).await;
    app.close_database().await;
    let res = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 503);
    let health = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200, "the process is still up");
    // A key cannot be checked without the database: a coded 500 with a log reference, never the
    // driver's text, and nothing runs.
    let well_formed = format!("pk_0123456789ab.{}", "A".repeat(43));
    let (status, _, body) = app
        .raw_as(
            &crate::helpers::As::Key(well_formed),
            "{ publishers { id } }",
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("internal error; quote reference "),
        "{message}"
    );
    assert!(body.get("data").is_none());
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn every_example_query_runs_against_the_demo_data() {
    let app = shared_app();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/queries");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/queries") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("graphql") {
            continue;
        }
        let query = std::fs::read_to_string(&path).expect("read");
        let variables = std::fs::read_to_string(path.with_extension("json"))
            .map(|t| serde_json::from_str::<Value>(&t).expect("variables JSON"))
            .unwrap_or(json!({}));
        // `# viewer: EMAIL` runs it with a demo user's token, `# viewer: key PUBLISHER` with a
        // demo publisher's key; without one, anonymously.
        let who = crate::helpers::example_viewer(&query);
        let data = app.data_as(&who, &query, variables).await;
        let first = data
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or(Value::Null);
        assert!(!first.is_null(), "{} returns data", path.display());
        let text = first.to_string();
        assert!(
            text.len() > 50,
            "{} returns something: {text}",
            path.display()
        );
        ran += 1;
    }
    assert!(ran >= 5, "the README's examples are all here ({ran})");
}

/// The introspection query of graphql-js (what GraphiQL, codegen tools and routers send), with
/// its nine levels of `ofType`.
const INTROSPECTION: &str = "query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}";

#[tokio::test]
async fn the_standard_introspection_query_passes_the_default_limits() {
    let app = shared_app();
    let data = app.data(INTROSPECTION, json!({})).await;
    let types = data["__schema"]["types"].as_array().expect("types");
    assert!(
        types.iter().any(|t| t["name"] == "MissionFilter"),
        "GraphiQL gets the whole schema"
    );
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn fields_come_back_in_the_order_the_query_asks_them() {
    let app = shared_app();
    let text = |query: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/graphql", app.base))
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("send")
                .text()
                .await
                .expect("text")
        }
    };
    let positions = |body: &str, keys: &[&str]| -> Vec<usize> {
        keys.iter()
            .map(|k| body.find(&format!("\"{k}\":")).unwrap_or(usize::MAX))
            .collect()
    };
    let sorted = |p: &[usize]| p.windows(2).all(|w| w[0] < w[1]) && !p.contains(&usize::MAX);
    for (query, keys) in [
        (
            "{ viewer { kind } missions(first: 1) { totalCount } publishers { id } }",
            &["viewer", "missions", "publishers"][..],
        ),
        (
            "{ publishers { id } missions(first: 1) { nodes { title id } totalCount } viewer { kind } }",
            &[
                "publishers",
                "missions",
                "nodes",
                "title",
                "totalCount",
                "viewer",
            ][..],
        ),
        (
            "{ ...Counts publishers { id } } fragment Counts on Query { missions(first: 1) { totalCount } }",
            &["missions", "publishers"][..],
        ),
        // Nested objects too, whichever of their relations' batches comes back first, and
        // through fragments.
        (
            "{ missions(first: 2) { nodes { title organization { name } publisher { url } addresses { city } startAt } } }",
            &["title", "organization", "publisher", "addresses", "startAt"][..],
        ),
        (
            "{ missions(first: 2) { nodes { startAt ...Rel title } } } fragment Rel on Mission { addresses { city } publisher { url } organization { name } }",
            &["startAt", "addresses", "publisher", "organization", "title"][..],
        ),
    ] {
        let body = text(query).await;
        assert!(!body.contains("\"errors\""), "{body}");
        let p = positions(&body, keys);
        assert!(sorted(&p), "{query}: {body}");
    }
}
