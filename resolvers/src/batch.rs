//! Batched loading with no timer: a batch runs as soon as the request has nothing else to
//! poll.
//!
//! async-graphql resolves a list's items and an object's fields as futures joined in the
//! request's own task. [`drive`] wraps that task's future: when a poll of it ends with nothing
//! woken, every ready field has run as far as it can and waits on the database or on a batch,
//! so the batches that are open have every key they will get. `drive` then releases them, and
//! each runs its one statement. A nested query costs one round trip per level and nothing else
//! (async-graphql's own `DataLoader` waited a fixed delay per level instead, 2 ms here before).
//!
//! Values a request read already, with another statement (a page joined with its to-one
//! relations), can be handed to the batcher beforehand ([`Batcher::prime`]): a load of one of
//! those keys is answered at once, and costs no batch.
//!
//! Only a batch's first caller (its leader) runs it; the others wait on a channel. A load whose
//! batch has already started opens the next one. The rows of a batch are shared by its callers
//! through one `Arc`'d map, each caller cloning only its own value (for the relations many
//! parents share, the value is itself an `Arc`: see `crate::loader`).
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

/// The loaders of one request: the batches of each key type that are still taking keys.
pub struct Batcher<L> {
    loader: L,
    open: Mutex<ByType>,
    /// Per key type, the values read beforehand (`None`: known to be absent for the viewer).
    primed: Mutex<ByType>,
    /// Whether anything was primed: most requests never look.
    any_primed: AtomicBool,
    idle: Arc<Idle>,
}

/// The request's idle points, shared by its batcher and the [`drive`] of its future.
#[derive(Default)]
pub struct Idle {
    /// How many times the request went idle with leaders waiting.
    count: AtomicU64,
    /// The leaders waiting for the next idle point.
    leaders: Mutex<Vec<Waker>>,
    /// Whether a [`drive`] watches the request (without one, leaders only yield).
    driven: AtomicBool,
}

type Rows<K, L> = Arc<HashMap<K, <L as Loader<K>>::Value>>;
/// The batcher's own maps, looked up for every load of a request, hash with foldhash (SipHash,
/// the standard one, cost more than the lookups themselves in the profile). Its fixed seed is
/// enough: the keys are the request's own (key types, ids its statements returned), a few
/// hundred at most, not a client's choice.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type ByType = FastMap<TypeId, Box<dyn Any + Send>>;
type Primed<K, L> = FastMap<K, Option<<L as Loader<K>>::Value>>;
type BatchResult<K, L> = Result<Rows<K, L>, <L as Loader<K>>::Error>;

/// A batch that takes keys: the keys, and the callers other than its leader, waiting.
struct Batch<K: Send + Sync + Hash + Eq + Clone + 'static, L: Loader<K>> {
    keys: Vec<K>,
    waiting: Vec<oneshot::Sender<BatchResult<K, L>>>,
}

/// What a caller does with its key: lead a new batch, or wait for the open one.
enum Role<K: Send + Sync + Hash + Eq + Clone + 'static, L: Loader<K>> {
    Lead,
    Wait(oneshot::Receiver<BatchResult<K, L>>),
}

impl Idle {
    /// How many times the request released its open batches: its round trips to the database
    /// beyond its root fields' own statements.
    pub fn rounds(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

impl<L: Send + Sync + 'static> Batcher<L> {
    pub fn new(loader: L) -> Self {
        Batcher {
            loader,
            open: Mutex::default(),
            primed: Mutex::default(),
            any_primed: AtomicBool::new(false),
            idle: Arc::default(),
        }
    }

    /// Hands over values the request read already: a later load of one of these keys gets its
    /// value (or `None`) at once. A value must be what the loader would return for the key to
    /// this request's viewer (read under the same scope); the first one primed for a key stays.
    pub fn prime<K>(&self, values: impl IntoIterator<Item = (K, Option<L::Value>)>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(known) = primed
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(Primed::<K, L>::default()))
            .downcast_mut::<Primed<K, L>>()
        else {
            return;
        };
        for (key, value) in values {
            known.entry(key).or_insert(value);
        }
        self.any_primed.store(true, Ordering::Release);
    }

    /// The value primed for `key`, if one was.
    fn primed<K>(&self, key: &K) -> Option<Option<L::Value>>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        if !self.any_primed.load(Ordering::Acquire) {
            return None;
        }
        self.primed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&TypeId::of::<K>())?
            .downcast_ref::<Primed<K, L>>()?
            .get(key)
            .cloned()
    }

    /// The idle points of the request, for [`drive`].
    pub fn idle(&self) -> Arc<Idle> {
        self.idle.clone()
    }

    /// The value of `key`, loaded in one batch with every other key the request asks for before
    /// it goes idle.
    ///
    /// The first caller of a batch leads it: it waits for the request's next idle point (every
    /// other ready field has added its key by then and waits), then takes the batch, loads it
    /// and hands the rows to those waiting. A leader dropped before it took its batch
    /// (its request field was abandoned) closes it, and those waiting try again, one of them
    /// leading.
    pub async fn load_one<K>(&self, key: K) -> Result<Option<L::Value>, L::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        if let Some(value) = self.primed::<K>(&key) {
            return Ok(value);
        }
        loop {
            let rows = match self.join::<K>(key.clone()) {
                Role::Wait(rx) => match rx.await {
                    Ok(rows) => rows?,
                    // The leader went away: try again.
                    Err(_) => continue,
                },
                // Boxed: the loader's future is large, and every field that loads holds a
                // `load_one` future (async-graphql boxes each field's future and moves it in).
                Role::Lead => Box::pin(self.lead::<K>()).await?,
            };
            return Ok(rows.get(&key).cloned());
        }
    }

    /// Puts `key` in the open batch of its type, or opens one.
    fn join<K>(&self, key: K) -> Role<K, L>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(batch) = open
            .get_mut(&TypeId::of::<K>())
            .and_then(|b| b.downcast_mut::<Batch<K, L>>())
        {
            if !batch.keys.contains(&key) {
                batch.keys.push(key);
            }
            let (tx, rx) = oneshot::channel();
            batch.waiting.push(tx);
            return Role::Wait(rx);
        }
        open.insert(
            TypeId::of::<K>(),
            Box::new(Batch::<K, L> {
                keys: vec![key],
                waiting: Vec::new(),
            }),
        );
        Role::Lead
    }

    /// Leads the open batch of `K`: lets the pass end, takes the batch, loads it and answers
    /// those waiting.
    async fn lead<K>(&self) -> BatchResult<K, L>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let closer = CloseOnDrop {
            open: &self.open,
            kind: TypeId::of::<K>(),
        };
        if self.idle.driven.load(Ordering::Acquire) {
            NextIdle {
                idle: &self.idle,
                after: None,
            }
            .await;
        } else {
            // Not driven (a schema run by hand): let the executor poll the others once.
            YieldOnce(false).await;
        }
        let Batch { keys, waiting } = closer.take::<K, L>();
        let rows = self.loader.load(&keys).await.map(Arc::new);
        for tx in waiting {
            let _ = tx.send(rows.clone());
        }
        rows
    }
}

/// Removes the open batch of a kind if its leader is dropped before taking it, so that those
/// waiting on it are told (their receivers close) instead of waiting for ever.
struct CloseOnDrop<'a> {
    open: &'a Mutex<ByType>,
    kind: TypeId,
}

impl CloseOnDrop<'_> {
    /// The leader's batch, out of the open ones: a later key opens the next batch.
    fn take<K, L>(self) -> Batch<K, L>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let batch = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.kind)
            .and_then(|b| b.downcast::<Batch<K, L>>().ok());
        std::mem::forget(self);
        batch.map_or_else(
            || Batch {
                keys: Vec::new(),
                waiting: Vec::new(),
            },
            |b| *b,
        )
    }
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.kind);
    }
}

/// Ready at the request's first idle point after its first poll.
struct NextIdle<'a> {
    idle: &'a Idle,
    after: Option<u64>,
}

impl Future for NextIdle<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let idle = self.idle;
        let mut leaders = idle.leaders.lock().unwrap_or_else(PoisonError::into_inner);
        let now = idle.count.load(Ordering::Acquire);
        match self.after {
            Some(before) if now > before => return Poll::Ready(()),
            Some(_) => {}
            None => self.after = Some(now),
        }
        leaders.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Runs a request's future so that its batches run whenever it goes idle (see the module).
///
/// The request runs outside tokio's cooperative budget: a channel or socket out of budget
/// returns pending and wakes its task only after the poll, which would look like an idle
/// point and release batches early. `Drive` lets other tasks run after 16 polls in a row.
pub async fn drive<F: Future>(idle: Arc<Idle>, request: F) -> F::Output {
    idle.driven.store(true, Ordering::Release);
    Drive {
        request: Box::pin(tokio::task::coop::unconstrained(request)),
        idle,
        flag: None,
    }
    .await
}

struct Drive<F> {
    request: Pin<Box<tokio::task::coop::Unconstrained<F>>>,
    idle: Arc<Idle>,
    flag: Option<Arc<WokenFlag>>,
}

/// The waker the request sees: it notes that something woke, and wakes the task.
struct WokenFlag {
    woken: AtomicBool,
    task: Mutex<Waker>,
}

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wake_by_ref();
    }
}

/// Polls of the request in a row before the task lets others run.
const POLLS_IN_A_ROW: usize = 16;

impl<F: Future> Future for Drive<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let flag = match &self.flag {
            Some(flag) => {
                let mut task = flag.task.lock().unwrap_or_else(PoisonError::into_inner);
                if !task.will_wake(cx.waker()) {
                    *task = cx.waker().clone();
                }
                drop(task);
                flag.clone()
            }
            None => {
                let flag = Arc::new(WokenFlag {
                    woken: AtomicBool::new(false),
                    task: Mutex::new(cx.waker().clone()),
                });
                self.flag = Some(flag.clone());
                flag
            }
        };
        let waker = Waker::from(flag.clone());
        for _ in 0..POLLS_IN_A_ROW {
            flag.woken.store(false, Ordering::Release);
            if let Poll::Ready(out) = self.request.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(out);
            }
            if flag.woken.load(Ordering::Acquire) {
                // Something is ready already: poll again.
                continue;
            }
            // Nothing is ready: every field waits on the database or on a batch. Release the
            // batches; their leaders wake, and the request is polled again at once.
            let leaders = {
                let mut leaders = self
                    .idle
                    .leaders
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if leaders.is_empty() {
                    return Poll::Pending;
                }
                self.idle.count.fetch_add(1, Ordering::AcqRel);
                std::mem::take(&mut *leaders)
            };
            leaders.into_iter().for_each(Waker::wake);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Pending once, having asked to be polled again: the executor polls everything else that is
/// ready first.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The key whose batch fails.
    const UNLUCKY: u64 = 7777;

    /// Squares numbers and counts its batches and keys.
    #[derive(Default)]
    struct Squares {
        batches: AtomicUsize,
        largest: AtomicUsize,
    }

    impl Loader<u64> for Squares {
        type Value = u64;
        type Error = Arc<String>;

        async fn load(&self, keys: &[u64]) -> Result<HashMap<u64, u64>, Self::Error> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(keys.len(), Ordering::SeqCst);
            if keys.contains(&UNLUCKY) {
                return Err(Arc::new("unlucky".to_owned()));
            }
            Ok(keys.iter().map(|k| (*k, k * k)).collect())
        }
    }

    /// A paused clock moves only when a task waits on a timer: it has not moved, so nothing
    /// waited on one, and the 100 loads made before the request went idle went in one batch.
    #[tokio::test(start_paused = true)]
    async fn one_pass_is_one_batch_with_no_timer() {
        let batcher = Batcher::new(Squares::default());
        let start = tokio::time::Instant::now();
        let loads = (0..100u64).map(|k| batcher.load_one(k % 60));
        let values = drive(
            batcher.idle(),
            async_graphql::futures_util::future::join_all(loads),
        )
        .await;
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        assert_eq!(values[59], Ok(Some(59 * 59)));
        assert_eq!(values[61], Ok(Some(1)));
        assert_eq!(batcher.loader.batches.load(Ordering::SeqCst), 1);
        assert_eq!(batcher.loader.largest.load(Ordering::SeqCst), 60);
    }

    /// A load after a batch started goes in the next one, and is not lost.
    #[tokio::test(start_paused = true)]
    async fn a_later_load_opens_the_next_batch() {
        let batcher = Batcher::new(Squares::default());
        assert_eq!(batcher.load_one(3).await, Ok(Some(9)));
        assert_eq!(batcher.load_one(4).await, Ok(Some(16)));
        assert_eq!(batcher.load_one(5u64).await, Ok(Some(25)));
        assert_eq!(batcher.loader.batches.load(Ordering::SeqCst), 3);
    }

    /// Primed keys are answered without a batch, absent ones too (`None`); the others still
    /// go in one batch; a key primed twice keeps its first value.
    #[tokio::test(start_paused = true)]
    async fn primed_keys_cost_no_batch() {
        let batcher = Batcher::new(Squares::default());
        batcher.prime([(2u64, Some(1000)), (3, None)]);
        batcher.prime([(2u64, Some(2000))]);
        let loads = [2u64, 3, 4, 5].map(|k| batcher.load_one(k));
        let values = drive(
            batcher.idle(),
            async_graphql::futures_util::future::join_all(loads),
        )
        .await;
        assert_eq!(
            values,
            [Ok(Some(1000)), Ok(None), Ok(Some(16)), Ok(Some(25))]
        );
        assert_eq!(batcher.loader.batches.load(Ordering::SeqCst), 1);
        assert_eq!(batcher.loader.largest.load(Ordering::SeqCst), 2);
    }

    /// A leader dropped before its batch ran (its field abandoned) does not leave the others
    /// of its batch waiting: one of them leads the batch again.
    #[tokio::test(start_paused = true)]
    async fn callers_of_a_batch_whose_leader_went_away_still_get_their_rows() {
        use async_graphql::futures_util::poll;
        let batcher = Batcher::new(Squares::default());
        let mut leader = Box::pin(batcher.load_one(7u64));
        let mut follower = Box::pin(batcher.load_one(8u64));
        assert!(poll!(&mut leader).is_pending());
        assert!(poll!(&mut follower).is_pending());
        drop(leader);
        assert_eq!(follower.await, Ok(Some(64)));
        assert_eq!(batcher.loader.batches.load(Ordering::SeqCst), 1);
        assert_eq!(batcher.loader.largest.load(Ordering::SeqCst), 1);
    }

    /// Loads that come after a first level's rows (as a nested field's do) wait for the
    /// request's next idle point and go in one batch too: two levels, two batches.
    #[tokio::test(start_paused = true)]
    async fn each_level_of_a_nested_request_is_one_batch() {
        let batcher = Batcher::new(Squares::default());
        let start = tokio::time::Instant::now();
        let nested = (1..=30u64).map(|k| {
            let batcher = &batcher;
            async move {
                let square = batcher.load_one(k).await?.unwrap_or_default();
                batcher.load_one(square + 1000).await
            }
        });
        let values = drive(
            batcher.idle(),
            async_graphql::futures_util::future::join_all(nested),
        )
        .await;
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        assert_eq!(values[2], Ok(Some(1009 * 1009)));
        assert_eq!(batcher.loader.batches.load(Ordering::SeqCst), 2);
        assert_eq!(batcher.loader.largest.load(Ordering::SeqCst), 30);
    }

    /// A failed batch fails every caller in it, and the next batch runs afresh.
    #[tokio::test(start_paused = true)]
    async fn an_error_reaches_every_caller_of_its_batch() {
        let batcher = Batcher::new(Squares::default());
        let (a, b) =
            async_graphql::futures_util::join!(batcher.load_one(UNLUCKY), batcher.load_one(2));
        assert_eq!(a, Err(Arc::new("unlucky".to_owned())));
        assert_eq!(b, a);
        assert_eq!(batcher.load_one(2).await, Ok(Some(4)));
    }
}
