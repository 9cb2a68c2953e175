//! Organizations (host structures): the type, `organizations` and `organization`.
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use passerelle_entities::organization;
use sea_orm::{ColumnTrait, Condition, Order};

use crate::cursor::{Cursor, SortValue};
use crate::enums::MissionStatus;
use crate::error::{ApiError, ApiResult};
use crate::filter::{department_codes, ids, parse_id};
use crate::loader::{MissionsOf, NestedPage, OrganizationId, PublisherId};
use crate::mission::{OrganizationMissionConnection, status_set};
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::publisher::Publisher;
use crate::{loaders, scope};

/// A host structure: an association, a local authority, a public body.
#[derive(Debug, Clone)]
pub struct Organization {
    model: organization::Model,
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Organization { model }
    }
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
    async fn publisher(&self, ctx: &Context<'_>) -> ApiResult<Option<Publisher>> {
        Ok(loaders(ctx)?
            .load_one(PublisherId(self.model.publisher_id))
            .await?
            .map(Publisher::from))
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
        let size = page_size(first)?;
        let statuses = status_set("statuses", statuses)?;
        let after = after
            .map(|a| crate::mission::organization_missions_after(&a))
            .transpose()?;
        let had_after = after.is_some();
        let key = NestedPage {
            parent: MissionsOf(self.model.id, statuses),
            limit: size + 1,
            after,
        };
        let rows = loaders(ctx)?.load_one(key).await?.unwrap_or_default();
        Ok(OrganizationMissionConnection::new(
            self.model.id,
            statuses,
            rows,
            size,
            had_after,
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
            |o| Cursor::new(ORGANIZATIONS, Some(SortValue::Text(o.name.clone())), o.id).encode(),
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

    async fn nodes(&self) -> Vec<&Organization> {
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
