//! `passerelle-ratelimit-bench`: what a rate-limit check costs a request, in memory and in
//! Redis, for one caller and for many, one at a time and from concurrent tasks. Prints a
//! Markdown table for `docs/BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release -p passerelle-bench --bin passerelle-ratelimit-bench -- \
//!     --redis redis://127.0.0.1:6379
//! ```
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use passerelle::ratelimit::{
    Decision, RateLimiter, RateLimits, RedisFailure, RedisSettings, Subject,
};

#[derive(Debug, Parser)]
struct Args {
    /// Checks per configuration.
    #[arg(long, default_value_t = 20_000)]
    checks: usize,
    /// A Redis to measure too (its keys get a prefix of this run's own, and expire in a minute).
    #[arg(long)]
    redis: Option<String>,
}

/// Runs `checks` checks spread over `tasks` tasks and `callers` addresses; returns the checks
/// per second and the p50 / p99 latency of one check.
async fn measure(
    limiter: Arc<RateLimiter>,
    checks: usize,
    tasks: usize,
    callers: usize,
) -> anyhow::Result<(f64, Duration, Duration)> {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let limiter = limiter.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(checks / tasks);
            for i in 0..checks / tasks {
                let n = (t * 7_919 + i) % callers;
                let subject = Subject::address(&format!(
                    "10.{}.{}.{}",
                    n >> 16 & 255,
                    n >> 8 & 255,
                    n & 255
                ));
                let began = Instant::now();
                let decision = limiter.check(&subject).await;
                latencies.push(began.elapsed());
                if !matches!(decision, Decision::Allowed(Some(_))) {
                    return Err(anyhow::anyhow!("unexpected decision {decision:?}"));
                }
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(checks);
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((all.len() as f64 / elapsed.as_secs_f64(), at(0.5), at(0.99)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.checks < 100 {
        bail!("--checks must be at least 100");
    }
    // Limits no run reaches: every check is counted and allowed.
    let limits = RateLimits {
        address: 1_000_000_000,
        key: 1_000_000_000,
        user: 1_000_000_000,
        auth_failures: 1_000_000_000,
    };
    let mut backends = vec![("memory", Arc::new(RateLimiter::new(limits, None)?))];
    if let Some(url) = &args.redis {
        let prefix = format!("passerelle-bench-{}:", std::process::id());
        let settings = RedisSettings {
            url: url.clone(),
            prefix,
            timeout: Duration::from_secs(1),
            failure: RedisFailure::Closed,
        };
        backends.push(("Redis", Arc::new(RateLimiter::new(limits, Some(settings))?)));
    }
    println!("| buckets | callers | concurrent tasks | checks/s | p50 µs | p99 µs |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, limiter) in backends {
        for (callers, tasks) in [(1, 1), (10_000, 1), (10_000, 32)] {
            // Warm up: connect, load the script, fill the buckets.
            measure(limiter.clone(), 200, 1, callers.min(200)).await?;
            let (rate, p50, p99) = measure(limiter.clone(), args.checks, tasks, callers).await?;
            println!(
                "| {name} | {callers} | {tasks} | {rate:.0} | {:.1} | {:.1} |",
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
        }
    }
    Ok(())
}
