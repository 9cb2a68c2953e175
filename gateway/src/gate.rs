//! A bound on the GraphQL requests the server executes at once (`max_concurrent_requests`).
//!
//! Beyond the bound a request waits its turn, in the order it arrived, before its document is
//! executed; the wait counts against its `request_timeout_secs`. Under more clients than the
//! cores can serve, an unbounded server interleaves every request's fields and database reads,
//! so each request finishes late and some very late; with the bound, the few that execute finish
//! as fast as with few clients and the others queue in order, so that the slowest answers come
//! close to the typical one (docs/BENCHMARKS.md, "Requests executing at once, bounded").
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Requests executing at most `limit` at a time, the others waiting in arrival order.
#[derive(Debug)]
pub struct Gate {
    /// Tokio's semaphore hands out its permits first come, first served.
    permits: Semaphore,
    limit: usize,
    waiting: AtomicUsize,
}

/// A request's turn to execute, until dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    _permit: SemaphorePermit<'a>,
}

/// A waiting request, counted until it gets its turn or is given up (timed out, disconnected).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    /// A gate letting `limit` requests execute at once (at least one).
    #[must_use]
    pub fn new(limit: u32) -> Gate {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Gate {
            permits: Semaphore::new(limit),
            limit,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for the request's turn: at once while fewer than the limit execute, else after
    /// every request that arrived before it.
    pub async fn enter(&self) -> Turn<'_> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Turn { _permit: permit };
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        match self.permits.acquire().await {
            Ok(permit) => Turn { _permit: permit },
            // The semaphore is never closed.
            Err(_) => unreachable!("the gate's semaphore is never closed"),
        }
    }

    /// The most requests executing at once.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests executing now.
    #[must_use]
    pub fn executing(&self) -> usize {
        self.limit - self.permits.available_permits()
    }

    /// Requests waiting for their turn now.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::Gate;

    /// Yields until `done` holds (the spawned tasks run on this test's runtime).
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the condition never held");
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_take_their_turn_in_arrival_order() {
        let gate = Arc::new(Gate::new(2));
        let first = gate.enter().await;
        let second = gate.enter().await;
        assert_eq!((gate.executing(), gate.waiting()), (2, 0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut queued = Vec::new();
        for n in 1..=5 {
            let (gate2, order) = (Arc::clone(&gate), Arc::clone(&order));
            queued.push(tokio::spawn(async move {
                let _turn = gate2.enter().await;
                order.lock().expect("order").push(n);
                // Holds the turn a moment, so that the next ones really wait for it.
                tokio::task::yield_now().await;
            }));
            // The next request arrives once this one waits.
            until(|| gate.waiting() == n).await;
        }
        assert!(order.lock().expect("order").is_empty(), "none ran early");
        drop(first);
        until(|| order.lock().expect("order").len() == 1).await;
        assert_eq!(
            gate.executing(),
            2,
            "one queued request took the freed turn"
        );
        drop(second);
        for task in queued {
            task.await.expect("a queued request");
        }
        assert_eq!(*order.lock().expect("order"), vec![1, 2, 3, 4, 5]);
        assert_eq!((gate.executing(), gate.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn a_request_given_up_while_waiting_leaves_the_queue() {
        let gate = Gate::new(1);
        let held = gate.enter().await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), gate.enter()).await;
        assert!(gave_up.is_err(), "the turn is held, the wait times out");
        assert_eq!(gate.waiting(), 0, "the timed-out request no longer waits");
        drop(held);
        let _turn = gate.enter().await;
        assert_eq!(gate.executing(), 1);
    }

    #[test]
    fn a_limit_of_zero_still_lets_one_request_through() {
        assert_eq!(Gate::new(0).limit(), 1);
        assert_eq!(Gate::new(6).limit(), 6);
    }
}
