//! What follows training: `--register NAME [--promote STAGE]` pushes the model to the gateway's registry with
//! its metrics, params and dataset; and `sedge train job`, the trainers as an asynchronous job.
//!
//! **Jobs.** `sedge train job` reads one JSON request on stdin, `{"trainer": "gbdt", "data": "/abs/taxi.csv",
//! "target": "tip", "drop": ["rownames"], "trees": 100, "register": "taxi", "promote": "production"}`, turns
//! it into the same command line (`"key": value` → `--key value`, `_` → `-`, a list → the flag repeated,
//! `true` → the bare flag) and runs it: progress on stderr, the JSON summary on stdout. Deployed as a process
//! function (`fprocess: sedge train job`) and called through `/async-function/NAME`, a training run is a
//! durable async call: queued, retried, its progress in `sedge logs`, its summary in `sedge calls result`.
//! Without `out`, the model goes to a temporary file, removed once registered.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser as _;
use serde_json::{Map, Value};

use super::{TrainArgs, TrainCommand, Trained};
use crate::commands::GatewayArgs;
use crate::commands::StateArgs;

/// Registering the trained model (flags valid after any trainer).
#[derive(Debug, Clone, clap::Args)]
pub struct RegisterArgs {
    /// Register the model under this name in the gateway's model registry, with its metrics and params.
    #[arg(long, global = true, value_name = "NAME")]
    pub register: Option<String>,
    /// With --register: move the new version to this stage (e.g. production).
    #[arg(long, global = true, requires = "register", value_name = "STAGE")]
    pub promote: Option<String>,
    /// Gateway URL for --register [env: SEDGE_GATEWAY, then OPENFAAS_URL, then SEDGE_GATEWAY_URL].
    #[arg(long, short = 'g', global = true, env = "SEDGE_GATEWAY", hide_env = true)]
    pub gateway: Option<String>,
    /// State directory holding the gateway's password (secrets/basic-auth-password).
    #[arg(long, global = true, env = "SEDGE_STATE", default_value = ".sedge")]
    pub state: PathBuf,
}

/// `sedge train job` takes no flags: the request is on stdin.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {}

/// Parses a job's command line as `sedge train` would.
#[derive(Debug, clap::Parser)]
#[command(name = "sedge train", no_binary_name = true)]
struct JobCli {
    #[command(flatten)]
    train: TrainArgs,
}

/// Pushes `trained` when `--register` was given; returns the registered version (name, version, stage) to add
/// to the summary.
pub async fn register(trained: &Trained, args: &RegisterArgs) -> Result<Option<Value>> {
    let Some(name) = &args.register else { return Ok(None) };
    let gateway = GatewayArgs { gateway: args.gateway.clone(), state: StateArgs { state: args.state.clone() } };
    let client = gateway.client(None)?;
    let mut meta = Map::new();
    meta.insert("name".into(), Value::from(name.as_str()));
    meta.insert("architecture".into(), Value::from(trained.architecture.as_str()));
    meta.insert("dataset".into(), Value::from(trained.dataset.as_str()));
    for (field, keys) in [("accuracy", ["accuracy", "test_accuracy"]), ("loss", ["loss", "test_loss"])] {
        if let Some(v) = keys.iter().find_map(|k| trained.metrics.get(*k).filter(|v| v.is_number())) {
            meta.insert(field.into(), v.clone());
        }
    }
    meta.insert("metrics".into(), Value::Object(trained.metrics.clone()));
    meta.insert("params".into(), Value::Object(trained.params.clone()));
    let creator = std::env::var("SEDGE_FUNCTION_NAME").unwrap_or_else(|_| "sedge train".into());
    meta.insert("created_by".into(), Value::from(creator));
    let mut record = client.push_model(&trained.path, meta).await.context("registering the model")?;
    if let Some(stage) = &args.promote {
        record = client.promote_model(&record.model.name, record.version, stage).await?;
    }
    eprintln!("registered {}:{} ({})", record.model.name, record.version, record.stage);
    Ok(Some(serde_json::json!({"name": record.model.name, "version": record.version, "stage": record.stage})))
}

/// Runs `sedge train job`: the request on stdin as a `sedge train` command line.
pub async fn job() -> Result<()> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the job request from stdin")?;
    let request: Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| "the job request is not a JSON object such as {\"trainer\": \"gbdt\", \"data\": …}")?;
    let (argv, temporary) = command_line(request, &std::env::temp_dir())?;
    let cli = JobCli::try_parse_from(&argv).map_err(|e| anyhow::anyhow!("the job request: {}", e.render()))?;
    if matches!(cli.train.command, TrainCommand::Job(_)) {
        bail!("the job request's trainer is `job`: name a trainer (gbdt, cnn, mlp)");
    }
    let result = Box::pin(super::run(cli.train)).await;
    if let Some(path) = temporary {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// A job request as `sedge train` arguments, and the temporary model file it writes to when it names no `out`.
fn command_line(mut request: Map<String, Value>, tmp: &std::path::Path) -> Result<(Vec<String>, Option<PathBuf>)> {
    let trainer = match request.remove("trainer") {
        Some(Value::String(t)) => t,
        _ => bail!("the job request names no trainer: add \"trainer\": \"gbdt\" (or cnn, mlp)"),
    };
    let mut argv = vec![trainer.clone()];
    let temporary = match request.contains_key("out") || request.contains_key("o") {
        true => None,
        false => Some(tmp.join(format!("sedge-train-{trainer}-{}.onnx", std::process::id()))),
    };
    if let Some(path) = &temporary {
        argv.extend(["--out".to_string(), path.display().to_string()]);
    }
    for (key, value) in request {
        let flag = format!("--{}", key.replace('_', "-"));
        let scalar = |v: &Value| -> Result<String> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => bail!("job request field {key:?}: {other} is not a string or a number"),
            }
        };
        match &value {
            Value::Bool(true) => argv.push(flag),
            Value::Bool(false) | Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    argv.extend([flag.clone(), scalar(item)?]);
                }
            }
            other => argv.extend([flag, scalar(other)?]),
        }
    }
    Ok((argv, temporary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_becomes_the_command_line_with_a_temporary_model() {
        let request = json!({"trainer": "gbdt", "data": "/d/taxi.csv", "drop": ["a", "b"], "trees": 100,
            "learning_rate": 0.1, "register": "taxi", "quiet": true, "skip": false});
        let (argv, tmp) = command_line(request.as_object().unwrap().clone(), std::path::Path::new("/t")).unwrap();
        let tmp = tmp.expect("no out given: a temporary");
        assert!(tmp.starts_with("/t") && tmp.extension().is_some_and(|e| e == "onnx"));
        let expected = [
            "gbdt",
            "--out",
            &tmp.display().to_string(),
            "--data",
            "/d/taxi.csv",
            "--drop",
            "a",
            "--drop",
            "b",
            "--learning-rate",
            "0.1",
            "--quiet",
            "--register",
            "taxi",
            "--trees",
            "100",
        ];
        assert_eq!(argv, expected);
        let parsed =
            JobCli::try_parse_from(["gbdt", "--data", "x.csv", "--target", "y", "-o", "m.onnx", "--register", "taxi"]);
        assert_eq!(parsed.unwrap().train.register.register.as_deref(), Some("taxi"));
    }

    #[test]
    fn bad_requests_say_what_to_send() {
        let no_trainer = command_line(json!({"data": "x"}).as_object().unwrap().clone(), std::path::Path::new("/t"));
        assert!(no_trainer.unwrap_err().to_string().contains("names no trainer"));
        let nested = command_line(
            json!({"trainer": "gbdt", "data": {"a": 1}}).as_object().unwrap().clone(),
            std::path::Path::new("/t"),
        );
        assert!(nested.unwrap_err().to_string().contains("\"data\""));
        let given = command_line(
            json!({"trainer": "mlp", "out": "/m.onnx"}).as_object().unwrap().clone(),
            std::path::Path::new("/t"),
        );
        assert_eq!(given.unwrap().1, None);
    }
}
