//! The columns of `publishers` a selection of `Publisher` fields reads, so that a publisher read
//! for a mission (`Mission.publisher`) selects those and no others: a page of missions read with
//! its publishers carried every column of theirs (descriptions, feed settings) in each of its
//! rows for a name (docs/BENCHMARKS.md).
use async_graphql::SelectionField;
use passerelle_entities::columns::ColumnSet;
use passerelle_entities::publisher::{Column, Columns};

/// What every read selects whatever the selection: the id (the loaders' key, and the key of
/// the publisher's own fields: its last import, keys and rules).
const ALWAYS: Columns = Columns::NONE.with(Column::Id);

/// The feed's settings (`Publisher.feed`).
const FEED: Columns = Columns::NONE
    .with(Column::FeedUrl)
    .with(Column::FeedUser)
    .with(Column::FeedPassword)
    .with(Column::ImportEverySecs);

/// The columns a field of `Publisher` reads beyond [`ALWAYS`]; `None` for a field not named
/// here, which gets the whole row: a field added to `Publisher` is served from the whole row
/// until it is listed here (the contract test `publisher_projection` in
/// `tests/tests/api/relations.rs` compares every field read for a mission with the same field
/// read from the whole row).
fn columns_of(field: &str) -> Option<Columns> {
    let one = |c| Some(Columns::NONE.with(c));
    match field {
        "__typename" | "id" | "lastImport" | "apiKeys" | "diffusionRules" => Some(Columns::NONE),
        "name" => one(Column::Name),
        "url" => one(Column::Url),
        "logo" => one(Column::Logo),
        "description" => one(Column::Description),
        "isAnnonceur" => one(Column::IsAnnonceur),
        "isDiffuseur" => one(Column::IsDiffuseur),
        "isModerator" => one(Column::Moderator),
        "feed" => Some(FEED),
        _ => None,
    }
}

/// The columns a field whose value is one publisher (`Mission.publisher`) reads for its
/// selection, fragments included.
pub fn of_object(publisher: SelectionField<'_>) -> Columns {
    ALWAYS.and_each(
        publisher.selection_set().map(|f| columns_of(f.name())),
        Columns::ALL,
    )
}
