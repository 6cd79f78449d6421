//! The compiled form of a tree ensemble: one flat [`Node`] array for all trees (children and vote ranges as
//! indices, the mode and leaf/missing flags in a byte), the leaves' [`Vote`]s, and the options that shape the
//! outputs. `attrs.rs` builds and validates it; `eval.rs` walks it.

/// The node is a leaf (its `truth..falsity` is its range of votes).
pub(super) const LEAF: u8 = 1 << 3;
/// A missing (NaN) feature value takes the true branch.
pub(super) const MISSING_TRUE: u8 = 1 << 4;
/// The low bits of `flags`: the branch [`Mode`].
const MODE_MASK: u8 = 0b111;

/// The element type thresholds, weights and sums are kept in: `f32` for FP32 and integer inputs, `f64` for FP64
/// inputs (onnxruntime's `ThresholdType`).
pub(super) trait Real:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + Send
    + Sync
    + 'static
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// One half (the all-positive binary classifier's decision threshold).
    const HALF: Self;
    /// The value nearest to `v`.
    fn from_f64(v: f64) -> Self;
    /// `n` as a value (the divisor of `AVERAGE`).
    fn from_count(n: usize) -> Self;
    /// The value as FP32, the outputs' type.
    fn to_f32(self) -> f32;
    /// True for NaN.
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_count(n: usize) -> Self {
        n as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const HALF: Self = 0.5;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_count(n: usize) -> Self {
        n as f64
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// A branch's comparison of the feature value `x` with the node's threshold `t`: true takes `truth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Mode {
    /// `BRANCH_LEQ`: `x <= t`.
    Leq = 0,
    /// `BRANCH_LT`: `x < t`.
    Lt = 1,
    /// `BRANCH_GTE`: `x >= t`.
    Gte = 2,
    /// `BRANCH_GT`: `x > t`.
    Gt = 3,
    /// `BRANCH_EQ`: `x == t`.
    Eq = 4,
    /// `BRANCH_NEQ`: `x != t`.
    Neq = 5,
}

impl Mode {
    /// The mode stored in a node's flags.
    pub(super) fn from_flags(flags: u8) -> Self {
        match flags & MODE_MASK {
            0 => Self::Leq,
            1 => Self::Lt,
            2 => Self::Gte,
            3 => Self::Gt,
            4 => Self::Eq,
            _ => Self::Neq,
        }
    }

    /// The comparison.
    #[inline(always)]
    pub(super) fn test<T: Real>(self, x: T, t: T) -> bool {
        match self {
            Self::Leq => x <= t,
            Self::Lt => x < t,
            Self::Gte => x >= t,
            Self::Gt => x > t,
            Self::Eq => x == t,
            Self::Neq => x != t,
        }
    }
}

/// One node of the flat array all trees share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node<T> {
    /// A branch's threshold; a leaf's single-target weight.
    pub(super) value: T,
    /// A branch's feature index (validated against the input width before a walk).
    pub(super) feature: u32,
    /// A branch's true child; a leaf's first vote.
    pub(super) truth: u32,
    /// A branch's false child; a leaf's end of votes.
    pub(super) falsity: u32,
    /// The [`Mode`] in the low bits, [`LEAF`], [`MISSING_TRUE`].
    pub(super) flags: u8,
}

/// One weight a leaf gives a target or class.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vote<T> {
    /// The target or class index.
    pub(super) target: u32,
    /// The weight.
    pub(super) weight: T,
}

/// `aggregate_function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Aggregate {
    /// `SUM`.
    Sum,
    /// `AVERAGE`: the sum divided by the number of trees.
    Average,
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
}

/// `post_transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PostTransform {
    /// `NONE`.
    None,
    /// `LOGISTIC`, element-wise.
    Logistic,
    /// `SOFTMAX` over a row.
    Softmax,
    /// `SOFTMAX_ZERO`: softmax over a row's non-zero values, zeros stay zero.
    SoftmaxZero,
    /// `PROBIT`, element-wise.
    Probit,
}

/// A classifier's labels.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Labels {
    /// `classlabels_int64s`: the `label` output is INT64.
    Int(Vec<i64>),
    /// `classlabels_strings`: the `label` output is BYTES.
    Str(Vec<Vec<u8>>),
}

/// Regressor or classifier, with what the classifier decides labels from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// `TreeEnsembleRegressor`.
    Regressor,
    /// `TreeEnsembleClassifier`.
    Classifier {
        /// The class labels (at least two).
        labels: Labels,
        /// Two classes, and every vote goes to the same one.
        binary_case: bool,
        /// No class weight is negative.
        all_positive: bool,
    },
}

/// A validated ensemble in its flat layout, ready to evaluate.
#[derive(Debug, Clone)]
pub(super) struct Ensemble<T> {
    /// Every tree's nodes, one tree after the other.
    pub(super) nodes: Vec<Node<T>>,
    /// Each tree's root, in the order the trees are listed.
    pub(super) roots: Vec<u32>,
    /// The leaves' votes, each leaf's in a contiguous range.
    pub(super) votes: Vec<Vote<T>>,
    /// The mode of every branch when they all share one (the walk then skips the mode dispatch).
    pub(super) same_mode: Option<Mode>,
    /// One more than the largest feature index a branch reads: the least input width.
    pub(super) n_features: usize,
    /// Targets (regressor) or classes (classifier).
    pub(super) n_outputs: usize,
    /// `base_values`, empty or as validated for the kind.
    pub(super) base_values: Vec<T>,
    /// How votes of different trees combine (classifiers always sum).
    pub(super) aggregate: Aggregate,
    /// `post_transform`.
    pub(super) post: PostTransform,
    /// Regressor or classifier.
    pub(super) kind: Kind,
}
