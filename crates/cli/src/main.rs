//! The `sedge` binary: `sedge up` runs the platform; the other subcommands are an OpenFaaS-compatible CLI
//! (`new`, `build`, `deploy`, `invoke`, `list`, …) that talks to any OpenFaaS gateway, sedge's own included.
//!
//! # Layout
//! - this file: argument parsing, logging, dispatch; nothing else.
//! - [`up`]: `sedge up`, the server.
//! - [`commands`]: one module per client subcommand.
//! - [`client`]: the typed HTTP client for the gateway API.
//! - [`output`]: tables, JSON and YAML.

mod client;
mod commands;
mod output;
mod up;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use commands::{bench, build, calls, deploy, experiment, functions, invoke, logs, models, new, secret, train, version};

/// Serverless functions at the edge, with an OpenFaaS-compatible gateway.
#[derive(Debug, Parser)]
#[command(name = "sedge", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and the local provider until interrupted.
    Up(up::UpArgs),
    /// Create a function from a template and add it to the stack file.
    New(new::NewArgs),
    /// Build bundles for the functions of a stack file.
    Build(build::BuildArgs),
    /// Deploy the functions of a stack file (building missing bundles first).
    Deploy(deploy::DeployArgs),
    /// Invoke a function: request body from stdin, response body to stdout.
    Invoke(invoke::InvokeArgs),
    /// List deployed functions.
    #[command(visible_alias = "ls")]
    List(functions::ListArgs),
    /// Show one function's details.
    Describe(functions::DescribeArgs),
    /// Remove a function.
    #[command(visible_alias = "rm")]
    Remove(functions::RemoveArgs),
    /// Print a function's logs.
    Logs(logs::LogsArgs),
    /// Set a function's replica count.
    Scale(functions::ScaleArgs),
    /// Manage secrets.
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Print the CLI's and the gateway's versions.
    Version(version::VersionArgs),
    /// Load an HTTP endpoint (virtual users or an arrival rate), with thresholds and reports.
    Bench(Box<bench::BenchArgs>),
    /// Reproduce a seed's experiment on this box and write a report beside the seed's figures.
    Experiment(experiment::ExperimentArgs),
    /// Train a model on this box (no Python) and write it as ONNX.
    Train(train::TrainArgs),
    /// Asynchronous calls: list, show, result, cancel.
    #[command(subcommand)]
    Calls(calls::CallsCommand),
    /// The model registry: push, list, show, pull, rm, promote.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // `sedge up` sets up its own logging (stderr and a file in its state directory); client commands log
    // warnings to stderr.
    if !matches!(cli.command, Command::Up(_)) {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let ansi = std::io::stderr().is_terminal();
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    }

    let result = match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args).await,
        Command::Deploy(args) => deploy::run(args).await,
        Command::Invoke(args) => invoke::run(args).await,
        Command::List(args) => functions::list(args).await,
        Command::Describe(args) => functions::describe(args).await,
        Command::Remove(args) => functions::remove(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Scale(args) => functions::scale(args).await,
        Command::Secret(command) => secret::run(command).await,
        Command::Version(args) => version::run(args).await,
        Command::Bench(args) => bench::run(*args).await,
        Command::Experiment(args) => experiment::run(args).await,
        Command::Train(args) => train::run(args).await,
        Command::Calls(command) => calls::run(command).await,
        Command::Models(command) => models::run(command).await,
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_faas_cli_style_arguments() {
        let cli = Cli::try_parse_from(["sedge", "invoke", "echo", "--async", "-H", "X-A: 1", "-H", "X-B: 2"]).unwrap();
        let Command::Invoke(args) = cli.command else { panic!("not invoke") };
        assert!(args.asynchronous);
        assert_eq!(args.headers, ["X-A: 1", "X-B: 2"]);
        let cli = Cli::try_parse_from(["sedge", "rm", "echo", "--gateway", "http://h:1"]).unwrap();
        assert!(matches!(cli.command, Command::Remove(a) if a.gateway.gateway.as_deref() == Some("http://h:1")));
        let cli = Cli::try_parse_from(["sedge", "secret", "create", "k", "--from-literal", "v"]).unwrap();
        assert!(matches!(cli.command, Command::Secret(secret::SecretCommand::Create(_))));
        assert!(Cli::try_parse_from(["sedge", "list", "-o", "yaml"]).is_ok());
        assert!(Cli::try_parse_from(["sedge", "list", "-o", "xml"]).is_err());
        assert!(Cli::try_parse_from(["sedge", "scale", "echo"]).is_err(), "--replicas is required");
    }
}
