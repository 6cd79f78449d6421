//! `sedge experiment NAME`: the seeds' published experiments as runnable commands. Each deploys the example
//! functions it needs (from `examples/`, embedded) on a running sedge (`--gateway`) or on a fresh one it starts
//! in a temporary state folder, offers the seed's load, and writes a report folder (`index.html`, `report.json`,
//! `README.md`, one CSV per table) whose first table sets each seed figure beside sedge's. Defaults are scaled down to
//! finish in a minute or two on 2 cores; `--full` runs the seed's size.
//!
//! # Layout
//! - [`lab`]: the gateway, deployment and load helpers every experiment uses.
//! - [`examples`]: the embedded example functions.
//! - one module per experiment: [`timeouts`], [`cold_warm`], [`scaling`], [`k6_predict`], [`face_blur`],
//!   [`chain`]; each turns a [`lab::Lab`] into a [`Report`].
//! - [`figures`]: number formats and machine facts the reports share.

pub mod chain;
pub mod cold_warm;
pub mod examples;
pub mod face_blur;
pub mod figures;
pub mod k6_predict;
pub mod lab;
pub mod scaling;
pub mod timeouts;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sedge_bench::out::{csv, html, markdown};
use sedge_bench::report::Report;

use lab::{Lab, LabConfig};

/// Arguments of `sedge experiment`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExperimentArgs {
    /// Which experiment.
    #[arg(value_enum)]
    pub name: Name,
    /// Report folder [default: ./experiment-NAME].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Run at the seed's size instead of the scaled-down default.
    #[arg(long)]
    pub full: bool,
    /// Use this running gateway instead of starting one in a temporary state folder.
    #[arg(long, short = 'g')]
    pub gateway: Option<String>,
    /// With --gateway: its state folder (bundles are built there; the password is read from it).
    #[arg(long, env = "SEDGE_STATE", default_value = ".sedge")]
    pub state: PathBuf,
    /// The reference models folder (the repository's ../shared/models).
    #[arg(long, env = "SEDGE_MODELS", default_value = "../shared/models")]
    pub models: PathBuf,
    /// The reference data folder (the repository's ../shared/data).
    #[arg(long, env = "SEDGE_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
}

/// The experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Name {
    /// Seed 001: a 3 s handler against read/write/exec timeouts.
    Timeouts,
    /// Seeds 001/003: cold vs warm latency, CPU and memory for a process, a Python and a model function.
    ColdWarm,
    /// Seed 001: replicas over time under a ramp, for the rps, capacity and cpu modes.
    Scaling,
    /// Seed 000: 1,800 virtual users with 1 s think time against an MNIST predict function.
    K6Predict,
    /// Seed 002: video frames POSTed as base64 to a face-blur function, users × sleep-before-POST grid.
    FaceBlur,
    /// Seed 003: data transfer between chained functions, stateless vs stateful, throughput vs concurrency.
    Chain,
}

impl Name {
    /// The name as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Timeouts => "timeouts",
            Name::ColdWarm => "cold-warm",
            Name::Scaling => "scaling",
            Name::K6Predict => "k6-predict",
            Name::FaceBlur => "face-blur",
            Name::Chain => "chain",
        }
    }
}

/// Runs `sedge experiment`.
pub async fn run(args: ExperimentArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("experiment-{}", args.name.as_str())));
    let lab = Lab::start(LabConfig {
        gateway: args.gateway.clone(),
        state: args.state.clone(),
        models: args.models.clone(),
        data: args.data.clone(),
    })
    .await?;
    eprintln!("experiment {} on {}{}", args.name.as_str(), lab.url, if args.full { " (full size)" } else { "" });
    let mut report = match args.name {
        Name::Timeouts => timeouts::run(&lab, args.full).await,
        Name::ColdWarm => cold_warm::run(&lab, args.full).await,
        Name::Scaling => scaling::run(&lab, args.full).await,
        Name::K6Predict => k6_predict::run(&lab, args.full).await,
        Name::FaceBlur => face_blur::run(&lab, args.full).await,
        Name::Chain => chain::run(&lab, args.full).await,
    }
    .with_context(|| format!("experiment {}", args.name.as_str()))?;
    report.facts.extend(figures::machine_facts(args.full));
    write_report(&out, &report)?;
    print!("{}", comparison_text(&report));
    println!("report: {}", out.join("index.html").display());
    Ok(())
}

/// Writes `index.html`, `report.json`, `comparison.csv` and one CSV per table into `dir` (created).
pub fn write_report(dir: &Path, report: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("index.html", html::render(report))?;
    write("report.json", serde_json::to_string_pretty(report)?)?;
    write("comparison.csv", csv::table(&report.comparison_table()))?;
    write("README.md", markdown::render(report))?;
    for table in &report.tables {
        write(&format!("{}.csv", table.slug()), csv::table(table))?;
    }
    Ok(())
}

/// The comparison as a terminal table.
fn comparison_text(report: &Report) -> String {
    let rows: Vec<Vec<String>> =
        report.comparison.iter().map(|c| vec![c.metric.clone(), c.seed.clone(), c.sedge.clone()]).collect();
    format!("\n{}\n{}", report.title, crate::output::table(&["METRIC", "SEED", "SEDGE"], &rows))
}
