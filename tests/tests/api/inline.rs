//! Objects of lists resolved inline (`passerelle_resolvers::inline`) answer as async-graphql's
//! own resolution does: the same data, in the same order, and the same errors at the same
//! paths, whatever the selection (fragments, aliases, merged keys, `__typename`, directives).
use async_graphql::Request;
use passerelle::seed;
use passerelle_entities::access::Viewer;
use passerelle_resolvers::inline::InlineObjects;
use serde_json::{Value, json};

use crate::helpers::TestDatabase;

/// The response to `query` as an anonymous caller, objects resolved inline or not, as the
/// server writes it (keys in the order they were put).
async fn answer(schema: &passerelle_schema::PasserelleSchema, query: &str, inline: bool) -> String {
    let (request, idle) = passerelle_schema::prepare(
        schema,
        Request::new(query).data(InlineObjects(inline)),
        Viewer::anonymous(),
        None,
        passerelle_schema::Exposure::default(),
    );
    let response = passerelle_resolvers::batch::drive(idle, schema.execute(request)).await;
    serde_json::to_string(&response).expect("serialise")
}

#[tokio::test]
async fn inline_objects_answer_as_async_graphql_does() {
    let database = TestDatabase::create("inline").await;
    let conn = database.connect_migrated().await;
    seed::seed_demo(&conn, 200).await.expect("seed");
    let schema = passerelle_schema::build(conn.clone(), passerelle_schema::Limits::default());
    let documents = [
        // The bench's nested page.
        "{ missions(filter: {domains: [SPORT]}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            nodes { title startAt
              organization { name missions(first: 5) { nodes { title startAt } } }
              publisher { name } addresses { city lat lon } } } }",
        // Named and inline fragments, with and without a type condition, `__typename`.
        "query { missions(first: 8) { nodes { ...M ... on Mission { id } ... { remote } __typename
            addresses { __typename ...A } } } }
         fragment M on Mission { title type places placesLeft }
         fragment A on Address { city postalCode departmentCode }",
        // The same key asked twice with different sub-selections (merged), and aliases.
        "{ missions(first: 6) { nodes { organization { name } organization { id city }
            t: title title addresses { city } addresses { lat lon } } } }",
        // A directive on a field: the object is resolved by async-graphql.
        "{ missions(first: 5) { nodes { title @include(if: true) id @skip(if: false) } } }",
        // An error inside the nodes (a page too large): reported at its path, the rest kept.
        "{ missions(first: 4) { nodes { id organization { missions(first: 500) { nodes { id } } } } } }",
        // Other lists.
        "{ organizations(first: 5) { nodes { name missions(first: 2) { nodes { title } totalCount } } } }",
    ];
    for document in documents {
        let inline = answer(&schema, document, true).await;
        assert_eq!(inline, answer(&schema, document, false).await, "{document}");
        let inline: Value = serde_json::from_str(&inline).expect("json");
        let nodes = inline["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .and_then(|list| list["nodes"].as_array())
            .map_or(0, Vec::len);
        assert!(nodes > 0, "{document} reads nodes: {inline}");
    }
    // The error case did fail, with the page size's code, at the field's path.
    let failing: Value =
        serde_json::from_str(&answer(&schema, documents[4], true).await).expect("json");
    assert_eq!(
        failing["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{failing}"
    );
    assert_eq!(
        failing["errors"][0]["path"]
            .as_array()
            .map(|p| p[..4].to_vec()),
        Some(vec![
            json!("missions"),
            json!("nodes"),
            json!(0),
            json!("organization")
        ]),
        "{failing}"
    );
    database.drop_database().await;
}
