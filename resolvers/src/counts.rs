//! Counts and facets of mission lists, kept a few seconds and shared by every request.
//!
//! A `totalCount` or a facet is a `COUNT`/`GROUP BY` over every mission of a filter: on 100,000
//! missions, tens of milliseconds each, the same for every page of the same search and for
//! every visitor of the same listing. They are kept here, keyed by the statement itself (its SQL
//! and values, the viewer's scope included: two viewers share an entry only when they would run
//! the same statement), for `ttl`:
//!
//! - a value is at most `ttl` old (default 5 s, `count_cache_ms`; 0 turns the cache off);
//! - a mutation run by this gateway empties the cache when it ends, so that its author reads
//!   counts that include it; writes by another process (an import from the command line,
//!   another gateway) show within `ttl`;
//! - concurrent requests for the same missing entry run one statement, the others wait for it;
//! - at most `max_entries` are kept: a full cache drops its expired entries, then everything.
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DbBackend;
use sea_orm::sea_query::SelectStatement;
use tokio::sync::OnceCell;

use crate::error::ApiResult;

/// Counted values: `(value, count)` pairs, most frequent first.
pub type Counts = Arc<Vec<(String, i64)>>;

/// A kept value: whatever its statement counted (a total, a list of counts, facets counted
/// together), of the one type the code asking with that statement reads.
type Kept = Arc<dyn Any + Send + Sync>;

/// How long counts are kept unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
/// The most entries kept.
pub const MAX_ENTRIES: usize = 4_096;

struct Entry {
    at: Instant,
    generation: u64,
    cell: Arc<OnceCell<Kept>>,
}

/// The cache of counts (see the module's documentation).
pub struct CountCache {
    ttl: Duration,
    max_entries: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    entries: HashMap<String, Entry>,
}

impl Default for CountCache {
    fn default() -> Self {
        CountCache::new(DEFAULT_TTL)
    }
}

impl CountCache {
    /// A cache keeping counts for `ttl` (zero: no cache).
    pub fn new(ttl: Duration) -> CountCache {
        CountCache {
            ttl,
            max_entries: MAX_ENTRIES,
            state: Mutex::default(),
        }
    }

    /// Forgets every count: called when a mutation ends.
    pub fn invalidate(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.generation += 1;
        state.entries.clear();
    }

    /// How many times the cache was emptied by a mutation: what else is kept until the next
    /// mutation (the gateway's answers) keeps it too.
    pub fn generation(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// What `statement` counts, from the cache when fresh, else from `compute`.
    ///
    /// # Errors
    /// Those of `compute`; a failure is not kept.
    pub async fn get<T, F, Fut>(
        &self,
        backend: DbBackend,
        statement: &SelectStatement,
        compute: F,
    ) -> ApiResult<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        if self.ttl.is_zero() {
            return compute().await.map(Arc::new);
        }
        // The statement as the engine runs it, and its values: one key per question.
        let built = backend.build(statement);
        let key = format!("{}\u{1f}{:?}", built.sql, built.values);
        let (cell, generation) = self.cell(key.clone());
        let kept = cell
            .get_or_try_init(|| async { compute().await.map(|v| Arc::new(v) as Kept) })
            .await?
            .clone();
        // A mutation that ended while this was computed may not be in it: keep it for this
        // request only.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            state.entries.remove(&key);
        }
        drop(state);
        // One statement is always read as one type: another type would be a bug, never an
        // answer from the wrong question.
        kept.downcast::<T>().map_err(|_| {
            crate::error::ApiError::internal(
                "a kept count read as another type",
                &std::any::type_name::<T>(),
            )
        })
    }

    /// The cell of `key`: the fresh one, or a new one in its place.
    fn cell(&self, key: String) -> (Arc<OnceCell<Kept>>, u64) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = state.generation;
        if let Some(e) = state.entries.get(&key)
            && now.duration_since(e.at) < self.ttl
            && e.generation == generation
        {
            return (Arc::clone(&e.cell), generation);
        }
        if state.entries.len() >= self.max_entries {
            let ttl = self.ttl;
            state.entries.retain(|_, e| now.duration_since(e.at) < ttl);
            if state.entries.len() >= self.max_entries {
                state.entries.clear();
            }
        }
        let cell = Arc::new(OnceCell::new());
        state.entries.insert(
            key,
            Entry {
                at: now,
                generation,
                cell: Arc::clone(&cell),
            },
        );
        (cell, generation)
    }
}

/// The schema's cache (an `Arc<CountCache>` in its data, shared by the schemas built over the
/// same data); a schema built without one counts every time.
pub(crate) fn of<'a>(ctx: &async_graphql::Context<'a>) -> &'a CountCache {
    static NONE: std::sync::LazyLock<CountCache> =
        std::sync::LazyLock::new(|| CountCache::new(Duration::ZERO));
    ctx.data_opt::<Arc<CountCache>>().map_or(&NONE, |c| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Expr, Query};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A statement whose value sits in a custom expression, as the full-text and geo filters'
    /// do: two values are two keys.
    fn statement(n: i64) -> SelectStatement {
        Query::select()
            .expr(Expr::cust_with_values("? + 0", [n]))
            .from(Alias::new("missions"))
            .to_owned()
    }

    async fn count(cache: &CountCache, n: i64, runs: &AtomicUsize) -> i64 {
        cache
            .get(DbBackend::Sqlite, &statement(n), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(vec![(String::new(), n)])
            })
            .await
            .expect("counts")[0]
            .1
    }

    #[tokio::test]
    async fn counts_are_kept_for_the_ttl_per_statement_and_dropped_by_a_mutation() {
        let cache = CountCache::new(Duration::from_secs(5));
        let runs = AtomicUsize::new(0);
        assert_eq!(count(&cache, 7, &runs).await, 7);
        assert_eq!(count(&cache, 7, &runs).await, 7);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "the second read is the kept one"
        );
        assert_eq!(count(&cache, 8, &runs).await, 8);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "another statement, another entry"
        );
        cache.invalidate();
        count(&cache, 7, &runs).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "a mutation empties the cache"
        );
        let short = CountCache::new(Duration::from_millis(10));
        count(&short, 7, &runs).await;
        std::thread::sleep(Duration::from_millis(30));
        count(&short, 7, &runs).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            5,
            "an entry past its ttl is computed again"
        );
        let off = CountCache::new(Duration::ZERO);
        count(&off, 7, &runs).await;
        count(&off, 7, &runs).await;
        assert_eq!(runs.load(Ordering::SeqCst), 7, "ttl 0: no cache");
    }

    #[tokio::test]
    async fn a_kept_value_read_as_another_type_is_an_internal_error_not_a_wrong_answer() {
        let cache = CountCache::new(Duration::from_secs(5));
        let runs = AtomicUsize::new(0);
        assert_eq!(count(&cache, 7, &runs).await, 7);
        let other = cache
            .get(DbBackend::Sqlite, &statement(7), || async { Ok(7_i64) })
            .await;
        assert_eq!(
            other.map(|n| *n).map_err(|e| e.code()),
            Err("INTERNAL_SERVER_ERROR")
        );
    }
}
