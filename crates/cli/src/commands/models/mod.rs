//! `sedge models push|list|show|pull|rm|promote`: the model registry through `/system/models`.
//!
//! A version is named `NAME` (the latest), `NAME:VERSION` or `NAME@STAGE`, as in a model function's
//! `registry:` source. `pull` checks the bytes against the registry's sha256 before keeping the file.
//!
//! # Layout
//! - this file: arguments and printing; [`client`]: the HTTP calls.

pub mod client;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt as _;
use sedge_store::{ModelRecord, ModelRef, ModelVersion};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::GatewayArgs;
use crate::output::{self, Format};

/// `sedge models` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ModelsCommand {
    /// Register a model file as the next version of a name.
    Push(PushArgs),
    /// List registered versions.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one version.
    Show(ShowArgs),
    /// Download a version's file (its sha256 checked).
    Pull(PullArgs),
    /// Remove a version.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Move a version to a stage (production by default); the version that held it is archived.
    Promote(PromoteArgs),
}

/// Arguments of `sedge models push`.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The model file (ONNX).
    pub file: PathBuf,
    /// The name to register under.
    #[arg(long)]
    pub name: String,
    /// The kind of model (cnn, mlp, gbdt, …).
    #[arg(long)]
    pub architecture: Option<String>,
    /// The training data's name.
    #[arg(long)]
    pub dataset: Option<String>,
    /// A metric, `KEY=NUMBER` (repeatable): accuracy, loss, rmse, …
    #[arg(long = "metric", value_name = "KEY=NUMBER")]
    pub metrics: Vec<String>,
    /// A training parameter, `KEY=VALUE` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Promote the new version to this stage right away.
    #[arg(long)]
    pub promote: Option<String>,
    /// Output format of the registered version.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge models list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Only this stage.
    #[arg(long)]
    pub stage: Option<String>,
    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// At most this many versions.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge models show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// `NAME`, `NAME:VERSION` or `NAME@STAGE`.
    pub model: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge models pull`.
#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    /// `NAME`, `NAME:VERSION` or `NAME@STAGE`.
    pub model: String,
    /// Where to write the file (default: `NAME-VERSION.onnx` here).
    #[arg(long, short = 'O')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge models rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// `NAME:VERSION`.
    pub model: String,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge models promote`.
#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// `NAME:VERSION`.
    pub model: String,
    /// none, staging, production or archived.
    #[arg(long, default_value = "production")]
    pub stage: String,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs a `sedge models` subcommand.
pub async fn run(command: ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::Push(args) => {
            let client = args.gateway.client(None)?;
            let mut meta = Map::new();
            meta.insert("name".into(), Value::from(args.name.clone()));
            meta.insert("architecture".into(), args.architecture.clone().into());
            meta.insert("dataset".into(), args.dataset.clone().into());
            meta.insert("metrics".into(), Value::Object(pairs(&args.metrics, true)?));
            meta.insert("params".into(), Value::Object(pairs(&args.params, false)?));
            meta.insert("created_by".into(), Value::from(format!("sedge models push ({})", whoami())));
            let mut record = client.push_model(&args.file, meta).await?;
            if let Some(stage) = &args.promote {
                record = client.promote_model(&record.model.name, record.version, stage).await?;
            }
            print_one(args.format, &record, "Registered")
        }
        ModelsCommand::List(args) => {
            let mut query = Vec::new();
            for (key, value) in [("name", &args.name), ("stage", &args.stage), ("dataset", &args.dataset)] {
                if let Some(v) = value {
                    query.push((key, v.clone()));
                }
            }
            if let Some(limit) = args.limit {
                query.push(("limit", limit.to_string()));
            }
            let records = args.gateway.client(None)?.list_models(&query).await?;
            match output::structured(args.format, &records)? {
                Some(text) => print!("{text}"),
                None => print!("{}", models_table(&records)),
            }
            Ok(())
        }
        ModelsCommand::Show(args) => {
            let (name, version) = path_version(&args.model)?;
            let record = args.gateway.client(None)?.get_model(&name, &version).await?;
            print_one(args.format, &record, "Model")
        }
        ModelsCommand::Pull(args) => pull(args).await,
        ModelsCommand::Rm(args) => {
            let (name, version) = pinned(&args.model)?;
            args.gateway.client(None)?.remove_model(&name, version).await?;
            println!("Removed: {name}:{version}");
            Ok(())
        }
        ModelsCommand::Promote(args) => {
            let (name, version) = pinned(&args.model)?;
            let record = args.gateway.client(None)?.promote_model(&name, version, &args.stage).await?;
            println!("Promoted: {}:{} is now {}", record.model.name, record.version, record.stage);
            Ok(())
        }
    }
}

/// Downloads a version to a temporary beside the target, checks its sha256, then renames it into place.
async fn pull(args: PullArgs) -> Result<()> {
    let (name, version) = path_version(&args.model)?;
    let client = args.gateway.client(None)?;
    let record = client.get_model(&name, &version).await?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.{}", name, record.version, record.model.format)));
    let response = client.pull_model(&name, &record.version.to_string()).await?;
    let tmp = out.with_extension("part");
    let mut file = tokio::fs::File::create(&tmp).await.with_context(|| format!("creating {}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("pulling: the download was cut off")?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.with_context(|| format!("writing {}", tmp.display()))?;
    }
    file.sync_all().await?;
    let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if sha256 != record.model.sha256 {
        let _ = tokio::fs::remove_file(&tmp).await;
        bail!("pulled bytes have sha256 {sha256}, the registry recorded {}: nothing written", record.model.sha256);
    }
    tokio::fs::rename(&tmp, &out).await.with_context(|| format!("moving the download to {}", out.display()))?;
    println!(
        "Pulled: {}:{} → {} ({} bytes, sha256 {})",
        name,
        record.version,
        out.display(),
        record.model.size_bytes,
        sha256
    );
    Ok(())
}

/// `NAME`, `NAME:N`, `NAME@STAGE` → the name and the version as the API's path takes it.
fn path_version(text: &str) -> Result<(String, String)> {
    let reference = ModelRef::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = match reference.version {
        ModelVersion::Latest => "latest".to_string(),
        ModelVersion::Number(n) => n.to_string(),
        ModelVersion::Stage(s) => s.to_string(),
    };
    Ok((reference.name, version))
}

/// `NAME:N` (promotion and removal act on one version, never on "latest").
fn pinned(text: &str) -> Result<(String, u32)> {
    match ModelRef::parse(text).map_err(|e| anyhow::anyhow!("{e}"))? {
        ModelRef { name, version: ModelVersion::Number(n) } => Ok((name, n)),
        _ => bail!("{text:?} names no version: give NAME:VERSION (sedge models list shows them)"),
    }
}

/// `KEY=VALUE` pairs as a JSON object; values are numbers when `numbers`, else numbers when they parse.
fn pairs(items: &[String], numbers: bool) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else { bail!("{item:?} is not KEY=VALUE") };
        let parsed = value.parse::<f64>().ok().and_then(|v| serde_json::Number::from_f64(v).map(Value::Number));
        let value = match (parsed, numbers) {
            (Some(n), _) => n,
            (None, true) => bail!("metric {key}: {value:?} is not a number"),
            (None, false) => Value::from(value),
        };
        map.insert(key.trim().to_string(), value);
    }
    Ok(map)
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}

fn print_one(format: Format, record: &ModelRecord, verb: &str) -> Result<()> {
    match output::structured(format, record)? {
        Some(text) => print!("{text}"),
        None => print!("{}", describe(record, verb)),
    }
    Ok(())
}

/// NAME VERSION STAGE SIZE ACCURACY LOSS SHA256 (12 digits) per version.
fn models_table(records: &[ModelRecord]) -> String {
    let metric = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.model.name.clone(),
                r.version.to_string(),
                r.stage.to_string(),
                r.model.size_bytes.to_string(),
                metric(r.model.accuracy),
                metric(r.model.loss),
                r.model.sha256.chars().take(12).collect(),
            ]
        })
        .collect();
    output::table(&["NAME", "VERSION", "STAGE", "BYTES", "ACCURACY", "LOSS", "SHA256"], &rows)
}

/// A version as `key: value` lines.
fn describe(r: &ModelRecord, verb: &str) -> String {
    let mut out = format!("{verb}: {}:{} ({})\n", r.model.name, r.version, r.stage);
    let mut line = |k: &str, v: String| out.push_str(&format!(" {k}: {v}\n"));
    line("format", r.model.format.clone());
    line("sha256", r.model.sha256.clone());
    line("size", format!("{} bytes", r.model.size_bytes));
    line("path", r.model.model_path.clone());
    for (k, v) in
        [("architecture", &r.model.architecture), ("dataset", &r.model.dataset), ("created by", &r.model.created_by)]
    {
        if let Some(v) = v {
            line(k, v.clone());
        }
    }
    if !r.model.metrics.is_empty() {
        line("metrics", Value::Object(r.model.metrics.clone()).to_string());
    }
    if !r.model.params.is_empty() {
        line("params", Value::Object(r.model.params.clone()).to_string());
    }
    line("signature", r.model.signature.to_string());
    out
}
