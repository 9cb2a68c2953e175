//! Objects of lists resolved inline (`passerelle_resolvers::inline`) answer as async-graphql's
//! own resolution does: the same data, in the same order, and the same errors at the same
//! paths, whatever the selection (fragments, aliases, merged keys, `__typename`, directives).
use async_graphql::Request;
use passerelle::seed;
use passerelle_resolvers::inline::InlineObjects;
use serde_json::Value;

use crate::helpers::{TestDatabase, execute_anonymous};

/// The response to `query` as an anonymous caller, objects resolved inline or not: its data as
/// the server writes it (keys in the order they were put), and its errors in path order (their
/// order in the list is the order fields happened to fail in, which the specification leaves
/// open).
async fn answer(
    schema: &passerelle_schema::PasserelleSchema,
    query: &str,
    inline: bool,
) -> (String, Vec<Value>) {
    let (response, _) =
        execute_anonymous(schema, Request::new(query).data(InlineObjects(inline))).await;
    let data = serde_json::to_string(&response.data).expect("serialise");
    let mut errors: Vec<Value> = response
        .errors
        .iter()
        .map(|e| serde_json::to_value(e).expect("serialise"))
        .collect();
    errors.sort_by_key(|e| e["path"].to_string());
    (data, errors)
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
        let (data, errors) = answer(&schema, document, true).await;
        let (own_data, own_errors) = answer(&schema, document, false).await;
        assert_eq!(data, own_data, "{document}");
        assert_eq!(errors, own_errors, "{document}");
        let data: Value = serde_json::from_str(&data).expect("json");
        let nodes = data
            .as_object()
            .and_then(|d| d.values().next())
            .and_then(|list| list["nodes"].as_array())
            .map_or(0, Vec::len);
        assert!(nodes > 0, "{document} reads nodes: {data}");
    }
    // The error case did fail, with the page size's code, at the field's path in each node.
    let (_, errors) = answer(&schema, documents[4], true).await;
    assert!(!errors.is_empty());
    for e in &errors {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{e}");
        assert_eq!(e["path"][0], "missions", "{e}");
        assert_eq!(e["path"][1], "nodes", "{e}");
        assert_eq!(e["path"][3], "organization", "{e}");
    }
    database.drop_database().await;
}
