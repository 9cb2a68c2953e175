//! SNU volunteers: the type, `volunteers` and `volunteer`.
//!
//! Rows come through the viewer's scope (a volunteer's own record, the applicants to a
//! structure's missions, a referent's territory, all for an admin). Fields are guarded by kind of
//! viewer in `crate::policy`: structure staff read the contact fields only, which is why the
//! others are nullable.
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use passerelle_entities::volunteer;
use sea_orm::{ColumnTrait, Condition, Order};

use crate::application::ApplicationConnection;
use crate::error::{ApiError, ApiResult};
use crate::filter::{department_codes, non_empty, parse_id};
use crate::inline::Inline;
use crate::loader::VolunteerId;
use crate::loaders;
use crate::page::{Edge, Page, PageInfo};
use crate::scope::{self, ById};

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

mod gdpr;

pub use gdpr::{
    EraseVolunteerInput, EraseVolunteerPayload, GdprMutation, VolunteerDataExport,
    VolunteerDataInput, erased_email,
};

const VOLUNTEERS: &str = "volunteers:ID:ASC";

/// A young person of the Service National Universel. Personal data: readable only through a
/// volunteer the caller may read, and field by field as the caller's role allows.
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
    /// Null once the volunteer's data was erased.
    async fn birthdate(&self) -> Option<NaiveDate> {
        self.model
            .erased_at
            .is_none()
            .then_some(self.model.birthdate)
    }
    async fn department_code(&self) -> Option<&str> {
        Some(&self.model.department_code)
    }
    async fn region(&self) -> Option<&str> {
        Some(&self.model.region)
    }
    /// The SNU cohort, e.g. "2026 Juin".
    async fn cohort(&self) -> Option<&str> {
        Some(&self.model.cohort)
    }
    /// Phase 1, the cohesion stay: e.g. "DONE", "IN_PROGRESS", "NOT_DONE".
    async fn phase1_status(&self) -> Option<&str> {
        Some(&self.model.phase1_status)
    }
    /// Phase 2, the general-interest mission.
    async fn phase2_status(&self) -> Option<&str> {
        Some(&self.model.phase2_status)
    }
    /// Phase 3, the longer engagement.
    async fn phase3_status(&self) -> Option<&str> {
        Some(&self.model.phase3_status)
    }
    /// Hours of general-interest mission done (84 complete phase 2).
    async fn phase2_hours_done(&self) -> Option<i32> {
        Some(self.model.phase2_hours_done)
    }
    async fn consent_data(&self) -> Option<bool> {
        Some(self.model.consent_data)
    }
    async fn consent_image(&self) -> Option<bool> {
        Some(self.model.consent_image)
    }
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        Some(self.model.created_at)
    }
    /// When the volunteer's personal data was erased (their names and email are then empty
    /// placeholders); null otherwise.
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.model.erased_at
    }

    /// The volunteer's applications that the caller may read, oldest first, a page at a time
    /// (default 20, at most 100). Structure staff see those to their own missions.
    async fn applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ApplicationConnection> {
        ApplicationConnection::of_volunteer(ctx, self.model.id, first, after).await
    }
}

/// Which volunteers to list (or to count, in `volunteerStats`).
#[derive(Debug, Clone, Default, InputObject)]
pub struct VolunteerFilter {
    /// Volunteers of any of these departments.
    pub department_codes: Option<Vec<String>>,
    /// Volunteers of any of these cohorts.
    pub cohorts: Option<Vec<String>>,
}

impl VolunteerFilter {
    /// The filter as a condition on volunteers.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` for an unknown department or a list too long.
    pub(crate) fn condition(self) -> ApiResult<Condition> {
        let mut condition = Condition::all();
        if let Some(codes) = department_codes("filter.departmentCodes", self.department_codes)? {
            condition = condition.add(volunteer::Column::DepartmentCode.is_in(codes));
        }
        if let Some(cohorts) = non_empty("filter.cohorts", self.cohorts)? {
            condition = condition.add(volunteer::Column::Cohort.is_in(cohorts));
        }
        Ok(condition)
    }
}

/// Queries over volunteers.
#[derive(Default)]
pub struct VolunteerQuery;

#[Object]
impl VolunteerQuery {
    /// The volunteers the caller may read, by id, a page at a time (default 20, at most 100).
    /// `FORBIDDEN` for callers who may read no volunteer (anonymous, partners, analysts).
    async fn volunteers(
        &self,
        ctx: &Context<'_>,
        filter: Option<VolunteerFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<VolunteerConnection>> {
        let condition = filter.unwrap_or_default().condition()?;
        let by = ById {
            column: volunteer::Column::Id,
            direction: Order::Asc,
            list: VOLUNTEERS,
        };
        let page = scope::id_page::<volunteer::Entity, _>(
            ctx,
            condition.clone(),
            by,
            first,
            after,
            |v| v.id,
            Volunteer::from,
        )
        .await?;
        Ok(Some(VolunteerConnection { page, condition }))
    }

    /// A volunteer by id. Errors: `NOT_FOUND` (also for a volunteer the caller may not read),
    /// `BAD_USER_INPUT`.
    async fn volunteer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Volunteer>> {
        let key = parse_id("id", &id)?;
        match loaders(ctx)?.load_one(VolunteerId(key)).await? {
            Some(v) => Ok(Some(v.into())),
            None => Err(ApiError::not_found("volunteer", id.to_string())),
        }
    }

    /// Federation: a volunteer by its key; null when the caller may not read it.
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
    async fn nodes(&self) -> Vec<Inline<&Volunteer>> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    /// The number of volunteers of the filter that the caller may read, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        scope::count::<volunteer::Entity>(ctx, self.condition.clone()).await
    }
}
