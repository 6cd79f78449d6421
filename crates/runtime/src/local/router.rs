//! A function's router and activator: least-in-flight choice among ready replicas under a per-replica limit
//! (`max_inflight`, Knative's `containerConcurrency`), and one FIFO line of calls waiting for a slot.
//!
//! A call waits in the line in two cases: no replica is ready (the function is at zero or waking: the call is
//! *held*, up to [`HOLD_LIMIT`] calls), or every ready replica is at its limit (the call is *queued*, up to the
//! function's `queue`; past it, 429). Waiting calls leave in arrival order: whenever a slot frees or a replica
//! becomes ready, the first live waiter gets it, handed over directly, so a newcomer can never overtake the
//! line. The caller bounds each wait by its own deadline; a waiter that gave up is skipped.
//!
//! All choices are made under one mutex per function, held for a few comparisons: slots are counted on the
//! replicas, so the limit holds exactly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::replica::Replica;
use crate::provider::ReplicaState;

/// Most calls held while a function wakes (Knative's activator holds without a count limit; sedge bounds it
/// so a flood at a broken function cannot exhaust memory).
pub const HOLD_LIMIT: usize = 10_000;

/// Routes one function's calls to its replicas.
pub struct Router {
    limit: u32,
    queue: usize,
    lines: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    replicas: Vec<Arc<Replica>>,
    waiting: VecDeque<oneshot::Sender<Slot>>,
}

/// What happened to a call that asked for a slot.
pub enum Admission {
    /// A slot, at once.
    Slot(Slot),
    /// In line; `cold` when no replica was ready at arrival (the call waits for a start, not for a slot).
    Wait {
        /// Receives the slot.
        slot: oneshot::Receiver<Slot>,
        /// No replica was ready.
        cold: bool,
        /// The function has no replica at all: someone must start one.
        wake: bool,
    },
    /// Every replica is at its limit and the queue is full.
    Full,
    /// No replica is ready and [`HOLD_LIMIT`] calls are already held.
    HoldFull,
}

impl Router {
    /// A router with no replicas; `limit` calls per replica (`None` = unlimited), `queue` calls waiting for a
    /// busy replica.
    pub fn new(limit: Option<u32>, queue: u32) -> Arc<Self> {
        Arc::new(Self { limit: limit.unwrap_or(u32::MAX), queue: queue as usize, lines: Mutex::default() })
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a slot for one call.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut lines = self.lock();
        if !lines.waiting.is_empty() {
            self.dispatch(&mut lines);
        }
        if lines.waiting.is_empty()
            && let Some(slot) = self.take(&lines)
        {
            return Admission::Slot(slot);
        }
        let any_ready = lines.replicas.iter().any(|r| r.state() == ReplicaState::Ready);
        let bound = if any_ready { self.queue } else { HOLD_LIMIT };
        if lines.waiting.len() >= bound {
            lines.waiting.retain(|w| !w.is_closed());
        }
        if lines.waiting.len() >= bound {
            return if any_ready { Admission::Full } else { Admission::HoldFull };
        }
        let (tx, rx) = oneshot::channel();
        lines.waiting.push_back(tx);
        Admission::Wait { slot: rx, cold: !any_ready, wake: lines.replicas.is_empty() }
    }

    /// Hands free slots to waiting calls, first come first served. Call after a replica became ready.
    pub fn wake_waiters(self: &Arc<Self>) {
        let mut lines = self.lock();
        self.dispatch(&mut lines);
    }

    /// Runs `f` on the replica list (to add or remove replicas), then serves the line.
    pub fn with_replicas<T>(self: &Arc<Self>, f: impl FnOnce(&mut Vec<Arc<Replica>>) -> T) -> T {
        let mut lines = self.lock();
        let out = f(&mut lines.replicas);
        self.dispatch(&mut lines);
        out
    }

    /// The replicas, for counting.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.lock().replicas.clone()
    }

    /// Calls waiting now (including any that gave up and were not yet skipped).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// A slot on the ready replica with the fewest calls in flight, if one is below the limit.
    fn take(self: &Arc<Self>, lines: &Lines) -> Option<Slot> {
        let replica = lines
            .replicas
            .iter()
            .filter(|r| r.state() == ReplicaState::Ready && r.inflight() < self.limit)
            .min_by_key(|r| r.inflight())?;
        replica.begin();
        Some(Slot { replica: Some(replica.clone()), router: self.clone() })
    }

    fn dispatch(self: &Arc<Self>, lines: &mut Lines) {
        while !lines.waiting.is_empty() {
            let Some(mut slot) = self.take(lines) else { return };
            loop {
                let Some(waiter) = lines.waiting.pop_front() else {
                    // Every waiter had given up: free the slot without re-entering the lock.
                    if let Some(replica) = slot.replica.take() {
                        replica.end();
                    }
                    break;
                };
                match waiter.send(slot) {
                    Ok(()) => break,
                    // That caller gave up: offer the slot to the next.
                    Err(back) => slot = back,
                }
            }
        }
    }

    fn release(self: &Arc<Self>, replica: Arc<Replica>) {
        let mut lines = self.lock();
        replica.end();
        self.dispatch(&mut lines);
    }
}

/// A call in flight on a replica. Dropping it frees the slot and serves the line.
pub struct Slot {
    replica: Option<Arc<Replica>>,
    router: Arc<Router>,
}

impl Slot {
    /// The replica this slot is on.
    pub fn replica(&self) -> &Replica {
        self.replica.as_deref().expect("a live slot has a replica")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(replica) = self.replica.take() {
            self.router.release(replica);
        }
    }
}

#[cfg(test)]
mod tests {
    use sedge_core::Mode;

    use super::*;

    fn replica(id: &str) -> Arc<Replica> {
        Replica::new(id.to_string(), Mode::Fork, Box::new(|| {}), Default::default())
    }

    fn slot(a: Admission) -> Slot {
        match a {
            Admission::Slot(s) => s,
            _ => panic!("expected a slot at once"),
        }
    }

    fn wait(a: Admission) -> (oneshot::Receiver<Slot>, bool, bool) {
        match a {
            Admission::Wait { slot, cold, wake } => (slot, cold, wake),
            _ => panic!("expected to wait"),
        }
    }

    #[test]
    fn least_in_flight_under_the_limit_then_429() {
        let router = Router::new(Some(2), 0);
        router.with_replicas(|r| r.extend([replica("a"), replica("b")]));
        let first = slot(router.admit());
        let second = slot(router.admit());
        assert_ne!(first.replica().id, second.replica().id, "the idle replica is chosen");
        let _third = slot(router.admit());
        let _fourth = slot(router.admit());
        assert!(matches!(router.admit(), Admission::Full));
        drop(first);
        assert!(matches!(router.admit(), Admission::Slot(_)));
    }

    #[test]
    fn queued_calls_leave_in_arrival_order_and_the_queue_is_bounded() {
        let router = Router::new(Some(1), 2);
        router.with_replicas(|r| r.push(replica("a")));
        let busy = slot(router.admit());
        let (mut first, cold, wake) = wait(router.admit());
        assert!(!cold && !wake, "a busy replica is not a cold start");
        let (mut second, _, _) = wait(router.admit());
        assert!(matches!(router.admit(), Admission::Full), "queue of 2 is full");
        drop(busy);
        let got = first.try_recv().expect("the first in line gets the freed slot");
        assert!(second.try_recv().is_err(), "the second still waits");
        drop(got);
        assert!(second.try_recv().is_ok());
    }

    #[test]
    fn a_caller_that_gave_up_is_skipped() {
        let router = Router::new(Some(1), 5);
        router.with_replicas(|r| r.push(replica("a")));
        let busy = slot(router.admit());
        let (gone, _, _) = wait(router.admit());
        let (mut next, _, _) = wait(router.admit());
        drop(gone);
        drop(busy);
        let s = next.try_recv().expect("the slot skips the caller that left");
        assert_eq!(s.replica().inflight(), 1);
        drop(s);
        assert_eq!(router.replicas()[0].inflight(), 0, "no slot leaks");
        assert_eq!(router.waiting(), 0);
    }

    #[test]
    fn at_zero_calls_are_held_until_a_replica_is_ready() {
        let router = Router::new(None, 0);
        let (mut first, cold, wake) = wait(router.admit());
        assert!(cold && wake, "no replica at all: cold, and someone must wake the function");
        let (mut second, cold, _) = wait(router.admit());
        assert!(cold);
        // Starting an http replica: still held.
        let starting = Replica::new("h".into(), Mode::Http, Box::new(|| {}), Default::default());
        router.with_replicas(|r| r.push(starting));
        let (_third, cold, wake) = wait(router.admit());
        assert!(cold && !wake, "a starting replica means the wake-up is under way");
        assert!(first.try_recv().is_err());
        router.with_replicas(|r| r.push(replica("a")));
        assert!(first.try_recv().is_ok() && second.try_recv().is_ok(), "released the moment a replica is ready");
    }

    #[test]
    fn held_calls_are_bounded() {
        let router = Router::new(None, 0);
        let held: Vec<_> = (0..HOLD_LIMIT).map(|_| wait(router.admit()).0).collect();
        assert!(matches!(router.admit(), Admission::HoldFull));
        drop(held);
        assert!(matches!(router.admit(), Admission::Wait { .. }), "callers that left free their place");
    }
}
