//! Importing feeds into a real database (SQLite, or PostgreSQL with
//! `PASSERELLE_TEST_POSTGRES_URL`), migrated with the real migrations.
use passerelle::testing::TestDatabase;
use passerelle_entities::{MissionStatus, mission, publisher};
use passerelle_ingest::import::{ImportError, import_feed};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

struct TestDb {
    conn: DatabaseConnection,
    database: TestDatabase,
}

async fn fresh(label: &str) -> TestDb {
    let database = TestDatabase::create(label).await.expect("test database");
    let conn = database
        .connect_migrated()
        .await
        .expect("connect and migrate");
    TestDb { conn, database }
}

impl TestDb {
    async fn drop(self) {
        self.conn.close().await.ok();
        self.database.drop_database().await;
    }
}

async fn publisher(db: &DatabaseConnection) -> i64 {
    let now = passerelle_entities::time::now();
    publisher::ActiveModel {
        name: Set("Réseau Exemple".into()),
        is_annonceur: Set(true),
        is_diffuseur: Set(false),
        moderator: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("publisher")
    .id
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../examples/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

async fn missions(db: &DatabaseConnection, publisher: i64) -> Vec<mission::Model> {
    let mut all = mission::Entity::find()
        .filter(mission::Column::PublisherId.eq(publisher))
        .all(db)
        .await
        .expect("missions");
    all.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    all
}

#[tokio::test]
async fn a_feed_is_created_then_left_unchanged_then_updated_and_pruned() {
    let t = fresh("cycle").await;
    let p = publisher(&t.conn).await;
    let first = import_feed(&t.conn, p, fixture("valid.xml").as_slice())
        .await
        .expect("first import");
    assert_eq!(
        (
            first.received,
            first.created,
            first.updated,
            first.unchanged,
            first.refused,
            first.deleted
        ),
        (3, 3, 0, 0, 0, 0)
    );
    let before = missions(&t.conn, p).await;
    assert!(
        before
            .iter()
            .all(|m| m.status == MissionStatus::Validated && m.deleted_at.is_none())
    );
    assert!(
        before[0].search_text.contains("amis du savoir"),
        "the organization name is searchable"
    );

    // The same bytes again: nothing rewritten.
    let again = import_feed(&t.conn, p, fixture("valid.xml").as_slice())
        .await
        .expect("re-import");
    assert_eq!(
        (again.created, again.updated, again.unchanged, again.deleted),
        (0, 0, 3, 0)
    );
    assert_eq!(
        missions(&t.conn, p).await,
        before,
        "unchanged rows are untouched"
    );

    // One title changed, one mission gone.
    let changed = String::from_utf8(fixture("valid.xml"))
        .expect("utf-8")
        .replace("Mémoire des anciens", "Mémoire des anciens combattants");
    let start = changed.find("<mission>\n    <clientId>ex-2").expect("ex-2");
    let end = changed[start..].find("</mission>").expect("end") + start + "</mission>".len();
    let changed = format!("{}{}", &changed[..start], &changed[end..]);
    let third = import_feed(&t.conn, p, changed.as_bytes())
        .await
        .expect("changed feed");
    assert_eq!(
        (
            third.received,
            third.created,
            third.updated,
            third.unchanged,
            third.deleted
        ),
        (2, 0, 1, 1, 1)
    );
    let after = missions(&t.conn, p).await;
    assert_eq!(after[0], before[0], "ex-1 untouched");
    assert!(
        after[1].deleted_at.is_some(),
        "ex-2 absent from the feed: soft-deleted"
    );
    assert_eq!(after[2].title, "Mémoire des anciens combattants");
    t.drop().await;
}

#[tokio::test]
async fn broken_feeds_change_nothing_and_empty_feeds_delete_nothing() {
    let t = fresh("broken").await;
    let p = publisher(&t.conn).await;
    import_feed(&t.conn, p, fixture("valid.xml").as_slice())
        .await
        .expect("first import");
    let before = missions(&t.conn, p).await;
    for name in ["truncated.xml", "billion-laughs.xml"] {
        let err = import_feed(&t.conn, p, fixture(name).as_slice())
            .await
            .expect_err(name);
        assert!(matches!(err, ImportError::Feed(_)), "{name}: {err}");
        assert_eq!(missions(&t.conn, p).await, before, "{name} changed nothing");
    }
    let empty = import_feed(&t.conn, p, "<source></source>".as_bytes())
        .await
        .expect("empty feed");
    assert_eq!((empty.received, empty.deleted), (0, 0));
    assert_eq!(
        missions(&t.conn, p).await,
        before,
        "an empty feed deletes nothing"
    );
    t.drop().await;
}

#[tokio::test]
async fn invalid_missions_are_stored_refused_with_their_reasons_and_duplicates_reported() {
    let t = fresh("refused").await;
    let p = publisher(&t.conn).await;
    let report = import_feed(&t.conn, p, fixture("invalid-missions.xml").as_slice())
        .await
        .expect("import");
    assert_eq!((report.received, report.refused, report.created), (3, 2, 0));
    assert_eq!(report.duplicates, ["bad-2"]);
    assert!(
        report
            .refusals
            .iter()
            .any(|r| r.client_id == "bad-1" && r.code == "UNKNOWN_DOMAIN")
    );
    let stored = missions(&t.conn, p).await;
    assert_eq!(stored.len(), 2);
    for m in &stored {
        assert_eq!(m.status, MissionStatus::Refused);
        assert!(
            m.status_comment
                .as_deref()
                .is_some_and(|c| c.contains("INVALID")),
            "{:?}",
            m.status_comment
        );
    }
    // Fixed in the partner's next feed: validated again.
    let fixed = "<source><mission><clientId>bad-2</clientId><title>Dates lisibles</title>\
        <description>Une mission.</description><applicationUrl>https://example.org/bad-2</applicationUrl>\
        <startAt>2026-12-01</startAt><places>3</places></mission></source>";
    let report = import_feed(&t.conn, p, fixed.as_bytes())
        .await
        .expect("fixed");
    assert_eq!((report.updated, report.refused, report.deleted), (1, 0, 1));
    let m = missions(&t.conn, p)
        .await
        .into_iter()
        .find(|m| m.client_id == "bad-2")
        .expect("bad-2");
    assert_eq!(
        (m.status, m.status_comment),
        (MissionStatus::Validated, None)
    );
    t.drop().await;
}

#[tokio::test]
async fn every_run_is_recorded_with_its_counts_warnings_and_error() {
    use passerelle_entities::import_run;
    use passerelle_ingest::run::run_import;
    let t = fresh("runs").await;
    let p = publisher(&t.conn).await;
    let ok = run_import(&t.conn, p, fixture("valid.xml").as_slice())
        .await
        .expect("recorded");
    assert_eq!(
        (
            ok.status.as_str(),
            ok.received,
            ok.created,
            ok.error.as_deref()
        ),
        ("SUCCESS", 3, 3, None)
    );
    assert!(ok.warnings.0.is_empty() && ok.refusals.0.is_empty());
    let mixed = run_import(&t.conn, p, fixture("invalid-missions.xml").as_slice())
        .await
        .expect("recorded");
    assert_eq!((mixed.received, mixed.refused, mixed.deleted), (3, 2, 3));
    assert!(mixed.warnings.0.is_empty(), "2 refused of 3 is under 75%");
    assert!(
        mixed
            .refusals
            .0
            .iter()
            .any(|r| r.client_id == "bad-1" && r.code == "INVALID_PLACES")
    );
    let all_bad = "<source><mission><clientId>z</clientId><title></title></mission></source>";
    let bad = run_import(&t.conn, p, all_bad.as_bytes())
        .await
        .expect("recorded");
    assert_eq!(bad.warnings.0, ["VALIDATION"]);
    let empty = run_import(&t.conn, p, "<source/>".as_bytes())
        .await
        .expect("recorded");
    assert_eq!(
        (empty.status.as_str(), empty.warnings.0.clone()),
        ("SUCCESS", vec!["EMPTY".to_owned()])
    );
    let failed = run_import(&t.conn, p, fixture("truncated.xml").as_slice())
        .await
        .expect("recorded");
    assert_eq!(
        (
            failed.status.as_str(),
            failed.received,
            failed.warnings.0.clone()
        ),
        ("FAILED", 0, vec!["ERROR".to_owned()])
    );
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("malformed XML")),
        "{:?}",
        failed.error
    );
    let runs = import_run::Entity::find()
        .filter(import_run::Column::PublisherId.eq(p))
        .all(&t.conn)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 5);
    t.drop().await;
}
