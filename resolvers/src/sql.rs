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

/// `q` built for `backend`, every `LIMIT` of it (a page's size plus one, a nested page's, a
/// number of candidates: integers the resolvers computed and checked against their bounds,
/// never a client's text) written in the text on PostgreSQL instead of sent as a parameter, the
/// other parameters numbered again in order.
///
/// PostgreSQL plans a prepared statement again at every execution while it keeps finding its
/// generic plan dearer than the custom ones, and with the number of rows a parameter, the
/// generic plan is costed for an unknown limit (a tenth of the rows): a page's statement was
/// planned at each request (0.1–0.3 ms of the database's time, more than it took to run). With
/// the limits in the text, the generic plan costs what the custom ones do and PostgreSQL keeps
/// it after its fifth execution on a connection, as long as it stays no dearer: a plan per
/// connection and page size rather than per request. SQLite plans each statement once anyway.
///
/// A page joined with its relations has parameters after its own `LIMIT` (the joined rows'
/// scopes, a lateral page's limit): every limit is found where it stands.
pub fn with_literal_limit(backend: DbBackend, q: &SelectStatement) -> Statement {
    let mut statement = backend.build(q);
    if backend != DbBackend::Postgres {
        return statement;
    }
    let Some(values) = statement.values.take() else {
        return statement;
    };
    // The parameters that are a limit's value, by number.
    let mut literal = vec![false; values.0.len()];
    for_each_placeholder(&statement.sql, |before, _, n| {
        if before.ends_with(" LIMIT ")
            && let Some(Value::BigUnsigned(Some(_))) = values.0.get(n - 1)
        {
            literal[n - 1] = true;
        }
    });
    if !literal.contains(&true) {
        statement.values = Some(values);
        return statement;
    }
    // Each parameter's new number: its old one less the limits written in before it.
    let mut renumbered = Vec::with_capacity(literal.len());
    let mut written = 0;
    for is_literal in &literal {
        written += usize::from(*is_literal);
        renumbered.push(renumbered.len() + 1 - written);
    }
    let mut sql = String::with_capacity(statement.sql.len());
    let mut copied = 0;
    for_each_placeholder(&statement.sql, |before, end, n| {
        sql.push_str(&statement.sql[copied..before.len()]);
        match &values.0[n - 1] {
            Value::BigUnsigned(Some(limit)) if literal[n - 1] => sql.push_str(&limit.to_string()),
            _ => {
                sql.push('$');
                sql.push_str(&renumbered[n - 1].to_string());
            }
        }
        copied = end;
    });
    sql.push_str(&statement.sql[copied..]);
    let kept: Vec<Value> = values
        .0
        .into_iter()
        .zip(&literal)
        .filter(|(_, is_literal)| !**is_literal)
        .map(|(v, _)| v)
        .collect();
    statement.sql = sql;
    statement.values = (!kept.is_empty()).then_some(sea_orm::sea_query::Values(kept));
    statement
}

/// Calls `f` with each `$n` placeholder of PostgreSQL's `sql` in order: the text before it,
/// where it ends, and `n` (from 1). The builder writes `$` nowhere else: names are the entities', values are
/// parameters.
fn for_each_placeholder(sql: &str, mut f: impl FnMut(&str, usize, usize)) {
    let bytes = sql.as_bytes();
    let mut at = 0;
    while let Some(found) = sql[at..].find('$') {
        let start = at + found;
        let end = bytes[start + 1..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |p| start + 1 + p);
        if let Ok(n) = sql[start + 1..end].parse::<usize>()
            && n > 0
        {
            f(&sql[..start], end, n);
        }
        at = end.max(start + 1);
    }
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
        let s = with_literal_limit(DbBackend::Postgres, &page(21));
        assert_eq!(
            s.sql,
            r#"SELECT "id" FROM "missions" WHERE "domain" = $1 LIMIT 21"#
        );
        assert_eq!(s.values.map(|v| v.0), Some(vec![Value::from("sport")]));

        let s = with_literal_limit(DbBackend::Sqlite, &page(21));
        assert!(s.sql.ends_with("LIMIT ?"), "{}", s.sql);
        assert_eq!(s.values.map(|v| v.0.len()), Some(2));
    }

    /// Every limit is written in wherever it stands (a page's inside a subquery, a lateral
    /// page's after it), and the values after one are numbered again; a number compared to a
    /// column stays a parameter, and a statement with no limit is as built.
    #[test]
    fn every_limit_is_written_in_and_the_values_after_numbered_again() {
        let outer = Query::select()
            .column(Alias::new("id"))
            .from_subquery(page(6), Alias::new("page"))
            .join_lateral(
                sea_orm::sea_query::JoinType::LeftJoin,
                page(12)
                    .and_where(Expr::col(Alias::new("places")).gt(3u64))
                    .to_owned(),
                Alias::new("more"),
                Expr::col((Alias::new("more"), Alias::new("id"))).gt(10_000i64),
            )
            .order_by((Alias::new("page"), Alias::new("id")), Order::Asc)
            .to_owned();
        let s = with_literal_limit(DbBackend::Postgres, &outer);
        assert_eq!(
            s.sql,
            r#"SELECT "id" FROM (SELECT "id" FROM "missions" WHERE "domain" = $1 LIMIT 6) AS "page" LEFT JOIN LATERAL (SELECT "id" FROM "missions" WHERE "domain" = $2 AND "places" > $3 LIMIT 12) AS "more" ON "more"."id" > $4 ORDER BY "page"."id" ASC"#
        );
        assert_eq!(
            s.values.map(|v| v.0),
            Some(vec![
                Value::from("sport"),
                Value::from("sport"),
                Value::from(3u64),
                Value::from(10_000i64),
            ])
        );

        let mut no_limit = page(5);
        no_limit.reset_limit();
        no_limit.and_where(Expr::col(Alias::new("places")).gt(5u64));
        let s = with_literal_limit(DbBackend::Postgres, &no_limit);
        assert!(!s.sql.contains("LIMIT"), "{}", s.sql);
        assert!(s.sql.ends_with(r#""places" > $2"#), "{}", s.sql);
        assert_eq!(s.values.map(|v| v.0.len()), Some(2));
    }
}
