//! Importing feeds into a real database (SQLite, or PostgreSQL with
//! `PASSERELLE_TEST_POSTGRES_URL`), migrated with the real migrations.
use std::io::Cursor;

use passerelle_db::testing::TestDatabase;
use passerelle_entities::{ImportWarning, MissionStatus, mission, publisher};
use passerelle_ingest::import::{ImportError, ImportOptions, import_feed};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

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
    passerelle_db::publishers::add(db, "Réseau Exemple", None, None, None, None)
        .await
        .expect("publisher")
        .id
}

/// Imports `input` for the publisher with the default options.
async fn import(
    t: &TestDb,
    publisher: i64,
    input: Cursor<Vec<u8>>,
) -> Result<passerelle_ingest::import::ImportReport, ImportError> {
    import_feed(&t.conn, publisher, input, ImportOptions::default()).await
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
    let first = import(&t, p, Cursor::new(fixture("valid.xml")))
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
    let again = import(&t, p, Cursor::new(fixture("valid.xml")))
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
    let third = import(&t, p, Cursor::new(changed.into_bytes()))
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
    import(&t, p, Cursor::new(fixture("valid.xml")))
        .await
        .expect("first import");
    let before = missions(&t.conn, p).await;
    for name in ["truncated.xml", "billion-laughs.xml"] {
        let err = import(&t, p, Cursor::new(fixture(name)))
            .await
            .expect_err(name);
        assert!(matches!(err, ImportError::Feed(_)), "{name}: {err}");
        assert_eq!(missions(&t.conn, p).await, before, "{name} changed nothing");
    }
    let empty = import(&t, p, Cursor::new(b"<source></source>".to_vec()))
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
    let report = import(&t, p, Cursor::new(fixture("invalid-missions.xml")))
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
    let report = import(&t, p, Cursor::new(fixed.as_bytes().to_vec()))
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

/// Runs an import of `bytes` (through a file, as the command does) and returns the record.
async fn run_bytes(
    db: &DatabaseConnection,
    publisher_id: i64,
    bytes: &[u8],
) -> passerelle_entities::import_run::Model {
    use passerelle_ingest::run::{RunOptions, Source, run_import};
    let p = publisher::Entity::find_by_id(publisher_id)
        .one(db)
        .await
        .expect("read")
        .expect("publisher");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, bytes).expect("write feed");
    run_import(db, &p, &Source::File(path), &RunOptions::default(), None)
        .await
        .expect("recorded")
        .run
}

#[tokio::test]
async fn every_run_is_recorded_with_its_counts_warnings_and_error() {
    use passerelle_entities::import_run;
    let t = fresh("runs").await;
    let p = publisher(&t.conn).await;
    let ok = run_bytes(&t.conn, p, &fixture("valid.xml")).await;
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
    let mixed = run_bytes(&t.conn, p, &fixture("invalid-missions.xml")).await;
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
    let bad = run_bytes(&t.conn, p, all_bad.as_bytes()).await;
    assert_eq!(bad.warnings.0, [ImportWarning::Validation]);
    let empty = run_bytes(&t.conn, p, "<source/>".as_bytes()).await;
    assert_eq!(
        (empty.status.as_str(), empty.warnings.0.clone()),
        ("SUCCESS", vec![ImportWarning::Empty])
    );
    let failed = run_bytes(&t.conn, p, fixture("truncated.xml").as_slice()).await;
    assert_eq!(
        (
            failed.status.as_str(),
            failed.received,
            failed.warnings.0.clone()
        ),
        ("FAILED", 0, vec![ImportWarning::Error])
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

/// A reader whose source fails after `left` bytes, like a connection reset mid-feed.
struct FailAfter<R> {
    inner: R,
    left: usize,
}

impl<R: std::io::Read> std::io::Read for FailAfter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("connection reset by peer"));
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

#[tokio::test]
async fn a_failure_part_way_through_a_large_feed_leaves_the_previous_state_whole() {
    use sea_orm::PaginatorTrait;
    let t = fresh("midway").await;
    let p = publisher(&t.conn).await;
    import(&t, p, Cursor::new(fixture("valid.xml")))
        .await
        .expect("first import");
    let before = missions(&t.conn, p).await;
    let organizations = passerelle_entities::organization::Entity::find()
        .count(&t.conn)
        .await
        .expect("count");
    let mut big = Vec::new();
    passerelle_ingest::sample::write_feed(&mut big, 3_000, 0).expect("feed");
    // Fails after two thirds: well past the first batches written to the database.
    let left = big.len() * 2 / 3;
    let input = std::io::BufReader::new(FailAfter {
        inner: Cursor::new(big),
        left,
    });
    let progress_seen = std::sync::atomic::AtomicU64::new(0);
    let progress = |n: u64| progress_seen.store(n, std::sync::atomic::Ordering::Relaxed);
    let err = import_feed(
        &t.conn,
        p,
        input,
        ImportOptions {
            progress: Some(&progress),
            ..ImportOptions::default()
        },
    )
    .await
    .expect_err("the feed breaks");
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert!(
        progress_seen.load(std::sync::atomic::Ordering::Relaxed) >= 1_000,
        "the failure came after missions were written"
    );
    assert_eq!(
        missions(&t.conn, p).await,
        before,
        "the previous missions, untouched"
    );
    let all = mission::Entity::find().count(&t.conn).await.expect("count");
    assert_eq!(all, 3, "no half-written mission");
    let after = passerelle_entities::organization::Entity::find()
        .count(&t.conn)
        .await
        .expect("count");
    assert_eq!(after, organizations, "no half-written organization");
    t.drop().await;
}

#[tokio::test]
async fn reasons_and_duplicates_are_counted_all_and_kept_to_the_first_thousand() {
    let t = fresh("bounded-report").await;
    let p = publisher(&t.conn).await;
    // 1,500 missions with two reasons each (no title, no description), then 1,200 repeats.
    let mut feed = String::from("<source>");
    for i in 0..1_500 {
        feed.push_str(&format!(
            "<mission><clientId>bad-{i}</clientId><applicationUrl>https://e.org/{i}</applicationUrl></mission>"
        ));
    }
    for i in 0..1_200 {
        feed.push_str(&format!("<mission><clientId>bad-{i}</clientId></mission>"));
    }
    feed.push_str("</source>");
    let report = import(&t, p, Cursor::new(feed.into_bytes()))
        .await
        .expect("import");
    assert_eq!(report.refused, 1_500);
    assert_eq!(
        (report.refusals.len(), report.refusal_count),
        (1_000, 3_000)
    );
    assert_eq!(
        (report.duplicates.len(), report.duplicate_count),
        (1_000, 1_200)
    );
    t.drop().await;
}

#[tokio::test]
async fn an_unknown_stored_status_or_warning_is_an_error_not_a_failure() {
    use sea_orm::ConnectionTrait;
    let t = fresh("unknown-status").await;
    let p = publisher(&t.conn).await;
    let ok = run_bytes(&t.conn, p, "<source/>".as_bytes()).await;
    let read = |db: DatabaseConnection| async move {
        passerelle_entities::import_run::Entity::find_by_id(ok.id)
            .one(&db)
            .await
    };
    assert!(read(t.conn.clone()).await.is_ok());
    t.conn
        .execute_unprepared(&format!(
            "UPDATE import_runs SET status = 'PARTIAL' WHERE id = {}",
            ok.id
        ))
        .await
        .expect("update");
    assert!(read(t.conn.clone()).await.is_err(), "an unknown status");
    t.conn
        .execute_unprepared(&format!(
            "UPDATE import_runs SET status = 'SUCCESS', warnings = '[\"SLOW\"]' WHERE id = {}",
            ok.id
        ))
        .await
        .expect("update");
    assert!(read(t.conn.clone()).await.is_err(), "an unknown warning");
    t.drop().await;
}
