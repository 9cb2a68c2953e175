//! `passerelle-import-bench`: generates a partner feed, imports it into a fresh database through
//! the real import run (the same code as `passerelle import --file`), then imports it again
//! unchanged, then a revision where one mission in ten changed. Prints wall time, missions per
//! second and the peak resident memory of each run, as Markdown rows for `docs/BENCHMARKS.md`:
//! `VmHWM`, which on SQLite counts the pages of the memory-mapped database file read (they are
//! the kernel's page cache, shared and dropped under pressure), and the process's own memory
//! (`RssAnon`: heap and stacks), sampled every 5 ms.
//!
//! ```text
//! cargo run --release -p passerelle-bench --bin passerelle-import-bench -- --missions 100000
//! cargo run --release -p passerelle-bench --bin passerelle-import-bench -- --missions 100000 \
//!     --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
mod memory;

use std::io::BufWriter;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use passerelle::db;
use passerelle::testing::TestDatabase;
use passerelle_ingest::run::{RunOptions, Source, run_import};
use secrecy::SecretString;

#[derive(Debug, Parser)]
struct Args {
    /// Missions in the generated feed.
    #[arg(long, default_value_t = 100_000)]
    missions: usize,
    /// A PostgreSQL URL whose server gets a fresh database for the run (dropped afterwards).
    /// Without it, a fresh SQLite file in the temp directory.
    #[arg(long)]
    postgres: Option<String>,
}

/// The peak resident set size of this process since the last reset, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    memory::status_mib("self", "VmHWM:")
}

/// The highest own memory seen while it runs, sampled every 5 ms on a thread of its own.
struct OwnPeak {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl OwnPeak {
    fn start() -> OwnPeak {
        use std::sync::atomic::Ordering::Relaxed;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Relaxed) {
                let kib = memory::status_mib("self", "RssAnon:").unwrap_or(0.0) * 1024.0;
                p.fetch_max(kib as u64, Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        OwnPeak { peak, stop, thread }
    }

    /// The peak, in MiB.
    fn finish(self) -> f64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.stop.store(true, Relaxed);
        self.thread.join().ok();
        self.peak.load(Relaxed) as f64 / 1024.0
    }
}

/// Resets the peak resident set size to the current one (Linux 4.0+), so that each run's peak
/// is its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.missions == 0 {
        bail!("--missions must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("passerelle-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    let feeds: Vec<std::path::PathBuf> = (0..2)
        .map(|revision| {
            let path = dir.join(format!("feed-r{revision}.xml"));
            let file = std::fs::File::create(&path)?;
            passerelle_ingest::sample::write_feed(BufWriter::new(file), args.missions, revision)?;
            Ok(path)
        })
        .collect::<std::io::Result<_>>()
        .context("cannot write the feeds")?;
    let size = std::fs::metadata(&feeds[0])?.len() as f64 / (1 << 20) as f64;

    let database = TestDatabase::create_on("importbench", args.postgres.as_deref()).await?;
    let engine = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let conn = db::connect(&SecretString::from(database.url.clone()), 4).await?;
    db::migrate_up(&conn).await?;
    let p = passerelle::publishers::add(&conn, "Banc d'essai", None, None, None, None).await?;
    // Offline: addresses without coordinates get their commune's centroid, no geocoder.
    let options = RunOptions::default();
    println!(
        "feed: {} missions, {size:.0} MiB; engine: {engine}; peak RSS before the runs: {:.0} MiB",
        args.missions,
        peak_rss_mib().unwrap_or(0.0)
    );
    println!(
        "| Engine | Run | Wall time | Missions/s | Peak RSS (VmHWM) | Own memory (RssAnon) | Counts |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, feed) in [
        ("first import", &feeds[0]),
        ("unchanged re-import", &feeds[0]),
        ("re-import, 10% changed", &feeds[1]),
    ] {
        reset_peak_rss();
        let own = OwnPeak::start();
        let started = Instant::now();
        let outcome = run_import(&conn, &p, &Source::File(feed.clone()), &options, None).await;
        let wall = started.elapsed().as_secs_f64();
        let own = own.finish();
        let outcome = outcome?;
        let run = outcome.run;
        if let Some(error) = run.error {
            bail!("{label} failed: {error}");
        }
        println!(
            "| {engine} | {label} | {wall:.2} s | {:.0} | {:.0} MiB | {own:.0} MiB | created {}, updated {}, unchanged {}, deleted {} |",
            args.missions as f64 / wall,
            peak_rss_mib().unwrap_or(0.0),
            run.created,
            run.updated,
            run.unchanged,
            run.deleted
        );
    }
    conn.close().await.ok();
    database.drop_database().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
