//! The pure evaluation of a compiled [`Ensemble`] (`layout.rs`): the tree walk over the flat node array,
//! aggregation of the leaves' votes, base values, the classifier's binary rules and label choice (post_transform
//! math in `post.rs`), following onnxruntime 1.32 (its `TreeEnsembleCommon`, `TreeAggregator*` and
//! `write_scores`), quirks included; the tests check each against outputs onnxruntime computed. No I/O, no
//! allocation per row or tree: one score buffer per batch.
//!
//! onnxruntime's behaviour worth knowing, reproduced here:
//! - a single-target regressor adds one weight per leaf (the first vote listed for it, or the leaf's
//!   `nodes_values` entry when it has none) and applies only `PROBIT`; other post_transforms are ignored;
//! - a score no vote reached is written as 0, before and after base values (base values do not create scores,
//!   except for classifiers with more than two classes);
//! - a binary classifier whose votes all go to one class writes two columns from one score (`1 - p, p` when all
//!   weights are positive, `-s, s` or the logistic of both when they are mixed); with both classes voted and
//!   integer labels, the label is the literal 1 or 0 (onnxruntime's `positive_label_` / `negative_label_`).

use super::layout::{Aggregate, Ensemble, Kind, LEAF, Labels, MISSING_TRUE, Mode, Node, PostTransform, Real};
use super::post::{logistic, probit, transform};
use crate::oip::TensorData;
/// A batch's outputs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Prediction {
    /// A regressor's `[rows, n_targets]` values.
    Regression(Vec<f32>),
    /// A classifier's `[rows]` labels and `[rows, n_classes]` scores.
    Classification {
        /// INT64 or BYTES labels.
        labels: TensorData,
        /// The scores after post_transform.
        probabilities: Vec<f32>,
    },
}

/// A target's or class's running score; `has` is false until a vote reaches it.
#[derive(Debug, Clone, Copy)]
struct Score<T> {
    value: T,
    has: bool,
}

impl<T: Real> Score<T> {
    const EMPTY: Self = Self { value: T::ZERO, has: false };

    /// The value written out: 0 without a score.
    fn written(self) -> T {
        if self.has { self.value } else { T::ZERO }
    }
}

/// Follows one tree from `root` to its leaf for `row`. Children are in range and trees acyclic (validated at
/// load), so the walk ends; `row` is at least `n_features` wide.
#[inline(always)]
fn walk<'a, T: Real>(nodes: &'a [Node<T>], root: u32, row: &[T], cmp: impl Fn(T, T, u8) -> bool) -> &'a Node<T> {
    let mut node = &nodes[root as usize];
    while node.flags & LEAF == 0 {
        let x = row[node.feature as usize];
        let truth = cmp(x, node.value, node.flags) || (node.flags & MISSING_TRUE != 0 && x.is_nan());
        node = &nodes[if truth { node.truth } else { node.falsity } as usize];
    }
    node
}

impl<T: Real> Ensemble<T> {
    /// Evaluates `rows` rows of `width` features each, row-major in `x`.
    pub(super) fn predict(&self, x: &[T], rows: usize, width: usize) -> Result<Prediction, String> {
        if width < self.n_features {
            return Err(format!("the trees read feature {} but rows have {width} features", self.n_features - 1));
        }
        if x.len() != rows.saturating_mul(width) {
            return Err(format!("{} values do not make {rows} rows of {width} features", x.len()));
        }
        if rows.checked_mul(self.n_outputs).is_none() {
            return Err(format!("{rows} rows are too many"));
        }
        match self.same_mode {
            Some(Mode::Leq) => self.predict_with(x, rows, width, |x, t, _| x <= t),
            Some(Mode::Lt) => self.predict_with(x, rows, width, |x, t, _| x < t),
            Some(Mode::Gte) => self.predict_with(x, rows, width, |x, t, _| x >= t),
            Some(Mode::Gt) => self.predict_with(x, rows, width, |x, t, _| x > t),
            Some(Mode::Eq) => self.predict_with(x, rows, width, |x, t, _| x == t),
            Some(Mode::Neq) => self.predict_with(x, rows, width, |x, t, _| x != t),
            None => self.predict_with(x, rows, width, |x, t, flags| Mode::from_flags(flags).test(x, t)),
        }
    }

    /// [`Ensemble::predict`] with the branch comparison fixed (monomorphised per mode).
    fn predict_with(
        &self,
        x: &[T],
        rows: usize,
        width: usize,
        cmp: impl Fn(T, T, u8) -> bool + Copy,
    ) -> Result<Prediction, String> {
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let n = self.n_outputs;
        match &self.kind {
            Kind::Regressor if n == 1 => {
                Ok(Prediction::Regression((0..rows).map(|r| self.single_target(row(r), cmp)).collect()))
            }
            Kind::Regressor => {
                let mut out = vec![0.0; rows * n];
                let mut scores = vec![Score::EMPTY; n];
                for (r, dst) in out.chunks_exact_mut(n).enumerate() {
                    self.accumulate(row(r), cmp, &mut scores);
                    self.finish_regression(&scores, dst);
                    transform(dst, self.post);
                }
                Ok(Prediction::Regression(out))
            }
            Kind::Classifier { labels, binary_case, all_positive } => {
                let mut probabilities = vec![0.0; rows * n];
                let mut picks = Vec::with_capacity(rows);
                let mut scores = vec![Score::EMPTY; n];
                for (r, dst) in probabilities.chunks_exact_mut(n).enumerate() {
                    self.accumulate(row(r), cmp, &mut scores);
                    let pick = if n == 2 {
                        self.finish_binary(&scores, *binary_case, *all_positive, dst)
                    } else {
                        self.finish_multiclass(&mut scores, dst).ok_or_else(|| format!("no class scored row {r}"))?
                    };
                    picks.push(pick);
                }
                Ok(Prediction::Classification { labels: label_tensor(labels, &picks), probabilities })
            }
        }
    }

    /// A single-target regressor's value for one row (onnxruntime's `ProcessTreeNodePrediction1` and
    /// `FinalizeScores1`): one weight per leaf, the base value added last, only `PROBIT` applied.
    fn single_target(&self, row: &[T], cmp: impl Fn(T, T, u8) -> bool + Copy) -> f32 {
        let origin = self.base_values.first().copied().unwrap_or(T::ZERO);
        let leaves = self.roots.iter().map(|&root| walk(&self.nodes, root, row, cmp).value);
        let score = match self.aggregate {
            Aggregate::Sum => leaves.fold(T::ZERO, |s, w| s + w) + origin,
            Aggregate::Average => leaves.fold(T::ZERO, |s, w| s + w) / T::from_count(self.roots.len()) + origin,
            Aggregate::Min => leaves.reduce(|s, w| if w < s { w } else { s }).map_or(origin, |s| s + origin),
            Aggregate::Max => leaves.reduce(|s, w| if w > s { w } else { s }).map_or(origin, |s| s + origin),
        };
        if self.post == PostTransform::Probit { probit(score.to_f32()) } else { score.to_f32() }
    }

    /// Walks every tree for one row, combining the leaves' votes into `scores` (reset first).
    fn accumulate(&self, row: &[T], cmp: impl Fn(T, T, u8) -> bool + Copy, scores: &mut [Score<T>]) {
        scores.fill(Score::EMPTY);
        for &root in &self.roots {
            let leaf = walk(&self.nodes, root, row, cmp);
            for vote in &self.votes[leaf.truth as usize..leaf.falsity as usize] {
                let score = &mut scores[vote.target as usize];
                let w = vote.weight;
                score.value = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => score.value + w,
                    Aggregate::Min if !score.has || w < score.value => w,
                    Aggregate::Max if !score.has || w > score.value => w,
                    Aggregate::Min | Aggregate::Max => score.value,
                };
                score.has = true;
            }
        }
    }

    /// A multi-target regressor's row before post_transform: base values added, unscored targets 0.
    fn finish_regression(&self, scores: &[Score<T>], dst: &mut [f32]) {
        let trees = T::from_count(self.roots.len());
        for (j, (score, out)) in scores.iter().zip(dst.iter_mut()).enumerate() {
            let base = self.base_values.get(j).copied();
            let value = match (self.aggregate, base) {
                (Aggregate::Average, Some(b)) => score.value / trees + b,
                (Aggregate::Average, None) => score.value / trees,
                (Aggregate::Sum, Some(b)) => score.value + b,
                (Aggregate::Min | Aggregate::Max, Some(b)) => b + score.written(),
                (_, None) => score.value,
            };
            *out = if score.has { value.to_f32() } else { 0.0 };
        }
    }

    /// A classifier row of three or more classes: base values added (they give a class a score), the label is
    /// the first highest scored class; `None` when no class has a score (onnxruntime fails the run).
    fn finish_multiclass(&self, scores: &mut [Score<T>], dst: &mut [f32]) -> Option<Pick> {
        for (score, &b) in scores.iter_mut().zip(&self.base_values) {
            score.value = if score.has { score.value + b } else { b };
            score.has = true;
        }
        let mut best: Option<(usize, T)> = None;
        for (k, score) in scores.iter().enumerate() {
            if score.has && best.is_none_or(|(_, w)| score.value > w) {
                best = Some((k, score.value));
            }
        }
        for (out, score) in dst.iter_mut().zip(scores.iter()) {
            *out = score.written().to_f32();
        }
        transform(dst, self.post);
        best.map(|(k, _)| Pick::Class(k))
    }

    /// A two-class classifier row (onnxruntime's binary `FinalizeScores`, `_set_score_binary` and the one-score
    /// branch of `write_scores`).
    fn finish_binary(&self, scores: &[Score<T>], binary_case: bool, all_positive: bool, dst: &mut [f32]) -> Pick {
        let (mut p0, mut p1) = (scores[0], scores[1]);
        let mut second = -1;
        let mut two = true;
        match self.base_values[..] {
            [_, b1] if p1.has => {
                p1.value = b1 + p0.value;
                p0.value = -p1.value;
            }
            [b0, b1] => {
                p0.value = p0.value + b0;
                p1.value = p1.value + b1;
            }
            [b0] => {
                p0.value = p0.value + b0;
                two = p1.has;
            }
            _ => {
                second = 3;
                two = p1.has;
            }
        }
        let positive = if two && p1.has { p1.value } else { p0.written() };
        let pick = if binary_case {
            let (code, class) = match (all_positive, positive) {
                (true, p) if p > T::HALF => (0, 1),
                (true, _) => (1, 0),
                (false, p) if p > T::ZERO => (2, 1),
                (false, _) => (3, 0),
            };
            second = code;
            Pick::Class(class)
        } else {
            Pick::Literal(positive > T::ZERO)
        };
        if two {
            dst[0] = p0.written().to_f32();
            dst[1] = p1.written().to_f32();
            transform(dst, self.post);
        } else {
            write_one_score(p0.written(), self.post, second, dst);
        }
        pick
    }
}

/// A classifier's choice for a row.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The class at this index.
    Class(usize),
    /// onnxruntime's `positive_label_` (true) or `negative_label_`: the literal label 1 or 0 with integer
    /// labels, the class at index 1 or 0 with string labels.
    Literal(bool),
}

/// The `label` tensor for each row's pick.
fn label_tensor(labels: &Labels, picks: &[Pick]) -> TensorData {
    let index = |p: Pick| match p {
        Pick::Class(k) => k,
        Pick::Literal(positive) => usize::from(positive),
    };
    match labels {
        Labels::Int(ints) => TensorData::I64(
            picks
                .iter()
                .map(|&p| match p {
                    Pick::Class(k) => ints[k],
                    Pick::Literal(positive) => i64::from(positive),
                })
                .collect(),
        ),
        Labels::Str(strings) => TensorData::Bytes(picks.iter().map(|&p| strings[index(p)].clone()).collect()),
    }
}

/// Writes a binary classifier's two columns from its one score `s` (`second`: onnxruntime's
/// `write_additional_scores`). With `PROBIT`, or when no rule applies, onnxruntime writes the first column only
/// and leaves the second undefined; it is 0 here.
fn write_one_score<T: Real>(s: T, post: PostTransform, second: i32, dst: &mut [f32]) {
    let (a, b) = match (post, second) {
        (PostTransform::Probit, _) => (probit(s.to_f32()), 0.0),
        (PostTransform::Logistic, 0 | 1) => {
            let p = logistic(s.to_f32());
            (1.0 - p, p)
        }
        (_, 0 | 1) => ((T::ONE - s).to_f32(), s.to_f32()),
        (PostTransform::Logistic, 2 | 3) => (logistic(-s.to_f32()), logistic(s.to_f32())),
        (_, 2 | 3) => ((-s).to_f32(), s.to_f32()),
        _ => (s.to_f32(), 0.0),
    };
    dst[0] = a;
    dst[1] = b;
}
