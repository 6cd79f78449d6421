//! The histogram split finder, XGBoost's `tree_method=hist` (and LightGBM's): each feature's values are cut once
//! into at most `max_bins` quantile bins, every row stored as one bin index per feature, and a node's split is
//! found from its histogram, the gradient and hessian sums per bin.
//!
//! - **Cuts** ([`cuts`]): a feature with at most `max_bins` distinct values gets one bin per value (the cut
//!   between two neighbours is their midpoint, as [`super::exact`] puts it); otherwise the cuts sit at the
//!   midpoints nearest the `k / max_bins` quantiles of the rows. Bin `b` holds `cuts[b-1] <= x < cuts[b]`, so a
//!   split after bin `b` is `x < cuts[b]`, ONNX's `BRANCH_LT`.
//! - **Rows**: one `order` array, each open node owning a contiguous range of it; a split partitions the range in
//!   place. A level builds the histogram of each split's smaller child from its rows and gets the larger one as
//!   the parent's minus the smaller (the subtraction trick), so a level costs at most half the rows × features.
//! - **Margins**: the rows of each leaf are known, so the grower adds the leaf's value to their margins directly
//!   instead of walking the new tree once per row.

use super::{Node, Params, Tree};

/// A gradient pair summed over a bin or a node.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
}

impl Sums {
    fn add(&mut self, g: f32, h: f32) {
        self.g += f64::from(g);
        self.h += f64::from(h);
    }

    fn minus(self, other: Sums) -> Sums {
        Sums { g: self.g - other.g, h: self.h - other.h }
    }
}

/// The thresholds between the bins of one feature: at most `max_bins - 1` strictly increasing values.
pub(super) fn cuts(values: &mut [f32], max_bins: usize) -> Vec<f32> {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    let mid = |a: f32, b: f32| {
        let m = a + (b - a) / 2.0;
        // Neighbouring floats: the midpoint rounds to one of them; `a < cut <= b` must hold.
        if m > a { m } else { b }
    };
    let mut out: Vec<f32> = Vec::new();
    let distinct = 1 + values.windows(2).filter(|w| w[0] < w[1]).count();
    if n == 0 {
        return out;
    }
    if distinct <= max_bins {
        out.extend(values.windows(2).filter(|w| w[0] < w[1]).map(|w| mid(w[0], w[1])));
        return out;
    }
    for k in 1..max_bins {
        // The first row past the k-th quantile; the cut goes after the run of equal values that holds it.
        let r = (k * n / max_bins).max(1);
        let v = values[r - 1];
        let next = r - 1 + values[r - 1..].partition_point(|x| *x <= v);
        if next < n {
            let c = mid(v, values[next]);
            if out.last().is_none_or(|last| c > *last) {
                out.push(c);
            }
        }
    }
    out
}

/// The binned training set and the per-tree scratch space, kept across trees.
pub(super) struct Grower {
    rows: usize,
    features: usize,
    /// `rows × features` bin indices, row-major.
    bins: Vec<u8>,
    /// Each feature's cuts.
    cuts: Vec<Vec<f32>>,
    /// Where each feature's bins start in a node's histogram; the last entry is the histogram's length.
    offsets: Vec<usize>,
    /// Row indices; every open node owns a contiguous range.
    order: Vec<u32>,
}

/// A node of the level being grown.
struct Open {
    /// Its index in the tree's nodes.
    node: usize,
    /// Its rows: `order[start..end]`.
    start: usize,
    end: usize,
    sums: Sums,
    hist: Vec<Sums>,
}

/// The best split of an open node: after bin `bin` of `feature`, with the left child's sums.
#[derive(Debug, Clone, Copy)]
struct Best {
    gain: f64,
    feature: usize,
    bin: usize,
    left: Sums,
}

impl Grower {
    /// Bins `rows × features` values (row-major) into at most `max_bins` (2..=256) bins per feature.
    pub(super) fn new(x: &[f32], features: usize, max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(2, 256);
        let rows = x.len().checked_div(features).unwrap_or(0);
        let mut cuts_of = Vec::with_capacity(features);
        let mut offsets = vec![0];
        let mut bins = vec![0u8; rows * features];
        let mut column = Vec::with_capacity(rows);
        for f in 0..features {
            column.clear();
            column.extend((0..rows).map(|i| x[i * features + f]));
            let c = cuts(&mut column, max_bins);
            for i in 0..rows {
                let v = x[i * features + f];
                bins[i * features + f] = c.partition_point(|cut| *cut <= v) as u8;
            }
            offsets.push(offsets[f] + c.len() + 1);
            cuts_of.push(c);
        }
        Grower { rows, features, bins, cuts: cuts_of, offsets, order: (0..rows as u32).collect() }
    }

    /// Grows one tree on the gradients and adds its leaf values to `margin`.
    pub(super) fn grow(&mut self, grad: &[f32], hess: &[f32], p: &Params, margin: &mut [f32]) -> Tree {
        let lambda = f64::from(p.lambda);
        let weight = |s: Sums| (-s.g / (s.h + lambda)) as f32 * p.learning_rate;
        let mut root = Open { node: 0, start: 0, end: self.rows, sums: Sums::default(), hist: Vec::new() };
        root.hist = self.histogram(0, self.rows, grad, hess);
        root.sums = (0..self.rows).fold(Sums::default(), |mut s, i| {
            s.add(grad[i], hess[i]);
            s
        });
        let mut nodes = vec![Node::Leaf(weight(root.sums))];
        let mut open = vec![root];
        let mut leaves: Vec<Open> = Vec::new();
        for depth in 0..p.max_depth {
            let last = depth + 1 == p.max_depth;
            let mut next = Vec::new();
            for node in open {
                let Some(best) = self.best_split(&node, p) else {
                    leaves.push(node);
                    continue;
                };
                let threshold = self.cuts[best.feature][best.bin];
                let mid = self.partition(node.start, node.end, best.feature, best.bin);
                let (l, r) = (nodes.len(), nodes.len() + 1);
                nodes[node.node] = Node::Split { feature: best.feature, threshold, left: l, right: r };
                let right_sums = node.sums.minus(best.left);
                nodes.push(Node::Leaf(weight(best.left)));
                nodes.push(Node::Leaf(weight(right_sums)));
                let mut left = Open { node: l, start: node.start, end: mid, sums: best.left, hist: Vec::new() };
                let mut right = Open { node: r, start: mid, end: node.end, sums: right_sums, hist: Vec::new() };
                // Children of the last level are leaves: no histogram needed.
                if !last {
                    let (small, large) = if mid - node.start <= node.end - mid {
                        (&mut left, &mut right)
                    } else {
                        (&mut right, &mut left)
                    };
                    small.hist = self.histogram(small.start, small.end, grad, hess);
                    let mut parent = node.hist;
                    for (p, s) in parent.iter_mut().zip(&small.hist) {
                        *p = p.minus(*s);
                    }
                    large.hist = parent;
                }
                next.push(left);
                next.push(right);
            }
            open = next;
            if open.is_empty() {
                break;
            }
        }
        leaves.extend(open);
        for leaf in &leaves {
            let Node::Leaf(v) = nodes[leaf.node] else { unreachable!("an open node is a leaf until split") };
            for &i in &self.order[leaf.start..leaf.end] {
                margin[i as usize] += v;
            }
        }
        Tree { nodes }
    }

    /// The gradient sums per bin of the rows `order[start..end]`.
    fn histogram(&self, start: usize, end: usize, grad: &[f32], hess: &[f32]) -> Vec<Sums> {
        let mut hist = vec![Sums::default(); self.offsets[self.features]];
        let f = self.features;
        for &i in &self.order[start..end] {
            let i = i as usize;
            let (g, h) = (grad[i], hess[i]);
            for (offset, &bin) in self.offsets[..f].iter().zip(&self.bins[i * f..(i + 1) * f]) {
                hist[offset + usize::from(bin)].add(g, h);
            }
        }
        hist
    }

    /// The split with the highest gain, as [`super::exact`] scores them: features in order, thresholds ascending,
    /// the first of equal gains kept.
    fn best_split(&self, node: &Open, p: &Params) -> Option<Best> {
        let lambda = f64::from(p.lambda);
        let min_child = f64::from(p.min_child_weight);
        let score = |s: Sums| s.g * s.g / (s.h + lambda);
        let parent = score(node.sums);
        let mut best: Option<Best> = None;
        for f in 0..self.features {
            let hist = &node.hist[self.offsets[f]..self.offsets[f + 1]];
            let mut left = Sums::default();
            for (bin, sums) in hist[..hist.len() - 1].iter().enumerate() {
                left.g += sums.g;
                left.h += sums.h;
                let right = node.sums.minus(left);
                if left.h < min_child || right.h < min_child {
                    continue;
                }
                let gain = score(left) + score(right) - parent;
                if gain > 1e-9 && best.is_none_or(|b| gain > b.gain) {
                    best = Some(Best { gain, feature: f, bin, left });
                }
            }
        }
        best
    }

    /// Reorders `order[start..end]` so rows with `bin(feature) <= bin` come first; returns where the rest begin.
    fn partition(&mut self, start: usize, end: usize, feature: usize, bin: usize) -> usize {
        let (f, bins) = (self.features, &self.bins);
        let goes_left = |i: u32| usize::from(bins[i as usize * f + feature]) <= bin;
        let range = &mut self.order[start..end];
        let mut mid = 0;
        for k in 0..range.len() {
            if goes_left(range[k]) {
                range.swap(mid, k);
                mid += 1;
            }
        }
        start + mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let mut v = vec![3.0, 1.0, 2.0, 2.0, 1.0];
        assert_eq!(cuts(&mut v, 256), [1.5, 2.5]);
        let mut constant = vec![7.0; 4];
        assert!(cuts(&mut constant, 256).is_empty());
    }

    #[test]
    fn many_values_get_quantile_cuts_between_distinct_values() {
        let mut v: Vec<f32> = (0..1000).map(|i| (i % 500) as f32).collect();
        let c = cuts(&mut v, 4);
        assert_eq!(c, [124.5, 249.5, 374.5]);
        // A heavy run of one value is never split: the cut goes after it.
        let mut skewed: Vec<f32> = (0..100).map(|i| if i < 90 { 0.0 } else { i as f32 }).collect();
        let c = cuts(&mut skewed, 4);
        assert_eq!(c[0], 45.0, "{c:?}");
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
    }

    #[test]
    fn bins_follow_the_cuts_and_branch_lt() {
        let x = [1.0, 2.0, 3.0, 2.5];
        let g = Grower::new(&x, 1, 256);
        assert_eq!(g.cuts[0], [1.5, 2.25, 2.75]);
        assert_eq!(g.bins, [0, 1, 3, 2]);
        assert_eq!(g.offsets, [0, 4]);
    }
}
