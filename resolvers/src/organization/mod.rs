//! Organizations (host structures): the type, `organizations` and `organization`.
use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, InputType, Object, SelectionField};
use chrono::{DateTime, Utc};
use passerelle_entities::{mission, organization};
use sea_orm::{ColumnTrait, Condition, Order};

use crate::cursor::{Cursor, SortValue};
use crate::enums::MissionStatus;
use crate::error::{ApiError, ApiResult};
use crate::filter::{department_codes, ids, parse_id};
use crate::inline::Inline;
use crate::loader::{MissionsOf, NestedPage, OrganizationColumns, OrganizationId, PublisherId};
use crate::mission::{Mission, OrganizationMissionConnection, columns_of_connection, status_set};
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::publisher::Publisher;
use crate::selections::of_field;
use crate::{loaders, scope};

pub(crate) mod columns;

/// A host structure: an association, a local authority, a public body.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Shared with the loader's batch and every mission of the same organization. Read for a
    /// mission (`Mission.organization`), it holds the columns that field's selection reads
    /// and empty values for the others.
    model: Arc<organization::Model>,
    /// The page of `missions` the selection asks for, when it was loaded with the organization
    /// (see [`Organization::with_missions_ahead`]).
    missions_ahead: Option<(NestedPage<MissionsOf>, Arc<Vec<Mission>>)>,
}

impl From<Arc<organization::Model>> for Organization {
    fn from(model: Arc<organization::Model>) -> Self {
        Organization {
            model,
            missions_ahead: None,
        }
    }
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Organization::from(Arc::new(model))
    }
}

impl Organization {
    /// The organization `id`, for the field being resolved (`Mission.organization`), read for
    /// the columns its selection needs ([`columns::of_object`]). When the field's selection
    /// asks for one page of the organization's `missions`, that page is loaded at the same
    /// time as the organization (the id is known from the mission's row), in the same batch
    /// for every mission of the list, rather than one round trip later.
    pub(crate) async fn with_missions_ahead(
        ctx: &Context<'_>,
        id: i64,
    ) -> ApiResult<Option<Organization>> {
        let loaders = loaders(ctx)?;
        let organization = OrganizationColumns(id, of_field(ctx, columns::of_object));
        let Some(mut key) = of_field(ctx, missions_ahead_of) else {
            return Ok(loaders
                .load_one(organization)
                .await?
                .map(Organization::from));
        };
        key.parent.0 = id;
        let (organization, page) = tokio::join!(
            loaders.load_one(organization),
            loaders.load_one(key.clone()),
        );
        // A page that failed is loaded again by its own field, which reports the error there.
        let missions_ahead = page.ok().map(|rows| (key, rows.unwrap_or_default()));
        Ok(organization?.map(|model| Organization {
            model,
            missions_ahead,
        }))
    }
}

/// The key of the one page of `missions` an `organization` field's selection asks for, if it
/// asks for exactly one (aliases asking for two pages are left to their own fields) with
/// arguments that are valid (invalid ones are reported by the field itself). The key depends
/// on the field alone: it names no organization yet (id 0), each caller sets `parent.0`.
pub(crate) fn missions_ahead_of(
    organization: SelectionField<'_>,
) -> Option<NestedPage<MissionsOf>> {
    let mut asked = organization
        .selection_set()
        .filter(|f| f.name() == "missions");
    let field = asked.next()?;
    if asked.next().is_some() {
        return None;
    }
    let arguments = field.arguments().ok()?;
    let argument = |name: &str| {
        arguments
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.clone())
    };
    let first = <Option<i32> as InputType>::parse(argument("first")).ok()?;
    let after = <Option<String> as InputType>::parse(argument("after")).ok()?;
    let statuses = <Option<Vec<MissionStatus>> as InputType>::parse(argument("statuses")).ok()?;
    let columns = columns_of_connection(field, Some(mission::Column::StartAt));
    missions_key(0, first, after, statuses, columns).ok()
}

/// The loader key of a page of an organization's missions, from the field's arguments and
/// the columns its selection reads (`columns_of_connection`).
fn missions_key(
    organization_id: i64,
    first: Option<i32>,
    after: Option<String>,
    statuses: Option<Vec<MissionStatus>>,
    columns: mission::Columns,
) -> ApiResult<NestedPage<MissionsOf>> {
    let size = page_size(first)?;
    let statuses = status_set("statuses", statuses)?;
    let after = after
        .map(|a| crate::mission::organization_missions_after(&a))
        .transpose()?;
    Ok(NestedPage {
        parent: MissionsOf(organization_id, statuses, columns),
        limit: size + 1,
        after,
    })
}

/// A host structure: an association, a local authority, a public body.
#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// The publisher's own identifier of the organization.
    async fn client_id(&self) -> &str {
        &self.model.client_id
    }
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Répertoire National des Associations number, e.g. "W691234567".
    async fn rna(&self) -> Option<&str> {
        self.model.rna.as_deref()
    }
    async fn siren(&self) -> Option<&str> {
        self.model.siren.as_deref()
    }
    async fn siret(&self) -> Option<&str> {
        self.model.siret.as_deref()
    }
    /// Legal status, e.g. "Association", "Collectivité territoriale".
    async fn legal_status(&self) -> Option<&str> {
        self.model.legal_status.as_deref()
    }
    #[graphql(name = "type")]
    async fn organization_type(&self) -> Option<&str> {
        self.model.organization_type.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    async fn url(&self) -> Option<&str> {
        self.model.url.as_deref()
    }
    async fn logo(&self) -> Option<&str> {
        self.model.logo.as_deref()
    }
    async fn address(&self) -> Option<&str> {
        self.model.address.as_deref()
    }
    async fn postal_code(&self) -> Option<&str> {
        self.model.postal_code.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.model.city.as_deref()
    }
    async fn department_code(&self) -> Option<&str> {
        self.model.department_code.as_deref()
    }
    async fn region(&self) -> Option<&str> {
        self.model.region.as_deref()
    }
    /// The network the organization belongs to, e.g. "Croix-Rouge française".
    async fn parent_network(&self) -> Option<&str> {
        self.model.parent_network.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }

    /// The partner platform the organization is known through.
    async fn publisher(&self, ctx: &Context<'_>) -> ApiResult<Option<Inline<Publisher>>> {
        Ok(loaders(ctx)?
            .load_one(PublisherId(self.model.publisher_id))
            .await?
            .map(|row| Inline(Publisher::from(row))))
    }

    /// The organization's missions, by start date, a page at a time (default 20, at most 100):
    /// validated ones unless `statuses` asks for others, which only those who manage the
    /// organization's missions see (as in `MissionFilter.statuses`).
    async fn missions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        statuses: Option<Vec<MissionStatus>>,
    ) -> ApiResult<OrganizationMissionConnection> {
        let columns = of_field(ctx, |field| {
            columns_of_connection(field, Some(mission::Column::StartAt))
        });
        let key = missions_key(self.model.id, first, after, statuses, columns)?;
        let rows = match &self.missions_ahead {
            Some((ahead, rows)) if *ahead == key => rows.clone(),
            _ => loaders(ctx)?
                .load_one(key.clone())
                .await?
                .unwrap_or_default(),
        };
        Ok(OrganizationMissionConnection::new(
            self.model.id,
            key.parent.1,
            rows,
            key.limit - 1,
            key.after.is_some(),
        ))
    }
}

/// Which organizations to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct OrganizationFilter {
    /// Organizations located in any of these departments.
    pub department_codes: Option<Vec<String>>,
    /// Organizations known through any of these publishers.
    pub publisher_ids: Option<Vec<ID>>,
}

const ORGANIZATIONS: &str = "organizations:NAME:ASC";

/// Queries over organizations.
#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// Organizations by name, a page at a time (default 20, at most 100).
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganizationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<OrganizationConnection> {
        let size = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if let Some(codes) = department_codes("filter.departmentCodes", filter.department_codes)? {
            condition = condition.add(organization::Column::DepartmentCode.is_in(codes));
        }
        if let Some(ids) = ids("filter.publisherIds", filter.publisher_ids)? {
            condition = condition.add(organization::Column::PublisherId.is_in(ids));
        }
        let after = after
            .map(|a| Cursor::decode(&a, ORGANIZATIONS))
            .transpose()?;
        let mut page_condition = condition.clone();
        if let Some(c) = &after {
            let name = c.text()?;
            page_condition = page_condition.add(
                Condition::any()
                    .add(organization::Column::Name.gt(name.clone()))
                    .add(
                        Condition::all()
                            .add(organization::Column::Name.eq(name))
                            .add(organization::Column::Id.gt(c.id)),
                    ),
            );
        }
        let rows = scope::rows::<organization::Entity>(
            ctx,
            page_condition,
            &[
                (organization::Column::Name, Order::Asc),
                (organization::Column::Id, Order::Asc),
            ],
            size + 1,
        )
        .await?;
        let page = Page::from_rows(
            rows,
            size,
            after.is_some(),
            |o| Cursor::new(ORGANIZATIONS, Some(SortValue::Text(o.name.clone())), o.id),
            Organization::from,
        );
        Ok(OrganizationConnection { page, condition })
    }

    /// An organization by id. Errors: `NOT_FOUND`, `BAD_USER_INPUT`.
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Organization>> {
        let key = parse_id("id", &id)?;
        match loaders(ctx)?.load_one(OrganizationId(key)).await? {
            Some(o) => Ok(Some(o.into())),
            None => Err(ApiError::not_found("organization", id.to_string())),
        }
    }

    /// Federation: an organization by its key.
    #[graphql(entity)]
    async fn find_organization_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<Organization>> {
        let key = parse_id("id", &id)?;
        Ok(loaders(ctx)?
            .load_one(OrganizationId(key))
            .await?
            .map(Organization::from))
    }
}

/// A page of organizations.
pub struct OrganizationConnection {
    page: Page<Organization>,
    condition: Condition,
}

/// A page of organizations.
#[Object]
impl OrganizationConnection {
    async fn edges(&self) -> &[Edge<Organization>] {
        &self.page.edges
    }

    async fn nodes(&self) -> Vec<Inline<&Organization>> {
        self.page.nodes()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }

    /// The number of organizations of the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        scope::count::<organization::Entity>(ctx, self.condition.clone()).await
    }
}
