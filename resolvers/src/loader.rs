//! Every relation a list can reach is loaded here, in batches: one statement per relation and
//! query depth, whatever the number of parents (a page of missions reads its organizations and
//! publishers itself, and hands them over: `crate::mission::joined`). Nested lists are
//! paginated in SQL, a `LIMIT`ed page per parent (a lateral join on PostgreSQL, `UNION ALL` on
//! SQLite).
//!
//! A loader belongs to one request and holds what its viewer may read: every batch goes through
//! [`crate::scope`], and a viewer who may read no row of a relation costs no statement.
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use passerelle_db::Reads;
use passerelle_entities::access::{Access, StatusSet};
use passerelle_entities::{
    application, application_event, import_run, mission, mission_address, mission_event,
    mission_moderation, organization, publisher, volunteer,
};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Statement,
};

use crate::mission::Mission;
use crate::scope::{self, Scoped};

/// Loads rows by key for the DataLoader of one request: it holds a clone of the pool and what
/// the request's viewer may read, so that every batch is scoped to that viewer and a batch
/// never mixes two viewers' rows.
pub struct DbLoader {
    db: DatabaseConnection,
    reads: Reads,
    access: Arc<Access>,
}

impl DbLoader {
    /// The loader of one viewer on `db`, its hot statements run through `reads` (the
    /// schema's, shared by every request: see `passerelle_db::Reads`).
    pub fn new(db: DatabaseConnection, reads: Reads, access: Arc<Access>) -> Self {
        DbLoader { db, reads, access }
    }

    /// The rows of `statement`, a read, through the shared reads.
    async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, Arc<DbErr>> {
        self.reads
            .query_all(&self.db, statement)
            .await
            .map_err(Arc::new)
    }
}

/// A publisher by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherId(pub i64);
/// An organization by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationId(pub i64);
/// A mission by id, in any status the viewer may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MissionId(pub i64);
/// A mission by id, in any status the viewer may read, read for these columns (a relation's
/// selection: `Application.mission`); the others are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MissionColumns(pub i64, pub mission::Columns);
/// An organization by id, read for these columns (a relation's selection:
/// `Mission.organization`); the others are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationColumns(pub i64, pub organization::Columns);
/// A publisher by id, read for these columns (a relation's selection: `Mission.publisher`);
/// the others are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherColumns(pub i64, pub publisher::Columns);
/// A volunteer by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VolunteerId(pub i64);
/// The addresses of a mission, in the publisher's order, read for these columns (the others
/// are empty; `Columns::ALL` for whole rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressesOf(pub i64, pub mission_address::Columns);

/// The title keys of an organization's validated missions (for the duplicate rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidatedTitlesOf(pub i64);

/// A moderator publisher's decision on a mission: (moderator, mission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModerationBy(pub i64, pub i64);

/// The history of a mission, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryOf(pub i64);
/// The history of an application, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationHistoryOf(pub i64);
/// The number of an organization's missions in these statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MissionCountOf(pub i64, pub StatusSet);
/// The number of applications of a volunteer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationCountOf(pub i64);
/// The number of applications to a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationCountTo(pub i64);
/// The last import run of a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LastImportOf(pub i64);

/// One page of a nested list: the parent, the page size plus one, and where to start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NestedPage<P> {
    pub parent: P,
    /// Rows to fetch: the page size plus one, to know whether a next page exists.
    pub limit: u64,
    pub after: Option<NestedAfter>,
}

/// The position after which a nested page starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NestedAfter {
    pub time: Option<DateTime<Utc>>,
    pub id: i64,
}

/// An organization's missions in these statuses, ordered by start date then id, read for
/// these columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MissionsOf(pub i64, pub StatusSet, pub mission::Columns);
/// The applications of a volunteer, ordered by id, each with its mission read for these
/// columns (`Columns::NONE`: without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationsOf(pub i64, pub mission::Columns);
/// The applications to a mission, ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationsTo(pub i64);

type LoadResult<K, V> = Result<HashMap<K, V>, Arc<DbErr>>;

/// The rows of a batch behind `Arc`s, for the relations many parents share or read often (a
/// publisher, an organization, a mission's addresses, a page of missions): each caller gets
/// the row itself, not a copy of its strings.
fn shared<K: Eq + Hash, V>(rows: LoadResult<K, V>) -> LoadResult<K, Arc<V>> {
    Ok(rows?.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

/// Rows of a scoped table by id, in one statement.
async fn by_ids<E, K>(
    loader: &DbLoader,
    keys: &[K],
    id: impl Fn(&K) -> i64,
    column: E::Column,
    key_of: impl Fn(&E::Model) -> K,
) -> LoadResult<K, E::Model>
where
    E: Scoped,
    K: Eq + Hash,
{
    let Some(select) = scope::find::<E>(&loader.access) else {
        return Ok(HashMap::new());
    };
    let rows = select
        .filter(column.is_in(keys.iter().map(id)))
        .all(&loader.db)
        .await
        .map_err(Arc::new)?;
    Ok(rows.into_iter().map(|r| (key_of(&r), r)).collect())
}

impl Loader<PublisherId> for DbLoader {
    type Value = Arc<publisher::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[PublisherId]) -> LoadResult<PublisherId, Self::Value> {
        shared(
            by_ids::<publisher::Entity, _>(
                self,
                keys,
                |k| k.0,
                publisher::Column::Id,
                |m| PublisherId(m.id),
            )
            .await,
        )
    }
}

impl Loader<OrganizationId> for DbLoader {
    type Value = Arc<organization::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[OrganizationId]) -> LoadResult<OrganizationId, Self::Value> {
        shared(
            by_ids::<organization::Entity, _>(
                self,
                keys,
                |k| k.0,
                organization::Column::Id,
                |m| OrganizationId(m.id),
            )
            .await,
        )
    }
}

impl Loader<MissionId> for DbLoader {
    type Value = mission::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[MissionId]) -> LoadResult<MissionId, Self::Value> {
        by_ids::<mission::Entity, _>(
            self,
            keys,
            |k| k.0,
            mission::Column::Id,
            |m| MissionId(m.id),
        )
        .await
    }
}

impl Loader<MissionColumns> for DbLoader {
    type Value = mission::Model;
    type Error = Arc<DbErr>;

    /// One statement per set of columns asked (one for every key of a nested list).
    async fn load(&self, keys: &[MissionColumns]) -> LoadResult<MissionColumns, Self::Value> {
        by_ids_for_columns::<mission::Entity, _, _>(
            self,
            keys.iter().map(|k| (k.0, k.1)),
            mission::Column::Id,
            |columns| columns.iter().collect(),
            |rows, columns| {
                read_all(
                    rows,
                    mission::Reader::new("", columns),
                    mission::Reader::read,
                )
            },
            |row| row.id,
            MissionColumns,
        )
        .await
    }
}

impl Loader<PublisherColumns> for DbLoader {
    type Value = Arc<publisher::Model>;
    type Error = Arc<DbErr>;

    /// One statement per set of columns asked (one for every publisher of a page).
    async fn load(&self, keys: &[PublisherColumns]) -> LoadResult<PublisherColumns, Self::Value> {
        shared(
            by_ids_for_columns::<publisher::Entity, _, _>(
                self,
                keys.iter().map(|k| (k.0, k.1)),
                publisher::Column::Id,
                |columns| columns.iter().collect(),
                |rows, columns| {
                    read_all(
                        rows,
                        publisher::Reader::new("", columns),
                        publisher::Reader::read,
                    )
                },
                |row| row.id,
                PublisherColumns,
            )
            .await,
        )
    }
}

impl Loader<OrganizationColumns> for DbLoader {
    type Value = Arc<organization::Model>;
    type Error = Arc<DbErr>;

    /// One statement per set of columns asked (one for every organization of a page).
    async fn load(
        &self,
        keys: &[OrganizationColumns],
    ) -> LoadResult<OrganizationColumns, Self::Value> {
        shared(
            by_ids_for_columns::<organization::Entity, _, _>(
                self,
                keys.iter().map(|k| (k.0, k.1)),
                organization::Column::Id,
                |columns| columns.iter().collect(),
                |rows, columns| {
                    read_all(
                        rows,
                        organization::Reader::new("", columns),
                        organization::Reader::read,
                    )
                },
                |row| row.id,
                OrganizationColumns,
            )
            .await,
        )
    }
}

/// The rows of one statement, each read by `reader` (a table's `Reader`, which finds the
/// columns in the first row and reads every row by position).
fn read_all<R, M>(
    rows: &[QueryResult],
    mut reader: R,
    read: impl Fn(&mut R, &QueryResult) -> Result<M, DbErr>,
) -> Result<Vec<M>, DbErr> {
    rows.iter().map(|row| read(&mut reader, row)).collect()
}

/// The ids of `keys` by the set of columns they are read for: one statement per set.
fn by_columns<C: Eq + Hash>(keys: impl Iterator<Item = (i64, C)>) -> HashMap<C, Vec<i64>> {
    let mut groups: HashMap<C, Vec<i64>> = HashMap::new();
    for (id, columns) in keys {
        groups.entry(columns).or_default().push(id);
    }
    groups
}

/// Rows of a scoped table by id, each read for the set of columns its key asks for (`select`
/// names a set's columns, `read` reads the rows of them), by `id_column`: one statement per set.
async fn by_ids_for_columns<E, C, K>(
    loader: &DbLoader,
    keys: impl Iterator<Item = (i64, C)>,
    id_column: E::Column,
    select: impl Fn(C) -> Vec<E::Column>,
    read: impl Fn(&[QueryResult], C) -> Result<Vec<E::Model>, DbErr>,
    id_of: impl Fn(&E::Model) -> i64,
    key: impl Fn(i64, C) -> K,
) -> LoadResult<K, E::Model>
where
    E: Scoped,
    C: Copy + Eq + Hash,
    K: Eq + Hash,
{
    let Some(scoped) = scope::find::<E>(&loader.access) else {
        return Ok(HashMap::new());
    };
    let mut out = HashMap::new();
    for (columns, ids) in by_columns(keys) {
        let statement = scoped
            .clone()
            .select_only()
            .columns(select(columns))
            .filter(id_column.is_in(ids))
            .build(loader.db.get_database_backend());
        let rows = loader.query_all(statement).await?;
        for row in read(&rows, columns).map_err(Arc::new)? {
            out.insert(key(id_of(&row), columns), row);
        }
    }
    Ok(out)
}

impl Loader<VolunteerId> for DbLoader {
    type Value = volunteer::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[VolunteerId]) -> LoadResult<VolunteerId, Self::Value> {
        by_ids::<volunteer::Entity, _>(
            self,
            keys,
            |k| k.0,
            volunteer::Column::Id,
            |m| VolunteerId(m.id),
        )
        .await
    }
}

impl Loader<AddressesOf> for DbLoader {
    type Value = Arc<Vec<mission_address::Model>>;
    type Error = Arc<DbErr>;

    /// One statement per set of columns asked (one for every mission of a page).
    async fn load(&self, keys: &[AddressesOf]) -> LoadResult<AddressesOf, Self::Value> {
        let mut out: HashMap<AddressesOf, Vec<mission_address::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        let Some(select) = scope::find::<mission_address::Entity>(&self.access) else {
            return shared(Ok(out));
        };
        for (columns, ids) in by_columns(keys.iter().map(|k| (k.0, k.1))) {
            let statement = select
                .clone()
                .select_only()
                .columns(columns.iter())
                .filter(mission_address::Column::MissionId.is_in(ids))
                .order_by_asc(mission_address::Column::MissionId)
                .order_by_asc(mission_address::Column::Position)
                .order_by_asc(mission_address::Column::Id)
                .build(self.db.get_database_backend());
            let mut reader = mission_address::Reader::new("", columns);
            for result in self.query_all(statement).await? {
                let row = reader.read(&result).map_err(Arc::new)?;
                out.entry(AddressesOf(row.mission_id, columns))
                    .or_default()
                    .push(row);
            }
        }
        shared(Ok(out))
    }
}

impl Loader<ValidatedTitlesOf> for DbLoader {
    type Value = Vec<(i64, String)>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ValidatedTitlesOf]) -> LoadResult<ValidatedTitlesOf, Self::Value> {
        let mut out: HashMap<ValidatedTitlesOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        let Some(select) = scope::find::<mission::Entity>(&self.access) else {
            return Ok(out);
        };
        let rows = select
            .select_only()
            .columns([
                mission::Column::OrganizationId,
                mission::Column::Id,
                mission::Column::Title,
            ])
            .filter(mission::is_public())
            .filter(mission::Column::OrganizationId.is_in(keys.iter().map(|k| k.0)))
            .into_tuple::<(Option<i64>, i64, String)>()
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        for (organization, id, title) in rows {
            if let Some(org) = organization {
                out.entry(ValidatedTitlesOf(org))
                    .or_default()
                    .push((id, crate::mission::title_key(&title)));
            }
        }
        Ok(out)
    }
}

impl Loader<ModerationBy> for DbLoader {
    type Value = mission_moderation::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ModerationBy]) -> LoadResult<ModerationBy, Self::Value> {
        let mut out = HashMap::new();
        let Some(select) = scope::find::<mission_moderation::Entity>(&self.access) else {
            return Ok(out);
        };
        let mut moderators: Vec<i64> = keys.iter().map(|k| k.0).collect();
        moderators.sort_unstable();
        moderators.dedup();
        let rows = select
            .filter(mission_moderation::Column::ModeratorId.is_in(moderators))
            .filter(mission_moderation::Column::MissionId.is_in(keys.iter().map(|k| k.1)))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        for row in rows {
            let key = ModerationBy(row.moderator_id, row.mission_id);
            if keys.contains(&key) {
                out.insert(key, row);
            }
        }
        Ok(out)
    }
}

impl Loader<HistoryOf> for DbLoader {
    type Value = Vec<mission_event::Model>;
    type Error = Arc<DbErr>;

    /// Events are read through their mission, whose access the resolver checked.
    async fn load(&self, keys: &[HistoryOf]) -> LoadResult<HistoryOf, Self::Value> {
        let mut out: HashMap<HistoryOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        let Some(select) = scope::find::<mission_event::Entity>(&self.access) else {
            return Ok(out);
        };
        let rows = select
            .filter(mission_event::Column::MissionId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(mission_event::Column::MissionId)
            .order_by_asc(mission_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        for row in rows {
            out.entry(HistoryOf(row.mission_id)).or_default().push(row);
        }
        Ok(out)
    }
}

impl Loader<ApplicationHistoryOf> for DbLoader {
    type Value = Vec<application_event::Model>;
    type Error = Arc<DbErr>;

    /// Events are read through their application, which is scoped.
    async fn load(
        &self,
        keys: &[ApplicationHistoryOf],
    ) -> LoadResult<ApplicationHistoryOf, Self::Value> {
        let mut out: HashMap<ApplicationHistoryOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        let Some(select) = scope::find::<application_event::Entity>(&self.access) else {
            return Ok(out);
        };
        let rows = select
            .filter(application_event::Column::ApplicationId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(application_event::Column::ApplicationId)
            .order_by_asc(application_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        for row in rows {
            out.entry(ApplicationHistoryOf(row.application_id))
                .or_default()
                .push(row);
        }
        Ok(out)
    }
}

#[derive(FromQueryResult)]
struct ParentCount {
    parent: i64,
    n: i64,
}

/// Counts rows per parent in one `GROUP BY` statement; `scope: None` counts nothing.
async fn count_by_parent<E: EntityTrait>(
    db: &DatabaseConnection,
    parent: E::Column,
    parents: impl IntoIterator<Item = i64>,
    scope: Option<Condition>,
) -> Result<HashMap<i64, i64>, Arc<DbErr>> {
    let parents: Vec<i64> = parents.into_iter().collect();
    let mut out: HashMap<i64, i64> = parents.iter().map(|p| (*p, 0)).collect();
    let Some(scope) = scope else {
        return Ok(out);
    };
    let stmt = Query::select()
        .expr_as(Expr::col((E::default(), parent)), Alias::new("parent"))
        .expr_as(Expr::col(Asterisk).count(), Alias::new("n"))
        .from(E::default())
        .cond_where(Condition::all().add(parent.is_in(parents)).add(scope))
        .group_by_col((E::default(), parent))
        .to_owned();
    let rows = ParentCount::find_by_statement(db.get_database_backend().build(&stmt))
        .all(db)
        .await
        .map_err(Arc::new)?;
    out.extend(rows.into_iter().map(|r| (r.parent, r.n)));
    Ok(out)
}

impl Loader<MissionCountOf> for DbLoader {
    type Value = i64;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[MissionCountOf]) -> LoadResult<MissionCountOf, i64> {
        let mut by_statuses: HashMap<StatusSet, Vec<i64>> = HashMap::new();
        for k in keys {
            by_statuses.entry(k.1).or_default().push(k.0);
        }
        let mut out = HashMap::new();
        for (statuses, parents) in by_statuses {
            let counts = count_by_parent::<mission::Entity>(
                &self.db,
                mission::Column::OrganizationId,
                parents,
                self.access.missions(statuses),
            )
            .await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(p, n)| (MissionCountOf(p, statuses), n)),
            );
        }
        Ok(out)
    }
}

impl Loader<LastImportOf> for DbLoader {
    type Value = import_run::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[LastImportOf]) -> LoadResult<LastImportOf, Self::Value> {
        let Some(select) = scope::find::<import_run::Entity>(&self.access) else {
            return Ok(HashMap::new());
        };
        let last = Query::select()
            .expr(Expr::col(import_run::Column::Id).max())
            .from(import_run::Entity)
            .and_where(import_run::Column::PublisherId.is_in(keys.iter().map(|k| k.0)))
            .group_by_col(import_run::Column::PublisherId)
            .to_owned();
        let rows = select
            .filter(import_run::Column::Id.in_subquery(last))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|r| (LastImportOf(r.publisher_id), r))
            .collect())
    }
}

impl Loader<ApplicationCountOf> for DbLoader {
    type Value = i64;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ApplicationCountOf]) -> LoadResult<ApplicationCountOf, i64> {
        let counts = count_by_parent::<application::Entity>(
            &self.db,
            application::Column::VolunteerId,
            keys.iter().map(|k| k.0),
            self.access.applications(),
        )
        .await?;
        Ok(counts
            .into_iter()
            .map(|(p, n)| (ApplicationCountOf(p), n))
            .collect())
    }
}

impl Loader<ApplicationCountTo> for DbLoader {
    type Value = i64;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ApplicationCountTo]) -> LoadResult<ApplicationCountTo, i64> {
        let counts = count_by_parent::<application::Entity>(
            &self.db,
            application::Column::MissionId,
            keys.iter().map(|k| k.0),
            self.access.applications(),
        )
        .await?;
        Ok(counts
            .into_iter()
            .map(|(p, n)| (ApplicationCountTo(p), n))
            .collect())
    }
}

/// What a windowed page query needs to know about its child table.
struct Window<E: EntityTrait> {
    parent: E::Column,
    /// The order columns, the last one being the id tie-break.
    order: &'static [&'static str],
}

/// The most parents whose pages one SQLite statement reads.
const PARENTS_PER_STATEMENT: usize = 100;

/// Loads one page per parent in a single statement, each page a short walk of the
/// (parent, order) index that stops at the page's end: on PostgreSQL a `CROSS JOIN LATERAL` of
/// the page over the parents' ids (one parameter); on SQLite, which has no `LATERAL`, one
/// `UNION ALL` branch per parent (per 100 parents). A `ROW_NUMBER() OVER (PARTITION BY parent
/// …)` window, used before, read and sorted every row of every parent (1.8 ms for 20
/// organizations' first 5 missions on PostgreSQL); a `UNION ALL` of 20 branches took 7 ms to
/// plan there.
///
/// Keys with the same page size, start and variant (`V`: what else the parent key asks, such
/// as statuses) are batched together, which is every key of a nested list in one query.
/// `scope` gives the rows of a variant the viewer may read; `None` costs no statement.
/// `columns` gives the columns a variant selects, `join` adds to a parent's page what is read
/// with each of its rows (a to-one relation), and `read` makes the rows (`R`) of a statement.
#[allow(clippy::too_many_arguments)]
async fn windowed<E, P, V, R>(
    loader: &DbLoader,
    keys: &[NestedPage<P>],
    window: Window<E>,
    variant: impl Fn(&P) -> V,
    scope: impl Fn(V) -> Option<Condition>,
    columns: impl Fn(V) -> Vec<E::Column>,
    join: impl Fn(&mut SelectStatement, V),
    read: impl Fn(&[QueryResult], V) -> Result<Vec<R>, DbErr>,
    after_condition: impl Fn(&NestedAfter) -> Condition,
    parent_of: impl Fn(&R, V) -> P,
    parent_id: impl Fn(&P) -> i64,
) -> LoadResult<NestedPage<P>, Vec<R>>
where
    E: EntityTrait,
    P: Copy + Eq + Hash,
    V: Copy + Eq + Hash,
{
    let table = E::default();
    let mut groups: HashMap<(u64, Option<NestedAfter>, V), Vec<P>> = HashMap::new();
    for k in keys {
        groups
            .entry((k.limit, k.after.clone(), variant(&k.parent)))
            .or_default()
            .push(k.parent);
    }
    let mut out = HashMap::new();
    for ((limit, after, v), parents) in groups {
        let mut pages: HashMap<P, Vec<R>> = parents.iter().map(|p| (*p, Vec::new())).collect();
        if let Some(filter) = scope(v) {
            let ids: Vec<i64> = parents.iter().map(&parent_id).collect();
            let selected = columns(v);
            // One parent's page: `… WHERE parent = <parent> AND scope AND after ORDER BY …
            // LIMIT n`, the parent being a value (SQLite) or the lateral row (PostgreSQL).
            let page_of = |parent: Expr| {
                let mut condition = Condition::all()
                    .add(Expr::col((table, window.parent)).eq(parent))
                    .add(filter.clone());
                if let Some(after) = &after {
                    condition = condition.add(after_condition(after));
                }
                let mut page: SelectStatement = Query::select();
                page.columns(selected.iter().map(|c| (table, *c)))
                    .from(table)
                    .cond_where(condition)
                    .limit(limit);
                for c in window.order {
                    page.order_by((table, Alias::new(*c)), Order::Asc);
                }
                join(&mut page, v);
                page
            };
            let statements: Vec<Statement> = match loader.db.get_database_backend() {
                // One statement, the same text whatever the parents (prepared once per
                // connection): the parents' ids as one parameter, a lateral page for each.
                DbBackend::Postgres => {
                    let order: Vec<String> = window
                        .order
                        .iter()
                        .map(|c| format!("\"page\".\"{c}\""))
                        .collect();
                    let (sql, mut values) = page_of(Expr::cust("\"parent\".\"id\""))
                        .build(sea_orm::sea_query::PostgresQueryBuilder);
                    values.0.push(
                        ids.iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                            .into(),
                    );
                    vec![Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        format!(
                            "SELECT \"page\".* FROM unnest(string_to_array(${}, ',')::bigint[]) AS \"parent\"(\"id\") \
                             CROSS JOIN LATERAL ({sql}) AS \"page\" ORDER BY {}",
                            values.0.len(),
                            order.join(", ")
                        ),
                        values,
                    )]
                }
                // SQLite has no LATERAL: one `UNION ALL` branch per parent (its planning is
                // cheap), per 100 parents. The branches differ only by their parent's value:
                // one is built, its text repeated (building each cost a twentieth of a nested
                // request on SQLite), and the parent's parameter is the one that differs
                // between two builds.
                backend => {
                    let one = backend.build(&page_of(Expr::val(-1_i64)));
                    let other = backend.build(&page_of(Expr::val(-2_i64)));
                    let values = one.values.map(|v| v.0).unwrap_or_default();
                    let other = other.values.map(|v| v.0).unwrap_or_default();
                    let Some(at) = (0..values.len()).find(|i| values.get(*i) != other.get(*i))
                    else {
                        return Err(Arc::new(DbErr::Custom(
                            "a nested page's statement has no parameter for its parent".to_owned(),
                        )));
                    };
                    let branch = format!("SELECT * FROM ({}) AS \"page\"", one.sql);
                    let order: Vec<String> = window
                        .order
                        .iter()
                        .map(|c| format!("\"{c}\" ASC"))
                        .collect();
                    ids.chunks(PARENTS_PER_STATEMENT)
                        .map(|chunk| {
                            let mut params = Vec::with_capacity(values.len() * chunk.len());
                            for id in chunk {
                                params.extend(
                                    values.iter().enumerate().map(|(i, v)| {
                                        if i == at { (*id).into() } else { v.clone() }
                                    }),
                                );
                            }
                            Statement::from_sql_and_values(
                                backend,
                                format!(
                                    "{} ORDER BY {}",
                                    vec![branch.as_str(); chunk.len()].join(" UNION ALL "),
                                    order.join(", ")
                                ),
                                sea_orm::Values(params),
                            )
                        })
                        .collect()
                }
            };
            for statement in statements {
                let rows = loader.query_all(statement).await?;
                for row in read(&rows, v).map_err(Arc::new)? {
                    pages.entry(parent_of(&row, v)).or_default().push(row);
                }
            }
        }
        for (parent, rows) in pages {
            out.insert(
                NestedPage {
                    parent,
                    limit,
                    after: after.clone(),
                },
                rows,
            );
        }
    }
    Ok(out)
}

impl Loader<NestedPage<MissionsOf>> for DbLoader {
    /// Converted once, here: every page of the organization's missions shares them.
    type Value = Arc<Vec<Mission>>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[NestedPage<MissionsOf>],
    ) -> LoadResult<NestedPage<MissionsOf>, Self::Value> {
        let pages = windowed::<mission::Entity, _, _, _>(
            self,
            keys,
            Window {
                parent: mission::Column::OrganizationId,
                order: &["start_at", "id"],
            },
            |p| (p.1, p.2),
            |(statuses, _)| self.access.missions(statuses),
            |(_, columns)| columns.iter().collect(),
            |_, _| {},
            |rows, (_, columns)| {
                read_all(
                    rows,
                    mission::Reader::new("", columns),
                    mission::Reader::read,
                )
            },
            |after| {
                let t = after.time.unwrap_or_default();
                Condition::any().add(mission::Column::StartAt.gt(t)).add(
                    Condition::all()
                        .add(mission::Column::StartAt.eq(t))
                        .add(mission::Column::Id.gt(after.id)),
                )
            },
            |m, (statuses, columns)| {
                MissionsOf(m.organization_id.unwrap_or_default(), statuses, columns)
            },
            |p| p.0,
        )
        .await?;
        Ok(pages
            .into_iter()
            .map(|(key, rows)| (key, Mission::shared(rows)))
            .collect())
    }
}

/// An application of a nested page, with its mission where the page read it (see
/// [`ApplicationsOf`]).
#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub application: application::Model,
    /// `None` also for a mission the viewer may not read (every one, without a join, for a
    /// viewer who may read none): what `Loader<MissionColumns>` would answer, so the page's
    /// reader primes it as it is.
    pub mission: Option<mission::Model>,
}

/// The prefix of the missions' columns read with a page of applications.
const MISSION: &str = "m_";

impl Loader<NestedPage<ApplicationsOf>> for DbLoader {
    type Value = Arc<Vec<ApplicationRow>>;
    type Error = Arc<DbErr>;

    /// Each application's mission is read in the page's own statement (a left join, by primary
    /// key, under the viewer's scope of missions, as `Loader<MissionColumns>` reads it) when the
    /// key asks for columns of it: the volunteer → applications → mission path costs one round
    /// trip fewer.
    async fn load(
        &self,
        keys: &[NestedPage<ApplicationsOf>],
    ) -> LoadResult<NestedPage<ApplicationsOf>, Self::Value> {
        let missions = mission::Entity::scope(&self.access);
        let joined = |columns: mission::Columns| {
            missions
                .as_ref()
                .filter(|_| columns != mission::Columns::NONE)
        };
        shared(
            windowed::<application::Entity, _, _, _>(
                self,
                keys,
                Window {
                    parent: application::Column::VolunteerId,
                    order: &["id"],
                },
                |p| p.1,
                |_| self.access.applications(),
                |_| application::Column::iter().collect(),
                |page, columns| {
                    let Some(scope) = joined(columns) else {
                        return;
                    };
                    for c in columns.iter() {
                        page.expr_as(
                            Expr::col((mission::Entity, c)),
                            Alias::new(format!("{MISSION}{}", c.as_str())),
                        );
                    }
                    page.join(
                        JoinType::LeftJoin,
                        mission::Entity,
                        Condition::all()
                            .add(
                                Expr::col((mission::Entity, mission::Column::Id))
                                    .equals((application::Entity, application::Column::MissionId)),
                            )
                            .add(scope.clone()),
                    );
                },
                |rows, columns| {
                    let mut missions = mission::Reader::new(MISSION, columns);
                    rows.iter()
                        .map(|result| {
                            let application = application::Model::from_query_result(result, "")?;
                            let mission = match joined(columns) {
                                Some(_)
                                    if result.try_get::<Option<i64>>(MISSION, "id")?.is_some() =>
                                {
                                    Some(missions.read(result)?)
                                }
                                _ => None,
                            };
                            Ok(ApplicationRow {
                                application,
                                mission,
                            })
                        })
                        .collect()
                },
                |after| Condition::all().add(application::Column::Id.gt(after.id)),
                |row, columns| ApplicationsOf(row.application.volunteer_id, columns),
                |p| p.0,
            )
            .await,
        )
    }
}

impl Loader<NestedPage<ApplicationsTo>> for DbLoader {
    type Value = Vec<application::Model>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[NestedPage<ApplicationsTo>],
    ) -> LoadResult<NestedPage<ApplicationsTo>, Self::Value> {
        windowed::<application::Entity, _, _, _>(
            self,
            keys,
            Window {
                parent: application::Column::MissionId,
                order: &["id"],
            },
            |_| (),
            |()| self.access.applications(),
            |()| application::Column::iter().collect(),
            |_, ()| {},
            |rows, ()| {
                rows.iter()
                    .map(|r| application::Model::from_query_result(r, ""))
                    .collect()
            },
            |after| Condition::all().add(application::Column::Id.gt(after.id)),
            |a, ()| ApplicationsTo(a.mission_id),
            |p| p.0,
        )
        .await
    }
}
