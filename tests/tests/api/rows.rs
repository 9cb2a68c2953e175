//! Rows read by position: a statement's first row tells where each column of a set stands
//! (`passerelle_entities::columns::Layout`), and every row of it is read there, on both engines.
use passerelle_entities::organization::{self, Column};
use sea_orm::{ConnectionTrait, Statement};

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
