//! The `Mission` and `Address` types.
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::access::StatusSet;
use passerelle_entities::{mission, mission_address, mission_event, search};

use crate::application::ApplicationConnection;
use crate::cursor::{Cursor, time_value};
use crate::enums::{Domain, MissionStatus, MissionType, Remote};
use crate::error::ApiResult;
use crate::inline::Inline;
use crate::instant::Instant;
use crate::loader::{AddressesOf, HistoryOf, MissionCountOf, PublisherColumns};
use crate::organization::Organization;
use crate::page::{Edge, PageInfo};
use crate::publisher::Publisher;
use crate::row_id::RowId;
use crate::selections::of_field;
use crate::{loader, loaders, scope};

/// A mission of general interest, published by a host structure through a publisher.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Mission {
    // The row's id (`id.0`, what the loaders and cursors key on); no description in the schema.
    pub id: RowId,
    #[graphql(skip)]
    pub organization_id: Option<i64>,
    #[graphql(skip)]
    pub publisher_id: i64,
    /// The publisher's own identifier of the mission.
    pub client_id: String,
    pub title: String,
    /// As the publisher wrote it: may hold HTML. See `descriptionText` for plain text.
    pub description: String,
    pub domain: Domain,
    pub activities: Vec<String>,
    #[graphql(name = "type")]
    pub mission_type: MissionType,
    pub remote: Remote,
    pub start_at: Instant,
    pub end_at: Option<Instant>,
    /// When the publisher first published it.
    pub posted_at: Instant,
    pub places: i32,
    pub places_left: i32,
    /// Open to SNU volunteers for their general-interest mission (phase 2).
    pub snu: bool,
    /// The SNU places left: each accepted application takes one (`updateMission(snuPlaces)`
    /// sets those offered; what is left follows).
    pub snu_places: i32,
    pub open_to_minors: bool,
    pub reduced_mobility_accessible: bool,
    pub close_to_transport: bool,
    /// Free text, e.g. "2 demi-journées par semaine".
    pub schedule: Option<String>,
    pub tags: Vec<String>,
    pub audience: Vec<String>,
    pub soft_skills: Vec<String>,
    pub requirements: Vec<String>,
    /// Where a candidate applies.
    pub application_url: String,
    pub status: MissionStatus,
    #[graphql(skip)]
    pub status_comment: Option<String>,
    /// Bumped by every change: mutations that edit a mission name the version they read.
    pub version: i32,
    pub created_at: Instant,
    pub updated_at: Instant,
    /// The distance in km from the point of the `near` filter to the nearest address of the
    /// mission; null without `near`.
    pub distance_km: Option<f64>,
}

impl Mission {
    /// `rows` converted once, to be shared by the pages that show them.
    pub(crate) fn shared(rows: Vec<mission::Model>) -> Arc<Vec<Mission>> {
        Arc::new(rows.into_iter().map(Mission::from).collect())
    }
}

impl From<mission::Model> for Mission {
    fn from(m: mission::Model) -> Self {
        Mission {
            id: RowId(m.id),
            organization_id: m.organization_id,
            publisher_id: m.publisher_id,
            client_id: m.client_id,
            title: m.title,
            description: m.description,
            domain: m.domain.into(),
            activities: m.activities.0,
            mission_type: m.mission_type.into(),
            remote: m.remote.into(),
            start_at: Instant(m.start_at),
            end_at: m.end_at.map(Instant),
            posted_at: Instant(m.posted_at),
            places: m.places,
            places_left: m.places_left,
            snu: m.snu,
            snu_places: m.snu_places,
            open_to_minors: m.open_to_minors,
            reduced_mobility_accessible: m.reduced_mobility_accessible,
            close_to_transport: m.close_to_transport,
            schedule: m.schedule,
            tags: m.tags.0,
            audience: m.audience.0,
            soft_skills: m.soft_skills.0,
            requirements: m.requirements.0,
            application_url: m.application_url,
            status: m.status.into(),
            status_comment: m.status_comment,
            version: m.version,
            created_at: Instant(m.created_at),
            updated_at: Instant(m.updated_at),
            distance_km: None,
        }
    }
}

#[ComplexObject]
impl Mission {
    /// The description as plain text, HTML tags removed.
    async fn description_text(&self) -> String {
        search::html_to_text(&self.description)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Where the mission happens, in the publisher's order.
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<Inline<Address>>> {
        let columns = of_field(ctx, super::columns::of_addresses);
        let rows = loaders(ctx)?
            .load_one(AddressesOf(self.id.0, columns))
            .await?
            .unwrap_or_default();
        Ok(Address::all(&rows))
    }

    /// Why the mission was refused or sent back for correction. Readable by those who manage
    /// the mission (its partner, its structure, the referents of its territory, admins);
    /// `FORBIDDEN` for others.
    async fn status_comment(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        if self.managed_by_viewer(ctx).await? {
            Ok(self.status_comment.clone())
        } else {
            Err(scope::forbidden("Mission.statusComment"))
        }
    }

    /// Every change of status and every moderation decision, oldest first: who, when, from
    /// which status to which, and why. Readable by those who manage the mission.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<MissionEvent>> {
        if !self.managed_by_viewer(ctx).await? {
            return Err(scope::forbidden("Mission.history"));
        }
        Ok(loaders(ctx)?
            .load_one(HistoryOf(self.id.0))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(MissionEvent::from)
            .collect())
    }

    /// The decision of the viewer's publisher on this mission, when it is a moderator
    /// publisher (PENDING until it decides); null for other partners.
    async fn publisher_moderation(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::publisher_moderation::PublisherModeration>> {
        Box::pin(self.publisher_moderation_of(ctx)).await
    }

    /// What the automatic moderation rules propose for this mission, and why (moderators).
    async fn moderation_proposal(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<super::moderation::ModerationProposal> {
        Box::pin(self.moderation_proposal_of(ctx)).await
    }

    /// The applications to the mission that the caller may read, oldest first, a page at a time
    /// (default 20, at most 100): structure staff see those to their missions, referents those
    /// of their territory's volunteers, a volunteer their own.
    async fn applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<ApplicationConnection>> {
        Box::pin(ApplicationConnection::to_mission(
            ctx, self.id.0, first, after,
        ))
        .await
        .map(Some)
    }

    /// The host structure.
    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<Option<Inline<Organization>>> {
        let Some(id) = self.organization_id else {
            return Ok(None);
        };
        Ok(Organization::with_missions_ahead(ctx, id)
            .await?
            .map(Inline))
    }

    /// The partner platform that published the mission.
    async fn publisher(&self, ctx: &Context<'_>) -> ApiResult<Option<Inline<Publisher>>> {
        let columns = of_field(ctx, crate::publisher::columns::of_object);
        Ok(loaders(ctx)?
            .load_one(PublisherColumns(self.publisher_id, columns))
            .await?
            .map(|row| Inline(Publisher::from(row))))
    }
}

impl Mission {
    /// Whether the viewer manages this mission (for a referent, by its addresses' departments).
    async fn managed_by_viewer(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let access = scope::access(ctx);
        let departments: Vec<String> = if access.manages_by_territory() {
            loaders(ctx)?
                .load_one(AddressesOf(self.id.0, mission_address::Columns::ALL))
                .await?
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.department_code.clone())
                .collect()
        } else {
            Vec::new()
        };
        Ok(access.manages_mission(self.publisher_id, self.organization_id, &departments))
    }
}

/// One change in a mission's life.
#[derive(Debug, Clone, SimpleObject)]
pub struct MissionEvent {
    pub at: DateTime<Utc>,
    /// Who: `user:ID <email>`, `key:PREFIX`, `cli:<user>`, or `system`.
    pub actor: String,
    /// `CREATED`, `UPDATED`, `DUPLICATED`, `SUBMIT`, `VALIDATE`, `REQUEST_CORRECTION`,
    /// `REFUSE`, `CANCEL` or `ARCHIVE`.
    pub action: String,
    pub from_status: Option<MissionStatus>,
    pub to_status: Option<MissionStatus>,
    pub comment: Option<String>,
}

impl From<mission_event::Model> for MissionEvent {
    fn from(e: mission_event::Model) -> Self {
        MissionEvent {
            at: e.at,
            actor: e.actor,
            action: e.action,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.map(Into::into),
            comment: e.comment,
        }
    }
}

/// A place where a mission happens: one of its mission's addresses, read from the rows its
/// loader shares (nothing is copied but the fields asked for). Read for `Mission.addresses`,
/// the rows hold the columns of that field's selection (`columns::of_addresses`), the others
/// empty.
#[derive(Debug, Clone)]
pub struct Address {
    rows: Arc<Vec<mission_address::Model>>,
    index: usize,
}

impl Address {
    /// Every address of `rows`, in order.
    fn all(rows: &Arc<Vec<mission_address::Model>>) -> Vec<Inline<Address>> {
        (0..rows.len())
            .map(|index| {
                Inline(Address {
                    rows: rows.clone(),
                    index,
                })
            })
            .collect()
    }

    fn row(&self) -> &mission_address::Model {
        &self.rows[self.index]
    }
}

/// A place where a mission happens.
#[Object]
impl Address {
    async fn street(&self) -> Option<&str> {
        self.row().street.as_deref()
    }
    async fn postal_code(&self) -> Option<&str> {
        self.row().postal_code.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.row().city.as_deref()
    }
    /// "69", "2A", "971".
    async fn department_code(&self) -> Option<&str> {
        self.row().department_code.as_deref()
    }
    async fn department_name(&self) -> Option<&str> {
        self.row().department_name.as_deref()
    }
    async fn region(&self) -> Option<&str> {
        self.row().region.as_deref()
    }
    async fn country(&self) -> Option<&str> {
        self.row().country.as_deref()
    }
    async fn lat(&self) -> Option<f64> {
        self.row().lat
    }
    async fn lon(&self) -> Option<f64> {
        self.row().lon
    }
    /// Where `lat` and `lon` came from: FALLBACK is the commune's centroid, within a few km.
    async fn geo_source(&self) -> crate::enums::GeoSource {
        self.row().geo_source.into()
    }
}

/// The cursor list name of an organization's missions.
const ORGANIZATION_MISSIONS: &str = "organization.missions:START_AT:ASC";

/// Where a page of `Organization.missions` starts, from the cursor its connection gave.
pub(crate) fn organization_missions_after(cursor: &str) -> ApiResult<loader::NestedAfter> {
    let c = Cursor::decode(cursor, ORGANIZATION_MISSIONS)?;
    Ok(loader::NestedAfter {
        time: Some(c.time()?),
        id: c.id,
    })
}

/// A page of an organization's missions, ordered by start date: the missions its loader read
/// (up to one more than the page, which tells that a next page exists), shared with every page
/// of the same organization in the response, not copied; edges are made when asked for.
pub struct OrganizationMissionConnection {
    pub(crate) organization_id: i64,
    pub(crate) statuses: StatusSet,
    rows: Arc<Vec<Mission>>,
    size: usize,
    info: PageInfo,
}

impl OrganizationMissionConnection {
    pub(crate) fn new(
        organization_id: i64,
        statuses: StatusSet,
        rows: Arc<Vec<Mission>>,
        size: u64,
        had_after: bool,
    ) -> Self {
        let (size, info) = PageInfo::of(&rows, size, had_after, organization_missions_cursor);
        OrganizationMissionConnection {
            organization_id,
            statuses,
            rows,
            size,
            info,
        }
    }

    /// The page's missions, without the one read to tell that a next page exists.
    fn page(&self) -> &[Mission] {
        &self.rows[..self.size]
    }
}

/// Where `m` stands in its organization's missions: the cursor a page after it starts from.
fn organization_missions_cursor(m: &Mission) -> Cursor {
    Cursor::new(
        ORGANIZATION_MISSIONS,
        Some(time_value(m.start_at.0)),
        m.id.0,
    )
}

/// A page of an organization's missions, ordered by start date.
#[Object]
impl OrganizationMissionConnection {
    async fn edges(&self) -> Vec<Edge<Mission>> {
        self.page()
            .iter()
            .map(|m| Edge {
                cursor: organization_missions_cursor(m),
                node: m.clone(),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<Inline<&Mission>> {
        self.page().iter().map(Inline).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.info
    }

    /// The number of the organization's missions of the same statuses, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(loaders(ctx)?
            .load_one(MissionCountOf(self.organization_id, self.statuses))
            .await?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use async_graphql::resolver_utils::ContainerType;

    use super::*;

    /// The size of the futures `resolve_field` makes for `T`.
    fn field_future<'a, T: 'a, F: Future>(_: fn(&'a T, &'a Context<'a>) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every field of an object is resolved by a future the size of the largest: a resolver
    /// that holds a loader's or a statement's future inline (2 KiB and more) makes every
    /// leaf field of its type that large, moved and freed hundreds of times per page
    /// (`Batcher::load_one` boxes its batch, the resolvers that run statements box them).
    #[test]
    fn field_futures_hold_no_statement() {
        let sizes = [
            (
                "Mission",
                field_future(<Mission as ContainerType>::resolve_field),
            ),
            (
                "Organization",
                field_future(<Organization as ContainerType>::resolve_field),
            ),
            (
                "OrganizationMissionConnection",
                field_future(<OrganizationMissionConnection as ContainerType>::resolve_field),
            ),
            (
                "Publisher",
                field_future(<Publisher as ContainerType>::resolve_field),
            ),
            (
                "Address",
                field_future(<Address as ContainerType>::resolve_field),
            ),
        ];
        for (name, size) in sizes {
            assert!(size <= 1024, "{name}'s field futures take {size} bytes");
        }
    }
}
