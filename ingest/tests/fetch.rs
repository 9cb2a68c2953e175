//! Importing feeds fetched over HTTP from a local server that stands in for partner platforms
//! (and for the geocoder): conditional requests, failures of every kind, the empty-feed grace
//! period, locks and geocoding, against a real database (SQLite, or PostgreSQL with
//! `PASSERELLE_TEST_POSTGRES_URL`).
use passerelle_entities::ImportWarning;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_db::testing::TestDatabase;
use passerelle_entities::{GeoSource, import_run, mission, mission_address, publisher};
use passerelle_ingest::fetch::{BasicAuth, FetchOptions};
use passerelle_ingest::geocode::Geocoder;
use passerelle_ingest::run::{RunError, RunOptions, RunOutcome, Source, run_import};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use tokio::io::AsyncWriteExt;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../examples/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// What the partner's server serves and what it saw.
#[derive(Default)]
struct Partner {
    /// Path → body served at /feeds/{path}.
    feeds: HashMap<String, Vec<u8>>,
    /// Every request: path, If-None-Match, Authorization.
    requests: Vec<(String, Option<String>, Option<String>)>,
    /// Addresses the geocoder knows: folded "street|postcode|city" → (lat, lon).
    known_addresses: HashMap<String, (f64, f64)>,
    geocoder_calls: usize,
    /// The geocoder answers 429 (Retry-After: 0) to this many calls first.
    geocoder_busy: usize,
    /// The same server on another port: another origin, for redirects.
    other_origin: String,
}

type Shared = Arc<Mutex<Partner>>;

fn etag_of(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:x}\"")
}

async fn feed(State(s): State<Shared>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let text = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut partner = s.lock().expect("lock");
    partner.requests.push((
        name.clone(),
        text(header::IF_NONE_MATCH),
        text(header::AUTHORIZATION),
    ));
    match name.as_str() {
        "error-500" => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "not-found" => return StatusCode::NOT_FOUND.into_response(),
        "private"
            if text(header::AUTHORIZATION).as_deref() != Some("Basic cGFydGVuYWlyZTpzM2NyZXQ=") =>
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        _ => {}
    }
    let Some(body) = partner.feeds.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = etag_of(&body);
    if text(header::IF_NONE_MATCH).as_deref() == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    if name.ends_with(".gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).expect("gzip");
        let zipped = gz.finish().expect("gzip");
        return (
            [
                (header::CONTENT_TYPE, "application/xml".to_owned()),
                (header::CONTENT_ENCODING, "gzip".to_owned()),
                (header::ETAG, etag),
            ],
            zipped,
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/xml".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// 302 to a feed: on the same origin (`/redirect/same/{name}`), on another one
/// (`/redirect/other/{name}`), or to itself forever (`/redirect/loop/x`).
async fn redirect(State(s): State<Shared>, Path((kind, name)): Path<(String, String)>) -> Response {
    let location = match kind.as_str() {
        "same" => format!("/feeds/{name}"),
        "other" => format!("{}/feeds/{name}", s.lock().expect("lock").other_origin),
        _ => "/redirect/loop/x".to_owned(),
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "<source/>"
}

/// The French address API's batch interface, for the addresses the partner server knows.
async fn geocoder(State(s): State<Shared>, mut form: Multipart) -> Response {
    let mut data = Vec::new();
    let mut columns = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("data") => data = field.bytes().await.expect("data").to_vec(),
            Some("columns") => columns.push(field.text().await.expect("text")),
            _ => {}
        }
    }
    assert_eq!(columns, ["adresse", "city"], "the columns to geocode");
    let mut partner = s.lock().expect("lock");
    partner.geocoder_calls += 1;
    if partner.geocoder_busy > 0 {
        partner.geocoder_busy -= 1;
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")]).into_response();
    }
    let mut reader = csv::Reader::from_reader(data.as_slice());
    let mut out =
        String::from("id,adresse,postcode,city,latitude,longitude,result_score,result_status\n");
    for row in reader.records() {
        let row = row.expect("csv row");
        let key = format!("{}|{}|{}", &row[1], &row[2], &row[3]).to_lowercase();
        match partner.known_addresses.get(&key) {
            Some((lat, lon)) => out.push_str(&format!(
                "{},{},{},{},{lat},{lon},0.93,ok\n",
                &row[0], &row[1], &row[2], &row[3]
            )),
            None => out.push_str(&format!(
                "{},{},{},{},,,,not-found\n",
                &row[0], &row[1], &row[2], &row[3]
            )),
        }
    }
    ([(header::CONTENT_TYPE, "text/csv")], out).into_response()
}

/// A raw TCP server for what a well-behaved HTTP framework will not send: a body cut short
/// before its declared length, and a large body without a length.
async fn raw_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = tokio::io::AsyncReadExt::read(&mut socket, &mut request)
                    .await
                    .unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                if request.starts_with("GET /cut ") {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n\r\n<source><mission><clientId>x</clientId>")
                        .await;
                } else if request.starts_with("GET /endless ") {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n<source>")
                        .await;
                    let filler = "<!-- padding -->".repeat(4096);
                    for _ in 0..100 {
                        if socket.write_all(filler.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

struct Fixture {
    db: TestDatabase,
    conn: DatabaseConnection,
    partner: Shared,
    base: String,
    raw: String,
}

async fn fixture_server(label: &str) -> Fixture {
    let db = TestDatabase::create(label).await.expect("test database");
    let conn = db.connect_migrated().await.expect("migrated");
    let partner: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/feeds/{name}", get(feed))
        .route("/slow", get(slow))
        .route("/geo/search/csv", post(geocoder))
        .route("/redirect/{kind}/{name}", get(redirect))
        .with_state(Arc::clone(&partner));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let other = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    partner.lock().expect("lock").other_origin =
        format!("http://{}", other.local_addr().expect("addr"));
    let second = app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::spawn(async move { axum::serve(other, second).await });
    let raw = raw_server().await;
    Fixture {
        db,
        conn,
        partner,
        base: format!("http://{addr}"),
        raw: format!("http://{raw}"),
    }
}

impl Fixture {
    fn serve(&self, name: &str, body: impl Into<Vec<u8>>) {
        self.partner
            .lock()
            .expect("lock")
            .feeds
            .insert(name.to_owned(), body.into());
    }

    fn url(&self, name: &str) -> String {
        format!("{}/feeds/{name}", self.base)
    }

    fn requests(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.partner.lock().expect("lock").requests.clone()
    }

    async fn publisher(&self, name: &str, feed: &str) -> publisher::Model {
        passerelle_db::publishers::add(
            &self.conn,
            name,
            Some(self.url(feed)),
            None,
            None,
            Some(3600),
        )
        .await
        .expect("publisher")
    }

    /// The publisher as stored now (its validators change with each run).
    async fn reload(&self, p: &publisher::Model) -> publisher::Model {
        publisher::Entity::find_by_id(p.id)
            .one(&self.conn)
            .await
            .expect("read")
            .expect("publisher")
    }

    async fn run(&self, p: &publisher::Model, options: &RunOptions) -> RunOutcome {
        let p = self.reload(p).await;
        let source = Source::of_publisher(&p).expect("feed");
        run_import(&self.conn, &p, &source, options, None)
            .await
            .expect("run recorded")
    }

    async fn missions(&self, p: &publisher::Model) -> Vec<mission::Model> {
        mission::Entity::find()
            .filter(mission::Column::PublisherId.eq(p.id))
            .order_by_asc(mission::Column::ClientId)
            .all(&self.conn)
            .await
            .expect("missions")
    }

    async fn runs(&self, p: &publisher::Model) -> Vec<import_run::Model> {
        import_run::Entity::find()
            .filter(import_run::Column::PublisherId.eq(p.id))
            .order_by_asc(import_run::Column::Id)
            .all(&self.conn)
            .await
            .expect("runs")
    }

    /// The publisher's missions that are not deleted.
    async fn live(&self, p: &publisher::Model) -> usize {
        self.missions(p)
            .await
            .iter()
            .filter(|m| m.deleted_at.is_none())
            .count()
    }

    /// Moves the publisher's runs `days` back in time, as if they had happened earlier.
    async fn age_runs(&self, p: &publisher::Model, days: i64) {
        for run in self.runs(p).await {
            let started = run.started_at - chrono::Duration::days(days);
            let finished = run.finished_at - chrono::Duration::days(days);
            let mut run: import_run::ActiveModel = run.into();
            run.started_at = Set(started);
            run.finished_at = Set(finished);
            run.update(&self.conn).await.expect("age run");
        }
    }

    async fn done(self) {
        self.conn.close().await.ok();
        self.db.drop_database().await;
    }
}

/// Options for tests: local servers allowed, short timeouts and backoff, no geocoder.
fn options() -> RunOptions {
    RunOptions {
        fetch: FetchOptions {
            allow_private: true,
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            retries: 2,
            backoff: Duration::from_millis(10),
            max_bytes: 1 << 20,
        },
        ..RunOptions::default()
    }
}

const TWO_MISSIONS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<source>
  <mission><clientId>a</clientId><title>Distribuer des repas</title><description>Aux Restos du cœur.</description>
    <applicationUrl>https://example.org/a</applicationUrl><domain>solidarite-insertion</domain>
    <postalCode>69002</postalCode><city>Lyon</city><lonlat>4.832,45.762</lonlat></mission>
  <mission><clientId>b</clientId><title>Planter des haies</title><description>Avec la LPO.</description>
    <applicationUrl>https://example.org/b</applicationUrl><domain>environnement</domain>
    <postalCode>13001</postalCode><city>Marseille</city><lonlat>5.38,43.30</lonlat></mission>
</source>"#;

#[tokio::test]
async fn an_unchanged_feed_costs_one_conditional_request_and_rewrites_nothing() {
    let f = fixture_server("fetch-cond").await;
    f.serve("partner.xml", fixture("valid.xml"));
    let p = f.publisher("Réseau Exemple", "partner.xml").await;
    let first = f.run(&p, &options()).await.run;
    assert_eq!(
        (
            first.status.as_str(),
            first.received,
            first.created,
            first.not_modified
        ),
        ("SUCCESS", 3, 3, false)
    );
    assert_eq!(first.source.as_deref(), Some(f.url("partner.xml").as_str()));
    assert_eq!(first.fetched_bytes, Some(fixture("valid.xml").len() as i64));
    let stored = f.reload(&p).await;
    assert!(stored.feed_etag.is_some(), "the ETag is kept for next time");
    let before = f.missions(&p).await;

    let second = f.run(&p, &options()).await.run;
    assert_eq!(
        (
            second.status.as_str(),
            second.not_modified,
            second.received,
            second.updated
        ),
        ("SUCCESS", true, 0, 0)
    );
    let requests = f.requests();
    assert_eq!(requests.len(), 2, "one request per run: {requests:?}");
    assert_eq!(
        requests[1].1, stored.feed_etag,
        "the second one is conditional"
    );
    assert_eq!(f.missions(&p).await, before, "nothing rewritten");

    // The partner changes its feed: the next run reads it in full.
    f.serve("partner.xml", TWO_MISSIONS);
    let third = f.run(&p, &options()).await.run;
    assert_eq!(
        (third.not_modified, third.created, third.deleted),
        (false, 2, 3)
    );
    f.done().await;
}

#[tokio::test]
async fn gzip_and_basic_auth_feeds_are_read_and_credentials_never_recorded() {
    let f = fixture_server("fetch-gzip").await;
    f.serve("missions.xml.gz", TWO_MISSIONS);
    let p = f.publisher("Zippé", "missions.xml.gz").await;
    let run = f.run(&p, &options()).await.run;
    assert_eq!((run.status.as_str(), run.created), ("SUCCESS", 2));
    assert_eq!(
        run.fetched_bytes,
        Some(TWO_MISSIONS.len() as i64),
        "counted decompressed"
    );

    f.serve("private", TWO_MISSIONS);
    let secret = passerelle_db::publishers::add(
        &f.conn,
        "Privé",
        Some(f.url("private")),
        Some("partenaire".into()),
        Some("s3cret".into()),
        None,
    )
    .await
    .expect("publisher");
    let run = f.run(&secret, &options()).await.run;
    assert_eq!(
        (run.status.as_str(), run.created),
        ("SUCCESS", 2),
        "{:?}",
        run.error
    );
    let auth = f.requests().last().and_then(|r| r.2.clone());
    assert_eq!(auth.as_deref(), Some("Basic cGFydGVuYWlyZTpzM2NyZXQ="));
    let recorded = format!("{run:?}");
    assert!(!recorded.contains("s3cret"), "{recorded}");

    // A URL with credentials in it is recorded without them (nor its query).
    let source = Source::Url {
        url: format!("{}?token=abc", f.url("private"))
            .replace("http://", "http://partenaire:s3cret@"),
        auth: Some(BasicAuth {
            user: "partenaire".into(),
            password: Some("s3cret".into()),
        }),
    };
    let run = run_import(&f.conn, &secret, &source, &options(), None)
        .await
        .expect("recorded")
        .run;
    let recorded = run.source.clone().unwrap_or_default();
    assert!(
        !recorded.contains("s3cret") && !recorded.contains("token"),
        "{recorded}"
    );
    f.done().await;
}

#[tokio::test]
async fn every_kind_of_failure_is_recorded_and_changes_nothing() {
    let f = fixture_server("fetch-fail").await;
    f.serve("good.xml", fixture("valid.xml"));
    f.serve("truncated.xml", fixture("truncated.xml"));
    f.serve("billion-laughs.xml", fixture("billion-laughs.xml"));
    f.serve("not-xml", "{\"missions\": []}");
    // Declared UTF-8, but a byte that is not (a Latin-1 "é").
    let mut broken = TWO_MISSIONS.replace("Planter", "Plant\u{0}er").into_bytes();
    let at = broken.iter().position(|b| *b == 0).expect("marker");
    broken[at] = 0xE9;
    f.serve("bad-encoding.xml", broken);
    f.serve("big.xml", vec![b' '; 2 << 20]);
    let p = f.publisher("Fragile", "good.xml").await;
    assert_eq!(f.run(&p, &options()).await.run.created, 3);
    let before = f.missions(&p).await;

    let cases: Vec<(String, &str, &str)> = vec![
        (f.url("truncated.xml"), "malformed XML", "FEED_MALFORMED"),
        (f.url("billion-laughs.xml"), "entit", "FEED_ENTITIES"),
        (f.url("not-xml"), "XML", "FEED_NOT_A_FEED"),
        (f.url("bad-encoding.xml"), "UTF-8", "FEED_MALFORMED"),
        (f.url("error-500"), "HTTP 500", "FEED_HTTP_STATUS"),
        (f.url("not-found"), "HTTP 404", "FEED_HTTP_STATUS"),
        (f.url("big.xml"), "larger than the limit", "FEED_TOO_LARGE"),
        (
            format!("{}/endless", f.raw),
            "larger than the limit",
            "FEED_TOO_LARGE",
        ),
        (
            format!("{}/cut", f.raw),
            "cannot fetch the feed",
            "FEED_UNREACHABLE",
        ),
        (
            format!("{}/slow", f.base),
            "did not arrive within",
            "FEED_TIMEOUT",
        ),
        (
            "ftp://example.org/feed.xml".to_owned(),
            "http or https",
            "FEED_INVALID_URL",
        ),
    ];
    for (url, expected, code) in cases {
        let source = Source::Url {
            url: url.clone(),
            auth: None,
        };
        let outcome = run_import(&f.conn, &p, &source, &options(), None)
            .await
            .expect("recorded");
        let run = outcome.run;
        assert_eq!(run.status.as_str(), "FAILED", "{url}");
        assert_eq!(run.warnings.0, [ImportWarning::Error], "{url}");
        assert_eq!(run.error_code.as_deref(), Some(code), "{url}");
        let error = run.error.unwrap_or_default();
        assert!(error.contains(expected), "{url}: {error}");
        assert_eq!(f.missions(&p).await, before, "{url} changed nothing");
    }
    // A file that cannot be read: a code, and a message without the server's path.
    let missing = std::env::temp_dir().join("passerelle-no-such-feed.xml");
    let run = run_import(&f.conn, &p, &Source::File(missing), &options(), None)
        .await
        .expect("recorded")
        .run;
    assert_eq!(run.error_code.as_deref(), Some("FILE_UNREADABLE"));
    let error = run.error.unwrap_or_default();
    assert!(
        !error.contains('/') && !error.contains("passerelle-no-such-feed"),
        "{error}"
    );
    let hits_500 = f.requests().iter().filter(|r| r.0 == "error-500").count();
    assert_eq!(hits_500, 3, "a 5xx is tried once and retried twice");
    let hits_404 = f.requests().iter().filter(|r| r.0 == "not-found").count();
    assert_eq!(hits_404, 1, "a 4xx is not retried");
    f.done().await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let f = fixture_server("fetch-private").await;
    f.serve("feed.xml", TWO_MISSIONS);
    let p = f.publisher("Local", "feed.xml").await;
    let mut strict = options();
    strict.fetch.allow_private = false;
    let run = f.run(&p, &strict).await.run;
    assert_eq!(run.status.as_str(), "FAILED");
    assert_eq!(run.error_code.as_deref(), Some("FEED_PRIVATE_ADDRESS"));
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("private or loopback"),
        "{:?}",
        run.error
    );
    assert!(f.requests().is_empty(), "no request reached the server");
    assert_eq!(
        f.run(&p, &options()).await.run.created,
        2,
        "allowed when configured"
    );
    f.done().await;
}

#[tokio::test]
async fn swapped_coordinates_and_duplicates_are_handled_and_reported() {
    let f = fixture_server("fetch-swap").await;
    let feed = r#"<source>
  <mission><clientId>s</clientId><title>Maraude</title><description>Le soir.</description>
    <applicationUrl>https://example.org/s</applicationUrl><domain>solidarite-insertion</domain>
    <postalCode>75011</postalCode><city>Paris</city><lonlat>48.8590,2.3800</lonlat></mission>
  <mission><clientId>s</clientId><title>Maraude (copie)</title><description>Le soir.</description>
    <applicationUrl>https://example.org/s2</applicationUrl><domain>solidarite-insertion</domain></mission>
</source>"#;
    f.serve("swap.xml", feed);
    let p = f.publisher("Inversé", "swap.xml").await;
    let run = f.run(&p, &options()).await.run;
    assert_eq!((run.received, run.created), (2, 1));
    let missions = f.missions(&p).await;
    assert_eq!(missions.len(), 1);
    assert_eq!(
        missions[0].title, "Maraude",
        "the first of the duplicates wins"
    );
    let address = mission_address::Entity::find()
        .filter(mission_address::Column::MissionId.eq(missions[0].id))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("address");
    assert_eq!((address.lat, address.lon), (Some(48.859), Some(2.38)));
    assert_eq!(address.geo_source, GeoSource::Publisher);
    f.done().await;
}

#[tokio::test]
async fn an_empty_feed_deletes_only_after_the_grace_period() {
    let f = fixture_server("fetch-grace").await;
    f.serve("feed.xml", TWO_MISSIONS);
    let p = f.publisher("Vide", "feed.xml").await;
    assert_eq!(f.run(&p, &options()).await.run.created, 2);
    f.serve("feed.xml", "<source></source>");
    let empty = f.run(&p, &options()).await.run;
    assert_eq!((empty.received, empty.deleted), (0, 0));
    assert_eq!(empty.warnings.0, [ImportWarning::Empty]);
    assert!(
        f.reload(&p).await.feed_etag.is_none(),
        "an empty feed keeps no validators: it is read in full until it has missions again"
    );
    assert_eq!(f.live(&p).await, 2);
    // Six days after the last feed with missions: still within the grace period.
    f.age_runs(&p, 6).await;
    assert_eq!(f.run(&p, &options()).await.run.deleted, 0);
    assert_eq!(f.live(&p).await, 2);
    // Eight days: the feed has been empty long enough, it counts.
    f.age_runs(&p, 2).await;
    let later = f.run(&p, &options()).await.run;
    assert_eq!((later.received, later.deleted), (0, 2));
    assert_eq!(f.live(&p).await, 0);
    f.done().await;
}

#[tokio::test]
async fn unchanged_feeds_answered_304_keep_the_grace_period_from_running() {
    let f = fixture_server("fetch-grace-304").await;
    f.serve("feed.xml", TWO_MISSIONS);
    let p = f.publisher("Stable", "feed.xml").await;
    assert_eq!(f.run(&p, &options()).await.run.created, 2);
    // Nine days of 304: the feed is unchanged, with its missions, all along.
    f.age_runs(&p, 9).await;
    assert!(f.run(&p, &options()).await.run.not_modified);
    f.age_runs(&p, 1).await;
    // Then the partner's export breaks: the first empty feed deletes nothing.
    f.serve("feed.xml", "<source/>");
    let empty = f.run(&p, &options()).await.run;
    assert_eq!((empty.received, empty.deleted), (0, 0));
    // A feed whose missions all lack a clientId deletes nothing either.
    f.serve(
        "feed.xml",
        "<source><mission><title>Sans identifiant</title></mission></source>",
    );
    let keyless = f.run(&p, &options()).await.run;
    assert_eq!(
        (keyless.received, keyless.refused, keyless.deleted),
        (1, 1, 0)
    );
    assert!(
        f.missions(&p).await.iter().all(|m| m.deleted_at.is_none()),
        "the two missions are still there"
    );
    f.done().await;
}

#[tokio::test]
async fn two_imports_of_one_publisher_never_run_at_once() {
    let f = fixture_server("fetch-lock").await;
    f.serve("feed.xml", TWO_MISSIONS);
    let p = f.publisher("Verrou", "feed.xml").await;
    // Another instance holds the lock: an advisory lock on PostgreSQL, the write lock on SQLite.
    let other = f.db.connect_migrated().await.expect("second pool");
    use sea_orm::TransactionTrait;
    let held = other.begin().await.expect("begin");
    if f.db.is_postgres() {
        held.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({}, {})",
            0x5041_5353, p.id
        ))
        .await
        .expect("lock");
    } else {
        held.execute_unprepared("UPDATE publishers SET updated_at = updated_at")
            .await
            .expect("write lock");
    }
    let source = Source::of_publisher(&p).expect("feed");
    let busy = run_import(&f.conn, &p, &source, &options(), None).await;
    assert!(matches!(busy, Err(RunError::Busy)), "{busy:?}");
    assert!(f.runs(&p).await.is_empty(), "a skipped run is not recorded");
    held.rollback().await.expect("release");
    other.close().await.ok();
    let run = run_import(&f.conn, &p, &source, &options(), None)
        .await
        .expect("runs once released")
        .run;
    assert_eq!(run.created, 2);
    f.done().await;
}

#[tokio::test]
async fn addresses_without_coordinates_are_geocoded_or_placed_at_their_commune() {
    let f = fixture_server("fetch-geo").await;
    let feed = r#"<source>
  <mission><clientId>g1</clientId><title>Jardin partagé</title><description>Bêcher.</description>
    <applicationUrl>https://example.org/g1</applicationUrl><domain>environnement</domain>
    <adresse>20 avenue de Ségur</adresse><postalCode>75007</postalCode><city>Paris</city></mission>
  <mission><clientId>g2</clientId><title>Bibliothèque</title><description>Ranger.</description>
    <applicationUrl>https://example.org/g2</applicationUrl><domain>culture-loisirs</domain>
    <adresse>1 place Inconnue</adresse><postalCode>01400</postalCode><city>Châtillon-sur-Chalaronne</city></mission>
  <mission><clientId>g3</clientId><title>Ailleurs</title><description>Nulle part.</description>
    <applicationUrl>https://example.org/g3</applicationUrl><domain>autre</domain>
    <city>Atlantide</city></mission>
</source>"#;
    f.serve("geo.xml", feed);
    // Rate-limited once: the client waits as told and tries again.
    f.partner.lock().expect("lock").geocoder_busy = 1;
    f.partner.lock().expect("lock").known_addresses.insert(
        "20 avenue de ségur|75007|paris".to_owned(),
        (48.8493, 2.3076),
    );
    let p = f.publisher("Géo", "geo.xml").await;
    let mut with_geocoder = options();
    let mut geocoder =
        Geocoder::new(&format!("{}/geo", f.base), Duration::from_secs(5)).expect("geocoder");
    geocoder.backoff = Duration::from_millis(10);
    with_geocoder.geocoder = Some(geocoder);
    let outcome = f.run(&p, &with_geocoder).await;
    let report = outcome
        .geocoding
        .expect("geocoding ran")
        .expect("geocoder answered");
    assert_eq!((report.asked, report.found), (3, 1));
    assert_eq!(
        f.partner.lock().expect("lock").geocoder_calls,
        2,
        "one 429, then the batch"
    );
    let source_of = |client: &'static str| {
        let conn = f.conn.clone();
        async move {
            let m = mission::Entity::find()
                .filter(mission::Column::ClientId.eq(client))
                .one(&conn)
                .await
                .expect("read")
                .expect("mission");
            mission_address::Entity::find()
                .filter(mission_address::Column::MissionId.eq(m.id))
                .one(&conn)
                .await
                .expect("read")
                .expect("address")
        }
    };
    let g1 = source_of("g1").await;
    assert_eq!(
        (g1.geo_source, g1.lat, g1.lon),
        (GeoSource::Geocoder, Some(48.8493), Some(2.3076))
    );
    let g2 = source_of("g2").await;
    assert_eq!(
        g2.geo_source,
        GeoSource::Fallback,
        "not found by the geocoder: the commune's centroid"
    );
    let (lat, lon) = (g2.lat.expect("lat"), g2.lon.expect("lon"));
    assert!(
        (46.0..46.3).contains(&lat) && (4.8..5.1).contains(&lon),
        "{lat},{lon}"
    );
    let g3 = source_of("g3").await;
    assert_eq!((g3.geo_source, g3.lat), (GeoSource::NotFound, None));

    // The geocoder is down: the import still succeeds, addresses keep their centroid.
    f.serve("geo.xml", feed.replace("Bêcher", "Bêcher et arroser"));
    let mut down = options();
    let mut dead = Geocoder::new(
        &format!("{}/no-such-geocoder", f.base),
        Duration::from_secs(2),
    )
    .expect("geocoder");
    dead.retries = 0;
    down.geocoder = Some(dead);
    let outcome = f.run(&p, &down).await;
    assert_eq!(
        (outcome.run.status.as_str(), outcome.run.updated),
        ("SUCCESS", 1)
    );
    assert!(
        matches!(outcome.geocoding, Some(Err(_))),
        "{:?}",
        outcome.geocoding
    );
    let g1 = source_of("g1").await;
    assert_eq!(
        g1.geo_source,
        GeoSource::Fallback,
        "rewritten, then left at its centroid"
    );
    f.done().await;
}

#[tokio::test]
async fn redirects_are_followed_and_credentials_stay_with_their_origin() {
    let f = fixture_server("fetch-redirect").await;
    f.serve("private", TWO_MISSIONS);
    let p = passerelle_db::publishers::add(&f.conn, "Redirigé", None, None, None, None)
        .await
        .expect("publisher");
    let auth = Some(BasicAuth {
        user: "partenaire".into(),
        password: Some("s3cret".into()),
    });
    let via = |path: &str| Source::Url {
        url: format!("{}{path}", f.base),
        auth: auth.clone(),
    };
    // Same origin: followed, with the credentials.
    let same = run_import(
        &f.conn,
        &p,
        &via("/redirect/same/private"),
        &options(),
        None,
    )
    .await
    .expect("recorded")
    .run;
    assert_eq!(
        (same.status.as_str(), same.created),
        ("SUCCESS", 2),
        "{:?}",
        same.error
    );
    // Another origin (another port): followed, without them, so the feed answers 401.
    let other = run_import(
        &f.conn,
        &p,
        &via("/redirect/other/private"),
        &options(),
        None,
    )
    .await
    .expect("recorded")
    .run;
    assert_eq!(other.status.as_str(), "FAILED");
    assert_eq!(other.error_code.as_deref(), Some("FEED_HTTP_STATUS"));
    assert!(
        other
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("HTTP 401"),
        "{:?}",
        other.error
    );
    let last = f.requests().last().cloned().expect("a request");
    assert_eq!(
        (last.0.as_str(), last.2),
        ("private", None),
        "no credentials sent"
    );
    // A redirect loop ends.
    let looping = run_import(&f.conn, &p, &via("/redirect/loop/x"), &options(), None)
        .await
        .expect("recorded")
        .run;
    assert_eq!(looping.error_code.as_deref(), Some("FEED_REDIRECTS"));
    assert!(
        looping
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("redirects"),
        "{:?}",
        looping.error
    );
    assert_eq!(f.live(&p).await, 2, "the failures changed nothing");
    f.done().await;
}
