//! The relations of `Mission` that its page can read in its own statement (its organization,
//! its publisher, its addresses, and on PostgreSQL the first page of its organization's
//! missions), read there when the page's nodes ask for them, instead of one statement each
//! after it: a page asking for all four costs four statements fewer and no round trip after
//! its own. The rows read are handed to the request's loaders ([`Batcher::prime`]), so that
//! `Mission.organization`, `Mission.publisher` and `Mission.addresses` (and any other field of
//! the request asking for the same rows) read them as if loaded: the resolvers are the same
//! whether the page joined or not.
//!
//! The page's own statement is kept whole, as a subquery: its plan (an index walk that stops
//! after the page) does not change, and each of its rows meets its organization and publisher
//! by primary key and its addresses by the addresses' mission index, under the viewer's scope,
//! as the loaders would read them; its organization's missions are a page by the
//! organizations' index, as the loader's statement reads them. On PostgreSQL each mission is
//! one row: its addresses and its organization's missions come in it as arrays of records
//! (`ARRAY(SELECT ROW(…) …)`), read into models record by record (`columns::in_records`); a
//! row costs SQLx and the reader more than its values, and a mission came in seven
//! (docs/BENCHMARKS.md, session 30). On SQLite, which has no arrays, a mission with several
//! addresses comes in as many rows, one after the other (in the page's order, its id being
//! unique): its columns are read from the first. Either way its addresses and its
//! organization's missions are put in their order as they are handed to the loaders.
//! Organizations, publishers, addresses and the organizations' missions are read for the
//! columns their fields' selections need, as their resolvers read them
//! (`organization::columns`, `publisher::columns`, `columns::of_addresses`,
//! `columns::of_connection`), and primed under the same keys.
use std::sync::Arc;

use async_graphql::SelectionField;
use passerelle_entities::access::Access;
use passerelle_entities::columns::{Cell, ColumnSet, Layout, in_records, nullable_at};
use passerelle_entities::{mission, mission_address, organization, publisher};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{Condition, DbBackend, DbErr, EntityTrait, IdenStatic, QueryResult};

use super::search::MissionRow;
use super::types::Mission;
use crate::batch::{Batcher, FastMap};
use crate::loader::{
    AddressesOf, DbLoader, MissionsOf, NestedPage, OrganizationColumns, PublisherColumns,
};
use crate::organization::columns as organization_columns;
use crate::organization::missions_ahead_of;
use crate::publisher::columns as publisher_columns;
use crate::scope::Scoped;

/// The subquery's name in the joined statement.
const PAGE: &str = "page";
/// The prefixes of the joined rows' columns.
const ORGANIZATION: &str = "o_";
const PUBLISHER: &str = "p_";
const ADDRESS: &str = "a_";
/// The arrays of records of the to-many relations in the joined statement, on PostgreSQL: the
/// page of the organization's missions, the mission's addresses.
const ORGANIZATION_MISSIONS: &str = "m_records";
const ADDRESSES: &str = "a_records";

/// The relations a page reads with its missions, each with the rows of it the viewer may read
/// (`None`: not read with the page).
#[derive(Debug, Clone, Default)]
pub struct Joined {
    organization: Option<Projected<organization::Columns>>,
    publisher: Option<Projected<publisher::Columns>>,
    addresses: Option<Projected<mission_address::Columns>>,
    organization_missions: Option<OrganizationMissions>,
    /// Whether the to-many relations come as arrays of records, one row per mission
    /// (PostgreSQL), or as rows, one per address (SQLite).
    arrays: bool,
}

/// How a page reads one to-one or to-many relation of its missions (`C`: the relation's column
/// set): the rows the viewer may read, and the columns each field of the nodes naming the
/// relation reads (`organization_columns::of_object`, `publisher_columns::of_object`,
/// `columns::of_addresses`): the statement selects all of them, and the rows are primed under
/// each field's own set, the key its resolver loads.
#[derive(Debug, Clone)]
struct Projected<C> {
    scope: Condition,
    fields: Vec<C>,
    columns: C,
}

impl<C: ColumnSet> Projected<C> {
    /// The relation `name` as the nodes of `connection` ask for it (`of`: the columns a field
    /// reads), under `scope`; `None` when no node asks for it or the viewer may read none of
    /// its rows (`scope` is made only when a node asks).
    fn of(
        connection: SelectionField<'_>,
        name: &str,
        of: impl Fn(SelectionField<'_>) -> C,
        scope: impl FnOnce() -> Option<Condition>,
    ) -> Option<Self> {
        let fields = super::columns::sets_of_fields(connection, name, of);
        if fields.is_empty() {
            return None;
        }
        Some(Projected {
            scope: scope()?,
            columns: fields.iter().fold(C::EMPTY, |all, c| all.and(*c)),
            fields,
        })
    }
}

/// How a page reads the first missions of its missions' organizations (`organization {
/// missions(first: n) { … } }`), on PostgreSQL: the rows the viewer may read in the statuses
/// asked, and the page every `organization` field of the nodes asks for, the same for all
/// (`parent.0`, the organization, is 0 here). The loader's statement for it is a lateral page
/// per organization (`loader::windowed`); read with the page, it is a page per mission, an
/// array of records in the mission's row. SQLite, which runs in the process and has no round
/// trip to save, reads them through the loader.
#[derive(Debug, Clone)]
struct OrganizationMissions {
    scope: Condition,
    page: NestedPage<MissionsOf>,
}

/// The relations of one mission of a page, when they were read with it.
#[derive(Debug, Clone, Default)]
pub struct Relations {
    pub organization: Option<Arc<organization::Model>>,
    pub publisher: Option<Arc<publisher::Model>>,
    /// In the order read until [`Joined::prime`] puts them in the publisher's; empty when not
    /// read with the page.
    pub addresses: Vec<mission_address::Model>,
    /// The first missions of its organization, in the order read until [`Joined::prime`] puts
    /// them in the page's; empty when not read with the page.
    pub organization_missions: Vec<mission::Model>,
}

impl Joined {
    /// The relations the nodes of `connection` (a `missions` field) ask for, fragments and
    /// aliases included, that `access` may read some of, on `backend`.
    pub fn of_connection(
        connection: SelectionField<'_>,
        access: &Access,
        backend: DbBackend,
    ) -> Joined {
        let mut joined = Joined {
            organization: Projected::of(
                connection,
                "organization",
                organization_columns::of_object,
                || organization::Entity::scope(access),
            ),
            publisher: Projected::of(
                connection,
                "publisher",
                publisher_columns::of_object,
                || publisher::Entity::scope(access),
            ),
            addresses: Projected::of(
                connection,
                "addresses",
                super::columns::of_addresses,
                || mission_address::Entity::scope(access),
            ),
            organization_missions: None,
            arrays: backend == DbBackend::Postgres,
        };
        if joined.arrays && joined.organization.is_some() {
            // One page for every `organization` field, from its start: fields asking for
            // different pages, or none, leave them to the loader.
            let pages =
                super::columns::sets_of_fields(connection, "organization", missions_ahead_of);
            if let [Some(page)] = pages.as_slice()
                && page.after.is_none()
            {
                joined.organization_missions =
                    access
                        .missions(page.parent.1)
                        .map(|scope| OrganizationMissions {
                            scope,
                            page: page.clone(),
                        });
            }
        }
        joined
    }

    /// Whether the page reads no relation with itself.
    pub fn is_empty(&self) -> bool {
        self.organization.is_none()
            && self.publisher.is_none()
            && self.addresses.is_none()
            && self.organization_missions.is_none()
    }

    /// Whether a mission may come in several rows (its addresses, on SQLite).
    fn rows_per_mission(&self) -> bool {
        !self.arrays && self.addresses.is_some()
    }

    /// `page` (a page of missions, in its order) with its missions' relations beside each:
    /// `SELECT page.*, organizations.… AS o_…, publishers.… AS p_…, ARRAY(the organization's
    /// first missions as records) AS m_records, ARRAY(the mission's addresses as records) AS
    /// a_records FROM (page) AS page LEFT JOIN organizations … LEFT JOIN publishers …`, in
    /// `page`'s order again (`key`: the name of the sort key's column in `page`'s output, then
    /// the id); on SQLite the addresses are `LEFT JOIN mission_addresses …`, a row each. `page`
    /// itself when nothing is joined.
    ///
    /// (Measured on PostgreSQL against the rows: arrays of records cost the statement as much,
    /// a lateral `array_agg` per column an eighth more; docs/BENCHMARKS.md, session 30.)
    pub fn wrap(&self, page: SelectStatement, key: &str, direction: Order) -> SelectStatement {
        if self.is_empty() {
            return page;
        }
        let mut q = SelectStatement::new();
        q.column((Alias::new(PAGE), Asterisk))
            .from_subquery(page, Alias::new(PAGE));
        if let Some(organizations) = &self.organization {
            join::<organization::Entity>(
                &mut q,
                (ORGANIZATION, organizations.columns.iter()),
                (organization::Column::Id, "organization_id"),
                &organizations.scope,
            );
        }
        if let Some(publishers) = &self.publisher {
            join::<publisher::Entity>(
                &mut q,
                (PUBLISHER, publishers.columns.iter()),
                (publisher::Column::Id, "publisher_id"),
                &publishers.scope,
            );
        }
        if self.arrays {
            if let Some(missions) = &self.organization_missions {
                q.expr_as(
                    records(missions.records()),
                    Alias::new(ORGANIZATION_MISSIONS),
                );
            }
            if let Some(addresses) = &self.addresses {
                q.expr_as(records(address_records(addresses)), Alias::new(ADDRESSES));
            }
        } else if let Some(addresses) = &self.addresses {
            join::<mission_address::Entity>(
                &mut q,
                (ADDRESS, addresses.columns.iter()),
                (mission_address::Column::MissionId, "id"),
                &addresses.scope,
            );
        }
        // A mission's rows come one after the other, its id being unique; its addresses and
        // its organization's missions are put in order as they are handed over (`prime`):
        // ordered here, SQLite would sort the rows of each mission after reading them.
        q.order_by_expr(page_column(key), direction.clone())
            .order_by_expr(page_column("id"), direction);
        q
    }

    /// The relations read beside one mission of the joined statement, in the first of its
    /// rows: a relation joined but with no row (none, or none the viewer may read) is `None`.
    /// A row `seen` beside an earlier mission of the page (a page's missions share a handful of
    /// publishers) is not decoded again but shared.
    pub fn read(&self, res: &QueryResult, seen: &mut Seen) -> Result<Relations, DbErr> {
        let mut relations = Relations {
            organization: match &self.organization {
                Some(organizations) => {
                    let columns = organizations.columns;
                    read_prefixed(
                        res,
                        &mut seen.organizations,
                        |res| columns.layout(res, ORGANIZATION),
                        organization::Column::Id as u32,
                        |res, layout| organization::Model::read_at(res, layout, columns),
                    )?
                }
                None => None,
            },
            publisher: match &self.publisher {
                Some(publishers) => {
                    let columns = publishers.columns;
                    read_prefixed(
                        res,
                        &mut seen.publishers,
                        |res| columns.layout(res, PUBLISHER),
                        publisher::Column::Id as u32,
                        |res, layout| publisher::Model::read_at(res, layout, columns),
                    )?
                }
                None => None,
            },
            addresses: Vec::new(),
            organization_missions: Vec::new(),
        };
        self.read_many(res, seen, &mut relations)?;
        Ok(relations)
    }

    /// Whether `res` is a further row of the mission read last (`previous`, its id): the row
    /// of its next address, all else repeated (SQLite).
    pub fn continues(
        &self,
        res: &QueryResult,
        seen: &mut Seen,
        previous: i64,
    ) -> Result<bool, DbErr> {
        if !self.rows_per_mission() {
            return Ok(false);
        }
        let at = match seen.mission_id {
            Some(at) => at,
            None => *seen.mission_id.insert(Layout::position(res, "id")?),
        };
        Ok(i64::cell(res, at)? == previous)
    }

    /// Adds to `relations` what `res` holds of the to-many relations the page reads: all of
    /// the mission's addresses and its organization's missions, as records (PostgreSQL), or
    /// one address (SQLite).
    pub fn read_many(
        &self,
        res: &QueryResult,
        seen: &mut Seen,
        relations: &mut Relations,
    ) -> Result<(), DbErr> {
        if let Some(addresses) = &self.addresses {
            let columns = addresses.columns;
            if self.arrays {
                let (at, layout) = match &seen.address_records {
                    Some(found) => found,
                    None => seen
                        .address_records
                        .insert(in_records_at(res, ADDRESSES, columns)?),
                };
                relations.addresses = in_records(res, *at, |record| {
                    mission_address::Model::read_from(record, layout, columns)
                })?;
            } else {
                let layout = match &seen.addresses {
                    Some(found) => found,
                    None => seen.addresses.insert(columns.layout(res, ADDRESS)?),
                };
                if nullable_at::<i64>(res, layout.at(mission_address::Column::Id as u32))?.is_some()
                {
                    let row = mission_address::Model::read_at(res, layout, columns)?;
                    relations.addresses.push(row);
                }
            }
        }
        if let Some(missions) = &self.organization_missions {
            let columns = missions.page.parent.2;
            let (at, layout) = match &seen.organization_missions {
                Some(found) => found,
                None => seen.organization_missions.insert(in_records_at(
                    res,
                    ORGANIZATION_MISSIONS,
                    columns,
                )?),
            };
            relations.organization_missions = in_records(res, *at, |record| {
                mission::Model::read_from(record, layout, columns)
            })?;
        }
        Ok(())
    }

    /// Hands the relations read with `rows` to the request's loaders: each mission's
    /// organization, publisher and addresses, or their absence, are then known without a
    /// statement (the addresses move into the loaders).
    pub fn prime(&self, loaders: &Batcher<DbLoader>, rows: &mut [MissionRow]) {
        if let Some(organizations) = &self.organization {
            for columns in &organizations.fields {
                loaders.prime(rows.iter().filter_map(|r| {
                    let id = r.mission.organization_id?;
                    Some((
                        OrganizationColumns(id, *columns),
                        r.relations.organization.clone(),
                    ))
                }));
            }
        }
        if let Some(publishers) = &self.publisher {
            for columns in &publishers.fields {
                loaders.prime(rows.iter().map(|r| {
                    (
                        PublisherColumns(r.mission.publisher_id, *columns),
                        r.relations.publisher.clone(),
                    )
                }));
            }
        }
        if let Some(addresses) = &self.addresses {
            let read: Vec<_> = rows
                .iter_mut()
                .map(|r| {
                    let mut read = std::mem::take(&mut r.relations.addresses);
                    read.sort_unstable_by_key(|a| (a.position, a.id));
                    (r.mission.id, Arc::new(read))
                })
                .collect();
            for columns in &addresses.fields {
                loaders.prime(
                    read.iter()
                        .map(|(id, rows)| (AddressesOf(*id, *columns), Some(rows.clone()))),
                );
            }
        }
        if let Some(missions) = &self.organization_missions {
            // Missions of one organization read its page as many times: primed once.
            let mut pages: FastMap<i64, Arc<Vec<Mission>>> = FastMap::default();
            for r in rows.iter_mut() {
                let read = std::mem::take(&mut r.relations.organization_missions);
                if let Some(organization) = r.mission.organization_id {
                    pages.entry(organization).or_insert_with(|| {
                        let mut read = read;
                        read.sort_unstable_by_key(|m| (m.start_at, m.id));
                        Mission::shared(read)
                    });
                }
            }
            loaders.prime(pages.into_iter().map(|(organization, rows)| {
                let mut key = missions.page.clone();
                key.parent.0 = organization;
                (key, Some(rows))
            }));
        }
    }
}

impl OrganizationMissions {
    /// The first missions of the page's row's organization the viewer may read, in the
    /// loader's order, each one record of the columns asked, in the set's order: `SELECT
    /// ROW(missions.…) FROM missions WHERE organization_id = page.organization_id AND scope
    /// ORDER BY start_at, id LIMIT n`.
    fn records(&self) -> SelectStatement {
        let table = mission::Entity;
        let mut records = Query::select();
        records
            .expr(record(
                self.page.parent.2.iter().map(|c| Expr::col((table, c))),
            ))
            .from(table)
            .cond_where(
                Condition::all()
                    .add(
                        Expr::col((table, mission::Column::OrganizationId))
                            .eq(page_column("organization_id")),
                    )
                    .add(self.scope.clone()),
            )
            .order_by((table, mission::Column::StartAt), Order::Asc)
            .order_by((table, mission::Column::Id), Order::Asc)
            .limit(self.page.limit);
        records
    }
}

/// The page's row's addresses the viewer may read, each one record of the columns asked, in
/// the set's order: `SELECT ROW(mission_addresses.…) FROM mission_addresses WHERE mission_id =
/// page.id AND scope`.
fn address_records(addresses: &Projected<mission_address::Columns>) -> SelectStatement {
    let table = mission_address::Entity;
    let mut records = Query::select();
    records
        .expr(record(
            addresses.columns.iter().map(|c| Expr::col((table, c))),
        ))
        .from(table)
        .cond_where(
            Condition::all()
                .add(Expr::col((table, mission_address::Column::MissionId)).eq(page_column("id")))
                .add(addresses.scope.clone()),
        );
    records
}

/// `ROW(values…)`: one record of the values, in their order.
fn record(values: impl Iterator<Item = Expr>) -> Expr {
    Func::cust("ROW").args(values).into()
}

/// `ARRAY(rows)`: the rows of `rows` (of one column) as one array, in their order (an empty
/// array when there is none).
fn records(rows: SelectStatement) -> Expr {
    Expr::cust_with_expr("ARRAY $1", Expr::SubQuery(None, Box::new(rows.into())))
}

/// Where the array of records named `name` stands in `res`, and where each column of `columns`
/// stands in its records.
fn in_records_at<C: ColumnSet>(
    res: &QueryResult,
    name: &'static str,
    columns: C,
) -> Result<(usize, Layout), DbErr> {
    Ok((Layout::position(res, name)?, columns.in_order()))
}

/// A column of the page, in the joined statement.
fn page_column(name: &str) -> Expr {
    Expr::col((Alias::new(PAGE), Alias::new(name)))
}

/// Adds to `q` the rows of `E` whose column `on` equals the page's column `key`, under
/// `scope`: the `columns` given, each named `prefix` + column.
fn join<E: EntityTrait>(
    q: &mut SelectStatement,
    (prefix, columns): (&str, impl Iterator<Item = E::Column>),
    (on, key): (E::Column, &str),
    scope: &Condition,
) {
    for c in columns {
        q.expr_as(
            Expr::col((E::default(), c)),
            Alias::new(format!("{prefix}{}", c.as_str())),
        );
    }
    q.join(
        JoinType::LeftJoin,
        E::default(),
        Condition::all()
            .add(Expr::col((E::default(), on)).eq(page_column(key)))
            .add(scope.clone()),
    );
}

/// The rows of the relations a page's statement read so far, and where the columns stand in
/// its rows (found in the first).
#[derive(Debug, Default)]
pub struct Seen {
    organizations: Known<organization::Model>,
    publishers: Known<publisher::Model>,
    /// Where the addresses stand in the rows (SQLite).
    addresses: Option<Layout>,
    /// Where the array of the addresses' records stands, and where they stand in its records
    /// (PostgreSQL); the same for the organizations' missions.
    address_records: Option<(usize, Layout)>,
    organization_missions: Option<(usize, Layout)>,
    /// The page's `id` column.
    mission_id: Option<usize>,
}

/// The rows of a joined table met so far in the statement, by id, and where its columns stand
/// in the statement's rows (found in the first row).
#[derive(Debug)]
struct Known<M> {
    rows: FastMap<i64, Arc<M>>,
    layout: Option<Layout>,
}

impl<M> Default for Known<M> {
    fn default() -> Self {
        Known {
            rows: FastMap::default(),
            layout: None,
        }
    }
}

/// The row of a left-joined table (its columns prefixed, found by `layout`), if there was one:
/// decoded by `read` the first time its id (the column of index `id`) is met, shared after.
fn read_prefixed<M>(
    res: &QueryResult,
    known: &mut Known<M>,
    layout: impl FnOnce(&QueryResult) -> Result<Layout, DbErr>,
    id: u32,
    read: impl FnOnce(&QueryResult, &Layout) -> Result<M, DbErr>,
) -> Result<Option<Arc<M>>, DbErr> {
    let layout = match &known.layout {
        Some(found) => found,
        None => known.layout.insert(layout(res)?),
    };
    let Some(id) = nullable_at::<i64>(res, layout.at(id))? else {
        return Ok(None);
    };
    if let Some(row) = known.rows.get(&id) {
        return Ok(Some(row.clone()));
    }
    let row = Arc::new(read(res, layout)?);
    known.rows.insert(id, row.clone());
    Ok(Some(row))
}
