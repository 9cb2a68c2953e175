//! SQL that SeaORM's builder cannot say by itself (geo distance, full-text search), written
//! once for both engines and always parameterised: user input only ever travels as a value.
use sea_orm::sea_query::{Expr, ExprTrait, Order, Value};
use sea_orm::{Condition, DbBackend};

/// The rows after a keyset cursor in `(key, id)` order: `key` beyond `value`, or equal to it
/// with `id` beyond `after_id` (beyond: greater ascending, smaller descending).
pub fn after_key(key: Expr, value: Value, id: Expr, after_id: i64, order: &Order) -> Condition {
    let (beyond, next_id) = match order {
        Order::Desc => (key.clone().lt(value.clone()), id.lt(after_id)),
        _ => (key.clone().gt(value.clone()), id.gt(after_id)),
    };
    Condition::any()
        .add(beyond)
        .add(Condition::all().add(key.eq(value)).add(next_id))
}

/// A custom SQL expression whose `?` are parameters, for either engine.
pub fn cust(backend: DbBackend, template: &str, values: Vec<Value>) -> Expr {
    // sea-query marks parameters of custom expressions with `$` on PostgreSQL and `?` elsewhere.
    let sql = match backend {
        DbBackend::Postgres => template.replace('?', "$"),
        _ => template.to_owned(),
    };
    Expr::cust_with_values(sql, values)
}

/// The great-circle distance in km from `(?, ?)` (lat, lon; bound as `lat, lat, lon`) to the
/// address row, by the haversine formula. SQLite needs its math functions compiled in
/// (`.cargo/config.toml`).
pub const HAVERSINE_KM: &str = "(2 * 6371.0088 * asin(sqrt(\
    power(sin(radians(mission_addresses.lat - ?) / 2), 2) + \
    cos(radians(?)) * cos(radians(mission_addresses.lat)) * \
    power(sin(radians(mission_addresses.lon - ?) / 2), 2))))";

/// A search over the folded words of missions: what the engines' full-text indexes take.
#[derive(Debug, Clone)]
pub struct FullText {
    /// FTS5 query (SQLite) or `to_tsquery` text (PostgreSQL), built only from folded words.
    pub query: String,
}

impl FullText {
    /// Builds the engine's query from folded words: every word must match, the last one as a
    /// prefix (so "sol" finds "solidarité" while the user types).
    pub fn new(backend: DbBackend, words: &[String]) -> Self {
        let last = words.len().saturating_sub(1);
        let query = match backend {
            DbBackend::Postgres => words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == last {
                        format!("{w}:*")
                    } else {
                        w.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" & "),
            _ => words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == last {
                        format!("\"{w}\"*")
                    } else {
                        format!("\"{w}\"")
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        FullText { query }
    }
}
