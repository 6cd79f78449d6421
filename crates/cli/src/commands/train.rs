//! `sedge train …`: models trained on this box without Python, written as ONNX files a model function serves
//! (`sedge_train` does the work; this is the files and the terminal).
//!
//! # Layout
//! - `gbdt`: `sedge train gbdt` — gradient-boosted trees on a CSV file (exact or histogram splits, seed 004's
//!   light and heavy presets).
//! - `nn`: `sedge train cnn` (MNIST-format IDX images) and `sedge train mlp` (a CSV file).
//! - `register`: `--register NAME [--promote STAGE]` (the model pushed to the gateway's registry) and
//!   `sedge train job` (a JSON request on stdin, for training as an async job through a process function).
//! - this file: the commands, and the one end every trainer shares: a [`Trained`] value that [`finish`]
//!   registers when asked and prints as one JSON line on stdout (progress goes to stderr).
//!
//! Input that is not a training set (a ragged CSV, an IDX file with the wrong magic number or cut short) exits 2
//! with the file and the line, column or byte offset at fault.

mod gbdt;
mod nn;
mod register;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

pub use gbdt::GbdtArgs;
pub use nn::{CnnArgs, MlpArgs};
pub use register::{JobArgs, RegisterArgs};

/// `sedge train [--register NAME [--promote STAGE]] TRAINER …`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The trainer.
    #[command(subcommand)]
    pub command: TrainCommand,
    /// Registering the result.
    #[command(flatten)]
    pub register: RegisterArgs,
}

/// `sedge train …`.
#[derive(Debug, clap::Subcommand)]
pub enum TrainCommand {
    /// Gradient-boosted trees on a CSV file → ONNX.
    Gbdt(GbdtArgs),
    /// A small CNN on MNIST-format IDX images (gzipped or not) → ONNX.
    Cnn(CnnArgs),
    /// A multilayer perceptron classifier on a CSV file → ONNX.
    Mlp(MlpArgs),
    /// A training run from a JSON request on stdin (`{"trainer": "gbdt", "data": …, "register": "taxi"}`):
    /// what a process function runs to train as an async job.
    Job(JobArgs),
}

/// Runs `sedge train`.
pub async fn run(args: TrainArgs) -> Result<()> {
    let trained = match args.command {
        TrainCommand::Gbdt(a) => gbdt::train(&a)?,
        TrainCommand::Cnn(a) => nn::train_cnn(&a)?,
        TrainCommand::Mlp(a) => nn::train_mlp(&a)?,
        TrainCommand::Job(_) => return register::job().await,
    };
    finish(&trained, &args.register).await
}

/// What every trainer ends with: the model it wrote and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    /// Where the ONNX model was written.
    pub path: PathBuf,
    /// The model's shape, e.g. `gbdt: 100 trees of depth ≤ 6` or the network's layers.
    pub architecture: String,
    /// What it was trained and tested on.
    pub dataset: String,
    /// Measured quality and cost: held-out metrics, training time.
    pub metrics: Map<String, Value>,
    /// The settings it was trained with.
    pub params: Map<String, Value>,
    /// Inputs and outputs as the inference protocol describes them (`{"inputs": [{name, datatype, shape}], …}`).
    pub signature: Value,
}

impl Trained {
    /// The one-line summary printed on stdout.
    pub fn summary(&self) -> Value {
        json!({
            "model": self.path.display().to_string(),
            "architecture": self.architecture,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "params": self.params,
            "signature": self.signature,
        })
    }
}

/// The end of every trainer: registers the model when asked, then prints [`Trained::summary`] (with the
/// registered version under `registered`) as one JSON line.
pub async fn finish(trained: &Trained, register: &RegisterArgs) -> Result<()> {
    let mut summary = trained.summary();
    if let Some(registered) = register::register(trained, register).await? {
        summary["registered"] = registered;
    }
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// Writes the model bytes to `path`.
fn write_model(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

/// Exits 2 for input that is not a training set, naming the file and what is wrong with it.
fn refuse(path: &Path, error: impl std::fmt::Display) -> ! {
    eprintln!("Error: {}: {error}", path.display());
    std::process::exit(2);
}

/// One tensor of a [`Trained::signature`]; `-1` is a dynamic dimension (the batch).
fn tensor(name: &str, datatype: &str, shape: &[i64]) -> Value {
    json!({"name": name, "datatype": datatype, "shape": shape})
}

/// A metrics or params map from pairs.
fn map<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An `f32` setting as JSON, written as typed (`0.01`, not `0.009999999776482582`).
fn real(v: f32) -> Value {
    json!(v.to_string().parse::<f64>().unwrap_or(f64::from(v)))
}

/// Rounds a metric for printing (6 significant decimals are plenty, and JSON stays short).
fn round(v: f64) -> Value {
    json!((v * 1e6).round() / 1e6)
}
