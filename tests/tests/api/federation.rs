//! Apollo Federation v2: the subgraph SDL and `_entities`, batched through the loaders.
use passerelle::seed;
use serde_json::{Value, json};

use crate::helpers::{
    As, DEMO_ADMIN, StatementCounter, TestApp, TestDatabase, shared_app, test_settings,
};

#[tokio::test]
async fn the_subgraph_sdl_declares_federation_v2_and_the_entity_keys() {
    let app = shared_app();
    let data = app.data("{ _service { sdl } }", json!({})).await;
    let sdl = data["_service"]["sdl"].as_str().expect("sdl");
    assert!(
        sdl.contains("extend schema @link(")
            && sdl.contains("url: \"https://specs.apollo.dev/federation/v2"),
        "federation v2 link"
    );
    for ty in ["Mission", "Organization", "Publisher", "Volunteer"] {
        assert!(
            sdl.contains(&format!("type {ty} @key(fields: \"id\")")),
            "{ty} has @key(fields: \"id\")"
        );
    }
}

#[tokio::test]
async fn entities_resolve_many_representations_in_one_statement_per_type() {
    let database = TestDatabase::create("entities").await;
    let conn = database.connect_migrated().await;
    let counter = StatementCounter::default();
    seed::seed_demo(&conn, 200).await.expect("seed");
    let app = TestApp::start_counted(conn, test_settings(), &counter).await;
    let ids: Vec<String> = app
        .data("{ missions(first: 40) { nodes { id } } }", json!({}))
        .await["missions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut reps: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "__typename": "Mission", "id": id }))
        .collect();
    reps.extend((1..=10).map(|id| json!({ "__typename": "Organization", "id": id.to_string() })));
    reps.extend((1..=4).map(|id| json!({ "__typename": "Publisher", "id": id.to_string() })));
    reps.extend((1..=10).map(|id| json!({ "__typename": "Volunteer", "id": id.to_string() })));
    reps.push(json!({ "__typename": "Mission", "id": "99999999" }));
    const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) {
        __typename
        ... on Mission { id title organization { name } }
        ... on Organization { id name }
        ... on Publisher { id name }
        ... on Volunteer { id cohort }
    } }";
    // Anonymous: the volunteers are out of reach, so their entities are null (no oracle).
    let anonymous = app.data(ENTITIES, json!({ "r": reps })).await;
    let anonymous = anonymous["_entities"].as_array().expect("entities");
    for (e, r) in anonymous.iter().zip(&reps) {
        assert_eq!(
            e.is_null(),
            r["__typename"] == "Volunteer" || r["id"] == "99999999",
            "{r}: {e}"
        );
    }
    counter.take();
    let data = app
        .data_as(&As::user(DEMO_ADMIN), ENTITIES, json!({ "r": reps }))
        .await;
    let statements = counter.take();
    let entities = data["_entities"].as_array().expect("entities");
    assert_eq!(entities.len(), reps.len(), "one answer per representation");
    for (e, r) in entities.iter().zip(&reps).take(reps.len() - 1) {
        assert_eq!(e["__typename"], r["__typename"]);
        assert_eq!(e["id"], r["id"], "in the order asked");
    }
    assert!(entities[0]["organization"]["name"].is_string());
    assert!(
        entities.last().is_some_and(Value::is_null),
        "an unknown key resolves to null"
    );
    // The viewer's user, then missions, organizations (both batches of keys merge),
    // publishers, volunteers.
    assert!(
        statements <= 6,
        "{statements} statements for {} representations",
        reps.len()
    );
    app.stop().await;
    database.drop_database().await;
}
