//! `missions` and `mission`, and the connection they return.
use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use passerelle_entities::{Domain as DbDomain, MissionType as DbType, Remote as DbRemote};

use super::filter::{MissionFilter, MissionOrder, MissionOrderField};
use super::joined::Joined;
use super::search::{ColumnFacets, MissionSearch, row_cursor};
use super::types::Mission;
use crate::cursor::Cursor;
use crate::enums::{Domain, MissionStatus, MissionType, OrderDirection, Remote, graphql_name};
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::inline::Inline;
use crate::loader::MissionId;
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::{counts, db, loaders, reads, scope};

/// Queries over missions.
#[derive(Default)]
pub struct MissionQuery;

#[Object]
impl MissionQuery {
    /// Missions, filtered and ordered, a page at a time (default 20, at most 100): validated
    /// ones unless `filter.statuses` asks for others (see `MissionFilter.statuses`). A partner's
    /// key sees the missions its diffusion rules allow, and all of its own.
    async fn missions(
        &self,
        ctx: &Context<'_>,
        filter: Option<MissionFilter>,
        order_by: Option<MissionOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<MissionConnection> {
        list(ctx, filter.unwrap_or_default(), order_by, first, after).await
    }

    /// The missions waiting for validation that the caller moderates (the referents of their
    /// territory, admins), oldest first, filtered and paged like `missions`
    /// (`filter.statuses` is ignored). Each has its `moderationProposal`.
    async fn moderation_queue(
        &self,
        ctx: &Context<'_>,
        filter: Option<MissionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<MissionConnection> {
        let filter = MissionFilter {
            statuses: Some(vec![MissionStatus::WaitingValidation]),
            ..filter.unwrap_or_default()
        };
        let order = MissionOrder {
            field: MissionOrderField::CreatedAt,
            direction: OrderDirection::Asc,
        };
        list(ctx, filter, Some(order), first, after).await
    }

    /// A mission by id: a validated one, or one the caller manages in any status.
    ///
    /// Errors: `NOT_FOUND` when no such mission exists or the caller may not read it (the
    /// answer is the same, so that it tells nothing), `BAD_USER_INPUT` for an id that is not
    /// one.
    async fn mission(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Mission>> {
        let key = parse_id("id", &id)?;
        match loaders(ctx)?.load_one(MissionId(key)).await? {
            Some(m) => Ok(Some(m.into())),
            None => Err(ApiError::not_found("mission", id.to_string())),
        }
    }

    /// Federation: a mission by its key, for a router's `_entities`; batched by the loader.
    #[graphql(entity)]
    async fn find_mission_by_id(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Mission>> {
        let key = parse_id("id", &id)?;
        Ok(loaders(ctx)?
            .load_one(MissionId(key))
            .await?
            .map(Mission::from))
    }
}

/// A page of `filter`'s missions in `order_by`.
async fn list(
    ctx: &Context<'_>,
    filter: MissionFilter,
    order_by: Option<MissionOrder>,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<MissionConnection> {
    let db = db(ctx)?;
    let size = page_size(first)?;
    let search = MissionSearch::new(db.get_database_backend(), filter, scope::access(ctx))?;
    let order = search.resolve_order(order_by)?;
    let after = after
        .map(|a| Cursor::decode(&a, order.list_name()))
        .transpose()?;
    let columns = super::columns::of_connection(ctx.field(), order.sort_column());
    let joined = Joined::of_connection(ctx.field(), scope::access(ctx), db.get_database_backend());
    let mut rows = search
        .page(
            db,
            &reads(ctx),
            order,
            size,
            after.as_ref(),
            columns,
            &joined,
        )
        .await?;
    if !joined.is_empty() {
        joined.prime(loaders(ctx)?, &mut rows);
    }
    let page = Page::from_rows(
        rows,
        size,
        after.is_some(),
        |r| row_cursor(&order, r),
        |r| Mission {
            distance_km: r.distance_km,
            ..Mission::from(r.mission)
        },
    );
    Ok(MissionConnection {
        page,
        search: Arc::new(search),
    })
}

/// A page of missions, with the count and facets of the whole filtered list.
pub struct MissionConnection {
    page: Page<Mission>,
    search: Arc<MissionSearch>,
}

/// A page of missions, with the count and facets of the whole filtered list.
#[Object]
impl MissionConnection {
    async fn edges(&self) -> &[Edge<Mission>] {
        &self.page.edges
    }

    async fn nodes(&self) -> Vec<Inline<&Mission>> {
        self.page.nodes()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }

    /// The number of missions of the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        self.search.count(db(ctx)?, counts::of(ctx)).await
    }

    /// Counts by domain, type, department and remote mode, for the same filter, over all pages.
    async fn facets(&self) -> MissionFacets {
        MissionFacets {
            search: self.search.clone(),
        }
    }
}

/// Counts of the filtered missions by value, most frequent first. Each list is computed only
/// when asked for; domains, types and remote are counted together (once per request, by the
/// search: see [`MissionSearch::column_facets`]).
pub struct MissionFacets {
    search: Arc<MissionSearch>,
}

/// A value and how many missions have it.
#[derive(Debug, Clone, SimpleObject)]
pub struct FacetCount {
    /// The enum name (e.g. "ENVIRONNEMENT") or the department code (e.g. "69").
    pub value: String,
    pub count: i64,
}

fn named<T, G: async_graphql::InputType + From<T>>(
    rows: &[(String, i64)],
    parse: impl Fn(&str) -> Option<T>,
) -> Vec<FacetCount> {
    rows.iter()
        .filter_map(|(v, count)| {
            parse(v).map(|t| FacetCount {
                value: graphql_name(&G::from(t)),
                count: *count,
            })
        })
        .collect()
}

#[Object]
impl MissionFacets {
    async fn domains(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let facets = self.columns(ctx).await?;
        Ok(named::<DbDomain, Domain>(
            &facets.domains,
            DbDomain::from_stored,
        ))
    }

    async fn types(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let facets = self.columns(ctx).await?;
        Ok(named::<DbType, MissionType>(
            &facets.types,
            DbType::from_stored,
        ))
    }

    /// A mission with addresses in several departments counts in each.
    async fn department_codes(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let rows = self
            .search
            .department_facet(db(ctx)?, counts::of(ctx))
            .await?;
        Ok(rows
            .iter()
            .map(|(value, count)| FacetCount {
                value: value.clone(),
                count: *count,
            })
            .collect())
    }

    async fn remote(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let facets = self.columns(ctx).await?;
        Ok(named::<DbRemote, Remote>(
            &facets.remote,
            DbRemote::from_stored,
        ))
    }
}

impl MissionFacets {
    /// The domain, type and remote facets.
    async fn columns(&self, ctx: &Context<'_>) -> ApiResult<Arc<ColumnFacets>> {
        self.search.column_facets(db(ctx)?, counts::of(ctx)).await
    }
}
