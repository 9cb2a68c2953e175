//! Relations: nested pages per parent, applications and their missions, and the number of SQL
//! statements a nested request costs.
use std::collections::BTreeSet;

use passerelle::seed;
use passerelle_entities::{Role, application, mission, mission_address, organization, publisher};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::{
    As, DEMO_ADMIN, StatementCounter, TestApp, TestDatabase, execute_anonymous, shared_app,
    shared_db, test_settings,
};

#[tokio::test]
async fn organization_missions_are_paged_per_organization_in_start_order() {
    let app = shared_app();
    let db = shared_db().await;
    let data = app
        .data(
            "{ organizations(first: 8) { totalCount nodes { id name missions(first: 2) {
                totalCount pageInfo { hasNextPage endCursor } nodes { id } } } } }",
            json!({}),
        )
        .await;
    let orgs = data["organizations"]["nodes"].as_array().expect("nodes");
    assert_eq!(orgs.len(), 8);
    let names: Vec<&str> = orgs
        .iter()
        .map(|o| o["name"].as_str().unwrap_or_default())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert!(
        data["organizations"]["totalCount"]
            .as_i64()
            .unwrap_or_default()
            > 8
    );
    for org in orgs {
        let id: i64 = org["id"].as_str().expect("id").parse().expect("id");
        let expected: Vec<String> = mission::Entity::find()
            .filter(mission::is_public())
            .filter(mission::Column::OrganizationId.eq(id))
            .order_by_asc(mission::Column::StartAt)
            .order_by_asc(mission::Column::Id)
            .all(&db)
            .await
            .expect("missions")
            .into_iter()
            .map(|m| m.id.to_string())
            .collect();
        let page = &org["missions"];
        assert_eq!(page["totalCount"].as_i64(), Some(expected.len() as i64));
        let got: Vec<String> = page["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(got, expected.iter().take(2).cloned().collect::<Vec<_>>());
        assert_eq!(
            page["pageInfo"]["hasNextPage"].as_bool(),
            Some(expected.len() > 2)
        );
        // Walk the rest of this organization's missions through its own cursor.
        let mut all = got.clone();
        let mut after = page["pageInfo"]["endCursor"].clone();
        let mut more = expected.len() > 2;
        while more {
            let d = app
                .data(
                    "query($id: ID!, $after: String) { organization(id: $id) { missions(first: 2, after: $after) {
                        pageInfo { hasNextPage endCursor } nodes { id } } } }",
                    json!({ "id": id.to_string(), "after": after }),
                )
                .await;
            let p = &d["organization"]["missions"];
            all.extend(
                p["nodes"]
                    .as_array()
                    .expect("nodes")
                    .iter()
                    .map(|n| n["id"].as_str().unwrap_or_default().to_owned()),
            );
            more = p["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false);
            after = p["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(
            all, expected,
            "walking an organization's missions gives them all, once"
        );
    }
}

/// The edges, nodes and page info of one page of an organization's missions agree: each edge
/// holds the node at its place and the cursor the next page starts after; `startCursor` and
/// `endCursor` are the first and last edges' cursors. Checked on a page read with its missions'
/// list (ahead, in the list's statement) and on the same page read on its own, which must be
/// equal, and on a second page and an empty one.
#[tokio::test]
async fn organization_mission_pages_agree_across_edges_nodes_and_page_info() {
    let app = shared_app();
    const PAGE: &str = "edges { cursor node { id title startAt } } nodes { id title startAt }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }";
    let ahead = app
        .data(
            &format!(
                "{{ missions(first: 20) {{ nodes {{ organization {{ id missions(first: 2) {{ {PAGE} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let organization = ahead["missions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|m| &m["organization"])
        .find(|o| o["missions"]["pageInfo"]["hasNextPage"] == json!(true))
        .expect("an organization with more than two missions")
        .clone();
    let id = organization["id"].clone();
    let check = |page: &serde_json::Value, previous: bool| {
        let edges = page["edges"].as_array().expect("edges");
        let nodes = page["nodes"].as_array().expect("nodes");
        assert_eq!(edges.len(), nodes.len());
        for (edge, node) in edges.iter().zip(nodes) {
            assert_eq!(&edge["node"], node);
            assert!(edge["cursor"].is_string());
        }
        let info = &page["pageInfo"];
        assert_eq!(info["hasPreviousPage"], json!(previous));
        let first = edges.first().map(|e| e["cursor"].clone());
        let last = edges.last().map(|e| e["cursor"].clone());
        assert_eq!(info["startCursor"], first.unwrap_or_default());
        assert_eq!(info["endCursor"], last.unwrap_or_default());
    };
    let first_page = &organization["missions"];
    check(first_page, false);
    assert_eq!(first_page["edges"].as_array().map(Vec::len), Some(2));

    // The same organization's page read on its own (`after: null` is no cursor).
    let page = |arguments: &'static str, after: serde_json::Value| {
        let (app, id) = (&app, id.clone());
        async move {
            let data = app
                .data(
                    &format!(
                        "query($id: ID!, $after: String) {{ organization(id: $id) {{
                            missions({arguments}, after: $after) {{ {PAGE} }} }} }}"
                    ),
                    json!({ "id": id, "after": after }),
                )
                .await;
            data["organization"]["missions"].clone()
        }
    };
    assert_eq!(&page("first: 2", json!(null)).await, first_page);

    let next = page("first: 2", first_page["pageInfo"]["endCursor"].clone()).await;
    check(&next, true);
    let seen: BTreeSet<&str> = first_page["nodes"]
        .as_array()
        .into_iter()
        .chain(next["nodes"].as_array())
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let count = first_page["nodes"].as_array().map_or(0, Vec::len)
        + next["nodes"].as_array().map_or(0, Vec::len);
    assert!(count > 2, "the second page holds the third mission");
    assert_eq!(seen.len(), count, "no mission on both pages");

    let empty = page("first: 0", json!(null)).await;
    check(&empty, false);
    assert_eq!(empty["nodes"], json!([]));
    assert_eq!(empty["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(empty["pageInfo"]["startCursor"], json!(null));
}

#[tokio::test]
async fn volunteers_list_their_applications_in_every_status_with_their_missions() {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    let db = shared_db().await;
    let mut statuses = BTreeSet::new();
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let d = app
            .data_as(
                &admin,
                "query($after: String) { volunteers(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor }
                  nodes { id applications(first: 10) { totalCount nodes { id status mission { id } volunteer { id } } } } } }",
                json!({ "after": after }),
            )
            .await;
        for v in d["volunteers"]["nodes"].as_array().expect("nodes") {
            seen += 1;
            let vid: i64 = v["id"].as_str().expect("id").parse().expect("id");
            let expected = application::Entity::find()
                .filter(application::Column::VolunteerId.eq(vid))
                .order_by_asc(application::Column::Id)
                .all(&db)
                .await
                .expect("applications");
            let apps = v["applications"]["nodes"].as_array().expect("nodes");
            assert_eq!(
                v["applications"]["totalCount"].as_i64(),
                Some(expected.len() as i64)
            );
            assert_eq!(apps.len(), expected.len().min(10));
            for (a, e) in apps.iter().zip(&expected) {
                assert_eq!(a["id"].as_str(), Some(e.id.to_string().as_str()));
                assert_eq!(
                    a["volunteer"]["id"].as_str(),
                    Some(v["id"].as_str().unwrap_or_default())
                );
                statuses.insert(a["status"].as_str().unwrap_or_default().to_owned());
                // An admin reads the mission in every status; a deleted one, nobody.
                let public = mission::Entity::find_by_id(e.mission_id)
                    .filter(mission::Column::DeletedAt.is_null())
                    .one(&db)
                    .await
                    .expect("mission");
                assert_eq!(
                    a["mission"]["id"].as_str().map(str::to_owned),
                    public.map(|m| m.id.to_string())
                );
            }
        }
        if !d["volunteers"]["pageInfo"]["hasNextPage"]
            .as_bool()
            .unwrap_or(false)
        {
            assert_eq!(d["volunteers"]["totalCount"].as_i64(), Some(seen));
            break;
        }
        after = d["volunteers"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(
        statuses.len(),
        8,
        "applications in every status: {statuses:?}"
    );
}

/// An application's mission read with its page of applications (`Loader<NestedPage<ApplicationsOf>>`)
/// is, for every viewer, the one `application(id:)` reads through the missions' loader: the
/// same fields, or null for a mission the viewer may not read.
#[tokio::test]
async fn application_missions_read_with_their_page_are_those_each_viewer_may_read() {
    let app = shared_app();
    let fields = "id title status organization { name }";
    let mut compared = 0;
    let mut hidden = 0;
    for (email, _) in passerelle::seed::DEMO_EMAILS {
        let who = As::user(email);
        let page = app
            .gql_as(
                &who,
                &format!(
                    "{{ volunteers(first: 100) {{ nodes {{ applications(first: 10) {{ nodes {{ id mission {{ {fields} }} }} }} }} }} }}"
                ),
                json!({}),
            )
            .await;
        let Some(volunteers) = page["data"]["volunteers"]["nodes"].as_array() else {
            continue;
        };
        for application in volunteers.iter().flat_map(|v| {
            v["applications"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }) {
            let alone = app
                .gql_as(
                    &who,
                    &format!(
                        "query($id: ID!) {{ application(id: $id) {{ mission {{ {fields} }} }} }}"
                    ),
                    json!({ "id": application["id"] }),
                )
                .await;
            assert_eq!(
                application["mission"], alone["data"]["application"]["mission"],
                "{email}: application {}",
                application["id"]
            );
            compared += 1;
            hidden += usize::from(application["mission"].is_null());
        }
    }
    assert!(compared > 100, "applications compared: {compared}");
    assert!(hidden > 0, "some viewers may not read some missions");
}

const NESTED: &str = "query Nested($first: Int) {
  missions(first: $first, orderBy: { field: START_AT, direction: ASC }) {
    nodes {
      id title
      addresses { city lat lon }
      publisher { name }
      organization { name missions(first: 5) { totalCount nodes { id title } } }
    }
  }
}";

/// The same with the applications to each mission and their applicants, for the viewers who
/// may read them.
const NESTED_APPLICATIONS: &str = "query Nested($first: Int) {
  missions(first: $first, filter: { statuses: [VALIDATED, WAITING_VALIDATION, REFUSED] }) {
    nodes {
      id
      organization { name }
      applications(first: 3) { totalCount nodes { status volunteer { email } } }
    }
  }
}";

/// Volunteers' applications, with their missions or without.
const VOLUNTEERS: &str = "query($mission: Boolean!) {
  volunteers(first: 20) { nodes { applications(first: 10) { nodes { id status
    mission @include(if: $mission) { title } } } } }
}";

#[tokio::test]
async fn a_nested_request_runs_the_same_few_statements_for_10_or_100_missions_for_every_viewer() {
    let database = TestDatabase::create("statements").await;
    let conn = database.connect_migrated().await;
    let postgres = conn.get_database_backend() == sea_orm::DbBackend::Postgres;
    let counter = StatementCounter::default();
    let report = seed::seed_demo(&conn, 600).await.expect("seed");
    // Batches run when the executor has polled every ready field, not after a delay: a debug
    // build, however slow, makes the same statements as the release build.
    let app = TestApp::start_counted(conn, test_settings(), &counter).await;
    let key = report
        .credentials
        .keys
        .first()
        .map(|(_, k)| As::Key(secrecy::ExposeSecret::expose_secret(k).to_owned()))
        .expect("a demo key");
    let mut viewers = vec![
        ("anonymous".to_owned(), As::Anonymous),
        ("key".to_owned(), key),
    ];
    viewers.extend(
        report
            .credentials
            .users
            .iter()
            .map(|u| (u.role.as_str().to_owned(), As::user(&u.email))),
    );
    // A key's first use is recorded once, in the background: out of the counts below.
    for (_, who) in &viewers {
        app.data_as(who, "{ viewer { kind } }", json!({})).await;
    }
    counter.settle().await;
    let mut anonymous = 0;
    for (name, who) in &viewers {
        counter.take();
        let small = app.data_as(who, NESTED, json!({ "first": 10 })).await;
        let at_10 = counter.take();
        let large = app.data_as(who, NESTED, json!({ "first": 100 })).await;
        let at_100 = counter.take();
        assert_eq!(
            small["missions"]["nodes"].as_array().map(Vec::len),
            Some(10),
            "{name}"
        );
        let listed = large["missions"]["nodes"].as_array().map_or(0, Vec::len);
        assert!(listed > 10, "{name}: {listed}");
        let with_orgs = large["missions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|n| {
                n["organization"]["missions"]["nodes"]
                    .as_array()
                    .is_some_and(|m| !m.is_empty())
            })
            .count();
        assert!(
            with_orgs > listed / 2,
            "{name}: the nested lists are filled"
        );
        assert_eq!(
            at_100, at_10,
            "{name}: statements for first: 100 are those of first: 10"
        );
        if name == "anonymous" {
            // One statement for the page with its organizations, publishers and addresses
            // (and on PostgreSQL the organizations' pages of missions too), then one per
            // relation: the organizations' pages of missions (SQLite), and their counts.
            let expected = if postgres { 2 } else { 3 };
            assert_eq!(at_10, expected, "statements for first: 10");
            anonymous = at_10;
        } else {
            // Knowing the viewer costs one read (two for a partner, whose rules are read too);
            // scoping adds conditions, not statements.
            assert!(at_10 <= anonymous + 2, "{name}: {at_10} statements");
        }
        // Volunteers' applications with their missions: the missions come in the statement of
        // the applications' page, which costs as many statements as the page without them.
        counter.take();
        let with = app
            .gql_as(who, VOLUNTEERS, json!({ "mission": true }))
            .await;
        let with_missions = counter.take();
        let without = app
            .gql_as(who, VOLUNTEERS, json!({ "mission": false }))
            .await;
        let without_missions = counter.take();
        assert_eq!(
            with_missions, without_missions,
            "{name}: the applications' missions cost no statement ({with} / {without})"
        );
        if name == Role::Admin.as_str() {
            let missions = with["data"]["volunteers"]["nodes"]
                .as_array()
                .expect("volunteers")
                .iter()
                .flat_map(|v| {
                    v["applications"]["nodes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter(|a| a["mission"]["title"].is_string())
                .count();
            assert!(missions > 10, "the admin reads their missions: {missions}");
        }
        // Applications and their applicants, for those who may read them.
        counter.take();
        let small = app
            .gql_as(who, NESTED_APPLICATIONS, json!({ "first": 10 }))
            .await;
        let at_10 = counter.take();
        app.gql_as(who, NESTED_APPLICATIONS, json!({ "first": 100 }))
            .await;
        let at_100 = counter.take();
        assert_eq!(
            at_100, at_10,
            "{name}: applications, first: 100 and first: 10"
        );
        assert!(
            small["data"]["missions"]["nodes"].is_array(),
            "{name}: {small}"
        );
    }
    app.stop().await;
    database.drop_database().await;
}

const ORGANIZATION_FIELDS: &str = "id clientId name rna siren siret legalStatus type
    description url logo address postalCode city departmentCode region parentNetwork createdAt
    updatedAt";
const PUBLISHER_FIELDS: &str = "id name url logo description isAnnonceur isDiffuseur isModerator";

/// A page reads its missions' organizations and publishers in its own statement when its nodes
/// ask for them (`resolvers/src/mission/joined.rs`): in every order, through `nodes` or through
/// `edges` and a fragment, it lists the same missions in the same order as a page that does not
/// ask for them, and each mission's organization and publisher are those read by id.
#[tokio::test]
async fn a_page_read_with_its_organizations_and_publishers_has_the_same_missions_and_the_right_ones()
 {
    let app = shared_app();
    let lists = [
        "orderBy: {field: START_AT, direction: ASC}",
        "orderBy: {field: POSTED_AT, direction: DESC}",
        "orderBy: {field: CREATED_AT, direction: ASC}, filter: {domains: [SPORT, SANTE]}",
        "orderBy: {field: DISTANCE, direction: ASC}, filter: {near: {lat: 45.764, lon: 4.8357, radiusKm: 200}}",
        "orderBy: {field: RELEVANCE, direction: DESC}, filter: {keywords: \"collecte\"}",
    ];
    for list in lists {
        let plain = app
            .data(
                &format!("{{ missions(first: 12, {list}) {{ nodes {{ id }} }} }}"),
                json!({}),
            )
            .await;
        let ids: Vec<&str> = plain["missions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["id"].as_str().expect("id"))
            .collect();
        assert!(ids.len() >= 5, "{list}: {plain}");
        let documents = [
            format!(
                "{{ missions(first: 12, {list}) {{ nodes {{ id organization {{ {ORGANIZATION_FIELDS} }}
                    publisher {{ {PUBLISHER_FIELDS} }} }} }} }}"
            ),
            format!(
                "{{ missions(first: 12, {list}) {{ edges {{ node {{ ...M }} }} }} }}
                 fragment M on Mission {{ id host: organization {{ {ORGANIZATION_FIELDS} }} }}"
            ),
        ];
        for document in &documents {
            let data = app.data(document, json!({})).await;
            let nodes: Vec<&serde_json::Value> = match data["missions"]["nodes"].as_array() {
                Some(nodes) => nodes.iter().collect(),
                None => data["missions"]["edges"]
                    .as_array()
                    .expect("edges")
                    .iter()
                    .map(|e| &e["node"])
                    .collect(),
            };
            let joined_ids: Vec<&str> = nodes
                .iter()
                .map(|n| n["id"].as_str().expect("id"))
                .collect();
            assert_eq!(
                joined_ids, ids,
                "{document}: the same missions in the same order"
            );
            for node in nodes {
                let id = node["id"].as_str().expect("id");
                let by_id = app
                    .data(
                        &format!(
                            "query($id: ID!) {{ mission(id: $id) {{ organization {{ {ORGANIZATION_FIELDS} }}
                                publisher {{ {PUBLISHER_FIELDS} }} }} }}"
                        ),
                        json!({ "id": id }),
                    )
                    .await;
                let organization = if node.get("host").is_some() {
                    &node["host"]
                } else {
                    &node["organization"]
                };
                assert!(organization["name"].is_string(), "{document}: {node}");
                assert_eq!(
                    organization, &by_id["mission"]["organization"],
                    "{document}: mission {id}"
                );
                if node.get("publisher").is_some() {
                    assert!(node["publisher"]["name"].is_string(), "{document}: {node}");
                    assert_eq!(
                        node["publisher"], by_id["mission"]["publisher"],
                        "{document}: mission {id}"
                    );
                }
            }
        }
    }
}

/// A nested request costs one round trip per level, and less where the look-ahead allows: the
/// organizations, publishers and addresses of a page come with it, in its statement, and the
/// page of an organization's missions asked under a mission's organization too on PostgreSQL
/// (no release of batches at all); on SQLite it is loaded in one release, the organizations'
/// ids being on the missions' rows. Two pages of the same organization's missions (aliases)
/// are loaded by their own fields, in one release since the organizations are known already,
/// and both are right.
#[tokio::test]
async fn an_organizations_missions_come_in_the_round_trip_of_the_organizations() {
    let database = TestDatabase::create("rounds").await;
    let conn = database.connect_migrated().await;
    seed::seed_demo(&conn, 300).await.expect("seed");
    let postgres = conn.get_database_backend() == sea_orm::DbBackend::Postgres;
    let schema = passerelle_schema::build(conn.clone(), passerelle_schema::Limits::default());
    let one_page = "{ missions(first: 10) { nodes { title
        organization { name missions(first: 3) { nodes { id startAt } } }
        publisher { name } addresses { city } } } }";
    let two_pages = "{ missions(first: 10) { nodes { title
        organization { name soon: missions(first: 3) { nodes { id startAt } }
                       more: missions(first: 6) { nodes { id startAt } } } } } }";
    for (query, rounds, pages) in [
        (one_page, u64::from(!postgres), &["missions"][..]),
        (two_pages, 1, &["soon", "more"]),
    ] {
        let (response, idle) = execute_anonymous(&schema, query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().expect("json");
        let nodes = data["missions"]["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 10);
        for page in pages {
            let filled = nodes
                .iter()
                .filter(|n| {
                    n["organization"][page]["nodes"]
                        .as_array()
                        .is_some_and(|m| !m.is_empty())
                })
                .count();
            assert!(
                filled > 5,
                "{page}: the organizations' pages are filled ({filled})"
            );
            // Each page is the organization's first missions in start order.
            for n in nodes {
                let starts: Vec<&str> = n["organization"][page]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m["startAt"].as_str().unwrap_or_default())
                    .collect();
                assert!(
                    starts.windows(2).all(|w| w[0] <= w[1]),
                    "{page}: {starts:?}"
                );
            }
        }
        assert_eq!(idle.rounds(), rounds, "{query}");
    }
    database.drop_database().await;
}

/// A selection of `Mission` as GraphQL asks for `field` (an object with `__typename`).
fn selection_of(field: &serde_json::Value) -> Option<String> {
    let name = field["name"].as_str()?;
    let required = field["args"]
        .as_array()?
        .iter()
        .any(|a| a["type"]["kind"] == "NON_NULL");
    if required {
        return None;
    }
    let mut t = &field["type"];
    while t["ofType"].is_object() {
        t = &t["ofType"];
    }
    Some(match t["kind"].as_str()? {
        "OBJECT" | "INTERFACE" | "UNION" => format!("{name} {{ __typename }}"),
        _ => name.to_owned(),
    })
}

/// Pages select only the columns their selection reads (`resolvers/src/mission/columns.rs`):
/// every field of `Mission`, asked alone in a page of `missions`, of `Organization.missions`
/// and through `Application.mission` (with and without a fragment), has the value it has on
/// the whole row (`mission(id:)`), so a field mapped to the wrong columns, or a new field not
/// mapped, fails here.
#[tokio::test]
async fn projection_every_mission_field_read_from_a_page_is_the_one_of_the_whole_row() {
    assert_each_field_is_the_whole_rows("Mission", Root::ById("mission"), 30, |field| {
        let documents = [
            format!("{{ missions(first: 4) {{ nodes {{ id {field} }} }} }}"),
            format!(
                "{{ missions(first: 4) {{ edges {{ node {{ ...F }} }} }} }} fragment F on Mission {{ id {field} }}"
            ),
            format!(
                "{{ organizations(first: 3) {{ nodes {{ missions(first: 2) {{ nodes {{ id ... on Mission {{ {field} }} }} }} }} }} }}"
            ),
            format!(
                "{{ volunteers(first: 6) {{ nodes {{ applications(first: 3) {{ nodes {{ mission {{ id {field} }} }} }} }} }} }}"
            ),
            // Read with the applications' page for two sets of columns, each field its own.
            format!(
                "{{ volunteers(first: 6) {{ nodes {{ applications(first: 3) {{ edges {{ node {{ other: mission {{ title }} ...A }} }} }} }} }} }}
                 fragment A on Application {{ mission {{ id {field} }} }}"
            ),
        ];
        documents.map(|document| (document, 1))
    }, |data| {
        let mut nodes = Vec::new();
        collect_missions(data, &mut nodes);
        nodes
    })
    .await;
}

/// For every field of the object type `type_name` (those without required arguments; an
/// object-valued one as `{ __typename }`), each document `documents` makes of it, read as an
/// admin, has at least its count of objects (`objects` finds them in its data), each equal to
/// the object of the same id read whole by the root field `root` (`organization(id:)`, or
/// `_entities` for a type with no root field of its own).
async fn assert_each_field_is_the_whole_rows<const N: usize>(
    type_name: &str,
    root: Root,
    more_fields_than: usize,
    documents: impl Fn(&str) -> [(String, usize); N],
    objects: impl Fn(&serde_json::Value) -> Vec<serde_json::Value>,
) {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    let schema = app
        .data(
            &format!(
                "{{ __type(name: \"{type_name}\") {{ fields {{ name args {{ type {{ kind }} }}
                type {{ kind ofType {{ kind ofType {{ kind ofType {{ kind }} }} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let fields: Vec<String> = schema["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(selection_of)
        .collect();
    assert!(
        fields.len() > more_fields_than,
        "{type_name}'s fields: {fields:?}"
    );
    for field in &fields {
        for (document, at_least) in documents(field) {
            let body = app.gql_as(&admin, &document, json!({})).await;
            let found = objects(&body["data"]);
            assert!(found.len() >= at_least, "{document}: {body:#}");
            for object in found {
                let id = object["id"].as_str().expect("id").to_owned();
                let whole = match root {
                    Root::ById(root) => {
                        let document =
                            format!("query($id: ID!) {{ {root}(id: $id) {{ id {field} }} }}");
                        let body = app.gql_as(&admin, &document, json!({ "id": id })).await;
                        body["data"][root].clone()
                    }
                    Root::Entity => {
                        let document = format!(
                            "query($r: [_Any!]!) {{ _entities(representations: $r) {{
                                ... on {type_name} {{ id {field} }} }} }}"
                        );
                        let r = json!([{ "__typename": type_name, "id": id }]);
                        let body = app.gql_as(&admin, &document, json!({ "r": r })).await;
                        body["data"]["_entities"][0].clone()
                    }
                };
                assert_eq!(
                    object, whole,
                    "{field} of {type_name} {id} ({document}) and of the whole row"
                );
            }
        }
    }
}

/// An organization read for a mission (`Mission.organization`) selects only the columns its
/// selection reads (`resolvers/src/organization/columns.rs`), with a page of missions or through
/// the loader: every field of `Organization`, asked alone, in a fragment, beside an alias asking
/// for other fields, and through `Application.mission`, has the value it has on the whole row
/// (`organization(id:)`), so a field mapped to the wrong columns, or a new field not mapped,
/// fails here.
#[tokio::test]
async fn organization_projection_every_field_read_for_a_mission_is_the_one_of_the_whole_row() {
    assert_each_field_is_the_whole_rows(
        "Organization",
        Root::ById("organization"),
        15,
        |field| read_for_missions("organization", "Organization", field, 6),
        |data| named(data, "organization"),
    )
    .await;
}

/// A publisher read for a mission (`Mission.publisher`) selects only the columns its selection
/// reads (`resolvers/src/publisher/columns.rs`), with a page of missions or through the loader:
/// every field of `Publisher`, asked alone, in a fragment, beside an alias asking for other
/// fields, and through `Application.mission`, has the value it has on the whole row (read by the
/// federation's `_entities`, through the loader of whole publishers), so a field mapped to the
/// wrong columns, or a new field not mapped, fails here.
#[tokio::test]
async fn publisher_projection_every_field_read_for_a_mission_is_the_one_of_the_whole_row() {
    assert_each_field_is_the_whole_rows(
        "Publisher",
        Root::Entity,
        10,
        |field| read_for_missions("publisher", "Publisher", field, 8),
        |data| named(data, "publisher"),
    )
    .await;
}

/// Documents reading `field` of the object a mission's `relation` (of type `type_name`) is, for
/// `n` missions each: alone, through fragments, beside an alias asking for other fields
/// (`a`, `b`), and through `Application.mission` (the loader's path).
fn read_for_missions(
    relation: &str,
    type_name: &str,
    field: &str,
    n: usize,
) -> [(String, usize); 4] {
    [
        format!("{{ missions(first: {n}) {{ nodes {{ {relation} {{ id {field} }} }} }} }}"),
        format!(
            "{{ missions(first: {n}) {{ edges {{ node {{ ...M }} }} }} }}
             fragment M on Mission {{ {relation} {{ ...R }} }}
             fragment R on {type_name} {{ id {field} }}"
        ),
        format!(
            "{{ missions(first: {n}) {{ nodes {{ a: {relation} {{ id {field} }} b: {relation} {{ id name }} }} }} }}"
        ),
        format!(
            "{{ volunteers(first: {n}) {{ nodes {{ applications(first: 3) {{ nodes {{ mission {{ {relation} {{ id {field} }} }} }} }} }} }} }}"
        ),
    ]
    .map(|document| (document, n))
}

/// The objects of `data` under the key `relation` or the alias `a` (see [`read_for_missions`]).
fn named(data: &serde_json::Value, relation: &str) -> Vec<serde_json::Value> {
    let mut objects = Vec::new();
    collect_named(data, &[relation, "a"], &mut objects);
    objects
}

/// How [`assert_each_field_is_the_whole_rows`] reads an object whole.
#[derive(Clone, Copy)]
enum Root {
    /// A root field taking the id (`organization(id:)`).
    ById(&'static str),
    /// The federation's `_entities`, for a type with no such root field.
    Entity,
}

/// A mission's addresses are read for the columns their selection reads
/// (`mission::columns::of_addresses`): every field of `Address`, asked alone, in a fragment and
/// through `Organization.missions`, has the value of the stored row, in the stored order.
#[tokio::test]
async fn address_projection_every_field_is_the_one_of_the_stored_row() {
    let app = shared_app();
    let db = shared_db().await;
    let schema = app
        .data(
            "{ __type(name: \"Address\") { fields { name } } }",
            json!({}),
        )
        .await;
    let fields: Vec<String> = schema["__type"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    assert!(fields.len() >= 10, "Address's fields: {fields:?}");
    for field in &fields {
        let documents = [
            format!("{{ missions(first: 8) {{ nodes {{ id addresses {{ {field} }} }} }} }}"),
            format!(
                "{{ missions(first: 8) {{ edges {{ node {{ id ...M }} }} }} }}
                 fragment M on Mission {{ addresses {{ ...A }} }}
                 fragment A on Address {{ {field} }}"
            ),
            format!(
                "{{ organizations(first: 3) {{ nodes {{ missions(first: 3) {{ nodes {{ id addresses {{ {field} }} }} }} }} }} }}"
            ),
        ];
        for document in &documents {
            let body = app.gql(document, json!({})).await;
            let mut nodes = Vec::new();
            collect_missions(&body["data"], &mut nodes);
            assert!(nodes.len() >= 8, "{document}: {body:#}");
            let mut compared = 0;
            for node in nodes {
                let id: i64 = node["id"]
                    .as_str()
                    .and_then(|i| i.parse().ok())
                    .expect("id");
                let stored: Vec<serde_json::Value> = mission_address::Entity::find()
                    .filter(mission_address::Column::MissionId.eq(id))
                    .order_by_asc(mission_address::Column::Position)
                    .order_by_asc(mission_address::Column::Id)
                    .all(&db)
                    .await
                    .expect("addresses")
                    .iter()
                    .map(|row| json!({ field.as_str(): address_field(row, field) }))
                    .collect();
                compared += stored.len();
                assert_eq!(
                    node["addresses"],
                    json!(stored),
                    "{field} of mission {id}'s addresses ({document}) and the stored rows"
                );
            }
            assert!(compared >= 8, "{document}: {compared} addresses");
        }
    }
}

/// A page that reads its missions' addresses in its own statement gets one row per address:
/// walked in pages of every size from 1 to 7, each mission comes once, with the stored
/// addresses in their order, the pages are as long as asked, and the walk ends where the list
/// does, through missions with no address (a third of them here: the demo gives each one at
/// least one), one, and several, at a page's edge or inside it.
#[tokio::test]
async fn a_page_joined_with_its_addresses_has_each_mission_once_with_its_own() {
    let database = TestDatabase::create("joined_addresses").await;
    let db = database.connect_migrated().await;
    seed::seed_demo(&db, 400).await.expect("seed");
    let sport: Vec<i64> = mission::Entity::find()
        .filter(mission::Column::Domain.eq(passerelle_entities::Domain::Sport))
        .order_by_asc(mission::Column::Id)
        .all(&db)
        .await
        .expect("missions")
        .iter()
        .map(|m| m.id)
        .collect();
    let homeless: Vec<i64> = sport.iter().copied().step_by(3).collect();
    mission_address::Entity::delete_many()
        .filter(mission_address::Column::MissionId.is_in(homeless))
        .exec(&db)
        .await
        .expect("delete addresses");
    let app = TestApp::start(db.clone(), test_settings()).await;
    let filter = json!({ "domains": ["SPORT"] });
    let mut stored_of = std::collections::HashMap::new();
    let query = "query($first: Int!, $after: String, $filter: MissionFilter) {
        missions(first: $first, after: $after, filter: $filter,
                 orderBy: { field: START_AT, direction: ASC }) {
            totalCount pageInfo { hasNextPage endCursor }
            nodes { id addresses { city postalCode lat lon } } } }";
    let mut shapes = BTreeSet::new();
    for first in 1..=7 {
        let mut after: Option<String> = None;
        let mut seen = BTreeSet::new();
        let mut total = None;
        loop {
            let data = app
                .data(
                    query,
                    json!({ "first": first, "after": after, "filter": filter }),
                )
                .await;
            let missions = &data["missions"];
            total = total.or(missions["totalCount"].as_u64());
            let nodes = missions["nodes"].as_array().expect("nodes");
            let more = missions["pageInfo"]["hasNextPage"] == json!(true);
            if more {
                assert_eq!(nodes.len(), first, "a page of {first} before the last");
            }
            for node in nodes {
                let id: i64 = node["id"]
                    .as_str()
                    .and_then(|i| i.parse().ok())
                    .expect("id");
                assert!(seen.insert(id), "mission {id} twice in pages of {first}");
                if let std::collections::hash_map::Entry::Vacant(entry) = stored_of.entry(id) {
                    let stored: Vec<_> = mission_address::Entity::find()
                        .filter(mission_address::Column::MissionId.eq(id))
                        .order_by_asc(mission_address::Column::Position)
                        .order_by_asc(mission_address::Column::Id)
                        .all(&db)
                        .await
                        .expect("addresses")
                        .iter()
                        .map(|a| {
                            json!({ "city": a.city, "postalCode": a.postal_code,
                                    "lat": a.lat, "lon": a.lon })
                        })
                        .collect();
                    entry.insert(stored);
                }
                let stored = &stored_of[&id];
                shapes.insert(stored.len().min(2));
                assert_eq!(
                    node["addresses"],
                    json!(stored),
                    "mission {id}, pages of {first}"
                );
            }
            if !more {
                break;
            }
            after = missions["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
        assert_eq!(
            Some(seen.len() as u64),
            total,
            "pages of {first} walk the whole list"
        );
    }
    assert_eq!(
        shapes,
        BTreeSet::from([0, 1, 2]),
        "missions with no address, one and several"
    );
    database.drop_database().await;
}

/// A page reading its organizations' first missions in its own statement (PostgreSQL; SQLite
/// reads them through the loader, the same answers) gives each organization the missions the
/// viewer may read, in order, with its next page known, beside the mission's own addresses
/// read once each: missions with no address, one and several; organizations with no mission in
/// the statuses asked; pages of 1 to 5 in lists walked by pages of 1 to 6, by start and, without
/// the addresses, by distance. Each mission is listed once, with its own fields (a nullable one
/// among them), its organization's and its publisher's as stored, however many rows of the
/// statement it came in.
#[tokio::test]
async fn a_page_joined_with_its_organizations_missions_gives_each_the_stored_ones() {
    let database = TestDatabase::create("joined_organization_missions").await;
    let db = database.connect_migrated().await;
    seed::seed_demo(&db, 400).await.expect("seed");
    let all = mission::Entity::find()
        .order_by_asc(mission::Column::Id)
        .all(&db)
        .await
        .expect("missions");
    let sport: Vec<i64> = all
        .iter()
        .filter(|m| m.domain == passerelle_entities::Domain::Sport)
        .map(|m| m.id)
        .collect();
    mission_address::Entity::delete_many()
        .filter(mission_address::Column::MissionId.is_in(sport.iter().copied().step_by(3)))
        .exec(&db)
        .await
        .expect("delete addresses");
    // Some of the organizations' other missions out of the public list, waiting or deleted.
    let others: Vec<i64> = all
        .iter()
        .filter(|m| m.domain != passerelle_entities::Domain::Sport)
        .map(|m| m.id)
        .collect();
    mission::Entity::update_many()
        .col_expr(
            mission::Column::Status,
            sea_orm::sea_query::Expr::value(passerelle_entities::MissionStatus::WaitingValidation),
        )
        .filter(mission::Column::Id.is_in(others.iter().copied().step_by(4)))
        .exec(&db)
        .await
        .expect("waiting");
    mission::Entity::update_many()
        .col_expr(
            mission::Column::DeletedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(mission::Column::Id.is_in(others.iter().copied().skip(1).step_by(5)))
        .exec(&db)
        .await
        .expect("deleted");
    let stored = mission::Entity::find()
        .order_by_asc(mission::Column::StartAt)
        .order_by_asc(mission::Column::Id)
        .all(&db)
        .await
        .expect("missions");
    // An organization's missions in a status set, in the list's order.
    let of = |organization: i64, waiting: bool| -> Vec<i64> {
        stored
            .iter()
            .filter(|m| m.organization_id == Some(organization) && m.deleted_at.is_none())
            .filter(|m| {
                m.status
                    == if waiting {
                        passerelle_entities::MissionStatus::WaitingValidation
                    } else {
                        passerelle_entities::MissionStatus::Validated
                    }
            })
            .map(|m| m.id)
            .collect()
    };
    let mut addresses_of = std::collections::HashMap::new();
    for a in mission_address::Entity::find()
        .order_by_asc(mission_address::Column::Position)
        .order_by_asc(mission_address::Column::Id)
        .all(&db)
        .await
        .expect("addresses")
    {
        addresses_of
            .entry(a.mission_id)
            .or_insert_with(Vec::new)
            .push(json!({ "city": a.city }));
    }
    let stored_by_id: std::collections::HashMap<i64, &mission::Model> =
        stored.iter().map(|m| (m.id, m)).collect();
    let organization_names: std::collections::HashMap<i64, String> = organization::Entity::find()
        .all(&db)
        .await
        .expect("organizations")
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let publisher_names: std::collections::HashMap<i64, String> = publisher::Entity::find()
        .all(&db)
        .await
        .expect("publishers")
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let app = TestApp::start(db.clone(), test_settings()).await;
    let query = |list: &str, addresses: &str| {
        format!(
            "query($first: Int!, $after: String, $nested: Int!, $statuses: [MissionStatus!]) {{
            missions(first: $first, after: $after, {list}) {{
                pageInfo {{ hasNextPage endCursor }}
                nodes {{ id title startAt endAt publisher {{ name }} {addresses}
                    organization {{ id name missions(first: $nested, statuses: $statuses) {{
                        pageInfo {{ hasNextPage }} nodes {{ id }} }} }} }} }} }}"
        )
    };
    let lists = [
        (
            query(
                "filter: { domains: [SPORT] }, orderBy: { field: START_AT, direction: ASC }",
                "addresses { city }",
            ),
            true,
        ),
        (
            query(
                "filter: { domains: [SPORT], near: { lat: 45.764, lon: 4.8357, radiusKm: 1000 } },
                 orderBy: { field: DISTANCE, direction: ASC }",
                "",
            ),
            false,
        ),
    ];
    let id_of =
        |v: &serde_json::Value| -> i64 { v.as_str().and_then(|i| i.parse().ok()).expect("an id") };
    let (mut address_shapes, mut nested_shapes) = (BTreeSet::new(), BTreeSet::new());
    let cases = [
        (As::Anonymous, None, false),
        (
            As::user(DEMO_ADMIN),
            Some(json!(["WAITING_VALIDATION"])),
            true,
        ),
    ];
    let time = |t: chrono::DateTime<chrono::Utc>| json!(t.to_rfc3339());
    let mut end_shapes = BTreeSet::new();
    for ((query, with_addresses), (who, statuses, waiting)) in lists
        .iter()
        .flat_map(|list| cases.iter().map(move |case| (list, case)))
    {
        for (first, nested) in [(1, 1), (2, 5), (3, 2), (6, 3), (4, 4), (5, 5)] {
            let mut after: Option<String> = None;
            let mut walked = BTreeSet::new();
            loop {
                let variables = json!({ "first": first, "after": after, "nested": nested,
                                        "statuses": statuses });
                let data = app.data_as(who, query, variables).await;
                let missions = &data["missions"];
                let nodes = missions["nodes"].as_array().expect("nodes");
                for node in nodes {
                    let id = id_of(&node["id"]);
                    assert!(walked.insert(id), "mission {id} listed twice: {query}");
                    let m = stored_by_id[&id];
                    assert_eq!(node["title"], json!(m.title), "mission {id}'s title");
                    assert_eq!(node["startAt"], time(m.start_at), "mission {id}'s start");
                    assert_eq!(
                        node["endAt"],
                        m.end_at.map_or(json!(null), time),
                        "mission {id}'s end"
                    );
                    end_shapes.insert(m.end_at.is_some());
                    assert_eq!(
                        node["publisher"]["name"],
                        json!(publisher_names[&m.publisher_id]),
                        "mission {id}'s publisher"
                    );
                    if *with_addresses {
                        let addresses = addresses_of.get(&id).cloned().unwrap_or_default();
                        address_shapes.insert(addresses.len().min(2));
                        assert_eq!(
                            node["addresses"],
                            json!(addresses),
                            "mission {id}'s addresses"
                        );
                    }
                    let organization = id_of(&node["organization"]["id"]);
                    assert_eq!(Some(organization), m.organization_id, "mission {id}");
                    assert_eq!(
                        node["organization"]["name"],
                        json!(organization_names[&organization]),
                        "mission {id}'s organization"
                    );
                    let expected = of(organization, *waiting);
                    nested_shapes.insert(expected.len().min(nested + 1));
                    let page = &node["organization"]["missions"];
                    let listed: Vec<i64> = page["nodes"]
                        .as_array()
                        .expect("nested nodes")
                        .iter()
                        .map(|m| id_of(&m["id"]))
                        .collect();
                    assert_eq!(
                        listed,
                        expected.iter().copied().take(nested).collect::<Vec<_>>(),
                        "organization {organization} of mission {id}, first {nested}"
                    );
                    assert_eq!(
                        page["pageInfo"]["hasNextPage"],
                        json!(expected.len() > nested),
                        "organization {organization}: a next page"
                    );
                }
                if missions["pageInfo"]["hasNextPage"] != json!(true) {
                    break;
                }
                after = missions["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned);
            }
            // Every public sport mission by start; by distance, those with an address.
            assert!(
                walked.len() >= sport.len() / 3,
                "pages of {first}: {} missions",
                walked.len()
            );
        }
    }
    assert_eq!(
        end_shapes,
        BTreeSet::from([false, true]),
        "missions with an end and without"
    );
    assert_eq!(
        address_shapes,
        BTreeSet::from([0, 1, 2]),
        "missions with no address, one and several"
    );
    assert!(
        nested_shapes.contains(&0) && nested_shapes.len() >= 3,
        "organizations with no mission, a partial page and a full one: {nested_shapes:?}"
    );
    database.drop_database().await;
}

/// The value of `Address.<field>` for a stored address.
fn address_field(row: &mission_address::Model, field: &str) -> serde_json::Value {
    match field {
        "street" => json!(row.street),
        "postalCode" => json!(row.postal_code),
        "city" => json!(row.city),
        "departmentCode" => json!(row.department_code),
        "departmentName" => json!(row.department_name),
        "region" => json!(row.region),
        "country" => json!(row.country),
        "lat" => json!(row.lat),
        "lon" => json!(row.lon),
        "geoSource" => json!(row.geo_source.as_str()),
        other => {
            panic!("Address.{other} is new: add it here and to mission::columns::of_addresses")
        }
    }
}

/// The objects of `data` under any of the keys `names`, at any depth.
fn collect_named(data: &serde_json::Value, names: &[&str], out: &mut Vec<serde_json::Value>) {
    match data {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if names.contains(&key.as_str()) && value.is_object() {
                    out.push(value.clone());
                } else {
                    collect_named(value, names, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_named(v, names, out)),
        _ => {}
    }
}

/// The missions of `data`: the nodes of its `missions` connections and its `mission` objects.
fn collect_missions(data: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    match data {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "mission" if value.is_object() => out.push(value.clone()),
                    "missions" => {
                        let nodes = value["nodes"].as_array().cloned().unwrap_or_else(|| {
                            value["edges"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|e| e["node"].clone())
                                .collect()
                        });
                        out.extend(nodes);
                    }
                    _ => collect_missions(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_missions(v, out)),
        _ => {}
    }
}

/// The first missions of more organizations than one statement holds on SQLite (100 parents:
/// `loader::windowed`), loaded in one batch: every organization gets its own missions, the
/// first the public list holds in start order, read in as many statements as the parents take
/// (two on SQLite, each one branch's text repeated with its parents' values; one lateral
/// statement on PostgreSQL).
#[tokio::test]
async fn the_first_missions_of_more_organizations_than_a_statement_holds_are_each_their_own() {
    use async_graphql::dataloader::Loader;
    use passerelle_entities::access::{Access, StatusSet};
    use passerelle_resolvers::loader::{DbLoader, MissionsOf, NestedPage};

    let database = TestDatabase::create("windowed_chunks").await;
    let mut conn = database.connect_migrated().await;
    seed::seed_demo(&conn, 1_500).await.expect("seed");
    let postgres = conn.get_database_backend() == sea_orm::DbBackend::Postgres;
    let stored = mission::Entity::find()
        .filter(mission::Column::Status.eq(passerelle_entities::MissionStatus::Validated))
        .filter(mission::Column::DeletedAt.is_null())
        .order_by_asc(mission::Column::StartAt)
        .order_by_asc(mission::Column::Id)
        .all(&conn)
        .await
        .expect("missions");
    let organizations: Vec<i64> = organization::Entity::find()
        .order_by_asc(organization::Column::Id)
        .all(&conn)
        .await
        .expect("organizations")
        .iter()
        .map(|o| o.id)
        .take(250)
        .collect();
    assert_eq!(organizations.len(), 250);
    // The statements of the organizations' pages: a lateral page per parent on PostgreSQL, a
    // `UNION ALL` of one branch per parent on SQLite.
    let statements = StatementCounter::matching(if postgres {
        "SELECT \"page\".* FROM unnest"
    } else {
        "SELECT * FROM (SELECT \"missions\""
    });
    conn.set_metric_callback(statements.callback());
    let mut reads = passerelle_db::Reads::of(&conn);
    reads.set_metric_callback(statements.callback());
    let columns = mission::Columns::NONE
        .with(mission::Column::Id)
        .with(mission::Column::OrganizationId)
        .with(mission::Column::StartAt);
    let keys: Vec<NestedPage<MissionsOf>> = organizations
        .iter()
        .map(|id| NestedPage {
            parent: MissionsOf(*id, StatusSet::VALIDATED, columns),
            limit: 3,
            after: None,
        })
        .collect();
    let pages = DbLoader::new(conn.clone(), reads, std::sync::Arc::new(Access::Anonymous))
        .load(&keys)
        .await
        .expect("pages");
    assert_eq!(
        pages.len(),
        250,
        "a page for every organization, empty or not"
    );
    let mut filled = 0;
    for key in &keys {
        let id = key.parent.0;
        let expected: Vec<i64> = stored
            .iter()
            .filter(|m| m.organization_id == Some(id))
            .take(3)
            .map(|m| m.id)
            .collect();
        let got: Vec<i64> = pages[key].iter().map(|m| m.id.0).collect();
        assert_eq!(got, expected, "organization {id}");
        filled += usize::from(!got.is_empty());
    }
    assert!(filled > 200, "most organizations have missions ({filled})");
    assert_eq!(
        statements.take(),
        if postgres { 1 } else { 3 },
        "statements reading the organizations' pages (100 parents each on SQLite)"
    );
    database.drop_database().await;
}
