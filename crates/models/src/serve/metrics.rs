//! Per-model Prometheus metrics: batch sizes, time queued, inference time, load time. The provider that loads
//! models owns one [`ModelMetrics`], registers it in the gateway's registry, and hands each model an observer.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::batch::{BatchObserver, BatchStats};

/// Labels of every model metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The model function's `name.namespace`.
    pub function_name: String,
}

/// Labels of the load-time gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    /// The model function's `name.namespace`.
    pub function_name: String,
    /// The engine it was loaded into.
    pub engine: String,
}

fn batch_buckets() -> Histogram {
    Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
}

fn latency_buckets() -> Histogram {
    Histogram::new([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0])
}

/// The metric families of every served model.
#[derive(Clone)]
pub struct ModelMetrics {
    batch_size: Family<ModelLabels, Histogram>,
    queue_seconds: Family<ModelLabels, Histogram>,
    inference_seconds: Family<ModelLabels, Histogram>,
    load_seconds: Family<LoadLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for ModelMetrics {
    fn default() -> Self {
        Self {
            batch_size: Family::new_with_constructor(batch_buckets as fn() -> Histogram),
            queue_seconds: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            inference_seconds: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            load_seconds: Family::default(),
        }
    }
}

impl ModelMetrics {
    /// Registers the families in `registry` under the `sedge_model_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("sedge_model_batch_size", "Requests per engine call", self.batch_size.clone());
        registry.register(
            "sedge_model_queue_seconds",
            "Time a request waited in its model's batch queue",
            self.queue_seconds.clone(),
        );
        registry.register(
            "sedge_model_inference_seconds",
            "Time of one engine call (one batch)",
            self.inference_seconds.clone(),
        );
        registry.register("sedge_model_load_seconds", "Time the last model load took", self.load_seconds.clone());
    }

    /// Records that `function` loaded into `engine` in `seconds`.
    pub fn loaded(&self, function: &str, engine: &str, seconds: f64) {
        let labels = LoadLabels { function_name: function.into(), engine: engine.into() };
        self.load_seconds.get_or_create(&labels).set(seconds);
    }

    /// An observer feeding `function`'s batch metrics.
    pub fn observer(&self, function: &str) -> BatchObserver {
        let labels = ModelLabels { function_name: function.into() };
        let batch = self.batch_size.get_or_create(&labels).clone();
        let queue = self.queue_seconds.get_or_create(&labels).clone();
        let inference = self.inference_seconds.get_or_create(&labels).clone();
        Arc::new(move |stats: &BatchStats| {
            batch.observe(stats.batch_size as f64);
            inference.observe(stats.inference_time.as_secs_f64());
            for waited in &stats.queue_times {
                queue.observe(waited.as_secs_f64());
            }
        })
    }

    /// Drops a removed function's series.
    pub fn forget(&self, function: &str) {
        let labels = ModelLabels { function_name: function.into() };
        self.batch_size.remove(&labels);
        self.queue_seconds.remove(&labels);
        self.inference_seconds.remove(&labels);
        // Load series are keyed by engine too; drop whichever engines this function used.
        for engine in ["tract", "ort", "trees"] {
            self.load_seconds.remove(&LoadLabels { function_name: function.into(), engine: engine.into() });
        }
    }
}
