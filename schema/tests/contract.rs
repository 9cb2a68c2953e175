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
        "volunteers(filter: VolunteerFilter, first: Int, after: String): VolunteerConnection!",
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
