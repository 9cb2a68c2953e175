//! Test fixtures: a fresh database per test (SQLite file, or a PostgreSQL database created for
//! it when `PASSERELLE_TEST_POSTGRES_URL` is set), migrated with the real migrations, and the
//! real server on an ephemeral port, spoken to over HTTP.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use passerelle::config::Settings;
use passerelle::{seed, server};
use sea_orm::{Database, DatabaseConnection};
use serde_json::{Value, json};

/// Missions in the shared, read-only demo data set.
pub const SHARED_MISSIONS: u64 = 1_500;

/// A fresh database for one test (see `passerelle::testing`).
pub struct TestDatabase(passerelle::testing::TestDatabase);

impl TestDatabase {
    pub async fn create(label: &str) -> TestDatabase {
        TestDatabase(
            passerelle::testing::TestDatabase::create(label)
                .await
                .expect("test database"),
        )
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Whether the tests run on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.0.is_postgres()
    }

    pub async fn connect_migrated(&self) -> DatabaseConnection {
        self.0
            .connect_migrated()
            .await
            .expect("connect and migrate")
    }

    pub async fn drop_database(self) {
        self.0.drop_database().await;
    }
}

/// The HS256 secret of the test servers' tokens (a test fixture, not a secret).
pub const TEST_JWT_SECRET: &str = "passerelle-tests-hs256-secret-of-at-least-32-bytes";

/// Settings of a test server: the defaults, with tokens signed by [`TEST_JWT_SECRET`], no
/// rate limit (the tests of rate limits set their own), and no kept answers (tests write rows
/// beside the server and read them at once; `responses.rs` tests the cache).
pub fn test_settings() -> Settings {
    Settings {
        jwt_secret: Some(TEST_JWT_SECRET.to_owned().into()),
        rate_limits: passerelle::ratelimit::RateLimits::OFF,
        response_cache_ms: 0,
        ..Settings::default()
    }
}

/// A token for a user of a test server, valid for an hour.
pub fn token_for(email: &str) -> String {
    passerelle::auth::tokens::mint_for(
        &TEST_JWT_SECRET.to_owned().into(),
        passerelle::auth::jwt::DEFAULT_ISSUER,
        passerelle::auth::jwt::DEFAULT_AUDIENCE,
        email,
        None,
        3600,
    )
    .expect("token")
}

/// The credentials a request is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum As {
    Anonymous,
    /// An API key, in `x-api-key`.
    Key(String),
    /// A bearer token.
    Token(String),
}

impl As {
    /// A token for the user with this email.
    pub fn user(email: &str) -> As {
        As::Token(token_for(email))
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            As::Anonymous => request,
            As::Key(key) => request.header("x-api-key", key),
            As::Token(token) => request.bearer_auth(token),
        }
    }
}

/// A running server.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server's pools (none for the shared server, which runs on a thread of its own).
    pools: Option<passerelle::db::Pools>,
    /// The server's bound on requests executing at once (none for the shared server).
    gate: Option<Arc<passerelle::gate::Gate>>,
}

impl TestApp {
    /// Starts the real server on 127.0.0.1:0 over the database of `conn`, in the current runtime,
    /// with the pools `serve` opens: on SQLite one writing connection and read-only ones, so
    /// that a write sent to a reader, or a second writer awaited inside a transaction, fails the
    /// test.
    pub async fn start(conn: DatabaseConnection, settings: Settings) -> TestApp {
        TestApp::start_on(server_pools(conn).await, settings).await
    }

    /// Like [`TestApp::start`], with every statement of the server's pools counted by `counter`.
    pub async fn start_counted(
        conn: DatabaseConnection,
        settings: Settings,
        counter: &StatementCounter,
    ) -> TestApp {
        TestApp::start_observed(conn, settings, counter.callback()).await
    }

    /// Like [`TestApp::start`], with `observe` called for every statement of the server's pools.
    pub async fn start_observed<F>(
        conn: DatabaseConnection,
        settings: Settings,
        observe: F,
    ) -> TestApp
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Clone + Send + Sync + 'static,
    {
        let mut pools = server_pools(conn).await;
        pools.reads.set_metric_callback(observe.clone());
        pools.read.set_metric_callback(observe.clone());
        pools.write.set_metric_callback(observe);
        TestApp::start_on(pools, settings).await
    }

    /// Closes the server's pools, as if its database were gone.
    pub async fn close_database(&self) {
        if let Some(pools) = &self.pools {
            pools.read.close_by_ref().await.expect("close the readers");
            pools.write.close_by_ref().await.expect("close the writer");
        }
    }

    async fn start_on(pools: passerelle::db::Pools, settings: Settings) -> TestApp {
        // Quiet unless asked: `TEST_LOG=1 cargo test` shows the server's logs.
        if std::env::var_os("TEST_LOG").is_some() {
            passerelle::telemetry::init(passerelle::config::LogFormat::Human, "info");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = server::AppState::new(pools.clone(), &settings).expect("server state");
        let gate = Arc::clone(&state.gate);
        tokio::spawn(server::serve(
            listener,
            state,
            settings.max_body_bytes,
            async {
                let _ = rx.await;
            },
        ));
        passerelle_ingest::install_tls_provider();
        TestApp {
            base,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            pools: Some(pools),
            gate: Some(gate),
        }
    }

    /// `GET /health`'s JSON body (status 200).
    pub async fn health(&self) -> Value {
        let res = self
            .client
            .get(format!("{}/health", self.base))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    /// Posts a query with variables as `application/json`, returns the JSON body (status 200).
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(&As::Anonymous, query, variables).await
    }

    /// Like [`TestApp::gql`], with credentials.
    pub async fn gql_as(&self, who: &As, query: &str, variables: Value) -> Value {
        let res = who
            .apply(self.client.post(format!("{}/graphql", self.base)))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            200,
            "GraphQL over application/json answers 200"
        );
        res.json().await.expect("JSON body")
    }

    /// Like [`TestApp::gql`], and fails the test on any GraphQL error; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        self.data_as(&As::Anonymous, query, variables).await
    }

    /// Like [`TestApp::data`], with credentials.
    pub async fn data_as(&self, who: &As, query: &str, variables: Value) -> Value {
        let body = self.gql_as(who, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Posts a query with credentials and returns the HTTP status, headers and JSON body, for
    /// answers that are not 200.
    pub async fn raw_as(&self, who: &As, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.post_as(who, json!({ "query": query })).await
    }

    /// Posts a whole GraphQL-over-HTTP body (query, variables, extensions) with credentials;
    /// returns the HTTP status, headers and JSON body.
    pub async fn post_as(&self, who: &As, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let res = who
            .apply(self.client.post(format!("{}/graphql", self.base)))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.json().await.expect("JSON body"))
    }

    /// The server's bound on requests executing at once, whose turns a test may take as a slow
    /// request would.
    pub fn gate(&self) -> &passerelle::gate::Gate {
        self.gate.as_deref().expect("a server of this test's own")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A server's pools over the database of `conn` (see [`TestApp::start`]).
async fn server_pools(conn: DatabaseConnection) -> passerelle::db::Pools {
    passerelle::db::Pools::over(conn, 4)
        .await
        .expect("read-only connections")
}

/// Has PostgreSQL end the backend `pid` (through `other`, a connection of its own), then waits
/// past `passerelle_db::STALE_AFTER`: a pool that rested that long checks its connection before
/// using it again.
pub async fn terminate_and_rest(other: &DatabaseConnection, pid: i32) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    other
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend($1)",
            [pid.into()],
        ))
        .await
        .expect("terminate");
    tokio::time::sleep(passerelle_db::STALE_AFTER + std::time::Duration::from_millis(300)).await;
}

/// The first error's `extensions.code`.
/// Runs `request` (a query, or a request with data of its own) as an anonymous caller on `schema`
/// as the gateway does (its own loaders, driven so that batches run when the request goes
/// idle), without HTTP: the response, and the request's idle points (its round trips after its
/// root fields).
pub async fn execute_anonymous(
    schema: &passerelle_schema::PasserelleSchema,
    request: impl Into<async_graphql::Request>,
) -> (
    async_graphql::Response,
    std::sync::Arc<passerelle_resolvers::batch::Idle>,
) {
    let (request, idle) = passerelle_schema::prepare(
        schema,
        request.into(),
        passerelle_entities::access::Viewer::anonymous(),
        None,
        passerelle_schema::Exposure::default(),
    );
    let response = passerelle_resolvers::batch::drive(idle.clone(), schema.execute(request)).await;
    (response, idle)
}

pub fn error_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

/// The shared demo data set (read-only tests use it): a server on its own thread and runtime,
/// started once per test binary, the URL of its database for the tests' own checks, and the
/// demo's API keys by publisher name.
pub struct Shared {
    pub base: String,
    pub database_url: String,
    pub keys: Vec<(String, String)>,
}

/// The demo's admin.
pub const DEMO_ADMIN: &str = "admin@passerelle.example";

/// Runs a mutation and returns its payload (the first field of `data`), failing on GraphQL
/// errors.
pub async fn mutate(app: &TestApp, who: &As, query: &str, variables: Value) -> Value {
    let data = app.data_as(who, query, variables).await;
    data.as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The codes of a payload's `userErrors`, in order.
pub fn codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Who runs an example query of `examples/queries/`: its `# viewer: EMAIL` line (a demo user's
/// token), `# viewer: key PUBLISHER` (the shared server's demo key), or anonymous.
pub fn example_viewer(document: &str) -> As {
    match document
        .lines()
        .find_map(|l| l.strip_prefix("# viewer: "))
        .map(str::trim)
    {
        None => As::Anonymous,
        Some(v) => match v.strip_prefix("key ") {
            Some(publisher) => demo_key(publisher),
            None => As::user(v),
        },
    }
}

/// The shared server's API key of a publisher.
pub fn demo_key(publisher: &str) -> As {
    shared()
        .keys
        .iter()
        .find(|(p, _)| p == publisher)
        .map(|(_, k)| As::Key(k.clone()))
        .expect("a demo key for this publisher")
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static SHARED_INIT: Mutex<()> = Mutex::new(());

pub fn shared() -> &'static Shared {
    if let Some(s) = SHARED.get() {
        return s;
    }
    let _guard = SHARED_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = SHARED.get() {
        return s;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let database = TestDatabase::create("shared").await;
            let conn = database.connect_migrated().await;
            let report = seed::seed_demo(&conn, SHARED_MISSIONS).await.expect("seed");
            let keys = report
                .credentials
                .keys
                .iter()
                .map(|(p, k)| {
                    (
                        p.clone(),
                        secrecy::ExposeSecret::expose_secret(k).to_owned(),
                    )
                })
                .collect();
            let app = TestApp::start(conn, test_settings()).await;
            tx.send(Shared {
                base: app.base.clone(),
                database_url: database.url().to_owned(),
                keys,
            })
            .expect("send");
            std::future::pending::<()>().await;
        });
    });
    let shared = rx.recv().expect("shared server started");
    let _ = SHARED.set(shared);
    SHARED.get().expect("set")
}

/// A client of the shared server.
pub fn shared_app() -> TestApp {
    passerelle_ingest::install_tls_provider();
    TestApp {
        base: shared().base.clone(),
        client: reqwest::Client::new(),
        shutdown: None,
        pools: None,
        gate: None,
    }
}

/// A connection to the shared database, for the tests' own expectations.
pub async fn shared_db() -> DatabaseConnection {
    Database::connect(&shared().database_url)
        .await
        .expect("connect to shared database")
}

/// Counts the SQL statements a server runs (those that start with a prefix, when it has one);
/// see [`TestApp::start_counted`].
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicUsize>, Option<&'static str>);

impl StatementCounter {
    /// Counts only the statements that start with `prefix`.
    pub fn matching(prefix: &'static str) -> Self {
        StatementCounter(Arc::default(), Some(prefix))
    }
    /// A metric callback that counts the statements (for `set_metric_callback` of a pool or a
    /// connection of the test's own).
    pub fn callback(&self) -> impl Fn(&sea_orm::metric::Info<'_>) + Clone + Send + Sync + 'static {
        let (count, prefix) = (self.0.clone(), self.1);
        move |info| {
            if prefix.is_none_or(|p| info.statement.sql.starts_with(p)) {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
    /// The count so far, left as it is.
    pub fn peek(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits until no statement has run for 100 ms (at most 5 s), then starts from zero: for
    /// the writes a request leaves to the background (a key's first use) to stay out of the
    /// counts that follow.
    pub async fn settle(&self) {
        for _ in 0..50 {
            let before = self.peek();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if self.peek() == before {
                break;
            }
        }
        self.take();
    }
}

/// A validated mission of a publisher and an organization, starting now, with every other field
/// at a plain value; tests set what they look at.
pub fn mission_model(
    publisher_id: i64,
    organization_id: i64,
    client_id: &str,
    title: &str,
    description: &str,
) -> passerelle_entities::mission::ActiveModel {
    use passerelle_entities::mission::StringList;
    use passerelle_entities::{Domain, MissionStatus, MissionType, Remote, mission};
    use sea_orm::Set;
    let now = passerelle_entities::time::now();
    mission::ActiveModel {
        publisher_id: Set(publisher_id),
        organization_id: Set(Some(organization_id)),
        client_id: Set(client_id.to_owned()),
        title: Set(title.to_owned()),
        description: Set(description.to_owned()),
        domain: Set(Domain::Autre),
        activities: Set(StringList::default()),
        mission_type: Set(MissionType::Benevolat),
        remote: Set(Remote::No),
        start_at: Set(now),
        end_at: Set(None),
        posted_at: Set(now),
        places: Set(3),
        places_left: Set(3),
        snu: Set(false),
        snu_places: Set(0),
        open_to_minors: Set(false),
        reduced_mobility_accessible: Set(false),
        close_to_transport: Set(false),
        schedule: Set(None),
        tags: Set(StringList::default()),
        audience: Set(StringList::default()),
        soft_skills: Set(StringList::default()),
        requirements: Set(StringList::default()),
        application_url: Set("https://example.org/apply".into()),
        status: Set(MissionStatus::Validated),
        status_comment: Set(None),
        search_text: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    }
}

/// Writes a small, known data set: one publisher, the organizations named, and one mission per
/// `(title, description, organization index, city, postal code, lat, lon)`; returns mission ids.
pub async fn insert_missions(
    conn: &DatabaseConnection,
    organizations: &[&str],
    missions: &[(&str, &str, usize, &str, &str, f64, f64)],
) -> Vec<i64> {
    use passerelle_entities::{mission_address, organization, publisher, search};
    use sea_orm::{ActiveModelTrait, Set};
    let now = passerelle_entities::time::now();
    let p = publisher::ActiveModel {
        name: Set("Test publisher".into()),
        is_annonceur: Set(true),
        is_diffuseur: Set(true),
        moderator: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("publisher");
    let mut org_ids = Vec::new();
    for (i, name) in organizations.iter().enumerate() {
        let o = organization::ActiveModel {
            publisher_id: Set(p.id),
            client_id: Set(format!("o{i}")),
            name: Set((*name).to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await
        .expect("organization");
        org_ids.push(o.id);
    }
    let mut ids = Vec::new();
    for (i, (title, description, org, city, postal, lat, lon)) in missions.iter().enumerate() {
        let dep = passerelle_entities::geo::department_of_postal_code(postal);
        let mut m = mission_model(p.id, org_ids[*org], &format!("m{i}"), title, description);
        m.start_at = Set(now + chrono::Duration::days(i as i64));
        m.search_text = Set(search::document(
            title,
            description,
            Some(organizations[*org]),
            [*city],
        ));
        let m = m.insert(conn).await.expect("mission");
        mission_address::ActiveModel {
            mission_id: Set(m.id),
            position: Set(0),
            city: Set(Some((*city).to_owned())),
            postal_code: Set(Some((*postal).to_owned())),
            department_code: Set(dep.map(|d| d.code.to_owned())),
            department_name: Set(dep.map(|d| d.name.to_owned())),
            region: Set(dep.map(|d| d.region.to_owned())),
            country: Set(Some("FR".into())),
            lat: Set(Some(*lat)),
            lon: Set(Some(*lon)),
            geo_source: Set(passerelle_entities::GeoSource::Publisher),
            ..Default::default()
        }
        .insert(conn)
        .await
        .expect("address");
        ids.push(m.id);
    }
    ids
}
