//! The committed SDL, `schema/schema.graphql`, is the contract clients rely on: it must be what
//! the code serves.

#[test]
fn the_committed_schema_is_the_served_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let served = passerelle_schema::sdl();
    assert!(
        committed == served,
        "schema/schema.graphql differs from the schema the code serves.\n\
         If the change is intended, update the contract with:\n\n    \
         cargo run -q -- schema print > schema/schema.graphql\n\n\
         and review the diff: renaming or removing a field breaks clients (deprecate instead)."
    );
}

#[test]
fn the_contract_keeps_the_names_clients_rely_on() {
    let sdl = passerelle_schema::sdl();
    for needle in [
        "missions(filter: MissionFilter, orderBy: MissionOrder, first: Int, after: String): MissionConnection!",
        "mission(id: ID!): Mission",
        "organizations(filter: OrganizationFilter, first: Int, after: String): OrganizationConnection!",
        "publishers: [Publisher!]!",
        "volunteers(filter: VolunteerFilter, first: Int, after: String): VolunteerConnection",
        "facets: MissionFacets!",
        "departmentCodes: [FacetCount!]!",
        "radiusKm: Float!",
        "ENVIRONNEMENT",
        "VOLONTARIAT_SERVICE_CIVIQUE",
        "distanceKm: Float",
    ] {
        assert!(sdl.contains(needle), "the schema still has `{needle}`");
    }
}

/// Every field of every object type has an access rule: a field without one would be denied at
/// run time (see `resolvers/src/policy.rs`), so a new field must name who may read it.
#[tokio::test]
async fn every_field_of_the_schema_has_an_access_rule() {
    let schema = passerelle_schema::build(
        sea_orm::DatabaseConnection::default(),
        passerelle_schema::Limits::default(),
    );
    let response = schema
        .execute("{ __schema { types { name kind fields { name } } } }")
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().expect("json");
    let mut missing = Vec::new();
    let mut checked = 0;
    for ty in data["__schema"]["types"].as_array().expect("types") {
        let name = ty["name"].as_str().unwrap_or_default();
        if ty["kind"] != "OBJECT" || name.starts_with("__") {
            continue;
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field = field["name"].as_str().unwrap_or_default();
            checked += 1;
            if passerelle_resolvers::policy::field_access(name, field).is_none() {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        checked > 200,
        "the whole schema was walked ({checked} fields)"
    );
    assert!(
        missing.is_empty(),
        "fields without an access rule (add them to resolvers/src/policy.rs): {missing:?}"
    );
}

/// Every example query, and the bench's nested page, fits the anonymous cost budget with room to
/// spare (the README quotes these figures).
#[test]
fn the_example_queries_fit_the_default_cost_budget() {
    use passerelle_schema::limits::{CostLimits, CostModel, StaticLimits};
    let model = CostModel::from_sdl(&passerelle_schema::sdl());
    let budget = CostLimits::default().anonymous;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/queries");
    let mut costs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("graphql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let variables = std::fs::read_to_string(path.with_extension("json"))
            .map(|t| serde_json::from_str(&t).expect("json"))
            .unwrap_or(serde_json::json!({}));
        let doc = async_graphql::parser::parse_query(&text).expect("parse");
        let cost = model
            .check(
                &doc,
                &async_graphql::Variables::from_json(variables),
                &StaticLimits::default(),
                budget,
            )
            .expect("within the limits");
        costs.push((
            path.file_name().map(|f| f.to_string_lossy().into_owned()),
            cost,
        ));
    }
    println!("{costs:?}");
    assert!(costs.len() >= 8);
    assert!(costs.iter().all(|(_, c)| *c < budget / 2), "{costs:?}");
}
