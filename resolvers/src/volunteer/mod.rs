//! SNU volunteers and their applications: the types, `volunteers` and `volunteer`.
//!
//! Until access control lands, volunteers are readable by any caller (see the README).
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use passerelle_entities::{application, volunteer};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::cursor::Cursor;
use crate::enums::ApplicationStatus;
use crate::error::{ApiError, ApiResult};
use crate::loader::{
    ApplicationCountOf, ApplicationsOf, MissionId, NestedAfter, NestedPage, VolunteerId,
};
use crate::mission::{Mission, parse_id};
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::{db, loaders};

/// A young person of the Service National Universel.
#[derive(Debug, Clone)]
pub struct Volunteer {
    model: volunteer::Model,
}

impl From<volunteer::Model> for Volunteer {
    fn from(model: volunteer::Model) -> Self {
        Volunteer { model }
    }
}

const APPLICATIONS: &str = "volunteer.applications:ID:ASC";
const VOLUNTEERS: &str = "volunteers:ID:ASC";

/// A young person of the Service National Universel.
#[Object]
impl Volunteer {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn first_name(&self) -> &str {
        &self.model.first_name
    }
    async fn last_name(&self) -> &str {
        &self.model.last_name
    }
    async fn email(&self) -> &str {
        &self.model.email
    }
    async fn phone(&self) -> Option<&str> {
        self.model.phone.as_deref()
    }
    async fn birthdate(&self) -> NaiveDate {
        self.model.birthdate
    }
    async fn department_code(&self) -> &str {
        &self.model.department_code
    }
    async fn region(&self) -> &str {
        &self.model.region
    }
    /// The SNU cohort, e.g. "2026 Juin".
    async fn cohort(&self) -> &str {
        &self.model.cohort
    }
    /// Phase 1, the cohesion stay: e.g. "DONE", "IN_PROGRESS", "NOT_DONE".
    async fn phase1_status(&self) -> &str {
        &self.model.phase1_status
    }
    /// Phase 2, the general-interest mission.
    async fn phase2_status(&self) -> &str {
        &self.model.phase2_status
    }
    /// Phase 3, the longer engagement.
    async fn phase3_status(&self) -> &str {
        &self.model.phase3_status
    }
    /// Hours of general-interest mission done (84 complete phase 2).
    async fn phase2_hours_done(&self) -> i32 {
        self.model.phase2_hours_done
    }
    async fn consent_data(&self) -> bool {
        self.model.consent_data
    }
    async fn consent_image(&self) -> bool {
        self.model.consent_image
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// The volunteer's applications, oldest first, a page at a time (default 20, at most 100).
    async fn applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ApplicationConnection> {
        let size = page_size(first)?;
        let after = after
            .map(|a| Cursor::decode(&a, APPLICATIONS))
            .transpose()?;
        let had_after = after.is_some();
        let key = NestedPage {
            parent: ApplicationsOf(self.model.id),
            limit: size + 1,
            after: after.map(|c| NestedAfter {
                time: None,
                id: c.id,
            }),
        };
        let rows = loaders(ctx)?.load_one(key).await?.unwrap_or_default();
        let page = Page::from_rows(
            rows,
            size,
            had_after,
            |a| Cursor::new(APPLICATIONS, None, a.id).encode(),
            Application::from,
        );
        Ok(ApplicationConnection {
            volunteer_id: self.model.id,
            page,
        })
    }
}

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
    async fn motivation(&self) -> Option<&str> {
        self.model.motivation.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// The mission applied to; null once it is no longer published.
    async fn mission(&self, ctx: &Context<'_>) -> ApiResult<Option<Mission>> {
        Ok(loaders(ctx)?
            .load_one(MissionId(self.model.mission_id))
            .await?
            .map(Mission::from))
    }
    async fn volunteer(&self, ctx: &Context<'_>) -> ApiResult<Option<Volunteer>> {
        Ok(loaders(ctx)?
            .load_one(VolunteerId(self.model.volunteer_id))
            .await?
            .map(Volunteer::from))
    }
}

/// A page of a volunteer's applications.
pub struct ApplicationConnection {
    volunteer_id: i64,
    page: Page<Application>,
}

/// A page of a volunteer's applications.
#[Object]
impl ApplicationConnection {
    async fn edges(&self) -> &[Edge<Application>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Application> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    /// The number of the volunteer's applications, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(loaders(ctx)?
            .load_one(ApplicationCountOf(self.volunteer_id))
            .await?
            .unwrap_or_default())
    }
}

/// Which volunteers to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct VolunteerFilter {
    /// Volunteers of any of these departments.
    pub department_codes: Option<Vec<String>>,
    /// Volunteers of any of these cohorts.
    pub cohorts: Option<Vec<String>>,
}

/// Queries over volunteers.
#[derive(Default)]
pub struct VolunteerQuery;

#[Object]
impl VolunteerQuery {
    /// Volunteers by id, a page at a time (default 20, at most 100).
    async fn volunteers(
        &self,
        ctx: &Context<'_>,
        filter: Option<VolunteerFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<VolunteerConnection> {
        let size = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if let Some(codes) = filter.department_codes.filter(|c| !c.is_empty()) {
            for c in &codes {
                if passerelle_entities::geo::department(c).is_none() {
                    return Err(ApiError::bad_input(
                        "filter.departmentCodes",
                        format!("{c:?} is not a French department code"),
                    ));
                }
            }
            condition = condition.add(volunteer::Column::DepartmentCode.is_in(codes));
        }
        if let Some(cohorts) = filter.cohorts.filter(|c| !c.is_empty()) {
            condition = condition.add(volunteer::Column::Cohort.is_in(cohorts));
        }
        let after = after.map(|a| Cursor::decode(&a, VOLUNTEERS)).transpose()?;
        let mut page_condition = condition.clone();
        if let Some(c) = &after {
            page_condition = page_condition.add(volunteer::Column::Id.gt(c.id));
        }
        let rows = volunteer::Entity::find()
            .filter(page_condition)
            .order_by_asc(volunteer::Column::Id)
            .limit(size + 1)
            .all(db(ctx)?)
            .await?;
        let page = Page::from_rows(
            rows,
            size,
            after.is_some(),
            |v| Cursor::new(VOLUNTEERS, None, v.id).encode(),
            Volunteer::from,
        );
        Ok(VolunteerConnection { page, condition })
    }

    /// A volunteer by id. Errors: `NOT_FOUND`, `BAD_USER_INPUT`.
    async fn volunteer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Volunteer>> {
        let key = parse_id("id", &id)?;
        match loaders(ctx)?.load_one(VolunteerId(key)).await? {
            Some(v) => Ok(Some(v.into())),
            None => Err(ApiError::not_found("volunteer", id.to_string())),
        }
    }

    /// Federation: a volunteer by its key.
    #[graphql(entity)]
    async fn find_volunteer_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<Volunteer>> {
        let key = parse_id("id", &id)?;
        Ok(loaders(ctx)?
            .load_one(VolunteerId(key))
            .await?
            .map(Volunteer::from))
    }
}

/// A page of volunteers.
pub struct VolunteerConnection {
    page: Page<Volunteer>,
    condition: Condition,
}

/// A page of volunteers.
#[Object]
impl VolunteerConnection {
    async fn edges(&self) -> &[Edge<Volunteer>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Volunteer> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    /// The number of volunteers of the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(volunteer::Entity::find()
            .filter(self.condition.clone())
            .count(db(ctx)?)
            .await? as i64)
    }
}
