//! Turns a `MissionFilter` and `MissionOrder` into SQL: one statement for a page, one for the
//! count, one per facet; all filtered in the database, through indexes.
use passerelle_db::Reads;
use passerelle_entities::access::{Access, StatusSet};
use passerelle_entities::mission::Columns;
use passerelle_entities::{geo, mission, search, time};
use std::collections::BTreeMap;
use std::sync::Arc;

use sea_orm::IdenStatic;

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, SelectStatement, Value};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult,
    Statement,
};

use super::filter::{MissionFilter, MissionOrder, MissionOrderField};
use super::joined::{Joined, Relations, Seen};
use crate::counts::{CountCache, Counts};
use crate::cursor::{Cursor, SortValue, time_value};
use crate::enums::{MissionStatus, OrderDirection};
use crate::error::{ApiError, ApiResult};
use crate::filter::{department_codes, ids, non_empty};
use crate::sql::{FullText, HAVERSINE_KM, after_key, cust, with_literal_limit};

/// The longest `keywords` accepted, in characters.
pub const MAX_KEYWORDS_CHARS: usize = 200;
/// The most words `keywords` may hold.
pub const MAX_KEYWORDS_WORDS: usize = 16;
/// The largest `near.radiusKm` accepted.
pub const MAX_RADIUS_KM: f64 = 1000.0;

/// A `near` filter, checked.
#[derive(Debug, Clone, Copy)]
struct Near {
    lat: f64,
    lon: f64,
    radius_km: f64,
    bbox: (f64, f64, f64, f64),
}

/// How many of the circle's nearest missions a page by distance looks at first.
const NEAREST_FIRST: u64 = 200;

/// How a statement keeps the missions its keywords match, on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matches {
    /// `id IN (matches)`, each match's row read by its id: the way when few missions match.
    ByLookup,
    /// `+id IN (matches)`: the page walks the index its order and other filters would walk
    /// without keywords, and keeps the missions among the matches (the `+` stops SQLite from
    /// reading every match's row by its id). A page of 20 reads about `20 × missions ÷ matches`
    /// index entries and its own rows, instead of one row per match and a sort.
    ByMembership,
    /// Joined to the matches with their score, to order by relevance.
    Scored,
}

/// Above this many matching missions, a page keeps its missions [`Matches::ByMembership`]. On
/// 100,000 missions (docs/BENCHMARKS.md), a page by start date took, by lookup then by
/// membership: 0.28 then 1.33 ms for 407 matches, 1.49 then 0.58 for 1,980, 8.4 then 1.4 for
/// 7,992, 68 then 15 for all.
const MANY_MATCHES: i64 = 1_000;

/// The rings a page by distance, nearest first, looks in before the whole circle: the part of
/// the radius beyond the cursor's distance each one adds (a sixteenth, then a quarter).
const RINGS: [f64; 2] = [1.0 / 16.0, 1.0 / 4.0];

/// A cut of the `near` circle to its `limit` nearest missions (farthest, descending) after a
/// cursor's (distance, id), within `ring` when given.
#[derive(Debug, Clone)]
struct Nearest {
    limit: u64,
    direction: Order,
    after: Option<(f64, i64)>,
    /// A smaller circle around the same point (its radius and bounding box): every mission with
    /// an address within it is found from the addresses of its box alone, at its exact
    /// distance, so its missions in distance order are a prefix of the circle's.
    ring: Option<(f64, (f64, f64, f64, f64))>,
}

/// A checked filter, ready to become SQL on one engine.
#[derive(Debug, Clone)]
pub struct MissionSearch {
    backend: DbBackend,
    /// `None`: the viewer may read no mission of the statuses asked for.
    condition: Option<Condition>,
    full_text: Option<FullText>,
    near: Option<Near>,
    /// Whether the search is every public mission and nothing else (no filter, no scope
    /// narrower than [`mission::is_public`]): what the tally of public missions answers.
    every_public: bool,
    /// What the request counted, for the fields that ask for it side by side (each waits for
    /// the first): the tally of public missions (the total and the four facets), and the
    /// domain, type and remote facets of any other search.
    tally: tokio::sync::OnceCell<Arc<PublicTally>>,
    columns: tokio::sync::OnceCell<Arc<ColumnFacets>>,
}

/// The counts of every public mission, summed from the tally the database keeps
/// (`public_mission_tally`, migration 10).
#[derive(Debug)]
struct PublicTally {
    total: i64,
    columns: Arc<ColumnFacets>,
    departments: Counts,
}

/// The columns of [`ColumnFacets`], in the order of its fields.
const COLUMN_FACETS: [mission::Column; 3] = [
    mission::Column::Domain,
    mission::Column::MissionType,
    mission::Column::Remote,
];

/// The counts by a column of missions, each most frequent first: stored values (`SPORT`'s is
/// `sport`), and how many missions have them.
#[derive(Debug, Default)]
pub struct ColumnFacets {
    pub domains: Vec<(String, i64)>,
    pub types: Vec<(String, i64)>,
    pub remote: Vec<(String, i64)>,
}

/// A resolved order: the field, its direction, and the cursor list name it issues.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedOrder {
    pub field: MissionOrderField,
    pub direction: OrderDirection,
}

impl ResolvedOrder {
    /// The name its cursors carry: `missions:` with the field and the direction as Rust names
    /// them (`missions:StartAt:Asc`), as cursors always did.
    pub fn list_name(&self) -> &'static str {
        macro_rules! names {
            ($($field:ident),*) => {
                match (self.field, self.direction) {
                    $(
                        (MissionOrderField::$field, OrderDirection::Asc) => {
                            concat!("missions:", stringify!($field), ":Asc")
                        }
                        (MissionOrderField::$field, OrderDirection::Desc) => {
                            concat!("missions:", stringify!($field), ":Desc")
                        }
                    )*
                }
            };
        }
        names!(StartAt, PostedAt, CreatedAt, Distance, Relevance)
    }

    /// The column of `missions` the order sorts by (none for a computed value: the distance,
    /// the relevance).
    pub fn sort_column(&self) -> Option<mission::Column> {
        match self.field {
            MissionOrderField::StartAt => Some(mission::Column::StartAt),
            MissionOrderField::PostedAt => Some(mission::Column::PostedAt),
            MissionOrderField::CreatedAt => Some(mission::Column::CreatedAt),
            MissionOrderField::Distance | MissionOrderField::Relevance => None,
        }
    }
}

/// A mission row with the computed values of its query.
pub struct MissionRow {
    pub mission: mission::Model,
    pub distance_km: Option<f64>,
    pub score: Option<f64>,
    /// The relations read with the page (see [`Joined`]).
    pub relations: Relations,
}

impl MissionRow {
    /// A row of a page: the mission, and the distance and score when the statement selected
    /// them. A value that was selected but cannot be read is an error, never a default: a
    /// cursor made from a wrong value could send a client round in circles.
    fn read(
        res: &QueryResult,
        missions: &mut mission::Reader<'_>,
        distance: bool,
        score: bool,
        joined: &Joined,
        seen: &mut Seen,
    ) -> Result<Self, DbErr> {
        Ok(MissionRow {
            mission: missions.read(res)?,
            distance_km: distance
                .then(|| res.try_get::<f64>("", "distance_km"))
                .transpose()?,
            score: score.then(|| res.try_get::<f64>("", "score")).transpose()?,
            relations: joined.read(res, seen)?,
        })
    }
}

/// Refuses dates outside years 1 to 9999: PostgreSQL stores nothing before 4713 BC, and SQLite
/// compares timestamps as text, which holds only for four-digit years.
fn check_year(field: &str, t: chrono::DateTime<chrono::Utc>) -> ApiResult<()> {
    use chrono::Datelike;
    if (1..=9999).contains(&t.year()) {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            field,
            "must be between the years 1 and 9999",
        ))
    }
}

/// The statuses a list asks for: VALIDATED when none are given.
///
/// # Errors
/// `BAD_USER_INPUT` for a list longer than every status.
pub fn status_set(field: &str, statuses: Option<Vec<MissionStatus>>) -> ApiResult<StatusSet> {
    Ok(match non_empty(field, statuses)? {
        Some(list) => list
            .into_iter()
            .map(passerelle_entities::MissionStatus::from)
            .collect(),
        None => StatusSet::VALIDATED,
    })
}

fn check_words(keywords: &str) -> ApiResult<Option<Vec<String>>> {
    if keywords.trim().is_empty() {
        return Ok(None);
    }
    let chars = keywords.chars().count();
    if chars > MAX_KEYWORDS_CHARS {
        return Err(ApiError::bad_input(
            "filter.keywords",
            format!("{chars} characters; at most {MAX_KEYWORDS_CHARS}"),
        ));
    }
    let words = search::tokens(keywords);
    if words.is_empty() {
        return Err(ApiError::bad_input(
            "filter.keywords",
            "holds no word to search for",
        ));
    }
    if words.len() > MAX_KEYWORDS_WORDS {
        return Err(ApiError::bad_input(
            "filter.keywords",
            format!("at most {MAX_KEYWORDS_WORDS} words"),
        ));
    }
    Ok(Some(words))
}

impl MissionSearch {
    /// Checks every field of the filter and builds the search over the missions `access` may
    /// read.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming the field at fault: coordinates outside the world, a radius that
    /// is not in (0, 1000] km, an unknown department, a malformed id, too long keywords.
    pub fn new(backend: DbBackend, filter: MissionFilter, access: &Access) -> ApiResult<Self> {
        let scope = access.missions(status_set("filter.statuses", filter.statuses)?);
        let mut c = scope.clone().unwrap_or_else(Condition::all);
        if let Some(domains) = non_empty("filter.domains", filter.domains)? {
            c = c.add(
                mission::Column::Domain
                    .is_in(domains.into_iter().map(passerelle_entities::Domain::from)),
            );
        }
        if let Some(types) = non_empty("filter.types", filter.types)? {
            c = c.add(
                mission::Column::MissionType.is_in(
                    types
                        .into_iter()
                        .map(passerelle_entities::MissionType::from),
                ),
            );
        }
        if let Some(remote) = non_empty("filter.remote", filter.remote)? {
            c = c.add(
                mission::Column::Remote
                    .is_in(remote.into_iter().map(passerelle_entities::Remote::from)),
            );
        }
        if let Some(wanted) = non_empty("filter.moderationStatuses", filter.moderation_statuses)? {
            let Access::Partner { publisher_id, .. } = access else {
                return Err(ApiError::bad_input(
                    "filter.moderationStatuses",
                    "only a moderator publisher lists missions by its own decisions",
                ));
            };
            let wanted: Vec<passerelle_entities::PublisherModerationStatus> =
                wanted.into_iter().map(Into::into).collect();
            let decided = |statuses: Vec<passerelle_entities::PublisherModerationStatus>| {
                Query::select()
                    .column(Alias::new("mission_id"))
                    .from(Alias::new("mission_moderations"))
                    .and_where(Expr::col(Alias::new("moderator_id")).eq(*publisher_id))
                    .and_where(
                        Expr::col(Alias::new("status"))
                            .is_in(statuses.into_iter().map(|s| s.as_str())),
                    )
                    .to_owned()
            };
            // PENDING has no row: asked for, it is every mission without another decision.
            c = if wanted.contains(&passerelle_entities::PublisherModerationStatus::Pending) {
                let others = passerelle_entities::PublisherModerationStatus::ALL
                    .iter()
                    .copied()
                    .filter(|s| !wanted.contains(s))
                    .collect::<Vec<_>>();
                if others.is_empty() {
                    c
                } else {
                    c.add(mission::Column::Id.not_in_subquery(decided(others)))
                }
            } else {
                c.add(mission::Column::Id.in_subquery(decided(wanted)))
            };
        }
        if let Some(known) = department_codes("filter.departmentCodes", filter.department_codes)? {
            let sub = Query::select()
                .column((Alias::new("mission_addresses"), Alias::new("mission_id")))
                .from(Alias::new("mission_addresses"))
                .and_where(
                    Expr::col((
                        Alias::new("mission_addresses"),
                        Alias::new("department_code"),
                    ))
                    .is_in(known),
                )
                .to_owned();
            c = c.add(mission::Column::Id.in_subquery(sub));
        }
        let near = match filter.near {
            None => None,
            Some(n) => {
                if !n.lat.is_finite() || !(-90.0..=90.0).contains(&n.lat) {
                    return Err(ApiError::bad_input(
                        "filter.near.lat",
                        "must be between -90 and 90",
                    ));
                }
                if !n.lon.is_finite() || !(-180.0..=180.0).contains(&n.lon) {
                    return Err(ApiError::bad_input(
                        "filter.near.lon",
                        "must be between -180 and 180",
                    ));
                }
                if !n.radius_km.is_finite() || n.radius_km <= 0.0 || n.radius_km > MAX_RADIUS_KM {
                    return Err(ApiError::bad_input(
                        "filter.near.radiusKm",
                        format!("must be more than 0 and at most {MAX_RADIUS_KM}"),
                    ));
                }
                Some(Near {
                    lat: n.lat,
                    lon: n.lon,
                    radius_km: n.radius_km,
                    bbox: geo::bounding_box(n.lat, n.lon, n.radius_km),
                })
            }
        };
        // Stored times are whole seconds (see `passerelle_entities::time`): round the bounds
        // inwards to whole seconds so that text comparison on SQLite stays time comparison.
        if let Some(t) = filter.starts_after {
            check_year("filter.startsAfter", t)?;
            let whole = time::to_db(t);
            let bound = if whole < t {
                whole
                    .checked_add_signed(chrono::Duration::seconds(1))
                    .ok_or_else(|| {
                        ApiError::bad_input("filter.startsAfter", "is beyond the last date")
                    })?
            } else {
                whole
            };
            c = c.add(mission::Column::StartAt.gte(bound));
        }
        if let Some(t) = filter.ends_before {
            check_year("filter.endsBefore", t)?;
            c = c.add(mission::Column::EndAt.lte(time::to_db(t)));
        }
        if let Some(b) = filter.open_to_minors {
            c = c.add(mission::Column::OpenToMinors.eq(b));
        }
        if let Some(b) = filter.snu {
            c = c.add(mission::Column::Snu.eq(b));
        }
        if let Some(b) = filter.has_places_left {
            c = c.add(if b {
                mission::Column::PlacesLeft.gt(0)
            } else {
                mission::Column::PlacesLeft.lte(0)
            });
        }
        if let Some(ids) = ids("filter.publisherIds", filter.publisher_ids)? {
            c = c.add(mission::Column::PublisherId.is_in(ids));
        }
        if let Some(ids) = ids("filter.organizationIds", filter.organization_ids)? {
            c = c.add(mission::Column::OrganizationId.is_in(ids));
        }
        let full_text = filter
            .keywords
            .as_deref()
            .map(check_words)
            .transpose()?
            .flatten()
            .map(|words| FullText::new(backend, &words));
        if let (Some(ft), DbBackend::Postgres) = (&full_text, backend) {
            c = c.add(cust(
                backend,
                "\"missions\".\"search_vector\" @@ to_tsquery('simple', ?)",
                vec![ft.query.clone().into()],
            ));
        }
        let every_public =
            scope.is_some() && c == mission::is_public() && full_text.is_none() && near.is_none();
        Ok(MissionSearch {
            backend,
            condition: scope.map(|_| c),
            full_text,
            near,
            every_public,
            tally: tokio::sync::OnceCell::new(),
            columns: tokio::sync::OnceCell::new(),
        })
    }

    /// The order to use: the one asked for, checked, or the default for this filter.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` for DISTANCE without `near`, RELEVANCE without `keywords`.
    pub fn resolve_order(&self, order: Option<MissionOrder>) -> ApiResult<ResolvedOrder> {
        let order = match order {
            Some(o) => ResolvedOrder {
                field: o.field,
                direction: o.direction,
            },
            None if self.full_text.is_some() => ResolvedOrder {
                field: MissionOrderField::Relevance,
                direction: OrderDirection::Desc,
            },
            None if self.near.is_some() => ResolvedOrder {
                field: MissionOrderField::Distance,
                direction: OrderDirection::Asc,
            },
            None => ResolvedOrder {
                field: MissionOrderField::PostedAt,
                direction: OrderDirection::Desc,
            },
        };
        match order.field {
            MissionOrderField::Distance if self.near.is_none() => Err(ApiError::bad_input(
                "orderBy.field",
                "DISTANCE needs filter.near",
            )),
            MissionOrderField::Relevance if self.full_text.is_none() => Err(ApiError::bad_input(
                "orderBy.field",
                "RELEVANCE needs filter.keywords",
            )),
            _ => Ok(order),
        }
    }

    /// `FROM missions … WHERE …`: the filtered set, with no columns yet.
    fn base(&self, condition: &Condition) -> SelectStatement {
        self.base_with(condition, Matches::ByLookup, None)
    }

    /// [`MissionSearch::base`], the `near` circle cut to its `nearest` missions when given.
    ///
    /// With `near`, missions are joined to `near`, one row per mission with the distance to its
    /// nearest address in the circle: the bounding box narrows the addresses on the covering
    /// (lat, lon, mission_id) index, the haversine distance is computed once per address. (An
    /// R*Tree on SQLite and a GiST over `point(lon, lat)` on PostgreSQL were measured in its
    /// place and were no faster: docs/BENCHMARKS.md.) A page by distance takes only the
    /// circle's nearest missions (after its cursor) before reading them, so that missions are
    /// read for the page rather than for the whole circle (see [`MissionSearch::page`]).
    /// With keywords on SQLite, missions are kept as `matches` says: by
    /// `id IN (SELECT rowid … MATCH …)`, by `+id IN (…)`, or, to order by relevance, joined to
    /// the FTS5 results with their score.
    fn base_with(
        &self,
        condition: &Condition,
        matches: Matches,
        nearest: Option<&Nearest>,
    ) -> SelectStatement {
        let mut q = Query::select();
        q.from(mission::Entity).cond_where(condition.clone());
        if let Some(near) = self.near {
            let (radius_km, (a, b, l, r)) = nearest
                .and_then(|n| n.ring)
                .unwrap_or((near.radius_km, near.bbox));
            let circle = Query::select()
                .column((Alias::new("mission_addresses"), Alias::new("mission_id")))
                .expr_as(
                    cust(
                        self.backend,
                        &format!("MIN({HAVERSINE_KM})"),
                        vec![near.lat.into(), near.lat.into(), near.lon.into()],
                    ),
                    Alias::new("distance_km"),
                )
                .from(Alias::new("mission_addresses"))
                .and_where(cust(
                    self.backend,
                    "mission_addresses.lat BETWEEN ? AND ? AND mission_addresses.lon BETWEEN ? AND ?",
                    vec![a.into(), b.into(), l.into(), r.into()],
                ))
                .group_by_col((Alias::new("mission_addresses"), Alias::new("mission_id")))
                .to_owned();
            let addresses = match nearest {
                None => circle,
                Some(nearest) => {
                    let distance = Expr::col((Alias::new("circle"), Alias::new("distance_km")));
                    let id = Expr::col((Alias::new("circle"), Alias::new("mission_id")));
                    let mut cut = Query::select();
                    cut.column((Alias::new("circle"), Alias::new("mission_id")))
                        .column((Alias::new("circle"), Alias::new("distance_km")))
                        .from_subquery(circle, Alias::new("circle"))
                        .and_where(distance.clone().lte(radius_km));
                    if let Some((d, after_id)) = nearest.after {
                        cut.cond_where(after_key(
                            distance.clone(),
                            d.into(),
                            id.clone(),
                            after_id,
                            &nearest.direction,
                        ));
                    }
                    cut.order_by_expr(distance, nearest.direction.clone())
                        .order_by_expr(id, nearest.direction.clone())
                        .limit(nearest.limit);
                    cut
                }
            };
            q.join_subquery(
                sea_orm::JoinType::InnerJoin,
                addresses,
                Alias::new("near"),
                Expr::col((Alias::new("near"), Alias::new("mission_id")))
                    .equals((mission::Entity, mission::Column::Id)),
            )
            .and_where(
                Expr::col((Alias::new("near"), Alias::new("distance_km"))).lte(near.radius_km),
            );
        }
        if let (Some(ft), DbBackend::Sqlite) = (&self.full_text, self.backend) {
            if matches == Matches::Scored {
                let matches = Query::select()
                    .expr_as(
                        Expr::cust("\"missions_fts\".\"rowid\""),
                        Alias::new("fts_id"),
                    )
                    .expr_as(Expr::cust("-bm25(\"missions_fts\")"), Alias::new("score"))
                    .from(Alias::new("missions_fts"))
                    .and_where(cust(
                        self.backend,
                        "\"missions_fts\" MATCH ?",
                        vec![ft.query.clone().into()],
                    ))
                    .to_owned();
                q.join_subquery(
                    sea_orm::JoinType::InnerJoin,
                    matches,
                    Alias::new("fts"),
                    Expr::col((Alias::new("fts"), Alias::new("fts_id")))
                        .equals((mission::Entity, mission::Column::Id)),
                );
            } else {
                let id = match matches {
                    Matches::ByMembership => "+\"missions\".\"id\"",
                    _ => "\"missions\".\"id\"",
                };
                q.and_where(cust(
                    self.backend,
                    &format!("{id} IN (SELECT \"missions_fts\".\"rowid\" FROM \"missions_fts\" WHERE \"missions_fts\" MATCH ?)"),
                    vec![ft.query.clone().into()],
                ));
            }
        }
        q
    }

    /// The distance from the `near` point to the mission's nearest address in the circle.
    fn distance_expr(&self) -> Option<Expr> {
        self.near
            .map(|_| Expr::col((Alias::new("near"), Alias::new("distance_km"))))
    }

    /// How well the mission matches the keywords; higher is better on both engines. On SQLite
    /// it needs the relevance join of [`MissionSearch::base`].
    fn score_expr(&self) -> Option<Expr> {
        let ft = self.full_text.as_ref()?;
        Some(match self.backend {
            DbBackend::Postgres => cust(
                self.backend,
                "CAST(ts_rank(\"missions\".\"search_vector\", to_tsquery('simple', ?)) AS DOUBLE PRECISION)",
                vec![ft.query.clone().into()],
            ),
            _ => Expr::col((Alias::new("fts"), Alias::new("score"))),
        })
    }

    /// One page: up to `size + 1` rows after the cursor, in order, each read for `columns`.
    ///
    /// By distance, the page is first looked for among the circle's nearest missions after the
    /// cursor ([`NEAREST_FIRST`] of them, then ten times more), which are a prefix of the
    /// circle in the page's order: when enough of them pass the filter, the page is exactly
    /// what the whole circle would give, and only those few missions were read. When too few
    /// pass (a filter that keeps few of them, the circle's last page), the whole circle is read.
    /// Nearest first, they are looked for in [`RINGS`] beyond the cursor before the circle:
    /// every mission with an address in a ring is found from the ring's box alone, at its exact
    /// distance, so a ring's missions are a prefix of the circle's too, and a small ring reads
    /// a thin band of the coordinates' index instead of the whole box's.
    #[allow(clippy::too_many_arguments)]
    pub async fn page(
        &self,
        db: &DatabaseConnection,
        reads: &Reads,
        order: ResolvedOrder,
        size: u64,
        after: Option<&Cursor>,
        columns: Columns,
        joined: &Joined,
    ) -> ApiResult<Vec<MissionRow>> {
        let (MissionOrderField::Distance, Some(near)) = (order.field, self.near) else {
            return self
                .page_within(db, reads, order, size, after, None, columns, joined)
                .await;
        };
        let direction = Order::from(order.direction);
        let cursor_key = match after {
            Some(c) => Some((c.number()?, c.id)),
            None => None,
        };
        let first = Ord::max(NEAREST_FIRST, (size + 1) * 10);
        // Nearest first, the rings beyond the cursor: their boxes are thinner bands of the
        // coordinates' index, and their distances are computed for their own addresses only.
        let rings = match order.direction {
            OrderDirection::Asc => {
                let from = cursor_key.map_or(0.0, |(d, _)| d);
                RINGS
                    .iter()
                    .map(|part| from + (near.radius_km - from) * part)
                    .filter(|ring| *ring > from && *ring < near.radius_km)
                    // The box of a slightly larger circle: an address at the ring's edge is
                    // inside it whatever the rounding of the box's bounds.
                    .map(|ring| {
                        let bbox = geo::bounding_box(near.lat, near.lon, ring * 1.001);
                        (first, Some((ring, bbox)))
                    })
                    .collect()
            }
            OrderDirection::Desc => Vec::new(),
        };
        for (limit, ring) in rings.into_iter().chain([(first, None), (first * 10, None)]) {
            let nearest = Nearest {
                limit,
                direction: direction.clone(),
                after: cursor_key,
                ring,
            };
            let rows = self
                .page_within(
                    db,
                    reads,
                    order,
                    size,
                    after,
                    Some(&nearest),
                    columns,
                    joined,
                )
                .await?;
            if rows.len() as u64 > size {
                return Ok(rows);
            }
        }
        self.page_within(db, reads, order, size, after, None, columns, joined)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn page_within(
        &self,
        db: &DatabaseConnection,
        reads: &Reads,
        order: ResolvedOrder,
        size: u64,
        after: Option<&Cursor>,
        nearest: Option<&Nearest>,
        columns: Columns,
        joined: &Joined,
    ) -> ApiResult<Vec<MissionRow>> {
        let Some(condition) = &self.condition else {
            return Ok(Vec::new());
        };
        let by_relevance = order.field == MissionOrderField::Relevance;
        let matches = if by_relevance {
            Matches::Scored
        } else if self.near.is_none() && self.many_matches(db).await? {
            Matches::ByMembership
        } else {
            Matches::ByLookup
        };
        let mut q = self.base_with(condition, matches, nearest);
        q.columns(columns.iter().map(|c| (mission::Entity, c)));
        let distance = self.distance_expr();
        let score = if by_relevance {
            self.score_expr()
        } else {
            None
        };
        if let Some(d) = &distance {
            q.expr_as(d.clone(), Alias::new("distance_km"));
        }
        if let Some(s) = &score {
            q.expr_as(s.clone(), Alias::new("score"));
        }
        // The sort key, and its column's name in the page's output.
        let time = |c: mission::Column| (Expr::col((mission::Entity, c)), c.as_str());
        let (key, key_name): (Expr, &str) = match order.field {
            MissionOrderField::StartAt => time(mission::Column::StartAt),
            MissionOrderField::PostedAt => time(mission::Column::PostedAt),
            MissionOrderField::CreatedAt => time(mission::Column::CreatedAt),
            MissionOrderField::Distance => (
                distance
                    .clone()
                    .ok_or_else(|| ApiError::bad_input("orderBy", "needs near"))?,
                "distance_km",
            ),
            MissionOrderField::Relevance => (
                score
                    .clone()
                    .ok_or_else(|| ApiError::bad_input("orderBy", "needs keywords"))?,
                "score",
            ),
        };
        let id = Expr::col((mission::Entity, mission::Column::Id));
        if let Some(after) = after {
            let value: Value = match order.field {
                MissionOrderField::Distance | MissionOrderField::Relevance => {
                    after.number()?.into()
                }
                _ => after.time()?.into(),
            };
            q.cond_where(after_key(
                key.clone(),
                value,
                id.clone(),
                after.id,
                &order.direction.into(),
            ));
        }
        let dir = Order::from(order.direction);
        q.order_by_expr(key, dir.clone())
            .order_by_expr(id, dir.clone())
            .limit(size + 1);
        let q = joined.wrap(q, key_name, dir);
        let (with_distance, with_score) = (distance.is_some(), score.is_some());
        let rows = reads
            .query_all(db, with_literal_limit(self.backend, &q))
            .await?;
        let mut seen = Seen::default();
        let mut missions = mission::Reader::new("", columns);
        let mut page: Vec<MissionRow> = Vec::with_capacity(rows.len());
        for r in &rows {
            // A mission with several addresses or organization's missions joined: one row
            // per address or mission, in a run.
            if let Some(last) = page.last_mut()
                && joined.continues(r, &mut seen, last.mission.id)?
            {
                joined.read_many(r, &mut seen, &mut last.relations)?;
                continue;
            }
            page.push(MissionRow::read(
                r,
                &mut missions,
                with_distance,
                with_score,
                joined,
                &mut seen,
            )?);
        }
        Ok(page)
    }

    /// Whether the keywords match more than [`MANY_MATCHES`] missions, on SQLite (counted in the
    /// full-text index alone, up to one more than that).
    async fn many_matches(&self, db: &DatabaseConnection) -> ApiResult<bool> {
        let (Some(ft), DbBackend::Sqlite) = (&self.full_text, self.backend) else {
            return Ok(false);
        };
        let counted = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM \"missions_fts\" WHERE \"missions_fts\" MATCH ? LIMIT ?)",
            [ft.query.clone().into(), (MANY_MATCHES + 1).into()],
        );
        let n = match db.query_one_raw(counted).await? {
            Some(row) => row.try_get::<i64>("", "n")?,
            None => 0,
        };
        Ok(n > MANY_MATCHES)
    }

    /// The number of missions of the filter, over all pages.
    pub async fn count(&self, db: &DatabaseConnection, cache: &CountCache) -> ApiResult<i64> {
        let Some(condition) = &self.condition else {
            return Ok(0);
        };
        if self.every_public {
            return Ok(self.public_tally(db, cache).await?.total);
        }
        let mut q = self.base(condition);
        q.expr_as(Expr::col(Asterisk).count(), Alias::new("n"));
        let n = cache
            .get(self.backend, &q, || async {
                Ok(match db.query_one(&q).await? {
                    Some(r) => r.try_get::<i64>("", "n")?,
                    None => 0,
                })
            })
            .await?;
        Ok(*n)
    }

    /// Counts by domain, type and remote, most frequent first, from one statement: the
    /// missions grouped by the three columns together (at most 20 × 5 × 3 groups), each
    /// facet then summed from the groups. One pass over the filtered missions instead of one
    /// per facet; over every public mission, the tally instead.
    pub async fn column_facets(
        &self,
        db: &DatabaseConnection,
        cache: &CountCache,
    ) -> ApiResult<Arc<ColumnFacets>> {
        let Some(condition) = &self.condition else {
            return Ok(Arc::default());
        };
        if self.every_public {
            return Ok(self.public_tally(db, cache).await?.columns.clone());
        }
        self.columns
            .get_or_try_init(|| async {
                let mut q = self.base(condition);
                for column in COLUMN_FACETS {
                    q.expr_as(
                        Expr::col((mission::Entity, column)),
                        Alias::new(column.as_str()),
                    )
                    .group_by_col((mission::Entity, column));
                }
                q.expr_as(Expr::col(Asterisk).count(), Alias::new("n"));
                cache
                    .get(self.backend, &q, || async {
                        let mut facets = ColumnSums::default();
                        for row in db.query_all(&q).await? {
                            facets.add(&row, row.try_get::<i64>("", "n")?)?;
                        }
                        Ok(facets.most_frequent_first())
                    })
                    .await
            })
            .await
            .cloned()
    }

    /// The counts of every public mission, from the tally the database keeps: one statement
    /// over a few hundred rows (the changes since the tally was last folded, summed), instead
    /// of counting a million missions. Exact: the rows are written in the transaction of each
    /// change (see `passerelle_migration::tally`).
    async fn public_tally(
        &self,
        db: &DatabaseConnection,
        cache: &CountCache,
    ) -> ApiResult<Arc<PublicTally>> {
        self.tally
            .get_or_try_init(|| async {
                let tally = Alias::new("public_mission_tally");
                let department = Alias::new("department_code");
                let mut q = Query::select();
                q.from(tally.clone());
                for column in COLUMN_FACETS {
                    let column = Alias::new(column.as_str());
                    q.column((tally.clone(), column.clone()))
                        .group_by_col((tally.clone(), column));
                }
                q.column((tally.clone(), department.clone()))
                    .group_by_col((tally.clone(), department))
                    // `SUM` of a BIGINT is a NUMERIC on PostgreSQL.
                    .expr_as(
                        Expr::col(Alias::new("n"))
                            .sum()
                            .cast_as(Alias::new("BIGINT")),
                        Alias::new("n"),
                    );
                cache
                    .get(self.backend, &q, || async {
                        let mut columns = ColumnSums::default();
                        let mut departments = BTreeMap::<String, i64>::new();
                        let mut total = 0;
                        for row in db.query_all(&q).await? {
                            let n = row.try_get::<i64>("", "n")?;
                            match row.try_get::<Option<String>>("", "department_code")? {
                                Some(code) => *departments.entry(code).or_default() += n,
                                None => {
                                    total += n;
                                    columns.add(&row, n)?;
                                }
                            }
                        }
                        Ok(PublicTally {
                            total,
                            columns: Arc::new(columns.most_frequent_first()),
                            departments: Arc::new(most_frequent_first(departments)),
                        })
                    })
                    .await
            })
            .await
            .cloned()
    }

    /// Counts by department of the missions' addresses (a mission with addresses in two
    /// departments counts in both), most frequent first.
    ///
    /// Over every public mission, the tally; any other search joins the addresses to its
    /// missions.
    pub async fn department_facet(
        &self,
        db: &DatabaseConnection,
        cache: &CountCache,
    ) -> ApiResult<Counts> {
        let Some(condition) = &self.condition else {
            return Ok(Counts::default());
        };
        if self.every_public {
            return Ok(self.public_tally(db, cache).await?.departments.clone());
        }
        let addr = Alias::new("mission_addresses");
        let dep = Expr::col((addr.clone(), Alias::new("department_code")));
        let mission_id = Expr::col((addr.clone(), Alias::new("mission_id")));
        let mut q = self.base(condition);
        q.join(
            sea_orm::JoinType::InnerJoin,
            addr.clone(),
            mission_id
                .clone()
                .equals((mission::Entity, mission::Column::Id)),
        );
        q.and_where(dep.clone().is_not_null())
            .expr_as(dep.clone(), Alias::new("value"))
            .expr_as(mission_id.count_distinct(), Alias::new("n"))
            .add_group_by([dep]);
        facet_rows(db, cache, q).await
    }
}

/// The sums of [`ColumnFacets`] as groups of missions by the three columns are read.
#[derive(Default)]
struct ColumnSums([BTreeMap<String, i64>; 3]);

impl ColumnSums {
    /// Adds `n` missions with the three values of `row`.
    fn add(&mut self, row: &QueryResult, n: i64) -> Result<(), DbErr> {
        for (column, sum) in COLUMN_FACETS.iter().zip(&mut self.0) {
            *sum.entry(row.try_get::<String>("", column.as_str())?)
                .or_default() += n;
        }
        Ok(())
    }

    fn most_frequent_first(self) -> ColumnFacets {
        let [domains, types, remote] = self.0.map(most_frequent_first);
        ColumnFacets {
            domains,
            types,
            remote,
        }
    }
}

/// Counts summed by value, most frequent first (then by value), as the facets' `ORDER BY n
/// DESC, value`; a value no mission has any more (its changes summed to zero) is left out.
fn most_frequent_first(sums: BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut counts: Vec<(String, i64)> = sums.into_iter().filter(|(_, n)| *n > 0).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Runs a facet's `GROUP BY`, most frequent first, through the cache of counts.
async fn facet_rows(
    db: &DatabaseConnection,
    cache: &CountCache,
    mut q: SelectStatement,
) -> ApiResult<Counts> {
    q.order_by_expr(Expr::col(Alias::new("n")), Order::Desc)
        .order_by_expr(Expr::col(Alias::new("value")), Order::Asc);
    cache
        .get(db.get_database_backend(), &q, || async {
            let rows = db.query_all(&q).await?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String>("", "value")?,
                        r.try_get::<i64>("", "n")?,
                    ))
                })
                .collect()
        })
        .await
}

/// The cursor of a row in an order.
pub fn row_cursor(order: &ResolvedOrder, row: &MissionRow) -> Cursor {
    let m = &row.mission;
    let value = match order.field {
        MissionOrderField::StartAt => time_value(m.start_at),
        MissionOrderField::PostedAt => time_value(m.posted_at),
        MissionOrderField::CreatedAt => time_value(m.created_at),
        MissionOrderField::Distance => SortValue::float(row.distance_km.unwrap_or_default()),
        MissionOrderField::Relevance => SortValue::float(row.score.unwrap_or_default()),
    };
    Cursor::new(order.list_name(), Some(value), m.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_are_the_ones_cursors_always_carried() {
        use MissionOrderField::*;
        for field in [StartAt, PostedAt, CreatedAt, Distance, Relevance] {
            for direction in [OrderDirection::Asc, OrderDirection::Desc] {
                let order = ResolvedOrder { field, direction };
                assert_eq!(
                    order.list_name(),
                    format!("missions:{field:?}:{direction:?}")
                );
            }
        }
    }
}
