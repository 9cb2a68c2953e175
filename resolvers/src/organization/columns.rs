//! The columns of `organizations` a selection of `Organization` fields reads, so that an
//! organization read for a mission (`Mission.organization`) selects those and no others: a page
//! of 20 missions asking for their organizations' names decoded 20 columns of 20 rows, long
//! descriptions included, for one (docs/BENCHMARKS.md).
use async_graphql::SelectionField;
use passerelle_entities::columns::ColumnSet;
use passerelle_entities::organization::{Column, Columns};

/// What every read selects whatever the selection: the id (the loaders' key, the nested pages'
/// parent) and the publisher's (`Organization.publisher`).
const ALWAYS: Columns = Columns::NONE.with(Column::Id).with(Column::PublisherId);

/// The columns a field of `Organization` reads beyond [`ALWAYS`]; `None` for a field not named
/// here, which gets the whole row: a field added to `Organization` is served from the whole row
/// until it is listed here (the contract test `organization_projection` in
/// `tests/tests/api/relations.rs` compares every field read for a mission with the same field
/// read from the whole row).
fn columns_of(field: &str) -> Option<Columns> {
    let one = |c| Some(Columns::NONE.with(c));
    match field {
        "__typename" | "id" | "publisher" | "missions" => Some(Columns::NONE),
        "clientId" => one(Column::ClientId),
        "name" => one(Column::Name),
        "rna" => one(Column::Rna),
        "siren" => one(Column::Siren),
        "siret" => one(Column::Siret),
        "legalStatus" => one(Column::LegalStatus),
        "type" => one(Column::OrganizationType),
        "description" => one(Column::Description),
        "url" => one(Column::Url),
        "logo" => one(Column::Logo),
        "address" => one(Column::Address),
        "postalCode" => one(Column::PostalCode),
        "city" => one(Column::City),
        "departmentCode" => one(Column::DepartmentCode),
        "region" => one(Column::Region),
        "parentNetwork" => one(Column::ParentNetwork),
        "createdAt" => one(Column::CreatedAt),
        "updatedAt" => one(Column::UpdatedAt),
        _ => None,
    }
}

/// The columns a field whose value is one organization (`Mission.organization`) reads for its
/// selection, fragments included.
pub fn of_object(organization: SelectionField<'_>) -> Columns {
    ALWAYS.and_each(
        organization.selection_set().map(|f| columns_of(f.name())),
        Columns::ALL,
    )
}
