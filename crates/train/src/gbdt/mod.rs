//! Gradient-boosted regression trees, XGBoost's way: second-order gradients, gain `G²/(H+λ)`, leaf weight
//! `−G/(H+λ)` times the learning rate, trees grown level by level to a maximum depth.
//!
//! Two objectives: squared error (regression; base score the target's mean) and logistic (binary
//! classification; base score the log-odds of the positive rate, predictions are probabilities).
//!
//! # Layout
//! - this file: parameters, the model, the boosting loop ([`train`]) and metrics.
//! - `exact`: the exact greedy split finder (every distinct value is a candidate), XGBoost's `tree_method=exact`.
//! - `hist`: the histogram split finder (values binned once into at most `max_bins` quantile bins per feature),
//!   XGBoost's `tree_method=hist` and the default. A feature with at most `max_bins` distinct values gets one bin
//!   per value, so on such data both methods consider the same thresholds.
//!
//! Either way a split sends `x < threshold` left (ONNX's `BRANCH_LT`), the threshold being the midpoint between
//! two neighbouring values.

mod exact;
mod hist;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Squared error.
    Regression,
    /// Log loss on 0/1 targets; predictions are probabilities.
    Binary,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// What to predict.
    pub objective: Objective,
    /// Shrinkage applied to every tree (XGBoost's `eta`).
    pub learning_rate: f32,
    /// Number of trees (boosting rounds).
    pub trees: usize,
    /// Maximum depth of a tree (a depth-0 tree is one leaf).
    pub max_depth: usize,
    /// L2 regularisation on leaf weights (λ).
    pub lambda: f32,
    /// Minimum hessian sum in a child (XGBoost's `min_child_weight`).
    pub min_child_weight: f32,
    /// How split candidates are found.
    pub method: Method,
    /// For [`Method::Hist`]: the most bins per feature, 2 to 256.
    pub max_bins: usize,
}

/// How split candidates are found (XGBoost's `tree_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Every distinct value of every feature; a level costs O(rows × features) over presorted columns.
    Exact,
    /// Quantile bins computed once; a level costs one histogram per node (the larger sibling is the parent minus
    /// the smaller), then O(bins) per feature to scan.
    Hist,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            objective: Objective::Regression,
            learning_rate: 0.1,
            trees: 100,
            max_depth: 6,
            lambda: 1.0,
            min_child_weight: 1.0,
            method: Method::Hist,
            max_bins: 256,
        }
    }
}

/// A tree node: a split, or a leaf with its (already shrunk) weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    /// `x[feature] < threshold` goes to `left`, else `right` (indices into the tree's nodes).
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f32,
        /// Node index for `x < threshold`.
        left: usize,
        /// Node index otherwise.
        right: usize,
    },
    /// The value added to the score.
    Leaf(f32),
}

/// One tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf value for `x`.
    pub fn predict(&self, x: &[f32]) -> f32 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split { feature, threshold, left, right } => {
                    i = if x[feature] < threshold { left } else { right };
                }
            }
        }
    }
}

/// A trained ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The objective it was trained for.
    pub objective: Objective,
    /// The score before any tree (mean, or log-odds).
    pub base_score: f32,
    /// The trees, summed.
    pub trees: Vec<Tree>,
    /// Number of features a row has.
    pub features: usize,
}

impl Model {
    /// The raw score (sum of leaves plus the base score).
    pub fn margin(&self, x: &[f32]) -> f32 {
        self.base_score + self.trees.iter().map(|t| t.predict(x)).sum::<f32>()
    }

    /// The prediction: the score (regression) or a probability (binary).
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.link(self.margin(x))
    }

    /// [`Model::predict`] for every row of `x` (row-major), the same values, computed tree by tree so each tree
    /// stays in cache while it meets every row (row by row, 100,000 trees are walked from memory for each row).
    pub fn predict_rows(&self, x: &[f32]) -> Vec<f32> {
        let rows: Vec<&[f32]> = x.chunks_exact(self.features.max(1)).collect();
        let mut sums = vec![0f32; rows.len()];
        for tree in &self.trees {
            sums.iter_mut().zip(&rows).for_each(|(s, row)| *s += tree.predict(row));
        }
        sums.into_iter().map(|s| self.link(self.base_score + s)).collect()
    }

    fn link(&self, margin: f32) -> f32 {
        match self.objective {
            Objective::Regression => margin,
            Objective::Binary => sigmoid(margin),
        }
    }
}

/// Progress after each tree: `(trees so far, training loss)`; return `false` to stop early.
pub type OnTree<'a> = dyn FnMut(usize, f64) -> bool + 'a;

/// Trains on `rows × features` values `x` (row-major) and targets `y`.
pub fn train(x: &[f32], y: &[f32], features: usize, params: &Params, on_tree: &mut OnTree<'_>) -> Model {
    let n = y.len();
    assert_eq!(x.len(), n * features, "x is rows × features");
    let base_score = match params.objective {
        Objective::Regression => y.iter().map(|v| f64::from(*v)).sum::<f64>() as f32 / n.max(1) as f32,
        Objective::Binary => {
            let p = (y.iter().map(|v| f64::from(*v)).sum::<f64>() / n.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
            (p / (1.0 - p)).ln() as f32
        }
    };
    let mut margin = vec![base_score; n];
    let (mut grad, mut hess) = (vec![0f32; n], vec![0f32; n]);
    let mut grower = match params.method {
        Method::Exact => Grower::Exact(exact::sort_features(x, features, n)),
        Method::Hist => Grower::Hist(hist::Grower::new(x, features, params.max_bins)),
    };
    let mut trees = Vec::with_capacity(params.trees);
    for t in 0..params.trees {
        for i in 0..n {
            (grad[i], hess[i]) = match params.objective {
                Objective::Regression => (margin[i] - y[i], 1.0),
                Objective::Binary => {
                    let p = sigmoid(margin[i]);
                    (p - y[i], (p * (1.0 - p)).max(1e-6))
                }
            };
        }
        let tree = match &mut grower {
            Grower::Exact(sorted) => {
                let tree = exact::grow(x, features, sorted, &grad, &hess, params);
                for (i, m) in margin.iter_mut().enumerate() {
                    *m += tree.predict(&x[i * features..(i + 1) * features]);
                }
                tree
            }
            // The grower knows which leaf each row fell in, and adds the leaf's value to its margin itself.
            Grower::Hist(grower) => grower.grow(&grad, &hess, params, &mut margin),
        };
        trees.push(tree);
        if !on_tree(t + 1, loss(params.objective, &margin, y)) {
            break;
        }
    }
    Model { objective: params.objective, base_score, trees, features }
}

/// A method's state, kept across trees.
enum Grower {
    Exact(Vec<Vec<u32>>),
    Hist(hist::Grower),
}

/// Mean training loss: squared error, or log loss.
pub fn loss(objective: Objective, margin: &[f32], y: &[f32]) -> f64 {
    let total: f64 = margin
        .iter()
        .zip(y)
        .map(|(m, y)| match objective {
            Objective::Regression => f64::from(m - y).powi(2),
            Objective::Binary => {
                let p = f64::from(sigmoid(*m)).clamp(1e-12, 1.0 - 1e-12);
                -(f64::from(*y) * p.ln() + (1.0 - f64::from(*y)) * (1.0 - p).ln())
            }
        })
        .sum();
    total / margin.len().max(1) as f64
}

/// Root mean squared error of `model`'s predictions.
pub fn rmse(model: &Model, x: &[f32], y: &[f32]) -> f64 {
    let sum: f64 = model.predict_rows(x).iter().zip(y).map(|(p, y)| f64::from(p - y).powi(2)).sum();
    (sum / y.len().max(1) as f64).sqrt()
}

/// For a binary model: the share of rows whose probability is on their label's side of 0.5.
pub fn accuracy(model: &Model, x: &[f32], y: &[f32]) -> f64 {
    let right = model.predict_rows(x).iter().zip(y).filter(|(p, y)| (**p > 0.5) == (**y > 0.5)).count();
    right as f64 / y.len().max(1) as f64
}

fn sigmoid(m: f32) -> f32 {
    1.0 / (1.0 + (-m).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(x: &[f32], y: &[f32], features: usize, params: Params) -> Model {
        train(x, y, features, &params, &mut |_, _| true)
    }

    #[test]
    fn one_split_finds_a_step() {
        let x = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0];
        let y = [0.0, 0.0, 0.0, 5.0, 5.0, 5.0];
        let m = fit(&x, &y, 1, Params { trees: 1, max_depth: 1, learning_rate: 1.0, lambda: 0.0, ..Params::default() });
        let Node::Split { feature, threshold, .. } = m.trees[0].nodes[0] else { panic!("{m:?}") };
        assert_eq!((feature, threshold), (0, 6.5));
        assert!((m.predict(&[2.0]) - 0.0).abs() < 1e-5 && (m.predict(&[11.0]) - 5.0).abs() < 1e-5, "{m:?}");
    }

    #[test]
    fn the_training_loss_never_rises_and_each_tree_is_reported() {
        let x: Vec<f32> = (0..200).map(|i| i as f32 / 10.0).collect();
        let y: Vec<f32> = x.iter().map(|v| (v * 0.7).sin()).collect();
        let mut losses = Vec::new();
        let params = Params { trees: 100, max_depth: 3, ..Params::default() };
        let m = train(&x, &y, 1, &params, &mut |t, l| {
            losses.push((t, l));
            true
        });
        assert_eq!(losses.len(), 100);
        assert!(losses.windows(2).all(|w| w[1].1 <= w[0].1 + 1e-9), "{losses:?}");
        assert!(rmse(&m, &x, &y) < 0.05, "rmse {}", rmse(&m, &x, &y));
    }

    #[test]
    fn a_callback_returning_false_stops_early() {
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]);
        let m = train(&x, &y, 1, &Params { trees: 50, ..Params::default() }, &mut |t, _| t < 5);
        assert_eq!(m.trees.len(), 5);
    }

    /// 400 rows, two features: one with 200 distinct values, one with 5; a smooth target plus a step.
    fn wavy() -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..400 {
            let (a, b) = ((i * 37 % 200) as f32 / 20.0, (i % 5) as f32);
            x.extend([a, b]);
            y.push(a.sin() + 0.3 * b + if a > 6.0 { 1.0 } else { 0.0 });
        }
        (x, y)
    }

    #[test]
    fn hist_with_a_bin_per_value_grows_the_exact_trees() {
        let (x, y) = wavy();
        let params = Params { trees: 30, max_depth: 4, ..Params::default() };
        let exact = fit(&x, &y, 2, Params { method: Method::Exact, ..params });
        let hist = fit(&x, &y, 2, Params { method: Method::Hist, max_bins: 256, ..params });
        // The same splits of the training rows: a threshold may differ where a node lacks some values (exact
        // takes the midpoint of the node's own gap, hist the first global cut in it), never the partition.
        assert_eq!(exact.trees.len(), hist.trees.len());
        for (e, h) in exact.trees.iter().zip(&hist.trees) {
            assert_eq!(e.nodes.len(), h.nodes.len());
        }
        for i in 0..400 {
            let row = &x[i * 2..i * 2 + 2];
            assert!((exact.predict(row) - hist.predict(row)).abs() < 1e-5, "row {i}");
        }
    }

    #[test]
    fn binary_predictions_are_probabilities_that_separate_the_classes() {
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let y: Vec<f32> = x.iter().map(|v| f32::from(u8::from(*v >= 50.0))).collect();
        let m = fit(&x, &y, 1, Params { objective: Objective::Binary, trees: 20, max_depth: 2, ..Params::default() });
        assert!(m.predict(&[10.0]) < 0.2 && m.predict(&[90.0]) > 0.8, "{} {}", m.predict(&[10.0]), m.predict(&[90.0]));
        assert_eq!(accuracy(&m, &x, &y), 1.0);
        let one_by_one: Vec<f32> = x.iter().map(|v| m.predict(&[*v])).collect();
        assert_eq!(m.predict_rows(&x), one_by_one, "tree by tree, the same values");
    }
}

#[cfg(test)]
mod taxi {
    use super::*;
    use crate::data::{CsvOptions, load_csv};

    /// On the shipped taxi trips (tip yes/no regressed, as the reference XGBoost model was), held-out RMSE beats
    /// predicting the mean: the trees learn something real.
    #[test]
    fn held_out_rmse_beats_the_constant_baseline_on_the_taxi_data() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");
        let options = CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] };
        let data = load_csv(std::fs::File::open(path).unwrap(), &options).unwrap();
        let (train_set, test_set) = (data.select(|i| i % 5 != 0), data.select(|i| i % 5 == 0));
        let features = data.features.len();
        let params = Params { trees: 60, max_depth: 4, learning_rate: 0.1, ..Params::default() };
        let model = train(&train_set.x, &train_set.y, features, &params, &mut |_, _| true);
        let mean = train_set.y.iter().sum::<f32>() / train_set.rows() as f32;
        let constant = Model { objective: Objective::Regression, base_score: mean, trees: Vec::new(), features };
        let (trees, baseline) = (rmse(&model, &test_set.x, &test_set.y), rmse(&constant, &test_set.x, &test_set.y));
        assert!(trees < baseline * 0.995, "held-out RMSE {trees} vs the mean's {baseline}");
    }

    /// Distance has more distinct values than bins, so hist cuts it at quantiles: the held-out RMSE stays
    /// within 1 % of the exact method's.
    #[test]
    fn hist_and_exact_agree_closely_on_the_taxi_data() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");
        let options = CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] };
        let data = load_csv(std::fs::File::open(path).unwrap(), &options).unwrap();
        let (train_set, test_set) = (data.select(|i| i % 5 != 0), data.select(|i| i % 5 == 0));
        let features = data.features.len();
        let rmse_of = |method, max_bins| {
            let params = Params { trees: 60, max_depth: 4, method, max_bins, ..Params::default() };
            let model = train(&train_set.x, &train_set.y, features, &params, &mut |_, _| true);
            rmse(&model, &test_set.x, &test_set.y)
        };
        let exact = rmse_of(Method::Exact, 0);
        for bins in [256, 64] {
            let hist = rmse_of(Method::Hist, bins);
            assert!((hist - exact).abs() < exact * 0.01, "{bins} bins: held-out RMSE {hist} vs exact {exact}");
        }
    }
}
