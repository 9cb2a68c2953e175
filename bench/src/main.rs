//! `passerelle-bench`: seeds a fresh database with the demo data set, starts the real server on
//! an ephemeral port, and measures GraphQL requests over HTTP, one at a time, as a client sees
//! them. Prints a Markdown table for `docs/BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p passerelle-bench -- --missions 100000
//! cargo run --release -p passerelle-bench -- --missions 100000 \
//!     --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
mod demo;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use passerelle::config::Settings;
use passerelle::testing::TestDatabase;
use passerelle::{db, seed, server};
use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Missions to seed.
    #[arg(long, default_value_t = 100_000)]
    missions: u64,
    /// Measured requests per query kind (after 20 warm-up requests).
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// A PostgreSQL URL whose server gets a fresh database for the run (dropped afterwards).
    /// Without it, a fresh SQLite file in the temp directory.
    #[arg(long)]
    postgres: Option<String>,
    /// Also print each SQL statement of the last request of each kind, with its duration.
    #[arg(long)]
    statements: bool,
    /// Who asks: anonymous, a partner's key (the demo's JeVeuxAider, with its diffusion rules),
    /// an admin's token; repeat to measure several in one run.
    #[arg(long = "viewer", value_parser = ["anonymous", "partner", "admin"], default_values_t = ["anonymous".to_owned(), "partner".to_owned(), "admin".to_owned()])]
    viewers: Vec<String>,
}

const NESTED: &str = "query Bench($filter: MissionFilter) {
  missions(filter: $filter, first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title startAt placesLeft distanceKm
      addresses { city postalCode departmentCode lat lon }
      publisher { name }
      organization { name city missions(first: 5) { totalCount nodes { id title } } }
    }
  }
}";

const DEPARTMENTS: &[&str] = &["69", "75", "13", "33", "59", "31", "44", "67", "35", "06"];
const DOMAINS: &[&str] = &[
    "ENVIRONNEMENT",
    "SOLIDARITE_INSERTION",
    "EDUCATION",
    "SPORT",
    "SANTE",
    "CULTURE_LOISIRS",
];
const PLACES: &[(f64, f64)] = &[
    (45.764, 4.8357),
    (48.8566, 2.3522),
    (43.2965, 5.3698),
    (44.8378, -0.5792),
    (50.6292, 3.0573),
];
const WORDS: &[&str] = &[
    "aide aux devoirs",
    "environnement",
    "solidarite lyon",
    "sport",
    "restos",
    "personnes agees",
];

/// The filter of the i-th request of a kind: the values vary so that no answer is cached.
fn filter(kind: &str, i: usize) -> Value {
    match kind {
        "filters" => json!({
            "departmentCodes": [DEPARTMENTS[i % DEPARTMENTS.len()]],
            "domains": [DOMAINS[i % DOMAINS.len()], DOMAINS[(i + 1) % DOMAINS.len()]],
            "hasPlacesLeft": true,
        }),
        "near" => {
            let (lat, lon) = PLACES[i % PLACES.len()];
            json!({ "near": { "lat": lat, "lon": lon, "radiusKm": 10 + (i % 4) as i64 * 10 }, "remote": ["NO", "POSSIBLE"] })
        }
        _ => json!({ "keywords": WORDS[i % WORDS.len()], "openToMinors": i.is_multiple_of(2) }),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let database = TestDatabase::create_on("bench", args.postgres.as_deref()).await?;
    let engine = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let conn = db::connect(&SecretString::from(database.url.clone()), 10).await?;
    db::migrate_up(&conn).await?;
    let report = seed::seed_demo(&conn, args.missions).await?;
    println!(
        "| {engine} | seed {} missions ({} addresses, {} organizations) | {:.1} s |",
        report.missions,
        report.addresses,
        report.organizations,
        report.duration.as_secs_f64()
    );
    if engine == "PostgreSQL" {
        conn.execute_unprepared("ANALYZE").await?;
    }
    let statements = Arc::new(AtomicUsize::new(0));
    let log: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
    // The server's pools as `serve` makes them (on SQLite, read-only connections beside the
    // writer), every statement of both counted.
    let size = passerelle::config::default_db_max_connections(&database.url);
    let mut pools = db::Pools::over(conn, size).await?;
    let observe = |counter: Arc<AtomicUsize>, sink: Arc<Mutex<Vec<(Duration, String)>>>| {
        move |info: &sea_orm::metric::Info<'_>| {
            counter.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut log) = sink.lock() {
                log.push((info.elapsed, info.statement.sql.chars().take(160).collect()));
            }
        }
    };
    for pool in [&mut pools.read, &mut pools.write] {
        pool.set_metric_callback(observe(statements.clone(), log.clone()));
    }
    pools
        .reads
        .set_metric_callback(observe(statements.clone(), log.clone()));
    let secret = passerelle::auth::tokens::random_secret()?;
    let settings = Settings {
        jwt_secret: Some(secret.clone()),
        // The bench measures queries, not the rate limiter, nor kept answers (its values repeat
        // within the time an answer is kept).
        rate_limits: passerelle::ratelimit::RateLimits::OFF,
        response_cache_ms: 0,
        ..Settings::default()
    };
    let partner_key = report
        .credentials
        .keys
        .first()
        .map(|(_, k)| secrecy::ExposeSecret::expose_secret(k).to_owned())
        .unwrap_or_default();
    let admin_token = demo::admin_token(&secret, &settings)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/graphql", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = server::AppState::new(pools, &settings)?;
    let server = tokio::spawn(server::serve(
        listener,
        state,
        settings.max_body_bytes,
        async {
            let _ = stopped.await;
        },
    ));
    passerelle_ingest::install_tls_provider();
    let client = reqwest::Client::new();
    println!(
        "| engine | viewer | query (20 missions, nested) | p50 ms | p99 ms | SQL statements per request |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for viewer in &args.viewers {
        for kind in ["filters", "near", "keywords"] {
            let mut latencies = Vec::with_capacity(args.requests);
            let mut total_statements = 0;
            for i in 0..(20 + args.requests) {
                let body = json!({ "query": NESTED, "variables": { "filter": filter(kind, i) } });
                statements.store(0, Ordering::Relaxed);
                log.lock().map(|mut l| l.clear()).ok();
                let request = match viewer.as_str() {
                    "partner" => client.post(&endpoint).header("x-api-key", &partner_key),
                    "admin" => client.post(&endpoint).bearer_auth(&admin_token),
                    _ => client.post(&endpoint),
                };
                let start = Instant::now();
                let res: Value = request.json(&body).send().await?.json().await?;
                let elapsed = start.elapsed();
                if res.get("errors").is_some() {
                    bail!("{kind} request failed: {res}");
                }
                if i >= 20 {
                    latencies.push(elapsed);
                    total_statements += statements.load(Ordering::Relaxed);
                }
            }
            latencies.sort_unstable();
            if args.statements {
                for (elapsed, sql) in log.lock().map(|l| l.clone()).unwrap_or_default() {
                    eprintln!("{kind}: {:>7.2} ms  {sql}", elapsed.as_secs_f64() * 1000.0);
                }
            }
            println!(
                "| {engine} | {viewer} | {kind} | {:.1} | {:.1} | {:.1} |",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
                total_statements as f64 / args.requests as f64
            );
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    database.drop_database().await;
    Ok(())
}
