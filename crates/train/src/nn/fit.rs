//! Minibatch training with Adam, data-parallel over threads, deterministic for a seed whatever the thread count.
//!
//! Each epoch shuffles the rows (seeded), cuts them into batches (one Adam step each, the step size constant or
//! on a cosine schedule), and cuts each batch into shards of [`SHARD`]
//! rows. Threads (`std::thread::scope`) compute the shards' gradients, each into its own buffer; the buffers are
//! then summed in shard order, so the sum, and so the trained weights, do not depend on how many threads ran.

use super::net::Net;
use super::optim::Adam;
use super::rng::Rng;

/// Rows per gradient shard: small enough to spread a batch of 32 over a few cores, large enough to keep the
/// dense layers' products efficient.
pub const SHARD: usize = 16;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitParams {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per optimizer step.
    pub batch_size: usize,
    /// Adam's step size (the peak, with a cosine schedule).
    pub learning_rate: f32,
    /// How the step size changes over the run.
    pub schedule: Schedule,
    /// Seeds the shuffles (the weights are seeded where the net is made).
    pub seed: u64,
    /// Threads computing gradients and predictions (at least 1).
    pub threads: usize,
}

impl Default for FitParams {
    fn default() -> Self {
        Self { epochs: 10, batch_size: 32, learning_rate: 1e-3, schedule: Schedule::Constant, seed: 1, threads: 1 }
    }
}

/// The step size over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The learning rate throughout.
    Constant,
    /// Cosine annealing (Loshchilov & Hutter 2017, without restarts): `lr · (1 + cos(π · step / steps)) / 2`, from
    /// the learning rate down to zero at the last step, so the last epochs settle instead of jittering.
    Cosine,
}

impl Schedule {
    /// The step size at `step` of `steps` (0-based) for peak `rate`.
    pub fn rate(self, rate: f32, step: usize, steps: usize) -> f32 {
        match self {
            Schedule::Constant => rate,
            Schedule::Cosine => {
                let progress = step as f64 / steps.max(1) as f64;
                (f64::from(rate) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0) as f32
            }
        }
    }
}

/// Labelled rows: `labels.len()` items of the net's input length each, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Examples<'a> {
    /// The inputs.
    pub x: &'a [f32],
    /// The classes, each below the net's class count.
    pub labels: &'a [u32],
}

impl Examples<'_> {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// Progress after an epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's batches (as they were when stepped).
    pub loss: f64,
}

/// Called after each epoch with the net so far; return `false` to stop.
pub type OnEpoch<'a> = dyn FnMut(&Net, Epoch) -> bool + 'a;

/// Trains `net` on `data`.
///
/// # Panics
/// When `data.x` does not hold `data.labels.len()` items of the net's input length, or a label is not below the
/// net's class count.
pub fn fit(net: &mut Net, data: Examples<'_>, p: &FitParams, on_epoch: &mut OnEpoch<'_>) {
    let width = net.input_len();
    assert_eq!(data.x.len(), data.rows() * width, "x holds one input per label");
    let batch_size = p.batch_size.max(1);
    let mut rng = Rng::new(p.seed);
    let mut adam = Adam::new(net, p.learning_rate);
    let mut order: Vec<usize> = (0..data.rows()).collect();
    let (mut x, mut labels) = (Vec::with_capacity(batch_size * width), Vec::with_capacity(batch_size));
    let steps = p.epochs * data.rows().div_ceil(batch_size);
    let mut step = 0;
    for epoch in 1..=p.epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        for batch in order.chunks(batch_size) {
            x.clear();
            labels.clear();
            for &i in batch {
                x.extend_from_slice(&data.x[i * width..(i + 1) * width]);
                labels.push(data.labels[i]);
            }
            let (loss, grads) = gradients(net, Examples { x: &x, labels: &labels }, p.threads);
            total += loss;
            adam.learning_rate = p.schedule.rate(p.learning_rate, step, steps);
            adam.step(net, &grads);
            step += 1;
        }
        let epoch = Epoch { epoch, loss: total / data.rows().max(1) as f64 };
        if !on_epoch(net, epoch) {
            break;
        }
    }
}

/// The summed loss of a batch and the gradient of its mean, computed shard by shard on up to `threads` threads.
pub fn gradients(net: &Net, batch: Examples<'_>, threads: usize) -> (f64, Vec<Vec<f32>>) {
    let width = net.input_len();
    let scale = 1.0 / batch.rows().max(1) as f32;
    let shards: Vec<(&[f32], &[u32])> = batch.x.chunks(SHARD * width).zip(batch.labels.chunks(SHARD)).collect();
    let one = |(x, labels): (&[f32], &[u32])| {
        let mut grads = net.zero_grads();
        let loss = net.backprop(x, labels, scale, &mut grads);
        (loss, grads)
    };
    let results = parallel_map(&shards, threads, |s| one(*s));
    let mut results = results.into_iter();
    let (mut loss, mut sum) = results.next().unwrap_or_else(|| (0.0, net.zero_grads()));
    for (l, g) in results {
        loss += l;
        for (s, g) in sum.iter_mut().zip(g) {
            s.iter_mut().zip(g).for_each(|(s, g)| *s += g);
        }
    }
    (loss, sum)
}

/// Class probabilities of every row, `[rows, classes]`, computed in chunks on up to `threads` threads.
pub fn predict(net: &Net, x: &[f32], threads: usize) -> Vec<f32> {
    let width = net.input_len();
    let chunks: Vec<&[f32]> = x.chunks(256 * width).collect();
    parallel_map(&chunks, threads, |c| net.probabilities(c, c.len() / width)).concat()
}

/// Mean cross-entropy and accuracy (share of rows whose most probable class is their label).
pub fn evaluate(net: &Net, data: Examples<'_>, threads: usize) -> (f64, f64) {
    let classes = net.classes();
    let probabilities = predict(net, data.x, threads);
    let (mut loss, mut right) = (0.0, 0);
    for (p, &label) in probabilities.chunks_exact(classes).zip(data.labels) {
        loss -= f64::from(p[label as usize].max(1e-30)).ln();
        right += usize::from(argmax(p) == label as usize);
    }
    let n = data.rows().max(1) as f64;
    (loss / n, right as f64 / n)
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

/// `f` over `items` on up to `threads` scoped threads (item `i` on thread `i % threads`), results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || items.iter().enumerate().skip(t).step_by(threads).map(|(i, x)| (i, f(x))).collect())
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a training thread panicked")).collect()
    });
    let mut out: Vec<(usize, R)> = parts.iter_mut().flat_map(std::mem::take).collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_anneals_from_the_rate_to_zero() {
        let at = |step| Schedule::Cosine.rate(0.1, step, 100);
        assert_eq!(at(0), 0.1);
        assert!((at(50) - 0.05).abs() < 1e-7 && at(99) < 1e-4 && at(99) > 0.0);
        assert_eq!(Schedule::Constant.rate(0.1, 99, 100), 0.1);
    }

    #[test]
    fn parallel_map_keeps_the_order() {
        let items: Vec<usize> = (0..10).collect();
        assert_eq!(parallel_map(&items, 3, |i| i * 2), (0..10).map(|i| i * 2).collect::<Vec<_>>());
    }
}
