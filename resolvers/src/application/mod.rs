//! Volunteers' applications to missions: the type, its connections (a volunteer's, a mission's,
//! the root list) and `applications` / `application`. Every row comes through the viewer's scope.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::{application, application_event, mission};
use sea_orm::{ColumnTrait, Condition, Order};

use crate::cursor::Cursor;
use crate::enums::ApplicationStatus;
use crate::error::{ApiError, ApiResult};
use crate::filter::{ids, non_empty, parse_id};
use crate::inline::Inline;
use crate::loader::{
    ApplicationCountOf, ApplicationCountTo, ApplicationHistoryOf, ApplicationsOf, ApplicationsTo,
    MissionColumns, NestedAfter, NestedPage, VolunteerId,
};
use crate::loaders;
use crate::mission::Mission;
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::scope::{self, ById};
use crate::volunteer::Volunteer;

mod notify;
mod write;

pub(crate) use write::free_place;
pub use write::{
    ApplicationAction, ApplicationMutation, ApplicationPayload, ApplicationRules,
    ApplyToMissionInput, MoveApplicationInput, ProposeMissionInput,
};

/// A volunteer's application to a mission.
#[derive(Debug, Clone)]
pub struct Application {
    model: application::Model,
}

impl From<application::Model> for Application {
    fn from(model: application::Model) -> Self {
        Application { model }
    }
}

/// A volunteer's application to a mission.
#[Object]
impl Application {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn status(&self) -> ApplicationStatus {
        self.model.status.into()
    }
    /// What the volunteer wrote to the structure.
    async fn motivation(&self) -> Option<&str> {
        self.model.motivation.as_deref()
    }
    /// Why the last move was made, as its author wrote it (a refusal's reason, a proposal's
    /// word).
    async fn status_comment(&self) -> Option<&str> {
        self.model.status_comment.as_deref()
    }
    /// Made by a referent's proposal: the volunteer accepts it.
    async fn proposed(&self) -> bool {
        self.model.proposed
    }
    /// The hours reported when the mission was done.
    async fn hours_done(&self) -> Option<i32> {
        self.model.hours_done
    }
    /// Bumped by every move; `moveApplication` may name the version it read.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Every move of the application, oldest first: who, when, from, to, and why.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApplicationEvent>> {
        Ok(loaders(ctx)?
            .load_one(ApplicationHistoryOf(self.model.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|e| ApplicationEvent::read_by(e, scope::access(ctx)))
            .collect())
    }
    /// The mission applied to; null when the caller may not read it (for a volunteer: once it
    /// is no longer published).
    async fn mission(&self, ctx: &Context<'_>) -> ApiResult<Option<Inline<Mission>>> {
        let columns = crate::mission::columns_of_object(ctx.field());
        Ok(loaders(ctx)?
            .load_one(MissionColumns(self.model.mission_id, columns))
            .await?
            .map(|row| Inline(Mission::from(row))))
    }
    /// The applicant.
    async fn volunteer(&self, ctx: &Context<'_>) -> ApiResult<Option<Inline<Volunteer>>> {
        Ok(loaders(ctx)?
            .load_one(VolunteerId(self.model.volunteer_id))
            .await?
            .map(|row| Inline(Volunteer::from(row))))
    }
}

/// One move of an application.
#[derive(Debug, Clone, SimpleObject)]
pub struct ApplicationEvent {
    pub at: DateTime<Utc>,
    /// Who: `user:ID <email>`, or `cli:<os user>`; null for volunteers, who read `by` (staff's
    /// addresses are not theirs to read).
    pub actor: Option<String>,
    /// As whom: `VOLUNTEER`, `STRUCTURE`, `REFERENT`, `ADMIN`, or `PASSERELLE` (a move made by
    /// Passerelle itself, e.g. when the volunteer's data is erased).
    pub by: String,
    /// `APPLY`, `PROPOSE`, `VERIFY`, `ACCEPT`, `REFUSE`, `CANCEL`, `START`, `COMPLETE` or
    /// `ABANDON`.
    pub action: String,
    /// Null when the move created the application.
    pub from_status: Option<ApplicationStatus>,
    pub to_status: ApplicationStatus,
    pub comment: Option<String>,
}

impl ApplicationEvent {
    /// An event as `access` reads it.
    fn read_by(e: application_event::Model, access: &passerelle_entities::access::Access) -> Self {
        let volunteer = matches!(
            access,
            passerelle_entities::access::Access::Volunteer { .. }
        );
        ApplicationEvent {
            at: e.at,
            actor: (!volunteer).then_some(e.actor),
            by: e.party,
            action: e.action,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.into(),
            comment: e.comment,
        }
    }
}

const OF_VOLUNTEER: &str = "volunteer.applications:ID:ASC";
const TO_MISSION: &str = "mission.applications:ID:ASC";
const ALL: &str = "applications:ID:ASC";

/// What a page of applications counts over all pages.
enum Total {
    OfVolunteer(i64),
    ToMission(i64),
    /// The root list: its condition, already scoped.
    Filtered(Condition),
}

/// A page of applications.
pub struct ApplicationConnection {
    page: Page<Application>,
    total: Total,
}

impl ApplicationConnection {
    /// A volunteer's applications that the caller may read.
    pub(crate) async fn of_volunteer(
        ctx: &Context<'_>,
        volunteer_id: i64,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Self> {
        let (size, after) = nested_page(first, after, OF_VOLUNTEER)?;
        let had_after = after.is_some();
        // The page reads each application's mission for every `mission` field of its nodes
        // (the union of their columns), and hands it to each field's own key: `Application.mission`
        // then reads it without a statement.
        let fields = crate::mission::sets_of_fields(
            ctx.field(),
            "mission",
            crate::mission::columns_of_object,
        );
        let key = NestedPage {
            parent: ApplicationsOf(
                volunteer_id,
                fields
                    .iter()
                    .fold(mission::Columns::NONE, |all, c| all.union(*c)),
            ),
            limit: size + 1,
            after,
        };
        let loaders = loaders(ctx)?;
        let rows = loaders.load_one(key).await?.unwrap_or_default();
        for columns in &fields {
            loaders.prime(rows.iter().map(|r| {
                (
                    MissionColumns(r.application.mission_id, *columns),
                    r.mission.clone(),
                )
            }));
        }
        let applications = rows.iter().map(|r| r.application.clone()).collect();
        Ok(ApplicationConnection {
            page: page(applications, size, had_after, OF_VOLUNTEER),
            total: Total::OfVolunteer(volunteer_id),
        })
    }

    /// The applications to a mission that the caller may read.
    pub(crate) async fn to_mission(
        ctx: &Context<'_>,
        mission_id: i64,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Self> {
        let (size, after) = nested_page(first, after, TO_MISSION)?;
        let had_after = after.is_some();
        let key = NestedPage {
            parent: ApplicationsTo(mission_id),
            limit: size + 1,
            after,
        };
        let rows = loaders(ctx)?.load_one(key).await?.unwrap_or_default();
        Ok(ApplicationConnection {
            page: page(rows, size, had_after, TO_MISSION),
            total: Total::ToMission(mission_id),
        })
    }
}

fn nested_page(
    first: Option<i32>,
    after: Option<String>,
    list: &str,
) -> ApiResult<(u64, Option<NestedAfter>)> {
    let size = page_size(first)?;
    let after = after
        .map(|a| Cursor::decode(&a, list))
        .transpose()?
        .map(|c| NestedAfter {
            time: None,
            id: c.id,
        });
    Ok((size, after))
}

fn page(
    rows: Vec<application::Model>,
    size: u64,
    had_after: bool,
    list: &'static str,
) -> Page<Application> {
    Page::from_rows(
        rows,
        size,
        had_after,
        |a| Cursor::new(list, None, a.id),
        Application::from,
    )
}

/// A page of applications.
#[Object]
impl ApplicationConnection {
    async fn edges(&self) -> &[Edge<Application>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Inline<&Application>> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    /// The number of applications of the list that the caller may read, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(match &self.total {
            Total::OfVolunteer(id) => loaders(ctx)?
                .load_one(ApplicationCountOf(*id))
                .await?
                .unwrap_or_default(),
            Total::ToMission(id) => loaders(ctx)?
                .load_one(ApplicationCountTo(*id))
                .await?
                .unwrap_or_default(),
            Total::Filtered(condition) => {
                scope::count::<application::Entity>(ctx, condition.clone()).await?
            }
        })
    }
}

/// Which applications to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct ApplicationFilter {
    /// Applications in any of these statuses.
    pub statuses: Option<Vec<ApplicationStatus>>,
    /// Applications to any of these missions.
    pub mission_ids: Option<Vec<ID>>,
    /// Applications of any of these volunteers.
    pub volunteer_ids: Option<Vec<ID>>,
}

impl ApplicationFilter {
    fn condition(self) -> ApiResult<Condition> {
        let mut c = Condition::all();
        if let Some(statuses) = non_empty("filter.statuses", self.statuses)? {
            c = c.add(
                application::Column::Status.is_in(
                    statuses
                        .into_iter()
                        .map(passerelle_entities::ApplicationStatus::from),
                ),
            );
        }
        if let Some(ids) = ids("filter.missionIds", self.mission_ids)? {
            c = c.add(application::Column::MissionId.is_in(ids));
        }
        if let Some(ids) = ids("filter.volunteerIds", self.volunteer_ids)? {
            c = c.add(application::Column::VolunteerId.is_in(ids));
        }
        Ok(c)
    }
}

/// Queries over applications.
#[derive(Default)]
pub struct ApplicationQuery;

#[Object]
impl ApplicationQuery {
    /// The applications the caller may read, oldest first, a page at a time (default 20, at
    /// most 100): a volunteer's own, those to a structure's missions, those of a referent's
    /// territory, all of them for an admin. `FORBIDDEN` for callers who may read none.
    async fn applications(
        &self,
        ctx: &Context<'_>,
        filter: Option<ApplicationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<ApplicationConnection>> {
        let condition = filter.unwrap_or_default().condition()?;
        let by = ById {
            column: application::Column::Id,
            direction: Order::Asc,
            list: ALL,
        };
        let page = scope::id_page::<application::Entity, _>(
            ctx,
            condition.clone(),
            by,
            first,
            after,
            |a| a.id,
            Application::from,
        )
        .await?;
        Ok(Some(ApplicationConnection {
            page,
            total: Total::Filtered(condition),
        }))
    }

    /// An application by id. Errors: `NOT_FOUND` (also for one the caller may not read),
    /// `BAD_USER_INPUT`.
    async fn application(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Application>> {
        let key = parse_id("id", &id)?;
        let found = scope::rows::<application::Entity>(
            ctx,
            Condition::all().add(application::Column::Id.eq(key)),
            &[],
            1,
        )
        .await?;
        match found.into_iter().next() {
            Some(a) => Ok(Some(a.into())),
            None => Err(ApiError::not_found("application", id.to_string())),
        }
    }
}
