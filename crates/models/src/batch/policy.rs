//! The batching policy: a pure function from queue state to the next action. No tokio, no clock, no I/O — the
//! [`batcher`](super::batcher) loop samples the queue and the engine, calls [`decide`], and applies the answer.
//!
//! # The rule
//! Given `queued` requests, the age of the oldest one and whether the engine is running a batch:
//! 1. nothing queued → [`Decision::Idle`];
//! 2. engine busy → [`Decision::WaitForEngine`] (arrivals pile up; that pile-up *is* the batching under load);
//! 3. `queued ≥ max_batch_size` → [`Decision::RunNow`]`(max_batch_size)`;
//! 4. a lone request (`queued == 1`) → [`Decision::RunNow`]`(1)` at once, never delayed;
//! 5. a partial batch (`2 ≤ queued < max`) whose oldest request has waited `≥ max_queue_delay` →
//!    [`Decision::RunNow`]`(queued)`;
//! 6. otherwise → [`Decision::WaitUntil`] the oldest request's age reaches `max_queue_delay`.
//!
//! Rules 5–6 mean `max_queue_delay` only ever holds back a burst that arrived while the engine was idle, and it is
//! measured from the oldest request's arrival, so requests that already waited out a busy engine run at once.
//! With `max_queue_delay == 0` the policy is purely work-conserving.
//!
//! [`admit`] is the queue bound: a request is refused once `queue_capacity` requests are waiting.

use std::time::Duration;

/// Per-model batching configuration, validated by [`BatchPolicy::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    max_batch_size: usize,
    max_queue_delay: Duration,
    queue_capacity: usize,
}

/// Why a [`BatchPolicy`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `max_batch_size` was 0; a batch holds at least one request.
    #[error("max_batch_size must be at least 1")]
    ZeroBatchSize,
    /// The queue could never hold a full batch.
    #[error("queue_capacity ({capacity}) must be at least max_batch_size ({max_batch_size})")]
    CapacityBelowBatch {
        /// The requested queue capacity.
        capacity: usize,
        /// The requested maximum batch size.
        max_batch_size: usize,
    },
}

impl BatchPolicy {
    /// A policy; `max_batch_size ≥ 1` and `queue_capacity ≥ max_batch_size`.
    pub fn new(max_batch_size: usize, max_queue_delay: Duration, queue_capacity: usize) -> Result<Self, PolicyError> {
        if max_batch_size == 0 {
            return Err(PolicyError::ZeroBatchSize);
        }
        if queue_capacity < max_batch_size {
            return Err(PolicyError::CapacityBelowBatch { capacity: queue_capacity, max_batch_size });
        }
        Ok(Self { max_batch_size, max_queue_delay, queue_capacity })
    }

    /// The most requests one engine call receives.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// How long a partial burst may wait for company while the engine is idle (see the module's rule 5–6).
    pub fn max_queue_delay(&self) -> Duration {
        self.max_queue_delay
    }

    /// How many requests may wait; the next one is refused with [`QueueFull`].
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }
}

/// What the batcher loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is queued: wait for an arrival.
    Idle,
    /// The engine is running a batch: decide again when it frees (or on shutdown).
    WaitForEngine,
    /// Take this many requests (FIFO, `1 ≤ n ≤ min(queued, max_batch_size)`) and run them now.
    RunNow(usize),
    /// Wait this long for more arrivals, then decide again (an arrival may also end the wait early).
    WaitUntil(Duration),
}

/// The next action for a queue of `queued` requests whose oldest has waited `oldest_waiting`.
pub fn decide(policy: &BatchPolicy, queued: usize, oldest_waiting: Duration, engine_busy: bool) -> Decision {
    if queued == 0 {
        return Decision::Idle;
    }
    if engine_busy {
        return Decision::WaitForEngine;
    }
    if queued >= policy.max_batch_size {
        return Decision::RunNow(policy.max_batch_size);
    }
    if queued == 1 || oldest_waiting >= policy.max_queue_delay {
        return Decision::RunNow(queued);
    }
    Decision::WaitUntil(policy.max_queue_delay - oldest_waiting)
}

/// The queue is at capacity; the caller should answer 429 and let the client retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("batch queue is full ({capacity} requests waiting); retry later")]
pub struct QueueFull {
    /// The queue's capacity.
    pub capacity: usize,
}

/// Whether one more request may join a queue that already holds `queued`.
pub fn admit(policy: &BatchPolicy, queued: usize) -> Result<(), QueueFull> {
    if queued < policy.queue_capacity { Ok(()) } else { Err(QueueFull { capacity: policy.queue_capacity }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy(max: usize, delay: Duration, cap: usize) -> BatchPolicy {
        BatchPolicy::new(max, delay, cap).expect("valid policy")
    }

    #[test]
    fn constructor_validates() {
        assert_eq!(BatchPolicy::new(0, MS, 4), Err(PolicyError::ZeroBatchSize));
        assert_eq!(BatchPolicy::new(8, MS, 4), Err(PolicyError::CapacityBelowBatch { capacity: 4, max_batch_size: 8 }));
        assert!(BatchPolicy::new(4, Duration::ZERO, 4).is_ok());
    }

    #[test]
    fn empty_queue_is_idle_busy_engine_waits() {
        let p = policy(4, MS, 8);
        assert_eq!(decide(&p, 0, Duration::ZERO, false), Decision::Idle);
        assert_eq!(decide(&p, 0, Duration::ZERO, true), Decision::Idle);
        assert_eq!(decide(&p, 3, 10 * MS, true), Decision::WaitForEngine);
    }

    #[test]
    fn lone_request_runs_at_once() {
        let p = policy(4, 5 * MS, 8);
        assert_eq!(decide(&p, 1, Duration::ZERO, false), Decision::RunNow(1));
    }

    #[test]
    fn full_batch_runs_at_once_capped_at_max() {
        let p = policy(4, 5 * MS, 16);
        assert_eq!(decide(&p, 4, Duration::ZERO, false), Decision::RunNow(4));
        assert_eq!(decide(&p, 11, Duration::ZERO, false), Decision::RunNow(4));
    }

    #[test]
    fn partial_burst_waits_out_the_delay_from_its_oldest_arrival() {
        let p = policy(4, 5 * MS, 16);
        assert_eq!(decide(&p, 2, Duration::ZERO, false), Decision::WaitUntil(5 * MS));
        assert_eq!(decide(&p, 3, 2 * MS, false), Decision::WaitUntil(3 * MS));
        assert_eq!(decide(&p, 3, 5 * MS, false), Decision::RunNow(3));
        assert_eq!(decide(&p, 2, 40 * MS, false), Decision::RunNow(2));
    }

    #[test]
    fn zero_delay_is_work_conserving() {
        let p = policy(4, Duration::ZERO, 16);
        assert_eq!(decide(&p, 3, Duration::ZERO, false), Decision::RunNow(3));
    }

    #[test]
    fn admit_refuses_at_capacity() {
        let p = policy(2, MS, 3);
        assert_eq!(admit(&p, 2), Ok(()));
        assert_eq!(admit(&p, 3), Err(QueueFull { capacity: 3 }));
        assert!(QueueFull { capacity: 3 }.to_string().contains("full"));
    }

    proptest! {
        #[test]
        fn run_now_is_within_bounds(
            max in 1usize..64,
            extra_cap in 0usize..64,
            delay_us in 0u64..10_000,
            queued in 0usize..200,
            waited_us in 0u64..20_000,
            busy: bool,
        ) {
            let p = policy(max, Duration::from_micros(delay_us), max + extra_cap);
            match decide(&p, queued, Duration::from_micros(waited_us), busy) {
                Decision::RunNow(n) => {
                    prop_assert!(!busy);
                    prop_assert!(n >= 1 && n <= max && n <= queued);
                }
                Decision::WaitUntil(d) => {
                    prop_assert!(!busy && queued >= 2 && queued < max);
                    prop_assert!(d > Duration::ZERO && d <= p.max_queue_delay());
                }
                Decision::Idle => prop_assert_eq!(queued, 0),
                Decision::WaitForEngine => prop_assert!(busy && queued > 0),
            }
            if queued == 1 && !busy {
                prop_assert_eq!(decide(&p, 1, Duration::from_micros(waited_us), false), Decision::RunNow(1));
            }
        }

        #[test]
        fn admit_matches_capacity(max in 1usize..32, extra_cap in 0usize..32, queued in 0usize..100) {
            let p = policy(max, MS, max + extra_cap);
            prop_assert_eq!(admit(&p, queued).is_ok(), queued < max + extra_cap);
        }
    }
}
