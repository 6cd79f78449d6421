//! Adaptive batching per model: requests queue up, and the engine receives them in batches whose size adapts to
//! load. An idle engine runs a lone request at once; while it is busy, arrivals accumulate and the next call takes
//! up to `max_batch_size` of them. A bounded queue refuses the overflow ([`BatchError::QueueFull`], HTTP 429).
//!
//! # Layout
//! - [`policy`]: [`BatchPolicy`] and [`decide`], the pure rule that says when to run how many requests, and
//!   [`admit`], the queue bound. No tokio, no clock; tested with plain values and proptest.
//! - [`batcher`]: [`Batcher`], the thin async loop that samples the queue, applies [`decide`], runs the engine on
//!   the blocking pool, routes outputs back to callers and reports [`BatchStats`] (batch size, queue time,
//!   inference time) to a [`BatchObserver`]. It drains on a shutdown token.
//!
//! This module does not map errors to HTTP, label metrics with a model name or register them anywhere: the gateway
//! owns one batcher per model and does those at its edge.

pub mod batcher;
pub mod policy;

#[cfg(test)]
mod tests;

pub use batcher::{BatchError, BatchObserver, BatchStats, Batcher, Engine};
pub use policy::{BatchPolicy, Decision, PolicyError, QueueFull, admit, decide};
