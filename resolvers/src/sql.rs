//! SQL that SeaORM's builder cannot say by itself (geo distance, full-text search), written
//! once for both engines and always parameterised: user input only ever travels as a value
//! (but a page's size, an integer checked against its bounds, which PostgreSQL gets in the
//! text: see [`with_literal_limit`]).
use sea_orm::sea_query::{Expr, ExprTrait, Order, SelectStatement, Value};
use sea_orm::{Condition, DbBackend, Statement};

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

/// `q` built for `backend`, its last `LIMIT` (`limit`: a page's size plus one, an integer the
/// resolvers checked against its bounds, never a client's text) written in the text on
/// PostgreSQL instead of sent as a parameter.
///
/// PostgreSQL plans a prepared statement again at every execution while it keeps finding its
/// generic plan dearer than the custom ones, and with the number of rows a parameter, the
/// generic plan is costed for an unknown limit (a tenth of the rows): a page's statement was
/// planned at each request (0.1–0.3 ms of the database's time, more than it took to run). With
/// the limit in the text, the generic plan costs what the custom ones do and PostgreSQL keeps
/// it after its fifth execution on a connection, as long as it stays no dearer: a plan per
/// connection and page size rather than per request. SQLite plans each statement once anyway.
///
/// The statement is `q`'s as built when its last value is not `limit` at a final `LIMIT`
/// (nothing to rewrite).
pub fn with_literal_limit(backend: DbBackend, q: &SelectStatement, limit: u64) -> Statement {
    let mut statement = backend.build(q);
    if backend != DbBackend::Postgres {
        return statement;
    }
    let Some(values) = statement.values.as_mut() else {
        return statement;
    };
    // The limit is the last value: nothing after a `LIMIT` (or after a subquery's, in the
    // outer statement's joins and order) is a parameter.
    let placeholder = format!(" LIMIT ${}", values.0.len());
    let is_limit = matches!(values.0.last(), Some(Value::BigUnsigned(Some(n))) if *n == limit);
    if !is_limit || statement.sql.matches(&placeholder).count() != 1 {
        return statement;
    }
    statement.sql = statement
        .sql
        .replace(&placeholder, &format!(" LIMIT {limit}"));
    values.0.pop();
    if values.0.is_empty() {
        statement.values = None;
    }
    statement
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Query};

    fn page(limit: u64) -> SelectStatement {
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("missions"))
            .and_where(Expr::col(Alias::new("domain")).eq("sport"))
            .limit(limit)
            .to_owned()
    }

    /// On PostgreSQL the limit is written in the text and no longer bound; the other values
    /// keep their places; elsewhere the statement is as built.
    #[test]
    fn the_limit_is_written_in_the_text_on_postgres_only() {
        let s = with_literal_limit(DbBackend::Postgres, &page(21), 21);
        assert_eq!(
            s.sql,
            r#"SELECT "id" FROM "missions" WHERE "domain" = $1 LIMIT 21"#
        );
        assert_eq!(s.values.map(|v| v.0), Some(vec![Value::from("sport")]));

        let s = with_literal_limit(DbBackend::Sqlite, &page(21), 21);
        assert!(s.sql.ends_with("LIMIT ?"), "{}", s.sql);
        assert_eq!(s.values.map(|v| v.0.len()), Some(2));
    }

    /// A limit inside a subquery, the outer statement adding no value after it, is written in;
    /// a statement whose last value is not the limit named is left as built.
    #[test]
    fn only_the_final_limit_named_is_rewritten() {
        let outer = Query::select()
            .column(Alias::new("id"))
            .from_subquery(page(6), Alias::new("page"))
            .order_by((Alias::new("page"), Alias::new("id")), Order::Asc)
            .to_owned();
        let s = with_literal_limit(DbBackend::Postgres, &outer, 6);
        assert!(s.sql.contains(" LIMIT 6)"), "{}", s.sql);
        assert_eq!(s.values.map(|v| v.0.len()), Some(1));

        let s = with_literal_limit(DbBackend::Postgres, &page(21), 20);
        assert!(s.sql.ends_with("LIMIT $2"), "{}", s.sql);
        let mut no_limit = page(5);
        no_limit.reset_limit();
        no_limit.and_where(Expr::col(Alias::new("places")).gt(5u64));
        let s = with_literal_limit(DbBackend::Postgres, &no_limit, 5);
        assert!(!s.sql.contains("LIMIT"), "{}", s.sql);
        assert_eq!(s.values.map(|v| v.0.len()), Some(2));
    }
}
