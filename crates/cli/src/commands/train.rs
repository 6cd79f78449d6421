//! `sedge train gbdt`: gradient-boosted trees on a CSV file, trained here without Python, written as an ONNX file
//! a model function serves (`sedge_train` does the work; this is the files and the terminal). One row in five is
//! held out (`--test-every 5`) and the held-out metric is printed and stored in the model's metadata. Exit 2 for a
//! file that is not a training set, with the line and column at fault.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use sedge_train::data::{CsvOptions, load_csv};
use sedge_train::gbdt::{self, Objective, Params};

/// `sedge train …`.
#[derive(Debug, clap::Subcommand)]
pub enum TrainCommand {
    /// Gradient-boosted trees on a CSV file → ONNX.
    Gbdt(GbdtArgs),
}

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
    /// Learning rate (shrinkage).
    #[arg(long, default_value_t = 0.1)]
    pub learning_rate: f32,
    /// Number of trees (boosting rounds).
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Maximum tree depth.
    #[arg(long, default_value_t = 6)]
    pub depth: usize,
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

/// Runs `sedge train`.
pub fn run(command: TrainCommand) -> Result<()> {
    match command {
        TrainCommand::Gbdt(args) => gbdt_command(&args),
    }
}

fn gbdt_command(args: &GbdtArgs) -> Result<()> {
    let file = std::fs::File::open(&args.data).with_context(|| format!("opening {}", args.data.display()))?;
    let options = CsvOptions { target: args.target.clone(), drop: args.drop.clone() };
    let data = match load_csv(std::io::BufReader::new(file), &options) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("Error: {}: {e}", args.data.display());
            std::process::exit(2);
        }
    };
    let held_out = |i: usize| args.test_every > 0 && i.is_multiple_of(args.test_every);
    let (train_set, test_set) = (data.select(|i| !held_out(i)), data.select(held_out));
    let objective = match args.objective {
        ObjectiveArg::Regression => Objective::Regression,
        ObjectiveArg::Binary => Objective::Binary,
    };
    let params = Params {
        objective,
        learning_rate: args.learning_rate,
        trees: args.trees,
        max_depth: args.depth,
        ..Params::default()
    };
    eprintln!(
        "training {} trees (depth {}, learning rate {}) on {} rows × {} features, {} held out",
        params.trees,
        params.max_depth,
        params.learning_rate,
        train_set.rows(),
        data.features.len(),
        test_set.rows()
    );
    let started = Instant::now();
    let every = (params.trees / 10).max(1);
    let model = gbdt::train(&train_set.x, &train_set.y, data.features.len(), &params, &mut |t, loss| {
        if t % every == 0 || t == params.trees {
            eprintln!("  tree {t:>6}  training loss {loss:.6}");
        }
        true
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut metrics = vec![("train_rmse".to_string(), gbdt::rmse(&model, &train_set.x, &train_set.y))];
    if test_set.rows() > 0 {
        metrics.push(("test_rmse".to_string(), gbdt::rmse(&model, &test_set.x, &test_set.y)));
        if objective == Objective::Binary {
            metrics.push(("test_accuracy".to_string(), gbdt::accuracy(&model, &test_set.x, &test_set.y)));
        }
    }
    let mut metadata = vec![
        ("features".to_string(), data.features.join(",")),
        ("target".to_string(), data.target.clone()),
        ("trees".to_string(), model.trees.len().to_string()),
        ("train_seconds".to_string(), format!("{seconds:.3}")),
    ];
    if let Some(positive) = &data.positive {
        metadata.push(("positive".to_string(), positive.clone()));
    }
    metadata.extend(metrics.iter().map(|(k, v)| (k.clone(), format!("{v:.6}"))));
    let bytes = sedge_train::onnx::export(&model, &metadata);
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    for (name, value) in &metrics {
        println!("{name}: {value:.6}");
    }
    println!("trained in {seconds:.2} s; wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}
