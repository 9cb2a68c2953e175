//! The columns of `missions` a selection of `Mission` fields reads, so that a page selects
//! those and no others (see [`mission::Columns`]).
use async_graphql::SelectionField;
use passerelle_entities::columns::ColumnSet;
use passerelle_entities::mission::{Column, Columns};
use passerelle_entities::mission_address;

/// What every read selects whatever the selection: the keys of the relations and of the access
/// checks. A page adds the column its order sorts by, which its cursors are made of.
const ALWAYS: Columns = Columns::NONE
    .with(Column::Id)
    .with(Column::PublisherId)
    .with(Column::OrganizationId)
    .with(Column::Status);

/// A whole row but its search text, which only the full-text index reads.
pub const WHOLE: Columns = Columns::ALL.without(Column::SearchText);

/// The columns a field of `Mission` reads beyond [`ALWAYS`]; `None` for a field not named
/// here, which gets the whole row: a field added to `Mission` is served from the whole row
/// until it is listed here (the contract test `projection` in `tests/tests/api/relations.rs`
/// compares every field read from a page with the same field read from the whole row).
fn columns_of(field: &str) -> Option<Columns> {
    let one = |c| Some(Columns::NONE.with(c));
    match field {
        "__typename"
        | "id"
        | "status"
        | "distanceKm"
        | "addresses"
        | "applications"
        | "history"
        | "organization"
        | "publisher"
        | "publisherModeration" => Some(Columns::NONE),
        "startAt" => one(Column::StartAt),
        "postedAt" => one(Column::PostedAt),
        "createdAt" => one(Column::CreatedAt),
        "clientId" => one(Column::ClientId),
        "title" => one(Column::Title),
        "description" | "descriptionText" => one(Column::Description),
        "domain" => one(Column::Domain),
        "activities" => one(Column::Activities),
        "type" => one(Column::MissionType),
        "remote" => one(Column::Remote),
        "endAt" => one(Column::EndAt),
        "places" => one(Column::Places),
        "placesLeft" => one(Column::PlacesLeft),
        "snu" => one(Column::Snu),
        "snuPlaces" => one(Column::SnuPlaces),
        "openToMinors" => one(Column::OpenToMinors),
        "reducedMobilityAccessible" => one(Column::ReducedMobilityAccessible),
        "closeToTransport" => one(Column::CloseToTransport),
        "schedule" => one(Column::Schedule),
        "tags" => one(Column::Tags),
        "audience" => one(Column::Audience),
        "softSkills" => one(Column::SoftSkills),
        "requirements" => one(Column::Requirements),
        "applicationUrl" => one(Column::ApplicationUrl),
        "statusComment" => one(Column::StatusComment),
        "version" => one(Column::Version),
        "updatedAt" => one(Column::UpdatedAt),
        // `moderationProposal` weighs most of the row; anything else is unknown here.
        _ => None,
    }
}

/// The missions of a connection field (`missions`, `Organization.missions`): its `nodes` and
/// its `edges { node }`, fragments included.
pub fn nodes_of(connection: SelectionField<'_>) -> Vec<SelectionField<'_>> {
    let mut nodes = Vec::new();
    for part in connection.selection_set() {
        match part.name() {
            "nodes" => nodes.push(part),
            "edges" => nodes.extend(part.selection_set().filter(|f| f.name() == "node")),
            _ => {}
        }
    }
    nodes
}

/// The distinct values `of` gives for the fields named `name` of the nodes of `connection`
/// (fragments and aliases included): the sets of columns each field of a to-one relation of the
/// nodes reads, which a page reads the union of and primes each field's own key with.
pub fn sets_of_fields<C: PartialEq>(
    connection: SelectionField<'_>,
    name: &str,
    of: impl Fn(SelectionField<'_>) -> C,
) -> Vec<C> {
    let mut sets = Vec::new();
    for node in nodes_of(connection) {
        for field in node.selection_set().filter(|f| f.name() == name) {
            let set = of(field);
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
    }
    sets
}

/// The columns the missions of a connection field read for its `nodes` and `edges { node }`,
/// fragments included (aliases and `@skip` only add), and the column the page sorts by, if it
/// sorts by one (`sort`).
pub fn of_connection(connection: SelectionField<'_>, sort: Option<Column>) -> Columns {
    let mut columns = match sort {
        Some(column) => ALWAYS.with(column),
        None => ALWAYS,
    };
    for node in nodes_of(connection) {
        columns = columns.union(of_object(node));
        if columns == WHOLE {
            return WHOLE;
        }
    }
    columns
}

/// The columns a field whose value is one mission (`Application.mission`) reads for its
/// selection, fragments included.
pub fn of_object(mission: SelectionField<'_>) -> Columns {
    ALWAYS.and_each(mission.selection_set().map(|f| columns_of(f.name())), WHOLE)
}

/// The columns of `mission_addresses` a `Mission.addresses` field reads for its selection,
/// fragments included: the keys and the order (id, mission, position) and those of the fields
/// asked; every column for a field not named here (the contract test `address_projection` in
/// `tests/tests/api/relations.rs` compares every field with the stored row).
pub fn of_addresses(addresses: SelectionField<'_>) -> mission_address::Columns {
    use mission_address::{Column as A, Columns as Set};
    let mut columns = Set::NONE.with(A::Id).with(A::MissionId).with(A::Position);
    for field in addresses.selection_set() {
        let column = match field.name() {
            "__typename" => continue,
            "street" => A::Street,
            "postalCode" => A::PostalCode,
            "city" => A::City,
            "departmentCode" => A::DepartmentCode,
            "departmentName" => A::DepartmentName,
            "region" => A::Region,
            "country" => A::Country,
            "lat" => A::Lat,
            "lon" => A::Lon,
            "geoSource" => A::GeoSource,
            _ => return Set::ALL,
        };
        columns = columns.with(column);
    }
    columns
}
