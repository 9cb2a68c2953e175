//! A mission published by a host structure through a publisher.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Domain, MissionStatus, MissionType, Remote};

/// A list of short strings (tags, activities, audience, soft skills), stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StringList(pub Vec<String>);

/// Read by sea-orm, which decodes the JSON (there is no check to save on a JSON column).
impl crate::columns::Cell for StringList {
    fn cell(res: &sea_orm::QueryResult, at: usize) -> Result<Self, DbErr> {
        res.try_get_by_index(at)
    }

    fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
        crate::columns::json_element(oid, bytes)
    }
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "missions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    pub organization_id: Option<i64>,
    /// The publisher's own identifier, unique per publisher.
    pub client_id: String,
    pub title: String,
    /// As the publisher sent it: HTML is allowed.
    pub description: String,
    pub domain: Domain,
    pub activities: StringList,
    pub mission_type: MissionType,
    pub remote: Remote,
    pub start_at: DateTimeUtc,
    pub end_at: Option<DateTimeUtc>,
    pub posted_at: DateTimeUtc,
    /// The places offered.
    pub places: i32,
    /// What is left of them: accepted SNU applications take one each.
    pub places_left: i32,
    pub snu: bool,
    /// The SNU places left: accepted applications take one each (see `snu_capacity`).
    pub snu_places: i32,
    /// The SNU places offered, as the publisher or the structure last gave them.
    pub snu_capacity: i32,
    pub open_to_minors: bool,
    pub reduced_mobility_accessible: bool,
    pub close_to_transport: bool,
    pub schedule: Option<String>,
    pub tags: StringList,
    pub audience: StringList,
    pub soft_skills: StringList,
    pub requirements: StringList,
    pub application_url: String,
    pub status: MissionStatus,
    pub status_comment: Option<String>,
    /// The folded text that full-text search indexes (see [`crate::search::document`]).
    pub search_text: String,
    /// The fingerprint of the content last imported from the publisher's feed (none for
    /// missions that did not come from a feed).
    pub content_hash: Option<String>,
    /// Bumped by every write: an update names the version it read, and a stale one is refused.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::publisher::Entity",
        from = "Column::PublisherId",
        to = "super::publisher::Column::Id"
    )]
    Publisher,
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id"
    )]
    Organization,
    #[sea_orm(has_many = "super::mission_address::Entity")]
    Address,
    #[sea_orm(has_many = "super::application::Entity")]
    Application,
}

impl Related<super::publisher::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Publisher.def()
    }
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl Related<super::mission_address::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Address.def()
    }
}

impl Related<super::application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Application.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::columns::column_set!(DeletedAt);

crate::columns::read_at!({
    id: Id,
    publisher_id: PublisherId,
    organization_id: OrganizationId,
    client_id: ClientId,
    title: Title,
    description: Description,
    domain: Domain = Domain::ALL[0],
    activities: Activities,
    mission_type: MissionType = MissionType::ALL[0],
    remote: Remote = Remote::ALL[0],
    start_at: StartAt,
    end_at: EndAt,
    posted_at: PostedAt,
    places: Places,
    places_left: PlacesLeft,
    snu: Snu,
    snu_places: SnuPlaces,
    snu_capacity: SnuCapacity,
    open_to_minors: OpenToMinors,
    reduced_mobility_accessible: ReducedMobilityAccessible,
    close_to_transport: CloseToTransport,
    schedule: Schedule,
    tags: Tags,
    audience: Audience,
    soft_skills: SoftSkills,
    requirements: Requirements,
    application_url: ApplicationUrl,
    status: Status = MissionStatus::ALL[0],
    status_comment: StatusComment,
    search_text: SearchText,
    content_hash: ContentHash,
    version: Version,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
    deleted_at: DeletedAt,
});

/// The condition every public listing starts from: validated and not deleted.
///
/// The status is written as a literal, not a parameter, so that both planners can use the
/// partial indexes made on exactly this predicate (see the migration) in every plan.
pub fn is_public() -> sea_orm::Condition {
    use sea_orm::sea_query::{Expr, ExprTrait};
    sea_orm::Condition::all()
        // The literal is MissionStatus::Validated.as_str(), checked by a test in `enums`.
        .add(Expr::col((Entity, Column::Status)).eq(Expr::cust("'VALIDATED'")))
        .add(Column::DeletedAt.is_null())
}

/// What is left of a capacity once it changes to `new_capacity`: `left + (new - old)`, at least
/// 0, written as SQL over the row being updated (`left` and `capacity` are read from the row as
/// it is when the update runs, so that a place taken by a concurrent move is kept taken).
pub fn left_after(left: Column, capacity: Column, new_capacity: i64) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let left_now =
        Expr::col((Entity, left)).add(Expr::val(new_capacity).sub(Expr::col((Entity, capacity))));
    Expr::case(left_now.clone().gt(0), left_now)
        .finally(0)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn all_holds_every_column_and_a_set_what_it_was_given() {
        assert_eq!(Columns::ALL.iter().count(), Column::iter().count());
        let some = Columns::NONE
            .with(Column::Title)
            .union(Columns::NONE.with(Column::DeletedAt));
        let names: Vec<&str> = some.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["title", "deleted_at"]);
        assert!(!some.contains(Column::Description));
    }
}
