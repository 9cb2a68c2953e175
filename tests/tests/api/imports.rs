//! Imported partner missions through the API: what a feed brings is listed by `missions` with
//! its publisher, organization, addresses and distances; each run shows in `importRuns` and
//! `Publisher.lastImport`.
use passerelle::config::Settings;
use passerelle_ingest::run::{RunOptions, Source, run_import};
use serde_json::json;

use crate::helpers::{As, TestApp, TestDatabase, error_code};

fn feed(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!(
        "{}/../examples/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

#[tokio::test]
async fn imported_missions_are_listed_with_their_publisher_organization_and_places() {
    let db = TestDatabase::create("api-imports").await;
    let conn = db.connect_migrated().await;
    let p = passerelle::publishers::add(&conn, "Réseau Exemple", None, None, None, None)
        .await
        .expect("publisher");
    let options = RunOptions::default();
    for name in ["valid.xml", "invalid-missions.xml"] {
        run_import(&conn, &p, &Source::File(feed(name)), &options, None)
            .await
            .expect("recorded");
    }
    // The second feed refused two missions, kept one valid, and soft-deleted the first
    // feed's three: import the first again to have both kinds visible.
    let last = run_import(&conn, &p, &Source::File(feed("valid.xml")), &options, None)
        .await
        .expect("recorded")
        .run;
    assert_eq!(
        (last.created, last.updated),
        (0, 3),
        "restored from soft-deletion"
    );
    // Import runs are the publisher's own: it reads them with its key.
    let actor = passerelle_entities::audit_entry::Actor::cli("test");
    let key = passerelle::auth::keys::create_for(&conn, &p, None, &actor)
        .await
        .expect("key");
    let key = As::Key(secrecy::ExposeSecret::expose_secret(&key.key).to_owned());
    let app = TestApp::start(conn, Settings::default()).await;

    let data = app
        .data(
            r#"query($p: [ID!]) { missions(filter: { publisherIds: $p }, orderBy: { field: START_AT, direction: ASC }) {
                totalCount
                nodes { clientId title domain publisher { name } organization { name rna siren }
                        addresses { city postalCode departmentCode lat lon geoSource } } } }"#,
            json!({ "p": [p.id.to_string()] }),
        )
        .await;
    let nodes = data["missions"]["nodes"].as_array().expect("nodes");
    let ids: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n["clientId"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["ex-1", "ex-3", "ex-2"],
        "only VALIDATED missions, by start date"
    );
    assert_eq!(data["missions"]["totalCount"], 3);
    assert!(
        nodes
            .iter()
            .all(|n| n["publisher"]["name"] == "Réseau Exemple")
    );
    let ex1 = &nodes[0];
    assert_eq!(ex1["domain"], "EDUCATION", "a label in the feed");
    assert_eq!(ex1["organization"]["name"], "Les Amis du Savoir");
    assert_eq!(ex1["organization"]["rna"], "W691234567");
    assert_eq!(ex1["addresses"][0]["departmentCode"], "69");
    assert_eq!(ex1["addresses"][0]["geoSource"], "PUBLISHER");
    let ex3 = &nodes[1];
    assert_eq!(ex3["domain"], "MEMOIRE_ET_CITOYENNETE");
    assert_eq!(ex3["organization"]["siren"], "219711207");
    assert_eq!(
        (
            ex3["addresses"][0]["lat"].as_f64(),
            ex3["addresses"][0]["lon"].as_f64()
        ),
        (Some(16.2411), Some(-61.5331)),
        "lat,lon given in a lonlat field: the order was detected"
    );
    let ex2 = &nodes[2];
    let cities: Vec<&str> = ex2["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(|a| a["city"].as_str())
        .collect();
    assert_eq!(cities, ["Lyon", "Ajaccio"], "in the publisher's order");

    // Near Lyon's Quai Rambaud: ex-2 (its first address) then ex-1, with distances; not ex-3.
    let near = app
        .data(
            r#"query($p: [ID!]) { missions(filter: { publisherIds: $p, near: { lat: 45.741, lon: 4.818, radiusKm: 10 } },
                 orderBy: { field: DISTANCE, direction: ASC }) { nodes { clientId distanceKm } } }"#,
            json!({ "p": [p.id.to_string()] }),
        )
        .await;
    let near = near["missions"]["nodes"].as_array().expect("nodes");
    let order: Vec<&str> = near.iter().filter_map(|n| n["clientId"].as_str()).collect();
    assert_eq!(order, ["ex-2", "ex-1"]);
    let d0 = near[0]["distanceKm"].as_f64().expect("distance");
    let d1 = near[1]["distanceKm"].as_f64().expect("distance");
    assert!(d0 < 0.01, "{d0}");
    assert!(
        (2.0..3.0).contains(&d1),
        "Quai Rambaud to rue Mercière is about 2.4 km: {d1}"
    );

    // The runs, newest first, with the refusals of the second.
    let runs = app
        .data_as(
&key,
            r#"query($p: ID!) { importRuns(publisherId: $p, first: 2) {
                 totalCount pageInfo { hasNextPage endCursor }
                 nodes { status received created updated deleted refused warnings source publisher { name } } }
               publishers { name lastImport { status created updated } } }"#,
            json!({ "p": p.id.to_string() }),
        )
        .await;
    assert_eq!(runs["importRuns"]["totalCount"], 3);
    assert_eq!(runs["importRuns"]["pageInfo"]["hasNextPage"], true);
    let nodes = &runs["importRuns"]["nodes"];
    assert_eq!(nodes[0]["updated"], 3);
    assert_eq!(
        (nodes[1]["refused"].as_i64(), nodes[1]["deleted"].as_i64()),
        (Some(2), Some(3))
    );
    assert!(
        nodes[1]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("invalid-missions.xml"))
    );
    assert_eq!(nodes[0]["publisher"]["name"], "Réseau Exemple");
    assert_eq!(runs["publishers"][0]["lastImport"]["updated"], 3);
    let after = runs["importRuns"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .data_as(
&key,
            r#"query($p: ID!, $after: String) { importRuns(publisherId: $p, after: $after) {
                 pageInfo { hasNextPage } nodes { created refusals(first: 1) { totalCount nodes { clientId code message } pageInfo { hasNextPage } } } } }"#,
            json!({ "p": p.id.to_string(), "after": after }),
        )
        .await;
    let rest = rest["importRuns"]["nodes"].as_array().expect("nodes");
    assert_eq!(rest.len(), 1, "the first run is the only one left");
    assert_eq!(rest[0]["created"], 3);
    assert_eq!(rest[0]["refusals"]["totalCount"], 0);
    assert_eq!(rest[0]["refusals"]["pageInfo"]["hasNextPage"], false);
    let second = app
        .data_as(
&key,
            r#"query($p: ID!) { importRuns(publisherId: $p) { nodes { refusals { totalCount nodes { clientId code } } } } }"#,
            json!({ "p": p.id.to_string() }),
        )
        .await;
    let refusals = &second["importRuns"]["nodes"][1]["refusals"];
    let total = refusals["totalCount"].as_i64().unwrap_or_default();
    assert!(
        total > 2,
        "bad-1 and bad-2, each with several reasons: {total}"
    );
    assert_eq!(
        refusals["nodes"].as_array().map(Vec::len),
        Some(total.min(20) as usize)
    );
    assert!(
        refusals["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|r| r["clientId"] == "bad-1" && r["code"] == "INVALID_PLACES")
    );
    // The refusals walked one page at a time: every one, once, in order.
    let mut walked = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let page = app
            .data_as(
&key,
                r#"query($p: ID!, $after: String) { importRuns(publisherId: $p, first: 2) { nodes {
                     refusals(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { clientId code } } } } }"#,
                json!({ "p": p.id.to_string(), "after": after }),
            )
            .await;
        let page = page["importRuns"]["nodes"][1]["refusals"].clone();
        walked.extend(page["nodes"].as_array().expect("nodes").iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(walked, refusals["nodes"].as_array().expect("nodes").clone());
    // A cursor of another list, or one at the end of the integers, is refused.
    let run_cursor = runs["importRuns"]["pageInfo"]["endCursor"].clone();
    let body = app
        .gql_as(
&key,
            r#"query($p: ID!, $after: String) { importRuns(publisherId: $p) { nodes { refusals(after: $after) { totalCount } } } }"#,
            json!({ "p": p.id.to_string(), "after": run_cursor }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");

    // Bad input.
    for (variables, code) in [
        (json!({ "p": "999999" }), "NOT_FOUND"),
        (json!({ "p": "abc" }), "BAD_USER_INPUT"),
        (
            json!({ "p": p.id.to_string(), "after": "garbage" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "p": p.id.to_string(), "first": 101 }),
            "BAD_USER_INPUT",
        ),
    ] {
        let body = app
            .gql_as(
&key,
                "query($p: ID!, $after: String, $first: Int) { importRuns(publisherId: $p, first: $first, after: $after) { totalCount } }",
                variables.clone(),
            )
            .await;
        assert_eq!(error_code(&body), code, "{variables}: {body}");
    }
    app.stop().await;
    db.drop_database().await;
}
