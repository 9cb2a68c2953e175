//! `passerelle-attack-bench`: what hostile queries do to the gateway's memory. Seeds a fresh
//! database, then for each configuration starts the real `passerelle serve` (the release binary
//! beside this one) and sends the attacks of the hardening issue from 20 concurrent clients:
//! `description` aliased 1,900 times under `missions(first: 100)` (a 75 KB document), and 60
//! aliased `missions(first: 100)` root fields. Prints, per configuration and attack, the
//! answers' statuses and codes, and the server's peak resident memory (`VmHWM`), as Markdown rows
//! for `docs/BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p passerelle -p passerelle-bench
//! ./target/release/passerelle-attack-bench --missions 100000 \
//!     --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
mod memory;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use passerelle::testing::TestDatabase;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Missions to seed.
    #[arg(long, default_value_t = 100_000)]
    missions: u64,
    /// A PostgreSQL URL whose server gets a fresh database for the run (dropped afterwards).
    /// Without it, a fresh SQLite file in the temp directory.
    #[arg(long)]
    postgres: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Requests per client and attack.
    #[arg(long, default_value_t = 3)]
    requests: usize,
}

/// Every limit lifted but the response bound.
const LIFTED: &[&str] = &[
    "--max-document-bytes",
    "1000000",
    "--max-tokens",
    "1000000",
    "--max-aliases",
    "1000000",
    "--max-root-fields",
    "1000",
    "--max-cost",
    "1000000000000",
    "--max-complexity",
    "1000000",
];

/// The configurations compared: every limit lifted (the gateway before the hardening), only the
/// response bound, and the defaults.
fn configs() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut before = LIFTED.to_vec();
    before.extend(["--max-response-bytes", "1073741824"]);
    vec![
        ("no limits (as before)", before),
        ("response bound only (10 MiB)", LIFTED.to_vec()),
        ("defaults", Vec::new()),
    ]
}

fn attacks() -> Vec<(&'static str, String)> {
    let aliases: Vec<String> = (0..1_900).map(|i| format!("d{i}: description")).collect();
    let roots: Vec<String> = (0..60)
        .map(|i| format!("m{i}: missions(first: 100) {{ nodes {{ id title description }} }}"))
        .collect();
    vec![
        (
            "1,900 aliases under a page of 100",
            format!(
                "{{ missions(first: 100) {{ nodes {{ {} }} }} }}",
                aliases.join(" ")
            ),
        ),
        (
            "60 aliased pages of 100",
            format!("{{ {} }}", roots.join(" ")),
        ),
    ]
}

/// The peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    memory::status_mib(&pid.to_string(), "VmHWM:")
}

/// Starts `passerelle serve` on an ephemeral port; returns the child and its address.
fn serve(database_url: &str, extra: &[&str]) -> anyhow::Result<(Child, String)> {
    let binary = std::env::current_exe()?
        .parent()
        .context("no directory")?
        .join("passerelle");
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("DATABASE_URL", database_url)
        .env("PASSERELLE_SCHEDULER", "false")
        .env("PASSERELLE_LOG", "error")
        // Twenty clients on one address: the per-address limit would refuse most requests
        // before the limits measured here see them.
        .env("PASSERELLE_RATE_LIMIT_ADDRESS", "0")
        .env_remove("PASSERELLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it with --release)",
                binary.display()
            )
        })?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let address = line
        .split("open http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .context("no address printed")?
        .to_owned();
    Ok((child, address))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.requests == 0 {
        bail!("--clients and --requests must be at least 1");
    }
    passerelle_ingest::install_tls_provider();
    let database = TestDatabase::create_on("attack", args.postgres.as_deref()).await?;
    let seeded = Command::new(
        std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("passerelle"),
    )
    .args(["seed", "--demo", "--missions", &args.missions.to_string()])
    .env("DATABASE_URL", &database.url)
    .env("PASSERELLE_LOG", "error")
    .stdout(Stdio::null())
    .status()?;
    if !seeded.success() {
        bail!("seeding failed");
    }
    let engine = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "| engine | configuration | attack | answers | peak RSS of the server |\n| --- | --- | --- | --- | --- |"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    for (name, extra) in configs() {
        for (attack, query) in attacks() {
            let (mut child, address) = serve(&database.url, &extra)?;
            let idle = peak_rss_mib(child.id()).unwrap_or_default();
            let url = format!("http://{address}/graphql");
            let mut tasks = Vec::new();
            for _ in 0..args.clients {
                let (client, url, query) = (client.clone(), url.clone(), query.clone());
                let requests = args.requests;
                tasks.push(tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    for _ in 0..requests {
                        let outcome = match client
                            .post(&url)
                            .json(&json!({ "query": query }))
                            .send()
                            .await
                        {
                            Ok(res) => {
                                let status = res.status().as_u16();
                                let bytes = res.bytes().await.map(|b| b.len()).unwrap_or(0);
                                let code = if bytes < 4096 {
                                    "refused".to_owned()
                                } else {
                                    format!("{} MB", bytes / 1_000_000)
                                };
                                format!("{status} {code}")
                            }
                            Err(e) => format!("failed: {e}"),
                        };
                        outcomes.push(outcome);
                    }
                    outcomes
                }));
            }
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for t in tasks {
                for o in t.await? {
                    *counts.entry(o).or_default() += 1;
                }
            }
            // The codes of a refusal, from one more request.
            let body: Value = client
                .post(&url)
                .json(&json!({ "query": query }))
                .send()
                .await?
                .json()
                .await
                .unwrap_or(Value::Null);
            let code = body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("-");
            let limit = body["errors"][0]["extensions"]["limit"]
                .as_str()
                .unwrap_or("");
            let peak = peak_rss_mib(child.id()).unwrap_or_default();
            let answers = counts
                .iter()
                .map(|(o, n)| format!("{n} × {o}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "| {engine} | {name} | {attack} | {answers}; code {code} {limit} | {peak:.0} MiB (idle {idle:.0}) |"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    database.drop_database().await;
    Ok(())
}
