//! Whole answers to repeated queries, kept a moment and shared by the callers who would get
//! the same.
//!
//! A public listing, or a partner's query of its feed, is asked again and again with the same
//! document and variables: every visitor of a page sends the same request. Its answer is kept
//! here, as the bytes sent, for `ttl`, under the same staleness contract as the counts
//! (`resolvers/src/counts.rs`):
//!
//! - only for anonymous callers and partner keys: a person's answers (a volunteer's
//!   applications, a referent's queue) are never kept;
//! - keyed by everything an answer depends on: the caller (anonymous, or the key's prefix),
//!   what of the schema it may read (introspection, the router's fields), the document, its
//!   operation name and its variables; two callers share an answer only when they would run the
//!   same request with the same rights;
//! - only queries are kept: a document holding the word `mutation` gets no key (a mutation
//!   cannot be written without it, and the schema has no subscriptions), so no document that
//!   gets one is parsed twice; and only answers without any error are kept;
//! - an answer is at most `ttl` old (default 2 s, `response_cache_ms`; 0 turns the cache off),
//!   and the counts in it (`totalCount`, facets) at most `ttl` plus the counts' own time;
//!   a mutation run by this gateway drops every answer when it ends (the counts' generation),
//!   so that its author reads what it wrote; writes by another process (an import from the
//!   command line, another gateway) show within `ttl`;
//! - concurrent requests for the same missing answer run once, the others wait for it;
//! - at most `max_bytes` of answers are kept, none over a sixteenth of it: a full cache drops
//!   its expired entries, then its oldest ones.
//!
//! Rate limits, credentials and the document's checks run before the cache is asked: a kept
//! answer is only saved work, never a way around them.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::Variables;
use axum::body::Bytes;
use passerelle_entities::access::{Principal, Viewer};
use passerelle_resolvers::counts::CountCache;
use passerelle_schema::Exposure;
use tokio::sync::OnceCell;

/// How long answers are kept unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(2);
/// The most bytes of answers (and their keys) kept.
pub const MAX_BYTES: usize = 16 << 20;

type Kept = Option<Bytes>;

struct Entry {
    at: Instant,
    generation: u64,
    cell: Arc<OnceCell<Kept>>,
    /// What it counts in the cache's bytes: its key, then its answer too once kept.
    weight: usize,
}

/// The cache of answers (see the module's documentation).
pub struct ResponseCache {
    ttl: Duration,
    max_bytes: usize,
    /// Whose generation moves with every mutation of this gateway.
    counts: Arc<CountCache>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bytes: usize,
    entries: HashMap<String, Entry>,
}

/// How a request was answered.
pub enum Answered<R> {
    /// By running it: its own response.
    Ran(R),
    /// With the body of an identical request's answer.
    Kept(Bytes),
}

impl ResponseCache {
    /// A cache keeping answers for `ttl` (zero: no cache), emptied when `counts` is.
    pub fn new(ttl: Duration, max_bytes: usize, counts: Arc<CountCache>) -> ResponseCache {
        ResponseCache {
            ttl,
            max_bytes,
            counts,
            state: Mutex::default(),
        }
    }

    /// The key of a request, or `None` when its answer is not to be kept: a person's request,
    /// a document that may hold a mutation, or the cache off.
    pub fn key(
        &self,
        viewer: &Viewer,
        exposure: Exposure,
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&Variables>,
    ) -> Option<String> {
        if self.ttl.is_zero() || query.contains("mutation") {
            return None;
        }
        let caller = match &viewer.principal {
            Principal::Anonymous => String::new(),
            Principal::ApiKey { prefix, .. } => format!("key:{prefix}"),
            Principal::User { .. } => return None,
        };
        // Variables as JSON (an object's keys in the order sent: a reordering is another key,
        // never a wrong answer).
        let variables = variables.map_or_else(String::new, |v| {
            serde_json::to_string(v).unwrap_or_else(|_| "?".to_owned())
        });
        // No operation name is NUL, which no GraphQL name can be.
        Some(format!(
            "{caller}\u{1f}{exposure:?}\u{1f}{}\u{1f}{variables}\u{1f}{query}",
            operation_name.unwrap_or("\u{0}")
        ))
    }

    /// The answer of the request of `key`: a kept one when fresh, else `run`'s, kept when
    /// `run` gives a body to keep. Without a key, `run`.
    pub async fn answer<R, F, Fut>(&self, key: Option<String>, run: F) -> Answered<R>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (R, Kept)>,
    {
        let Some(key) = key else {
            return Answered::Ran(run().await.0);
        };
        let (cell, generation) = self.cell(key.clone());
        let mut run = Some(run);
        let mut own = None;
        let kept = cell
            .get_or_init(|| async {
                match run.take() {
                    Some(run) => {
                        let (response, kept) = run().await;
                        own = Some(response);
                        kept.filter(|body| body.len() <= self.max_bytes / 16)
                    }
                    None => None,
                }
            })
            .await
            .clone();
        if let Some(response) = own {
            self.settle(&key, &cell, generation);
            return Answered::Ran(response);
        }
        match (kept, run) {
            (Some(body), _) => Answered::Kept(body),
            // The answer this one waited for was not kept (it had errors): run it.
            (None, Some(run)) => Answered::Ran(run().await.0),
            (None, None) => unreachable!("the request that takes its `run` sets its response"),
        }
    }

    /// The cell of `key`: the fresh one, or a new one in its place.
    fn cell(&self, key: String) -> (Arc<OnceCell<Kept>>, u64) {
        let now = Instant::now();
        let generation = self.counts.generation();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = state.entries.get(&key)
            && now.duration_since(e.at) < self.ttl
            && e.generation == generation
        {
            return (Arc::clone(&e.cell), generation);
        }
        let cell = Arc::new(OnceCell::new());
        // The key counts from now: a request dropped before its answer still weighs its key.
        let entry = Entry {
            at: now,
            generation,
            cell: Arc::clone(&cell),
            weight: key.len(),
        };
        state.bytes += entry.weight;
        if let Some(old) = state.entries.insert(key, entry) {
            state.bytes -= old.weight;
        }
        self.shrink(&mut state, now);
        (cell, generation)
    }

    /// Counts the answer just kept in `cell` under `key`, if `cell` is still the entry of `key`;
    /// drops the entry if a mutation ended while it ran (the answer may not show the mutation's
    /// work) or nothing was kept (an answer with errors: the next request runs afresh).
    fn settle(&self, key: &str, cell: &Arc<OnceCell<Kept>>, generation: u64) {
        let changed = self.counts.generation() != generation;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = state
            .entries
            .get_mut(key)
            .filter(|e| Arc::ptr_eq(&e.cell, cell))
        else {
            return;
        };
        let body = entry.cell.get().and_then(Option::as_ref).map(Bytes::len);
        match body {
            Some(len) if !changed => {
                entry.weight += len;
                state.bytes += len;
                self.shrink(&mut state, Instant::now());
            }
            _ => {
                let weight = entry.weight;
                state.entries.remove(key);
                state.bytes -= weight;
            }
        }
    }

    /// Over `max_bytes`: drops the expired entries, then the oldest until a quarter is free.
    fn shrink(&self, state: &mut State, now: Instant) {
        if state.bytes <= self.max_bytes {
            return;
        }
        let ttl = self.ttl;
        state.entries.retain(|_, e| now.duration_since(e.at) < ttl);
        state.bytes = state.entries.values().map(|e| e.weight).sum();
        if state.bytes <= self.max_bytes {
            return;
        }
        let mut by_age: Vec<(Instant, String)> = state
            .entries
            .iter()
            .map(|(k, e)| (e.at, k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age {
            if state.bytes <= self.max_bytes / 4 * 3 {
                break;
            }
            if let Some(e) = state.entries.remove(&key) {
                state.bytes -= e.weight;
            }
        }
    }

    /// The bytes of answers kept now (for the tests).
    pub fn kept_bytes(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn ask(cache: &ResponseCache, key: &str, body: &str, runs: &AtomicUsize) -> String {
        let answered = cache
            .answer(Some(key.to_owned()), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                let kept = (!body.is_empty()).then(|| Bytes::from(body.to_owned()));
                (format!("ran:{body}"), kept)
            })
            .await;
        match answered {
            Answered::Ran(r) => r,
            Answered::Kept(b) => format!("kept:{}", String::from_utf8_lossy(&b)),
        }
    }

    #[tokio::test]
    async fn answers_are_kept_per_key_for_the_ttl_and_dropped_by_a_mutation() {
        let counts = Arc::new(CountCache::new(Duration::from_secs(5)));
        let cache = ResponseCache::new(Duration::from_secs(5), MAX_BYTES, counts.clone());
        let runs = AtomicUsize::new(0);
        assert_eq!(ask(&cache, "a", "1", &runs).await, "ran:1");
        assert_eq!(ask(&cache, "a", "2", &runs).await, "kept:1");
        assert_eq!(ask(&cache, "b", "3", &runs).await, "ran:3");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(
            cache.kept_bytes(),
            4,
            "two one-byte keys, two one-byte bodies"
        );
        counts.invalidate();
        assert_eq!(
            ask(&cache, "a", "4", &runs).await,
            "ran:4",
            "a mutation drops answers"
        );
        // An answer with errors is not kept: each request runs.
        assert_eq!(ask(&cache, "e", "", &runs).await, "ran:");
        assert_eq!(ask(&cache, "e", "", &runs).await, "ran:");
        assert_eq!(runs.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn an_old_answer_is_run_again_and_a_full_cache_drops_its_oldest() {
        let counts = Arc::new(CountCache::new(Duration::from_secs(5)));
        let short = ResponseCache::new(Duration::from_millis(10), MAX_BYTES, counts.clone());
        let runs = AtomicUsize::new(0);
        ask(&short, "a", "1", &runs).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(ask(&short, "a", "2", &runs).await, "ran:2");
        // 160 bytes: answers of at most 10 bytes are kept; 12 entries of 13 bytes fit.
        let small = ResponseCache::new(Duration::from_secs(5), 160, counts);
        assert_eq!(
            ask(&small, "big", "12345678901", &runs).await,
            "ran:12345678901"
        );
        assert_eq!(
            ask(&small, "big", "x", &runs).await,
            "ran:x",
            "over 10 bytes: not kept"
        );
        for i in 0..12 {
            ask(&small, &format!("k{i:02}"), "0123456789", &runs).await;
        }
        assert_eq!(
            small.kept_bytes(),
            4 + 12 * 13,
            "\"big\" and \"x\", then 12 × 13"
        );
        ask(&small, "k12", "0123456789", &runs).await;
        // k12's key made 163 bytes: the oldest ("big", k00, k01, k02) went until 120 were
        // left, then k12's answer came in.
        assert_eq!(small.kept_bytes(), 130);
        assert_eq!(ask(&small, "k03", "new", &runs).await, "kept:0123456789");
        assert_eq!(ask(&small, "k12", "new", &runs).await, "kept:0123456789");
        assert_eq!(
            ask(&small, "k00", "new", &runs).await,
            "ran:new",
            "the oldest went first"
        );
    }

    #[tokio::test]
    async fn concurrent_requests_for_the_same_answer_run_once() {
        let counts = Arc::new(CountCache::new(Duration::from_secs(5)));
        let cache = ResponseCache::new(Duration::from_secs(5), MAX_BYTES, counts);
        let runs = AtomicUsize::new(0);
        let answers = futures_join(&cache, &runs).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(answers.iter().filter(|a| a.starts_with("ran:")).count(), 1);
        assert_eq!(answers.iter().filter(|a| *a == "kept:x").count(), 7);
    }

    async fn futures_join(cache: &ResponseCache, runs: &AtomicUsize) -> Vec<String> {
        let asks = (0..8).map(|_| async {
            cache
                .answer(Some("k".to_owned()), || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    ("ran:x".to_owned(), Some(Bytes::from_static(b"x")))
                })
                .await
        });
        let mut out = Vec::new();
        for a in futures_util::future::join_all(asks).await {
            out.push(match a {
                Answered::Ran(r) => r,
                Answered::Kept(b) => format!("kept:{}", String::from_utf8_lossy(&b)),
            });
        }
        out
    }
}
