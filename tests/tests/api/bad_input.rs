//! Bad input: every refused value gets a GraphQL error with a stable `extensions.code`, never a
//! 500 or a panic, and the server keeps answering.
use serde_json::{Value, json};

use crate::helpers::{As, DEMO_ADMIN, error_code, shared_app};

const Q: &str = "query Q($filter: MissionFilter, $orderBy: MissionOrder, $first: Int, $after: String) {
  missions(filter: $filter, orderBy: $orderBy, first: $first, after: $after) { totalCount nodes { id } } }";

async fn refused(variables: Value) -> (String, String) {
    let app = shared_app();
    let body = app.gql(Q, variables.clone()).await;
    assert!(
        body["data"].is_null() || body["data"]["missions"].is_null(),
        "no data for {variables}: {body}"
    );
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (error_code(&body), message)
}

#[tokio::test]
async fn geo_values_out_of_range_are_refused_with_the_field_named() {
    for (near, field) in [
        (
            json!({ "lat": 45.0, "lon": 4.0, "radiusKm": -5 }),
            "radiusKm",
        ),
        (
            json!({ "lat": 45.0, "lon": 4.0, "radiusKm": 0 }),
            "radiusKm",
        ),
        (
            json!({ "lat": 45.0, "lon": 4.0, "radiusKm": 1.0e12 }),
            "radiusKm",
        ),
        (json!({ "lat": 91.0, "lon": 4.0, "radiusKm": 10 }), "lat"),
        (json!({ "lat": -90.5, "lon": 4.0, "radiusKm": 10 }), "lat"),
        (json!({ "lat": 45.0, "lon": 180.1, "radiusKm": 10 }), "lon"),
    ] {
        let (code, message) = refused(json!({ "filter": { "near": near } })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{near}");
        assert!(message.contains(field), "{message} names {field}");
    }
}

#[tokio::test]
async fn page_sizes_outside_0_to_100_are_refused() {
    for first in [101, -1, 1_000_000] {
        let (code, message) = refused(json!({ "first": first })).await;
        assert_eq!(code, "BAD_USER_INPUT", "first: {first}");
        assert!(message.starts_with("first"), "{message}");
    }
    // Beyond 32 bits the value is not an Int at all.
    let (code, _) = refused(json!({ "first": 1_i64 << 40 })).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn malformed_and_foreign_cursors_are_refused() {
    let app = shared_app();
    let org_cursor = app
        .data(
            "{ organizations(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await["organizations"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let start_cursor = app
        .data("{ missions(first: 1, orderBy: { field: START_AT, direction: ASC }) { pageInfo { endCursor } } }", json!({}))
        .await["missions"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    for (after, order) in [
        (json!("not-a-cursor"), Value::Null),
        (json!("eyJsIjoibWlzc2lvbnMifQ"), Value::Null),
        (json!("x".repeat(5_000)), Value::Null),
        (json!(org_cursor), Value::Null),
        // A cursor of one order used with another.
        (
            json!(start_cursor),
            json!({ "field": "POSTED_AT", "direction": "DESC" }),
        ),
    ] {
        let (code, message) = refused(json!({ "after": after, "orderBy": order })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{after}");
        assert!(message.starts_with("after"), "{message}");
    }
}

#[tokio::test]
async fn unknown_enum_values_are_refused_inline_and_in_variables() {
    let app = shared_app();
    let body = app
        .gql(
            "{ missions(filter: { domains: [PISCINE] }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        body.get("data").is_none(),
        "a request error has no data: {body}"
    );
    let (code, _) = refused(json!({ "filter": { "domains": ["PISCINE"] } })).await;
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "{code}"
    );
    let (code, _) = refused(json!({ "orderBy": { "field": "PRICE", "direction": "ASC" } })).await;
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "{code}"
    );
}

#[tokio::test]
async fn keywords_of_10000_characters_are_refused() {
    let (code, message) =
        refused(json!({ "filter": { "keywords": "solidarité ".repeat(910) } })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("keywords"));
    let (code, _) = refused(json!({ "filter": { "keywords": "?!…" } })).await;
    assert_eq!(code, "BAD_USER_INPUT", "keywords with no word");
    let (code, _) =
        refused(json!({ "filter": { "keywords": "a b c d e f g h i j k l m n o p q" } })).await;
    assert_eq!(code, "BAD_USER_INPUT", "too many words");
}

#[tokio::test]
async fn orders_that_need_a_filter_are_refused_without_it() {
    let (code, message) =
        refused(json!({ "orderBy": { "field": "DISTANCE", "direction": "ASC" } })).await;
    assert_eq!(
        (code.as_str(), message.contains("near")),
        ("BAD_USER_INPUT", true)
    );
    let (code, message) =
        refused(json!({ "orderBy": { "field": "RELEVANCE", "direction": "DESC" } })).await;
    assert_eq!(
        (code.as_str(), message.contains("keywords")),
        ("BAD_USER_INPUT", true)
    );
}

#[tokio::test]
async fn unknown_departments_and_malformed_ids_are_refused() {
    for filter in [
        json!({ "departmentCodes": ["99"] }),
        json!({ "departmentCodes": ["'; --"] }),
        json!({ "publisherIds": ["abc"] }),
        json!({ "organizationIds": ["-3"] }),
        json!({ "domains": vec!["SPORT"; 201] }),
        json!({ "statuses": vec!["DRAFT"; 201] }),
    ] {
        let (code, _) = refused(json!({ "filter": filter })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{filter}");
    }
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_malformed_ids_are_bad_input() {
    let app = shared_app();
    // As an admin, who may read any row: what is not found does not exist.
    let admin = As::user(DEMO_ADMIN);
    for (query, code) in [
        ("{ mission(id: \"987654321\") { id } }", "NOT_FOUND"),
        ("{ organization(id: \"987654321\") { id } }", "NOT_FOUND"),
        ("{ volunteer(id: \"987654321\") { id } }", "NOT_FOUND"),
        ("{ mission(id: \"abc\") { id } }", "BAD_USER_INPUT"),
        ("{ mission(id: \"0\") { id } }", "BAD_USER_INPUT"),
    ] {
        let body = app.gql_as(&admin, query, json!({})).await;
        assert_eq!(error_code(&body), code, "{query}");
        assert!(
            body["data"].is_object(),
            "an execution error keeps data: {body}"
        );
    }
    // A mission that exists but is not validated is not found either.
    let db = crate::helpers::shared_db().await;
    use passerelle_entities::{MissionStatus, mission};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let hidden = mission::Entity::find()
        .filter(mission::Column::Status.eq(MissionStatus::Refused))
        .one(&db)
        .await
        .expect("query")
        .expect("the demo data has refused missions");
    let body = app
        .gql(
            "query($id: ID!) { mission(id: $id) { id } }",
            json!({ "id": hidden.id.to_string() }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn queries_too_deep_or_too_complex_are_refused_before_running() {
    let app = shared_app();
    // 6 × 3 levels: deeper than the default limit of 16.
    let deep = format!(
        "{{ {} name {} }}",
        "missions(first: 1) { nodes { organization { ".repeat(6),
        "} } } ".repeat(6)
    );
    let body = app.gql(&deep, json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too deep"),
        "{body}"
    );
    let wide = format!(
        "{{ {} }}",
        (0..300)
            .map(|i| format!(
                "a{i}: publishers {{ id name url logo description isAnnonceur isDiffuseur }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let body = app.gql(&wide, json!({})).await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn the_filters_and_cursors_of_the_scoped_lists_refuse_bad_values() {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    let analyst = As::user("analyste@passerelle.example");
    for (who, query, field) in [
        (
            &admin,
            r#"{ applications(filter: { missionIds: ["x"] }) { totalCount } }"#,
            "filter.missionIds",
        ),
        (
            &admin,
            r#"{ applications(filter: { volunteerIds: ["-1"] }) { totalCount } }"#,
            "filter.volunteerIds",
        ),
        (
            &admin,
            r#"{ applications(after: "garbage") { totalCount } }"#,
            "after",
        ),
        (&admin, r#"{ application(id: "abc") { id } }"#, "id"),
        (
            &admin,
            r#"{ volunteers(filter: { departmentCodes: ["99"] }) { totalCount } }"#,
            "filter.departmentCodes",
        ),
        (
            &admin,
            r#"{ auditLog(after: "garbage") { nodes { id } } }"#,
            "after",
        ),
        (
            &admin,
            r#"{ auditLog(first: 101) { nodes { id } } }"#,
            "first",
        ),
        (
            &admin,
            r#"{ organizations { nodes { missions(statuses: []) { totalCount } } } }"#,
            "",
        ),
        (
            &analyst,
            r#"{ volunteerStats(filter: { departmentCodes: ["2C"] }) { count } }"#,
            "filter.departmentCodes",
        ),
        (
            &analyst,
            r#"{ applicationStats(filter: { cohorts: ["a"] }) { count } }"#,
            "",
        ),
    ] {
        let body = app.gql_as(who, query, json!({})).await;
        if field.is_empty() {
            // Not errors: an empty list narrows nothing, an unknown cohort counts nothing.
            assert!(body.get("errors").is_none(), "{query}: {body}");
            continue;
        }
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{query}");
    }
    // Too many values in a filter list.
    let many: Vec<String> = (0..201).map(|i| format!("c{i}")).collect();
    let body = app
        .gql_as(
            &admin,
            "query($c: [String!]) { volunteers(filter: { cohorts: $c }) { totalCount } }",
            json!({ "c": many }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

/// Found by fuzzing the API: each of these came back as a dropped connection or an
/// `INTERNAL_SERVER_ERROR`; each is the request's fault and says so with its code.
#[tokio::test]
async fn inputs_found_by_fuzzing_get_the_code_of_their_kind() {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    for (query, variables, code) in [
        // A date at the end of chrono's range: the bound rounded up to the next second overflowed.
        (
            r#"{ missions(filter: { startsAfter: "+262142-12-31T23:59:59.5Z" }) { totalCount } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "{ volunteers(filter: true) { totalCount } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "{ _entities(representations: [{}]) { __typename } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            r#"{ _entities(representations: [{ __typename: "Nope", id: "1" }]) { __typename } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "query($v: Int) { missions(first: $w) { totalCount } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ] {
        let body = app.gql_as(&admin, query, variables).await;
        assert_eq!(error_code(&body), code, "{query}: {body}");
    }
    // An unknown operation name is refused before anything runs: 400 under graphql-response+json.
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "query A { publishers { id } }", "operationName": "Nope" }))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
}

/// Found in review: department codes were checked but not normalised, so "2a" or " 69" matched
/// nothing; list filters of organizations had no cap and reached the database's parameter limit.
#[tokio::test]
async fn list_filters_are_normalised_and_capped_everywhere() {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    const Q: &str =
        "query($d: [String!]) { volunteers(filter: { departmentCodes: $d }) { totalCount } }";
    let exact = app.data_as(&admin, Q, json!({ "d": ["69", "2A"] })).await;
    let loose = app.data_as(&admin, Q, json!({ "d": [" 69", "2a"] })).await;
    assert!(
        exact["volunteers"]["totalCount"]
            .as_i64()
            .unwrap_or_default()
            > 0,
        "{exact}"
    );
    assert_eq!(loose, exact);
    let many: Vec<String> = (0..201).map(|i| (i % 90 + 1).to_string()).collect();
    for query in [
        "query($l: [String!]) { organizations(filter: { departmentCodes: $l }) { totalCount } }",
        "query($l: [ID!]) { organizations(filter: { publisherIds: $l }) { totalCount } }",
    ] {
        let body = app.gql(query, json!({ "l": many })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
}
