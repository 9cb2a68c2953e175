//! `passerelle-push-bench`: a partner pushes 10,000 missions through `upsertMissions` in
//! batches of 500, over HTTP to the real server on a fresh database: first created, then the
//! same again (unchanged), then with one mission in ten changed. Prints a Markdown table for
//! `docs/BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p passerelle-bench --bin passerelle-push-bench
//! cargo run --release -p passerelle-bench --bin passerelle-push-bench -- \
//!     --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use passerelle::config::Settings;
use passerelle::testing::TestDatabase;
use passerelle::{db, publishers, server};
use passerelle_entities::audit_entry::Actor;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Missions to push.
    #[arg(long, default_value_t = 10_000)]
    missions: usize,
    /// Missions per call (at most 1,000).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// A PostgreSQL URL whose server gets a fresh database for the run (dropped afterwards).
    /// Without it, a fresh SQLite file in the temp directory.
    #[arg(long)]
    postgres: Option<String>,
}

const UPSERT: &str = "mutation($i: UpsertMissionsInput!) { upsertMissions(input: $i) {
    created updated unchanged refused } }";

fn mission(i: usize, round: usize) -> Value {
    let title = if round == 2 && i.is_multiple_of(10) {
        format!("Aide alimentaire, tournée {i} (nouvel horaire)")
    } else {
        format!("Aide alimentaire, tournée {i}")
    };
    json!({
        "clientId": format!("bench-{i}"),
        "title": title,
        "description": format!("<p>Préparer et distribuer des colis alimentaires avec l'équipe de la tournée {i}. \
            Accueil des bénéficiaires, tri des denrées, convivialité.</p>"),
        "applicationUrl": format!("https://partenaire.example/missions/{i}"),
        "domain": "SOLIDARITE_INSERTION",
        "type": "BENEVOLAT",
        "startAt": "2027-01-15T09:00:00Z",
        "endAt": "2027-06-30T18:00:00Z",
        "places": 1 + i % 12,
        "tags": ["alimentation", "solidarité"],
        "addresses": [{ "street": format!("{} rue de la République", 1 + i % 200), "postalCode": "69002", "city": "Lyon" }],
        "organization": { "name": format!("Banque alimentaire {}", i % 50), "rna": format!("W69{:07}", i % 50) },
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.batch == 0 || args.batch > 1_000 || args.missions == 0 {
        bail!("--batch must be 1 to 1,000 and --missions at least 1");
    }
    let database = TestDatabase::create_on("push_bench", args.postgres.as_deref()).await?;
    let engine = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let conn = database.connect_migrated().await?;
    let publisher = publishers::add(&conn, "Partenaire", None, None, None, None).await?;
    let key =
        passerelle::auth::keys::create_for(&conn, &publisher, None, &Actor::cli("bench")).await?;
    let key = secrecy::ExposeSecret::expose_secret(&key.key).to_owned();
    let settings = Settings {
        rate_limits: passerelle::ratelimit::RateLimits::OFF,
        max_body_bytes: 8 << 20,
        scheduler: false,
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/graphql", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = server::AppState::new(db::Pools::over(conn, 4).await?, &settings)?;
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
        "| engine | round | missions | batches of | total s | missions/s | batch p50 ms | batch p99 ms | created / updated / unchanged |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (round, name) in [(0, "first push"), (1, "same again"), (2, "1 in 10 changed")] {
        let mut latencies = Vec::new();
        let mut totals = [0_i64; 3];
        let start = Instant::now();
        for chunk in (0..args.missions).collect::<Vec<_>>().chunks(args.batch) {
            let missions: Vec<Value> = chunk.iter().map(|i| mission(*i, round)).collect();
            let body = json!({ "query": UPSERT, "variables": { "i": { "missions": missions } } });
            let began = Instant::now();
            let res: Value = client
                .post(&endpoint)
                .header("x-api-key", &key)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            latencies.push(began.elapsed());
            let p = res["data"]["upsertMissions"]
                .as_object()
                .with_context(|| format!("push failed: {res}"))?;
            for (t, k) in totals.iter_mut().zip(["created", "updated", "unchanged"]) {
                *t += p[k].as_i64().unwrap_or_default();
            }
        }
        let total = start.elapsed();
        latencies.sort_unstable();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {engine} | {name} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {} / {} / {} |",
            args.missions,
            args.batch,
            total.as_secs_f64(),
            args.missions as f64 / total.as_secs_f64(),
            ms(at(0.5)),
            ms(at(0.99)),
            totals[0],
            totals[1],
            totals[2]
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    database.drop_database().await;
    Ok(())
}
