//! Rows read by position: a statement's first row tells where each column of a set stands
//! (`passerelle_entities::columns::Layout`), and every row of it is read there, on both engines.
use chrono::{DateTime, Utc};
use passerelle_entities::columns::{Cell, ColumnSet, Layout, in_records};
use passerelle_entities::enums::Domain;
use passerelle_entities::mission::{self, StringList};
use passerelle_entities::organization::{self, Column};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, TryGetable};

use crate::helpers::TestDatabase;

/// Columns in another order than the table's, two tables' columns side by side (one of them
/// prefixed, as a joined page reads them) and a column of neither: each reader reads its own,
/// row after row; a reader whose columns are not there names the missing one.
#[tokio::test]
async fn rows_are_read_where_their_columns_stand() {
    let db = TestDatabase::create("rows_by_position").await;
    let conn = db.connect_migrated().await;
    let sql = "SELECT CAST(7 AS BIGINT) AS extra, CAST('Emmaüs' AS TEXT) AS o_name, \
               CAST(42 AS BIGINT) AS o_id, CAST('Côté' AS TEXT) AS name, CAST(3 AS BIGINT) AS id \
               UNION ALL \
               SELECT CAST(8 AS BIGINT), CAST('Secours' AS TEXT), CAST(43 AS BIGINT), \
               CAST('Autre' AS TEXT), CAST(4 AS BIGINT)";
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("rows");
    let columns = organization::Columns::NONE
        .with(Column::Id)
        .with(Column::Name);
    let read = |prefix: &str| {
        let mut reader = organization::Reader::new(prefix, columns);
        rows.iter()
            .map(|row| reader.read(row).map(|o| (o.id, o.name, o.city)))
            .collect::<Result<Vec<_>, _>>()
    };
    assert_eq!(
        read("o_").expect("prefixed"),
        [
            (42, "Emmaüs".to_owned(), None),
            (43, "Secours".to_owned(), None)
        ]
    );
    assert_eq!(
        read("").expect("unprefixed"),
        [(3, "Côté".to_owned(), None), (4, "Autre".to_owned(), None)]
    );
    let missing = read("p_").expect_err("no p_ columns");
    assert!(missing.to_string().contains("p_id"), "{missing}");
    // A reader that starts on another row than the first finds its columns there.
    let second = organization::Reader::new("o_", columns)
        .read(&rows[1])
        .expect("the second row alone");
    assert_eq!((second.id, second.name.as_str()), (43, "Secours"));
    db.drop_database().await;
}

/// Every kind of cell reads what sea-orm's checked read gives, and fails where it fails: every
/// column of a row of each engine's types read as every type a model holds (a PostgreSQL
/// `integer` is not an `i64`, text is no number, a NULL is no `String`, `nope` is no domain),
/// instants from year 1 to 9999 to the microsecond, and PostgreSQL's infinities an error.
#[tokio::test]
async fn cells_read_as_the_checked_read_does_errors_included() {
    fn same<T: Cell + TryGetable + PartialEq + std::fmt::Debug>(
        res: &QueryResult,
        at: usize,
    ) -> bool {
        let cell = T::cell(res, at);
        let checked = res.try_get_by_index::<T>(at);
        match (&cell, &checked) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "column {at}"),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "column {at} as {}: {cell:?} / {checked:?}",
                std::any::type_name::<T>()
            ),
        }
        cell.is_ok()
    }

    let db = TestDatabase::create("cells").await;
    let conn = db.connect_migrated().await;
    let sql = if db.is_postgres() {
        "SELECT CAST(7 AS BIGINT), CAST(7 AS INTEGER), CAST('sport' AS TEXT), \
         CAST('nope' AS VARCHAR(8)), CAST(NULL AS TEXT), CAST(2.5 AS DOUBLE PRECISION), \
         CAST('2026-12-03T05:18:25Z' AS TIMESTAMPTZ), TRUE, CAST(NULL AS BIGINT), \
         CAST('1999-12-31T23:59:59.999999Z' AS TIMESTAMPTZ), \
         CAST('0001-01-01T00:00:00Z' AS TIMESTAMPTZ), \
         CAST('9999-12-31T23:59:59.999999Z' AS TIMESTAMPTZ), CAST(NULL AS TIMESTAMPTZ)"
    } else {
        "SELECT 7, 7, 'sport', 'nope', NULL, 2.5, '2026-12-03T05:18:25Z', 1, NULL, \
         '1999-12-31T23:59:59.999999Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z', \
         NULL"
    };
    let res = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("select")
        .expect("a row");
    let mut read = 0;
    for at in 0..14 {
        for ok in [
            same::<i64>(&res, at),
            same::<Option<i64>>(&res, at),
            same::<i32>(&res, at),
            same::<String>(&res, at),
            same::<Option<String>>(&res, at),
            same::<Domain>(&res, at),
            same::<Option<Domain>>(&res, at),
            same::<f64>(&res, at),
            same::<DateTime<Utc>>(&res, at),
            same::<Option<DateTime<Utc>>>(&res, at),
            same::<bool>(&res, at),
        ] {
            read += usize::from(ok);
        }
    }
    // What reads, on either engine: the values themselves.
    assert_eq!(i64::cell(&res, 0).expect("bigint"), 7);
    assert_eq!(i32::cell(&res, 1).expect("integer"), 7);
    assert_eq!(Domain::cell(&res, 2).expect("domain"), Domain::Sport);
    assert!(Domain::cell(&res, 3).is_err(), "no domain is `nope`");
    assert_eq!(Option::<String>::cell(&res, 4).expect("NULL"), None);
    assert!(String::cell(&res, 4).is_err(), "a NULL where none may be");
    assert_eq!(f64::cell(&res, 5).expect("double"), 2.5);
    assert_eq!(
        DateTime::<Utc>::cell(&res, 6)
            .expect("instant")
            .to_rfc3339(),
        "2026-12-03T05:18:25+00:00"
    );
    assert!(bool::cell(&res, 7).expect("boolean"));
    assert_eq!(Option::<i64>::cell(&res, 8).expect("NULL"), None);
    // Instants before PostgreSQL's epoch and at both ends of the years the API takes, to the
    // microsecond; a NULL one.
    for (at, instant) in [
        (9, "1999-12-31T23:59:59.999999+00:00"),
        (10, "0001-01-01T00:00:00+00:00"),
        (11, "9999-12-31T23:59:59.999999+00:00"),
    ] {
        assert_eq!(
            DateTime::<Utc>::cell(&res, at)
                .expect("instant")
                .to_rfc3339(),
            instant
        );
    }
    assert_eq!(Option::<DateTime<Utc>>::cell(&res, 12).expect("NULL"), None);
    assert!(DateTime::<Utc>::cell(&res, 12).is_err(), "a NULL instant");
    assert!(i64::cell(&res, 13).is_err(), "out of the row");
    assert!(read > 20, "{read} reads succeeded");
    if db.is_postgres() {
        // PostgreSQL's infinities are no instant: an error, where SQLx's own read panics.
        let res = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT CAST('infinity' AS TIMESTAMPTZ), CAST('-infinity' AS TIMESTAMPTZ)",
            ))
            .await
            .expect("select")
            .expect("a row");
        for at in 0..2 {
            let read = DateTime::<Utc>::cell(&res, at).expect_err("no instant");
            assert!(read.to_string().contains("out of range"), "{read}");
            assert!(Option::<DateTime<Utc>>::cell(&res, at).is_err());
        }
    }
    db.drop_database().await;
}

/// The missions of `res`'s array of records at `at`, each record `columns` in their order.
fn missions_in_records(
    res: &QueryResult,
    at: usize,
    columns: mission::Columns,
) -> Result<Vec<mission::Model>, DbErr> {
    let layout = columns.in_order();
    in_records(res, at, |record| {
        mission::Model::read_from(record, &layout, columns)
    })
}

/// On PostgreSQL, models held in an array of records (as a joined page reads a mission's
/// addresses and its organization's missions) are the models the same values read as rows
/// give: every type a mission holds (text with accents, a string enum, JSON, instants at both
/// ends of the years and before PostgreSQL's epoch, NULLs), in the records' order. An empty
/// array and a NULL hold none; a record that is not the set's (a field of another type, too
/// few fields, a domain no domain has, JSON that is no list), an array of something else or of
/// a NULL, two dimensions, or a value that is no array are errors, never a panic. SQLite has
/// no records: an error too.
#[tokio::test]
async fn records_in_an_array_read_as_the_same_values_in_rows() {
    use mission::Column as M;
    let db = TestDatabase::create("records").await;
    let conn = db.connect_migrated().await;
    let backend = conn.get_database_backend();
    let columns = [
        M::Id,
        M::OrganizationId,
        M::Title,
        M::Domain,
        M::StartAt,
        M::EndAt,
        M::Places,
        M::Snu,
        M::Schedule,
        M::Tags,
    ]
    .into_iter()
    .fold(mission::Columns::NONE, mission::Columns::with);
    if !db.is_postgres() {
        let res = conn
            .query_one_raw(Statement::from_string(backend, "SELECT 1 AS records"))
            .await
            .expect("select")
            .expect("a row");
        let read = missions_in_records(&res, 0, columns).expect_err("no records on SQLite");
        assert!(read.to_string().contains("PostgreSQL rows only"), "{read}");
        db.drop_database().await;
        return;
    }
    let sql = "WITH v (id, organization_id, title, domain, start_at, end_at, places, snu, \
               schedule, tags) AS (VALUES \
               (CAST(1 AS BIGINT), CAST(10 AS BIGINT), CAST('Côté « jardin »' AS TEXT), \
                CAST('sport' AS TEXT), CAST('1999-12-31T23:59:59.999999Z' AS TIMESTAMPTZ), \
                CAST(NULL AS TIMESTAMPTZ), 3, TRUE, CAST(NULL AS TEXT), \
                CAST('[\"a\", \"é\"]' AS JSONB)), \
               (2, NULL, '', 'culture-loisirs', '0001-01-01T00:00:00Z', \
                '9999-12-31T23:59:59.999999Z', 0, FALSE, 'le soir', '[]')) \
               SELECT v.*, ARRAY (SELECT ROW(w.id, w.organization_id, w.title, w.domain, \
               w.start_at, w.end_at, w.places, w.snu, w.schedule, w.tags) FROM v AS w \
               ORDER BY w.id DESC) AS records FROM v ORDER BY v.id DESC";
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("rows");
    let mut reader = mission::Reader::new("", columns);
    let as_rows = rows
        .iter()
        .map(|r| reader.read(r))
        .collect::<Result<Vec<_>, _>>()
        .expect("rows read");
    let records = Layout::position(&rows[0], "records").expect("the records' column");
    let as_records = missions_in_records(&rows[0], records, columns).expect("records read");
    assert_eq!(as_records, as_rows);
    let ids: Vec<_> = as_records.iter().map(|m| m.id).collect();
    assert_eq!(ids, [2, 1], "in the records' order");
    let first = &as_records[1];
    assert_eq!(
        (first.title.as_str(), first.domain, first.organization_id),
        ("Côté « jardin »", Domain::Sport, Some(10))
    );
    assert_eq!(first.tags, StringList(vec!["a".to_owned(), "é".to_owned()]));
    assert_eq!(
        first.start_at.to_rfc3339(),
        "1999-12-31T23:59:59.999999+00:00"
    );
    assert_eq!((first.end_at, first.places, first.snu), (None, 3, true));
    let second = &as_records[0];
    assert_eq!(
        second.end_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("9999-12-31T23:59:59.999999+00:00")
    );
    assert_eq!(second.schedule.as_deref(), Some("le soir"));
    assert_eq!(second.organization_id, None);

    // An empty array and a NULL hold no model; everything else that is not the set's records
    // is an error that says which.
    let res = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT ARRAY (SELECT ROW(1, 2) WHERE FALSE), \
             (SELECT ARRAY (SELECT ROW(1, 2)) WHERE FALSE), \
             ARRAY (SELECT ROW(CAST(1 AS INTEGER), CAST(2 AS BIGINT))), \
             ARRAY (SELECT ROW(CAST(1 AS BIGINT))), \
             ARRAY[CAST(1 AS BIGINT), 2], ARRAY[[CAST(1 AS BIGINT)], [2]], \
             CAST(7 AS BIGINT), ARRAY (SELECT ROW(CAST(1 AS BIGINT), CAST('x' AS TEXT))), \
             ARRAY (SELECT CASE WHEN FALSE THEN ROW(CAST(1 AS BIGINT), CAST(2 AS BIGINT)) END)",
        ))
        .await
        .expect("select")
        .expect("a row");
    let two = mission::Columns::NONE.with(M::Id).with(M::OrganizationId);
    assert_eq!(missions_in_records(&res, 0, two).expect("empty"), []);
    assert_eq!(missions_in_records(&res, 1, two).expect("NULL"), []);
    for (at, error) in [
        (2, "field 0 of a record is not a i64"),
        (3, "field 1 of a record is not a core::option::Option<i64>"),
        (4, "not an array of records"),
        (5, "not an array of records"),
        (6, "not an array of records"),
        (7, "field 1 of a record is not a core::option::Option<i64>"),
        (8, "not an array of records"),
        (9, "column 9:"),
    ] {
        let read = missions_in_records(&res, at, two).expect_err("not the set's records");
        assert!(read.to_string().contains(error), "column {at}: {read}");
    }

    // A string enum and JSON read from records as from rows: `json` as well as `jsonb`; a
    // stored string no domain has, and JSON that is no list of strings, are errors.
    let res = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT ARRAY (SELECT ROW(CAST(1 AS BIGINT), CAST('sport' AS TEXT), \
             CAST('[\"x\"]' AS JSON))), \
             ARRAY (SELECT ROW(CAST(1 AS BIGINT), CAST('nope' AS TEXT), CAST('[]' AS JSONB))), \
             ARRAY (SELECT ROW(CAST(1 AS BIGINT), CAST('sport' AS TEXT), \
             CAST('{\"a\": 1}' AS JSONB)))",
        ))
        .await
        .expect("select")
        .expect("a row");
    let enum_and_json = mission::Columns::NONE
        .with(M::Id)
        .with(M::Domain)
        .with(M::Tags);
    let read = missions_in_records(&res, 0, enum_and_json).expect("json");
    assert_eq!(
        read.iter()
            .map(|m| (m.domain, m.tags.clone()))
            .collect::<Vec<_>>(),
        [(Domain::Sport, StringList(vec!["x".to_owned()]))]
    );
    for (at, error) in [(1, "field 1 of a record"), (2, "field 2 of a record")] {
        let read = missions_in_records(&res, at, enum_and_json).expect_err("not the set's");
        assert!(read.to_string().contains(error), "column {at}: {read}");
    }
    db.drop_database().await;
}
