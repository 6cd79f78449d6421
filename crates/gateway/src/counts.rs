//! Invocation counts: counted in memory on the hot path and flushed to the store every few seconds and at
//! shutdown, so a call never waits on a database write. A `kill -9` can lose at most the last interval's
//! counts (never a deploy or a secret).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sedge_core::QualifiedName;
use sedge_store::Store;

/// How often counts are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Counts not yet written to the store.
#[derive(Default)]
pub struct PendingCounts(Mutex<HashMap<QualifiedName, u64>>);

impl PendingCounts {
    /// Adds one call.
    pub fn add(&self, function: &QualifiedName) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(function) {
            Some(n) => *n += 1,
            None => {
                map.insert(function.clone(), 1);
            }
        }
    }

    /// Calls counted since the last flush.
    pub fn get(&self, function: &QualifiedName) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(function).copied().unwrap_or(0)
    }

    /// Forgets a removed function's counts.
    pub fn forget(&self, function: &QualifiedName) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(function);
    }

    /// Writes the counts to the store; on failure they are kept for the next try.
    pub async fn flush(&self, store: &dyn Store) {
        let batch: Vec<(QualifiedName, u64)> =
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = store.add_invocations(&batch).await {
            tracing::warn!(error = %e, "could not save invocation counts; will retry");
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            for (f, n) in batch {
                *map.entry(f).or_default() += n;
            }
        }
    }
}

/// Flushes every [`FLUSH_EVERY`] until `stop` resolves, then once more. Resolve `stop` only after the server
/// has drained, so the calls that finish during shutdown are counted too.
pub async fn flush_loop(
    counts: Arc<PendingCounts>,
    store: Arc<dyn Store>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => counts.flush(store.as_ref()).await,
            _ = &mut stop => break,
        }
    }
    counts.flush(store.as_ref()).await;
}
