//! The viewer of a request, and the only way resolvers read tables: [`find`] asks
//! [`passerelle_entities::access`] for the rows the viewer may read. Calling SeaORM's
//! `Entity::find` anywhere else in this crate is refused by clippy (`resolvers/clippy.toml`).
use async_graphql::Context;
use passerelle_entities::access::{Access, StatusSet, Viewer};
use passerelle_entities::audit_entry::Actor;
use passerelle_entities::{
    api_key, application, audit_entry, diffusion_rule, import_run, mission, mission_address,
    organization, publisher, volunteer,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::cursor::Cursor;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::page::{Page, page_size};

/// The address a request came from, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// The viewer of the request. A request without one (the schema run outside the gateway) is
/// anonymous.
pub(crate) fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    static ANONYMOUS: std::sync::LazyLock<Viewer> = std::sync::LazyLock::new(Viewer::anonymous);
    ctx.data_opt::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// What the viewer of the request may reach.
pub(crate) fn access<'a>(ctx: &Context<'a>) -> &'a Access {
    &viewer(ctx).access
}

/// The viewer as the audit log names them, with the request's address.
pub(crate) fn actor(ctx: &Context<'_>) -> Actor {
    Actor {
        name: viewer(ctx).actor_name(),
        address: ctx
            .data_opt::<ClientAddress>()
            .map_or_else(|| "unknown".to_owned(), |a| a.0.clone()),
    }
}

/// The error for a field the viewer may not read.
pub(crate) fn forbidden(what: &str) -> ApiError {
    ApiError::Forbidden {
        message: format!("{what} is not readable with these credentials"),
    }
}

/// A table whose rows are scoped: which of them a viewer may read.
pub(crate) trait Scoped: EntityTrait {
    /// `None`: no row at all.
    fn scope(access: &Access) -> Option<Condition>;
}

impl Scoped for mission::Entity {
    /// Lookups by id reach a mission in any status the viewer may read.
    fn scope(access: &Access) -> Option<Condition> {
        access.missions(StatusSet::all())
    }
}

impl Scoped for volunteer::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.volunteers()
    }
}

impl Scoped for application::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.applications()
    }
}

impl Scoped for import_run::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.import_runs()
    }
}

impl Scoped for api_key::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.api_keys()
    }
}

impl Scoped for diffusion_rule::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.diffusion_rules()
    }
}

impl Scoped for passerelle_entities::webhook::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.webhooks()
    }
}

impl Scoped for audit_entry::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        access.is_admin().then(Condition::all)
    }
}

/// A moderator publisher's decisions are its own (and admins').
impl Scoped for passerelle_entities::mission_moderation::Entity {
    fn scope(access: &Access) -> Option<Condition> {
        use sea_orm::ColumnTrait;
        match access {
            Access::Partner { publisher_id, .. } => Some(Condition::all().add(
                passerelle_entities::mission_moderation::Column::ModeratorId.eq(*publisher_id),
            )),
            Access::Admin => Some(Condition::all()),
            _ => None,
        }
    }
}

/// Events are read through their mission (`Mission.history`, whose resolver checks that the
/// viewer manages it).
impl Scoped for passerelle_entities::mission_event::Entity {
    fn scope(_: &Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

/// Events are read through their application, which is scoped (`Application.history`).
impl Scoped for passerelle_entities::application_event::Entity {
    fn scope(_: &Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

/// Addresses are read through their mission, which is scoped.
impl Scoped for mission_address::Entity {
    fn scope(_: &Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

/// Organizations and publishers are public.
impl Scoped for organization::Entity {
    fn scope(_: &Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

impl Scoped for publisher::Entity {
    fn scope(_: &Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

/// The rows of `E` the viewer may read, to narrow further; `None` when there is none.
#[allow(clippy::disallowed_methods)]
pub(crate) fn find<E: Scoped>(access: &Access) -> Option<Select<E>> {
    E::scope(access).map(|c| E::find().filter(c))
}

/// Up to `limit` rows of `E` that the viewer may read and that meet `condition`, in `order`;
/// none, without a statement, when the viewer may read no row of `E`.
pub(crate) async fn rows<E: Scoped>(
    ctx: &Context<'_>,
    condition: Condition,
    order: &[(E::Column, Order)],
    limit: u64,
) -> ApiResult<Vec<E::Model>> {
    let Some(select) = find::<E>(access(ctx)) else {
        return Ok(Vec::new());
    };
    let mut select = select.filter(condition).limit(limit);
    for (column, direction) in order {
        select = select.order_by(*column, direction.clone());
    }
    let db = db(ctx)?;
    let statement = crate::sql::with_literal_limit(
        db.get_database_backend(),
        &sea_orm::QueryTrait::into_query(select),
    );
    Ok(
        <E::Model as sea_orm::FromQueryResult>::find_by_statement(statement)
            .all(db)
            .await?,
    )
}

/// The number of rows of `E` that the viewer may read and that meet `condition`.
pub(crate) async fn count<E: Scoped>(ctx: &Context<'_>, condition: Condition) -> ApiResult<i64>
where
    E::Model: Sync,
{
    Ok(match find::<E>(access(ctx)) {
        Some(select) => select.filter(condition).count(db(ctx)?).await? as i64,
        None => 0,
    })
}

/// How a list is ordered by id, and the name its cursors carry.
pub(crate) struct ById<C> {
    pub column: C,
    pub direction: Order,
    pub list: &'static str,
}

/// One page (`first`, after the cursor `after`) of the rows of `E` that the viewer may read and
/// that meet `condition`, ordered by id.
///
/// # Errors
/// `BAD_USER_INPUT` for a page size out of range or a cursor of another list.
pub(crate) async fn id_page<E: Scoped, T: async_graphql::OutputType + Clone>(
    ctx: &Context<'_>,
    condition: Condition,
    by: ById<E::Column>,
    first: Option<i32>,
    after: Option<String>,
    id_of: impl Fn(&E::Model) -> i64,
    node: impl Fn(E::Model) -> T,
) -> ApiResult<Page<T>> {
    let size = page_size(first)?;
    let after = after.map(|a| Cursor::decode(&a, by.list)).transpose()?;
    let mut condition = condition;
    if let Some(c) = &after {
        condition = condition.add(match by.direction {
            Order::Desc => Expr::col((E::default(), by.column)).lt(c.id),
            _ => Expr::col((E::default(), by.column)).gt(c.id),
        });
    }
    let rows = rows::<E>(ctx, condition, &[(by.column, by.direction)], size + 1).await?;
    Ok(Page::from_rows(
        rows,
        size,
        after.is_some(),
        |r| Cursor::new(by.list, None, id_of(r)),
        node,
    ))
}
