//! What the API should answer, computed independently: every public mission read through the
//! entities, with its addresses, filtered and sorted in Rust.
use std::collections::{BTreeSet, HashMap};

use passerelle_entities::{geo, mission, mission_address};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A public mission and its addresses.
pub struct Facts {
    pub m: mission::Model,
    pub addresses: Vec<mission_address::Model>,
}

impl Facts {
    /// The distance to the nearest address, in km.
    pub fn distance(&self, lat: f64, lon: f64) -> Option<f64> {
        self.addresses
            .iter()
            .filter_map(|a| Some(geo::distance_km(lat, lon, a.lat?, a.lon?)))
            .min_by(|a, b| a.total_cmp(b))
    }

    pub fn in_department(&self, codes: &[&str]) -> bool {
        self.addresses.iter().any(|a| {
            a.department_code
                .as_deref()
                .is_some_and(|d| codes.contains(&d))
        })
    }
}

/// Every public mission of the database.
pub async fn public_missions(db: &DatabaseConnection) -> Vec<Facts> {
    let missions = mission::Entity::find()
        .filter(mission::is_public())
        .all(db)
        .await
        .expect("missions");
    let mut addresses: HashMap<i64, Vec<mission_address::Model>> = HashMap::new();
    for a in mission_address::Entity::find()
        .all(db)
        .await
        .expect("addresses")
    {
        addresses.entry(a.mission_id).or_default().push(a);
    }
    missions
        .into_iter()
        .map(|m| {
            let addresses = addresses.remove(&m.id).unwrap_or_default();
            Facts { m, addresses }
        })
        .collect()
}

/// The ids of the missions that satisfy `keep`.
pub fn ids(world: &[Facts], keep: impl Fn(&Facts) -> bool) -> BTreeSet<i64> {
    world.iter().filter(|f| keep(f)).map(|f| f.m.id).collect()
}

pub const WALK_QUERY: &str =
    "query Walk($filter: MissionFilter, $orderBy: MissionOrder, $first: Int, $after: String) {
  missions(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id startAt postedAt createdAt distanceKm } }
  }
}";

/// Walks every page of `missions` for a filter and order, checking the page info on the way;
/// returns the nodes in order and the total count reported.
pub async fn walk(app: &TestApp, filter: Value, order: Value, first: i64) -> (Vec<Value>, i64) {
    let mut nodes = Vec::new();
    let mut after: Option<String> = None;
    let mut total = None;
    loop {
        let data = app
            .data(
                WALK_QUERY,
                json!({ "filter": filter, "orderBy": order, "first": first, "after": after }),
            )
            .await;
        let conn = &data["missions"];
        let t = conn["totalCount"].as_i64().expect("totalCount");
        assert_eq!(
            *total.get_or_insert(t),
            t,
            "totalCount is the same on every page"
        );
        let edges = conn["edges"].as_array().expect("edges");
        assert_eq!(
            conn["pageInfo"]["hasPreviousPage"].as_bool(),
            Some(after.is_some())
        );
        if let Some(last) = edges.last() {
            assert_eq!(conn["pageInfo"]["endCursor"], last["cursor"]);
            assert_eq!(conn["pageInfo"]["startCursor"], edges[0]["cursor"]);
        }
        nodes.extend(edges.iter().map(|e| e["node"].clone()));
        if !conn["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage")
        {
            break;
        }
        assert_eq!(
            edges.len() as i64,
            first,
            "a page before the last one is full"
        );
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        assert!(nodes.len() < 100_000, "runaway pagination");
    }
    (nodes, total.unwrap_or_default())
}

/// Checks that walked nodes come strictly in `direction` (`ASC` or `DESC`) by their sort value
/// (`key`), then their id: `(key, id)` tuples compare as the order does.
pub fn assert_in_order<K: PartialOrd + std::fmt::Debug>(
    nodes: &[Value],
    key: impl Fn(&Value) -> K,
    direction: &str,
    what: &str,
) {
    let keys: Vec<(K, i64)> = nodes
        .iter()
        .map(|n| {
            let id = n["id"].as_str().expect("id").parse().expect("numeric id");
            (key(n), id)
        })
        .collect();
    for pair in keys.windows(2) {
        let ordered = match direction {
            "ASC" => pair[0] < pair[1],
            _ => pair[0] > pair[1],
        };
        assert!(ordered, "{what} {direction}: {pair:?}");
    }
}

/// The ids of walked nodes, checking that none repeats and that they add up to the total.
pub fn walked_ids(nodes: &[Value], total: i64) -> BTreeSet<i64> {
    let ids: Vec<i64> = nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").parse().expect("numeric id"))
        .collect();
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(
        set.len(),
        ids.len(),
        "no mission appears twice across pages"
    );
    assert_eq!(ids.len() as i64, total, "the pages add up to totalCount");
    set
}
