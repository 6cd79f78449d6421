//! The exact greedy split finder: every distinct value of every feature is a candidate threshold.
//!
//! Each feature is sorted once ([`sort_features`]). Growing a level walks every feature's sorted order once, adding
//! each sample's gradient to its node's running sums, so a level costs O(rows × features) whatever its width. A
//! split falls between two distinct values, at their midpoint, and sends `x < threshold` left (ONNX's `BRANCH_LT`).

use super::{Node, Params, Tree};

/// Every feature's row order, ascending by value.
pub(super) fn sort_features(x: &[f32], features: usize, n: usize) -> Vec<Vec<u32>> {
    (0..features)
        .map(|f| {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_by(|a, b| x[*a as usize * features + f].total_cmp(&x[*b as usize * features + f]));
            idx
        })
        .collect()
}

/// A node being grown: its samples' gradient sums.
#[derive(Debug, Clone, Copy)]
struct Open {
    node: usize,
    g: f64,
    h: f64,
}

/// The best split found for an open node.
#[derive(Debug, Clone, Copy)]
struct Best {
    gain: f64,
    feature: usize,
    threshold: f32,
}

/// Grows one tree on the gradients, level by level, from the presorted feature orders.
pub(super) fn grow(x: &[f32], features: usize, sorted: &[Vec<u32>], grad: &[f32], hess: &[f32], p: &Params) -> Tree {
    let n = grad.len();
    let lambda = f64::from(p.lambda);
    let weight = |g: f64, h: f64| (-g / (h + lambda)) as f32 * p.learning_rate;
    let score = |g: f64, h: f64| g * g / (h + lambda);
    // Which open node (index into `open`) each sample is in; usize::MAX once it reached a leaf.
    let mut slot = vec![0usize; n];
    let (g0, h0) = (0..n).fold((0.0, 0.0), |(g, h), i| (g + f64::from(grad[i]), h + f64::from(hess[i])));
    let mut nodes = vec![Node::Leaf(weight(g0, h0))];
    let mut open = vec![Open { node: 0, g: g0, h: h0 }];
    for _depth in 0..p.max_depth {
        if open.is_empty() {
            break;
        }
        let mut best: Vec<Option<Best>> = vec![None; open.len()];
        // Running left sums and the last value seen, per open node, for one feature at a time.
        let mut left = vec![(0.0f64, 0.0f64); open.len()];
        let mut last = vec![f32::NAN; open.len()];
        for (f, order) in sorted.iter().enumerate() {
            left.fill((0.0, 0.0));
            last.fill(f32::NAN);
            for &i in order {
                let i = i as usize;
                let s = slot[i];
                if s == usize::MAX {
                    continue;
                }
                let v = x[i * features + f];
                let (gl, hl) = left[s];
                if !last[s].is_nan() && v > last[s] {
                    let Open { g, h, .. } = open[s];
                    let (gr, hr) = (g - gl, h - hl);
                    if hl >= f64::from(p.min_child_weight) && hr >= f64::from(p.min_child_weight) {
                        let gain = score(gl, hl) + score(gr, hr) - score(g, h);
                        if gain > 1e-9 && best[s].is_none_or(|b| gain > b.gain) {
                            best[s] = Some(Best { gain, feature: f, threshold: last[s] + (v - last[s]) / 2.0 });
                        }
                    }
                }
                left[s] = (gl + f64::from(grad[i]), hl + f64::from(hess[i]));
                last[s] = v;
            }
        }
        // Split the nodes that gain; their children are the next level's open nodes.
        let mut next = Vec::new();
        let mut child_slots = vec![None; open.len()];
        for (s, b) in best.iter().enumerate() {
            if let Some(b) = b {
                let (l, r) = (nodes.len(), nodes.len() + 1);
                nodes.push(Node::Leaf(0.0));
                nodes.push(Node::Leaf(0.0));
                nodes[open[s].node] = Node::Split { feature: b.feature, threshold: b.threshold, left: l, right: r };
                child_slots[s] = Some((next.len(), b.feature, b.threshold));
                next.push(Open { node: l, g: 0.0, h: 0.0 });
                next.push(Open { node: r, g: 0.0, h: 0.0 });
            }
        }
        for i in 0..n {
            let s = slot[i];
            if s == usize::MAX {
                continue;
            }
            slot[i] = match child_slots[s] {
                None => usize::MAX,
                Some((l, feature, threshold)) => {
                    let c = if x[i * features + feature] < threshold { l } else { l + 1 };
                    next[c].g += f64::from(grad[i]);
                    next[c].h += f64::from(hess[i]);
                    c
                }
            };
        }
        for o in &next {
            nodes[o.node] = Node::Leaf(weight(o.g, o.h));
        }
        open = next;
    }
    Tree { nodes }
}
