//! `sedge train gbdt`: gradient-boosted trees on a CSV file. One row in five is held out (`--test-every 5`); the
//! held-out metrics go in the summary and in the model's metadata. `--preset light|heavy` are seed 004's two
//! trainings (learning rate 0.01 × 10,000 trees, 0.001 × 100,000); explicit flags override a preset.

use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use std::path::PathBuf;

use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::gbdt::{self, Method, Objective, Params};

use super::{Trained, map, real, refuse, round, tensor, write_model};

/// Arguments of `sedge train gbdt`.
#[derive(Debug, Clone, clap::Args)]
pub struct GbdtArgs {
    /// The CSV file (a header row; categorical columns are one-hot encoded).
    #[arg(long)]
    pub data: PathBuf,
    /// The target column.
    #[arg(long)]
    pub target: String,
    /// Columns to leave out (repeatable), e.g. a row-number column.
    #[arg(long)]
    pub drop: Vec<String>,
    /// regression (squared error) or binary (log loss, a two-valued target).
    #[arg(long, default_value = "regression")]
    pub objective: ObjectiveArg,
    /// Seed 004's trainings: light (learning rate 0.01, 10,000 trees) or heavy (0.001, 100,000 trees).
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Learning rate (shrinkage) [default: 0.1, or the preset's].
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Number of trees (boosting rounds) [default: 100, or the preset's].
    #[arg(long)]
    pub trees: Option<usize>,
    /// Maximum tree depth.
    #[arg(long, default_value_t = 6)]
    pub depth: usize,
    /// Split finding: hist (quantile bins, XGBoost's default) or exact (every distinct value).
    #[arg(long, default_value = "hist")]
    pub method: MethodArg,
    /// Most bins per feature for `--method hist` (2 to 256).
    #[arg(long, default_value_t = 256)]
    pub max_bins: usize,
    /// Hold out every Nth row for the test metric (0: none).
    #[arg(long, default_value_t = 5)]
    pub test_every: usize,
    /// Where to write the ONNX model.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// `--objective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// Squared error.
    Regression,
    /// Log loss on a two-valued target.
    Binary,
}

/// `--preset`: seed 004's two trainings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Learning rate 0.01, 10,000 trees.
    Light,
    /// Learning rate 0.001, 100,000 trees.
    Heavy,
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Quantile histograms.
    Hist,
    /// Exact greedy.
    Exact,
}

pub(super) fn train(args: &GbdtArgs) -> Result<Trained> {
    let file = std::fs::File::open(&args.data).map_err(|e| anyhow::anyhow!("opening {}: {e}", args.data.display()))?;
    let options = CsvOptions { target: args.target.clone(), drop: args.drop.clone() };
    let data = load_csv(std::io::BufReader::new(file), &options).unwrap_or_else(|e| refuse(&args.data, e));
    let held_out = |i: usize| args.test_every > 0 && i.is_multiple_of(args.test_every);
    let (train_set, test_set) = (data.select(|i| !held_out(i)), data.select(held_out));
    let objective = match args.objective {
        ObjectiveArg::Regression => Objective::Regression,
        ObjectiveArg::Binary => Objective::Binary,
    };
    let (preset_rate, preset_trees) = match args.preset {
        None => (0.1, 100),
        Some(Preset::Light) => (0.01, 10_000),
        Some(Preset::Heavy) => (0.001, 100_000),
    };
    let params = Params {
        objective,
        learning_rate: args.learning_rate.unwrap_or(preset_rate),
        trees: args.trees.unwrap_or(preset_trees),
        max_depth: args.depth,
        method: match args.method {
            MethodArg::Hist => Method::Hist,
            MethodArg::Exact => Method::Exact,
        },
        max_bins: args.max_bins,
        ..Params::default()
    };
    let features = data.features.len();
    eprintln!(
        "training {} trees (depth {}, learning rate {}, {:?}) on {} rows × {features} features, {} held out",
        params.trees,
        params.max_depth,
        params.learning_rate,
        params.method,
        train_set.rows(),
        test_set.rows()
    );
    let started = Instant::now();
    let every = (params.trees / 10).max(1);
    let model = gbdt::train(&train_set.x, &train_set.y, features, &params, &mut |t, loss| {
        if t % every == 0 || t == params.trees {
            eprintln!("  tree {t:>6}/{}  training loss {loss:.6}", params.trees);
        }
        true
    });
    let seconds = started.elapsed().as_secs_f64();

    let mut metrics = map([("train_rmse", round(gbdt::rmse(&model, &train_set.x, &train_set.y)))]);
    if test_set.rows() > 0 {
        metrics.insert("test_rmse".into(), round(gbdt::rmse(&model, &test_set.x, &test_set.y)));
        if objective == Objective::Binary {
            metrics.insert("test_accuracy".into(), round(gbdt::accuracy(&model, &test_set.x, &test_set.y)));
        }
    }
    metrics.insert("train_seconds".into(), round(seconds));
    let mut metadata = vec![
        ("features".to_string(), data.features.join(",")),
        ("target".to_string(), data.target.clone()),
        ("trees".to_string(), model.trees.len().to_string()),
    ];
    if let Some(positive) = &data.positive {
        metadata.push(("positive".to_string(), positive.clone()));
    }
    metadata.extend(metrics.iter().map(|(k, v)| (k.clone(), v.to_string())));
    write_model(&args.out, &sedge_train::onnx::export(&model, &metadata))?;

    let outputs = match objective {
        Objective::Regression => vec![tensor(sedge_train::onnx::OUTPUT, "FP32", &[-1, 1])],
        Objective::Binary => vec![
            tensor(sedge_train::onnx::LABEL, "INT64", &[-1]),
            tensor(sedge_train::onnx::PROBABILITIES, "FP32", &[-1, 2]),
        ],
    };
    let kind = if objective == Objective::Binary { "binary classifier" } else { "regressor" };
    Ok(Trained {
        path: args.out.clone(),
        architecture: format!("gbdt {kind}: {} trees of depth ≤ {}", model.trees.len(), params.max_depth),
        dataset: format!(
            "{} (target {}; {} training rows, {} held out, {features} features)",
            args.data.display(),
            data.target,
            train_set.rows(),
            test_set.rows()
        ),
        metrics,
        params: map([
            ("objective", json!(format!("{objective:?}").to_lowercase())),
            ("learning_rate", real(params.learning_rate)),
            ("trees", json!(params.trees)),
            ("max_depth", json!(params.max_depth)),
            ("method", json!(format!("{:?}", params.method).to_lowercase())),
            ("max_bins", json!(params.max_bins)),
            ("lambda", real(params.lambda)),
            ("min_child_weight", real(params.min_child_weight)),
            ("test_every", json!(args.test_every)),
        ]),
        signature: json!({
            "inputs": [tensor(sedge_train::onnx::INPUT, "FP32", &[-1, features as i64])],
            "outputs": outputs,
            "features": data.features,
        }),
    })
}
