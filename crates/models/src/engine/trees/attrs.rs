//! Reading a `TreeEnsembleRegressor` / `TreeEnsembleClassifier` node's attributes into a validated [`Ensemble`]
//! in its flat layout. Every check happens here, once, at load: attribute lengths, modes, node and tree ids,
//! children in range and within their tree, no cycles, vote targets in range, base value counts, option names.
//! A malformed model is an error naming the attribute, never a panic or an endless walk.
//!
//! Two layouts onnxruntime evaluates but misreads (a tree's nodes split into several runs, a tree listing a node
//! other than 0 first: it takes each run's first node as a root) are refused rather than evaluated differently.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

use super::layout::{Aggregate, Ensemble, Kind, LEAF, Labels, MISSING_TRUE, Mode, Node, PostTransform, Real, Vote};

/// ONNX `AttributeProto.AttributeType` codes used here.
const INT: i32 = 2;
const STRING: i32 = 3;
const TENSOR: i32 = 4;
const FLOATS: i32 = 6;
const INTS: i32 = 7;
const STRINGS: i32 = 8;

/// The most targets or classes accepted (each row holds a score per target).
const MAX_OUTPUTS: usize = 1 << 20;

/// A node's attributes by name.
struct Attrs<'a> {
    by_name: HashMap<&'a str, &'a AttributeProto>,
}

impl<'a> Attrs<'a> {
    fn new(node: &'a NodeProto) -> Self {
        Self { by_name: node.attribute.iter().map(|a| (a.name.as_str(), a)).collect() }
    }

    /// The attribute `name`, checking its declared type (0, undeclared, is accepted).
    fn get(&self, name: &str, kind: i32) -> Result<Option<&'a AttributeProto>, String> {
        match self.by_name.get(name) {
            Some(a) if a.r#type != 0 && a.r#type != kind => {
                Err(format!("attribute `{name}` has type {}, expected {kind}", a.r#type))
            }
            found => Ok(found.copied()),
        }
    }

    fn ints(&self, name: &str) -> Result<&'a [i64], String> {
        Ok(self.get(name, INTS)?.map_or(&[][..], |a| &a.ints[..]))
    }

    fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.get(name, INT)?.map_or(default, |a| a.i))
    }

    fn strings(&self, name: &str) -> Result<&'a [Vec<u8>], String> {
        Ok(self.get(name, STRINGS)?.map_or(&[][..], |a| &a.strings[..]))
    }

    fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.get(name, STRING)? {
            Some(a) => String::from_utf8(a.s.clone()).map_err(|_| format!("attribute `{name}` is not UTF-8")),
            None => Ok(default.to_owned()),
        }
    }

    /// `name` (FLOATS) or `name_as_tensor` (a DOUBLE or FLOAT tensor), at most one of them non-empty.
    fn reals(&self, name: &str) -> Result<Vec<f64>, String> {
        let floats: Vec<f64> =
            self.get(name, FLOATS)?.map_or(Vec::new(), |a| a.floats.iter().map(|&f| f.into()).collect());
        let tensor_name = format!("{name}_as_tensor");
        let tensor = match self.get(&tensor_name, TENSOR)?.and_then(|a| a.t.as_ref()) {
            Some(t) => tensor_values(t).map_err(|e| format!("attribute `{tensor_name}`: {e}"))?,
            None => Vec::new(),
        };
        match (floats.is_empty(), tensor.is_empty()) {
            (false, false) => Err(format!("attributes `{name}` and `{tensor_name}` are both given")),
            (true, _) => Ok(tensor),
            (false, true) => Ok(floats),
        }
    }
}

/// The values of a DOUBLE or FLOAT tensor attribute (typed fields or little-endian `raw_data`).
fn tensor_values(t: &TensorProto) -> Result<Vec<f64>, String> {
    if t.data_location == Some(1) {
        return Err("external tensor data is not supported".into());
    }
    match t.data_type {
        11 if !t.double_data.is_empty() => Ok(t.double_data.clone()),
        11 if t.raw_data.len().is_multiple_of(8) => {
            Ok(t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
        }
        1 if !t.float_data.is_empty() => Ok(t.float_data.iter().map(|&f| f.into()).collect()),
        1 if t.raw_data.len().is_multiple_of(4) => Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()).into())
            .collect()),
        11 | 1 => Err("raw_data length is not a multiple of the element size".into()),
        other => Err(format!("element type {other} (expected DOUBLE or FLOAT)")),
    }
}

/// True for the operator types read here.
pub(super) fn is_tree_op(op_type: &str) -> bool {
    op_type == "TreeEnsembleRegressor" || op_type == "TreeEnsembleClassifier"
}

/// Reads and validates the tree node `node` (`n_features`: the input's width when the graph declares it).
pub(super) fn ensemble<T: Real>(node: &NodeProto, n_features: Option<usize>) -> Result<Ensemble<T>, String> {
    let attrs = Attrs::new(node);
    let classifier = node.op_type == "TreeEnsembleClassifier";
    let (kind, n_outputs, prefix) = if classifier {
        let (kind, n) = class_kind(&attrs)?;
        (kind, n, "class")
    } else {
        let n = attrs.int("n_targets", 0)?;
        let n = usize::try_from(n).ok().filter(|&n| (1..=MAX_OUTPUTS).contains(&n));
        (Kind::Regressor, n.ok_or(format!("attribute `n_targets` must be in 1..={MAX_OUTPUTS}"))?, "target")
    };
    let mut ensemble = nodes::<T>(&attrs, n_features)?;
    ensemble.n_outputs = n_outputs;
    add_votes(&attrs, prefix, &mut ensemble)?;
    let base_values = attrs.reals("base_values")?;
    let allowed = match (classifier, n_outputs) {
        (true, 2) => base_values.len() <= 2,
        _ => base_values.is_empty() || base_values.len() == n_outputs,
    };
    if !allowed {
        return Err(format!("`base_values` has {} values for {n_outputs} targets or classes", base_values.len()));
    }
    ensemble.base_values = base_values.into_iter().map(T::from_f64).collect();
    ensemble.aggregate = match attrs.string("aggregate_function", "SUM")?.as_str() {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => return Err(format!("unknown `aggregate_function` {other:?}")),
    };
    if let Kind::Classifier { labels, .. } = kind {
        // onnxruntime's classifier always sums; its binary rules look at every listed vote.
        ensemble.aggregate = Aggregate::Sum;
        let distinct: HashSet<i64> = attrs.ints("class_ids")?.iter().copied().collect();
        let weights = attrs.reals("class_weights")?;
        ensemble.kind = Kind::Classifier {
            labels,
            binary_case: n_outputs == 2 && distinct.len() == 1,
            all_positive: weights.iter().all(|&w| w >= 0.0 || w.is_nan()),
        };
    }
    ensemble.post = match attrs.string("post_transform", "NONE")?.as_str() {
        "NONE" => PostTransform::None,
        "LOGISTIC" => PostTransform::Logistic,
        "SOFTMAX" => PostTransform::Softmax,
        "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
        "PROBIT" => PostTransform::Probit,
        other => return Err(format!("unknown `post_transform` {other:?}")),
    };
    Ok(ensemble)
}

/// A classifier's labels: exactly one of `classlabels_strings` / `classlabels_int64s`, at least two classes.
fn class_kind(attrs: &Attrs<'_>) -> Result<(Kind, usize), String> {
    let strings = attrs.strings("classlabels_strings")?;
    let ints = attrs.ints("classlabels_int64s")?;
    let labels = match (strings.is_empty(), ints.is_empty()) {
        (false, true) => Labels::Str(strings.to_vec()),
        (true, false) => Labels::Int(ints.to_vec()),
        _ => return Err("exactly one of `classlabels_strings` and `classlabels_int64s` must be given".into()),
    };
    let n = strings.len().max(ints.len());
    if !(2..=MAX_OUTPUTS).contains(&n) {
        return Err(format!("a classifier needs at least two class labels (at most {MAX_OUTPUTS}), got {n}"));
    }
    Ok((Kind::Classifier { labels, binary_case: false, all_positive: true }, n))
}

/// The per-node attributes, each checked to have one entry per node.
struct NodeColumns<'a> {
    tree: &'a [i64],
    id: &'a [i64],
    feature: &'a [i64],
    mode: &'a [Vec<u8>],
    value: Vec<f64>,
    truth: &'a [i64],
    falsity: &'a [i64],
    missing: &'a [i64],
}

fn node_columns<'a>(attrs: &Attrs<'a>) -> Result<NodeColumns<'a>, String> {
    let columns = NodeColumns {
        tree: attrs.ints("nodes_treeids")?,
        id: attrs.ints("nodes_nodeids")?,
        feature: attrs.ints("nodes_featureids")?,
        mode: attrs.strings("nodes_modes")?,
        value: attrs.reals("nodes_values")?,
        truth: attrs.ints("nodes_truenodeids")?,
        falsity: attrs.ints("nodes_falsenodeids")?,
        missing: attrs.ints("nodes_missing_value_tracks_true")?,
    };
    let n = columns.tree.len();
    if n == 0 {
        return Err("attribute `nodes_treeids` is empty: the ensemble has no trees".into());
    }
    if n >= u32::MAX as usize {
        return Err(format!("{n} nodes are too many"));
    }
    let lengths = [
        ("nodes_nodeids", columns.id.len()),
        ("nodes_featureids", columns.feature.len()),
        ("nodes_modes", columns.mode.len()),
        ("nodes_values", columns.value.len()),
        ("nodes_truenodeids", columns.truth.len()),
        ("nodes_falsenodeids", columns.falsity.len()),
    ];
    if let Some((name, len)) = lengths.iter().find(|(_, len)| *len != n) {
        return Err(format!("attribute `{name}` has {len} entries, `nodes_treeids` has {n}"));
    }
    if columns.missing.len() > n {
        return Err(format!(
            "attribute `nodes_missing_value_tracks_true` has {} entries for {n} nodes",
            columns.missing.len()
        ));
    }
    Ok(columns)
}

/// The flat node array, roots and modes (votes, outputs and options are filled in by the caller).
fn nodes<T: Real>(attrs: &Attrs<'_>, n_features: Option<usize>) -> Result<Ensemble<T>, String> {
    let c = node_columns(attrs)?;
    let n = c.tree.len();
    // (tree id, node id) → index; trees contiguous, each starting with node 0.
    let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
    let mut roots = Vec::new();
    let mut finished = HashSet::new();
    for i in 0..n {
        let (tree, id) = (c.tree[i], c.id[i]);
        if i == 0 || c.tree[i - 1] != tree {
            if i > 0 {
                finished.insert(c.tree[i - 1]);
            }
            if finished.contains(&tree) {
                return Err(format!("attribute `nodes_treeids`: the nodes of tree {tree} are not listed together"));
            }
            if id != 0 {
                return Err(format!("attribute `nodes_nodeids`: tree {tree} lists node {id} first, not its root 0"));
            }
            roots.push(i as u32);
        }
        if index.insert((tree, id), i as u32).is_some() {
            return Err(format!("attribute `nodes_nodeids`: node {id} of tree {tree} appears twice"));
        }
    }
    let mut nodes = Vec::with_capacity(n);
    let mut modes = HashSet::new();
    let mut max_feature = None;
    for i in 0..n {
        let (tree, id) = (c.tree[i], c.id[i]);
        let missing = c.missing.get(i).is_some_and(|&m| m == 1);
        let mode = match &c.mode[i][..] {
            b"LEAF" => None,
            b"BRANCH_LEQ" => Some(Mode::Leq),
            b"BRANCH_LT" => Some(Mode::Lt),
            b"BRANCH_GTE" => Some(Mode::Gte),
            b"BRANCH_GT" => Some(Mode::Gt),
            b"BRANCH_EQ" => Some(Mode::Eq),
            b"BRANCH_NEQ" => Some(Mode::Neq),
            other => {
                let other = String::from_utf8_lossy(other);
                return Err(format!("attribute `nodes_modes`: node {id} of tree {tree} has unknown mode {other:?}"));
            }
        };
        let value = T::from_f64(c.value[i]);
        let Some(mode) = mode else {
            nodes.push(Node { value, feature: 0, truth: 0, falsity: 0, flags: LEAF });
            continue;
        };
        modes.insert(mode);
        let feature = u32::try_from(c.feature[i]).ok().filter(|&f| f < u32::MAX);
        let feature = feature.ok_or_else(|| {
            format!("attribute `nodes_featureids`: node {id} of tree {tree} reads feature {}", c.feature[i])
        })?;
        if let Some(width) = n_features.filter(|&w| feature as usize >= w) {
            return Err(format!(
                "attribute `nodes_featureids`: node {id} of tree {tree} reads feature {feature}, the input has {width}"
            ));
        }
        max_feature = max_feature.max(Some(feature));
        let child = |name: &str, target: i64| {
            index.get(&(tree, target)).copied().ok_or_else(|| {
                format!("attribute `{name}`: node {id} of tree {tree} points to node {target}, which the tree lacks")
            })
        };
        let truth = child("nodes_truenodeids", c.truth[i])?;
        let falsity = child("nodes_falsenodeids", c.falsity[i])?;
        let flags = mode as u8 | if missing { MISSING_TRUE } else { 0 };
        nodes.push(Node { value, feature, truth, falsity, flags });
    }
    for &root in &roots {
        check_acyclic(&nodes, root).map_err(|at| {
            let (tree, id) = (c.tree[at], c.id[at]);
            format!("attributes `nodes_truenodeids`/`nodes_falsenodeids`: tree {tree} has a cycle through node {id}")
        })?;
    }
    let same_mode = if modes.len() == 1 { modes.into_iter().next() } else { None };
    Ok(Ensemble {
        nodes,
        roots,
        votes: Vec::new(),
        same_mode,
        n_features: max_feature.map_or(0, |f| f as usize + 1),
        n_outputs: 0,
        base_values: Vec::new(),
        aggregate: Aggregate::Sum,
        post: PostTransform::None,
        kind: Kind::Regressor,
    })
}

/// A depth-first walk from `root` (explicit stack, linear in the tree's size); on a cycle, returns the index of
/// a node on it.
fn check_acyclic<T>(nodes: &[Node<T>], root: u32) -> Result<(), usize> {
    // 0: not seen, 1: on the current path, 2: done (a subtree shared by two parents is fine).
    let mut state: HashMap<u32, u8> = HashMap::new();
    let mut stack = vec![(root, false)];
    while let Some((at, children_done)) = stack.pop() {
        if children_done {
            state.insert(at, 2);
            continue;
        }
        match state.get(&at) {
            Some(2) => continue,
            Some(_) => return Err(at as usize),
            None => {}
        }
        state.insert(at, 1);
        stack.push((at, true));
        let node = &nodes[at as usize];
        if node.flags & LEAF == 0 {
            for child in [node.truth, node.falsity] {
                match state.get(&child) {
                    Some(1) => return Err(child as usize),
                    Some(_) => {}
                    None => stack.push((child, false)),
                }
            }
        }
    }
    Ok(())
}

/// Reads `{prefix}_treeids/_nodeids/_ids/_weights` and attaches each leaf's votes, in listing order (votes on
/// branch nodes are ignored, as onnxruntime does for old onnxmltools exports). A single-target regressor's leaf
/// keeps its first vote's weight as its value (or its `nodes_values` entry without one), as onnxruntime does.
fn add_votes<T: Real>(attrs: &Attrs<'_>, prefix: &str, ensemble: &mut Ensemble<T>) -> Result<(), String> {
    let trees = attrs.ints(&format!("{prefix}_treeids"))?;
    let node_ids = attrs.ints(&format!("{prefix}_nodeids"))?;
    let ids = attrs.ints(&format!("{prefix}_ids"))?;
    let weights = attrs.reals(&format!("{prefix}_weights"))?;
    let n = ids.len();
    if n >= u32::MAX as usize {
        return Err(format!("attribute `{prefix}_ids` has {n} entries, too many"));
    }
    for (name, len) in [("treeids", trees.len()), ("nodeids", node_ids.len()), ("weights", weights.len())] {
        if len != n {
            return Err(format!("attribute `{prefix}_{name}` has {len} entries, `{prefix}_ids` has {n}"));
        }
    }
    let columns = node_columns(attrs)?;
    let index: HashMap<(i64, i64), usize> =
        columns.tree.iter().zip(columns.id).enumerate().map(|(i, (&tree, &id))| ((tree, id), i)).collect();
    let mut per_leaf: Vec<Vec<Vote<T>>> = vec![Vec::new(); ensemble.nodes.len()];
    for k in 0..n {
        let (tree, node) = (trees[k], node_ids[k]);
        let at = index.get(&(tree, node)).copied().ok_or_else(|| {
            format!("attribute `{prefix}_nodeids`: vote {k} names node {node} of tree {tree}, which does not exist")
        })?;
        let target = u32::try_from(ids[k]).ok().filter(|&t| (t as usize) < ensemble.n_outputs);
        let target = target.ok_or_else(|| {
            format!("attribute `{prefix}_ids`: vote {k} names {} of {} targets or classes", ids[k], ensemble.n_outputs)
        })?;
        if ensemble.nodes[at].flags & LEAF != 0 {
            per_leaf[at].push(Vote { target, weight: T::from_f64(weights[k]) });
        }
    }
    let single = prefix == "target" && ensemble.n_outputs == 1;
    for (node, votes) in ensemble.nodes.iter_mut().zip(per_leaf) {
        if node.flags & LEAF == 0 {
            continue;
        }
        if single && let Some(first) = votes.first() {
            node.value = first.weight;
        }
        node.truth = ensemble.votes.len() as u32;
        ensemble.votes.extend(votes);
        node.falsity = ensemble.votes.len() as u32;
    }
    Ok(())
}
