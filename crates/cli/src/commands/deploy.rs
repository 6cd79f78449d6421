//! `sedge deploy`: deploys the functions of a stack file through the gateway, as faas-cli does, or the model
//! functions of a sedge YAML file (`apiVersion: sedge.dev/v1`, `kind: ModelFunction`), or the Knative Services
//! of a Knative file (`apiVersion: serving.knative.dev/v1`, `kind: Service`; ignored fields are printed to stderr
//! as `Warning: <path>: <what is ignored>`).
//!
//! Model files (`com.sedge.model`, `spec.model`) and labels files named by relative paths are resolved against
//! the file's folder and sent as absolute paths: the gateway reads them on its own machine.
//!
//! Functions with a `lang` whose bundle was never built are built first. `environment_file` entries are read
//! here (YAML files beside the stack file with an `environment:` map) and merged under each function's own
//! `environment`. A failure on one function is reported and the others still deploy; the command then fails.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sedge_core::api::FunctionDeployment;
use sedge_core::model::{MODEL_ANNOTATION, MODEL_CONFIG_ANNOTATION, ModelConfig, ModelSource};
use serde_yaml::Value;

use super::build::{build_function, check_filter, load_stack};
use super::{GatewayArgs, StackArgs, resolve, selected, stack_dir};

/// Arguments of `sedge deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Deploy only this function.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge deploy`.
pub async fn run(args: DeployArgs) -> Result<()> {
    let (path, text) = args.stack.read()?;
    if sedge_core::knative_service::is_knative_yaml(&text) {
        return deploy_knative(&args, &path, &text).await;
    }
    if sedge_core::manifest::is_sedge_yaml(&text) {
        return deploy_manifest(&args, &path, &text).await;
    }
    let (path, stack) = load_stack(&args.stack)?;
    check_filter(&stack, args.filter.as_deref(), &path)?;
    let dir = stack_dir(&path);
    let state = &args.gateway.state.state;
    let client = args.gateway.client(stack.provider.as_ref().and_then(|p| p.gateway.as_deref()))?;
    let mut failed = Vec::new();
    for (name, f) in stack.functions.iter().filter(|(name, _)| selected(args.filter.as_deref(), name)) {
        let result = async {
            let image = f.image.clone().unwrap_or_else(|| name.clone());
            if f.lang.is_some() {
                let bundle = sedge_runtime::bundle::load(state, &image)
                    .with_context(|| format!("could not read the bundle of {image}"))?;
                if bundle.is_none() {
                    build_function(state, &dir, name, f).await?;
                }
            }
            let file_env = read_env_files(&dir, &f.environment_file)?;
            let mut deployment = f.to_deployment(name, &file_env);
            absolute_model_paths(&mut deployment, &dir)?;
            println!("Deploying: {name}.");
            let status = client.deploy(&deployment).await?;
            let address = match &deployment.namespace {
                Some(ns) if !ns.is_empty() => format!("{name}.{ns}"),
                _ => name.clone(),
            };
            println!("\nDeployed. {status}.\nURL: {}/function/{address}\n", client.base());
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            eprintln!("Error: {e:#}");
            failed.push(name.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("{} function(s) failed to deploy: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Deploys every `ModelFunction` document of a sedge YAML file.
async fn deploy_manifest(args: &DeployArgs, path: &Path, text: &str) -> Result<()> {
    let docs =
        sedge_core::manifest::parse(text).with_context(|| format!("{} is not a valid sedge file", path.display()))?;
    let dir = stack_dir(path);
    let client = args.gateway.client(None)?;
    let mut failed = Vec::new();
    for mut doc in docs.into_iter().filter(|d| selected(args.filter.as_deref(), &d.name)) {
        doc.resolve_paths(|p| absolute(&dir, p));
        println!("Deploying: {}.", doc.name);
        match client.deploy(&doc.to_deployment()).await {
            Ok(status) => println!("\nDeployed. {status}.\nURL: {}/function/{}\n", client.base(), doc.name),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed.push(doc.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} function(s) failed to deploy: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Deploys every Knative Service of a Knative file, printing what each ignores.
async fn deploy_knative(args: &DeployArgs, path: &Path, text: &str) -> Result<()> {
    let services = sedge_core::knative_service::parse(text)
        .with_context(|| format!("{} is not a Knative Service file sedge can deploy", path.display()))?;
    let client = args.gateway.client(None)?;
    let mut failed = Vec::new();
    for service in services.into_iter().filter(|s| selected(args.filter.as_deref(), &s.deployment.service)) {
        let d = &service.deployment;
        for warning in &service.warnings {
            eprintln!("Warning: {warning}");
        }
        println!("Deploying: {}.", d.service);
        let address = match &d.namespace {
            Some(ns) => format!("{}.{ns}", d.service),
            None => d.service.clone(),
        };
        match client.deploy(d).await {
            Ok(status) => println!("\nDeployed. {status}.\nURL: {}/function/{address}\n", client.base()),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed.push(d.service.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} function(s) failed to deploy: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// `path` made absolute against `dir` (and the current folder).
fn absolute(dir: &Path, path: &str) -> String {
    let joined = resolve(dir, path);
    std::path::absolute(&joined).unwrap_or(joined).display().to_string()
}

/// Rewrites a stack function's relative model and labels paths as absolute ones.
fn absolute_model_paths(d: &mut FunctionDeployment, dir: &Path) -> Result<()> {
    let Some(annotations) = d.annotations.as_mut() else { return Ok(()) };
    if let Some(model) = annotations.get_mut(MODEL_ANNOTATION)
        && let Ok(ModelSource::File(file)) = ModelSource::parse(model)
    {
        *model = absolute(dir, &file);
    }
    if let Some(config) = annotations.get_mut(MODEL_CONFIG_ANNOTATION) {
        let mut parsed: ModelConfig = serde_yaml::from_str(config)
            .with_context(|| format!("annotation {MODEL_CONFIG_ANNOTATION} is not a valid model configuration"))?;
        if let Some(labels) = parsed.output.as_mut().and_then(|o| o.labels.as_mut()) {
            *labels = absolute(dir, labels);
            *config = serde_json::to_string(&parsed)?;
        }
    }
    Ok(())
}

/// Reads `environment_file`s (relative to `dir`) in order; later files win.
pub fn read_env_files(dir: &Path, files: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for file in files {
        let path = resolve(dir, file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read environment_file {}", path.display()))?;
        env.extend(parse_env_file(&text).with_context(|| format!("environment_file {}", path.display()))?);
    }
    Ok(env)
}

/// The `environment:` map of an environment file; numbers and booleans become strings.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>> {
    let doc: Value = serde_yaml::from_str(text).context("not valid YAML")?;
    let Some(environment) = doc.get("environment") else { return Ok(BTreeMap::new()) };
    let Value::Mapping(map) = environment else {
        if environment.is_null() {
            return Ok(BTreeMap::new());
        }
        bail!("`environment:` must be a mapping of names to values");
    };
    map.iter()
        .map(|(k, v)| {
            let key = scalar(k).with_context(|| format!("a key is not a string: {k:?}"))?;
            let value = scalar(v).with_context(|| format!("{key}: expected a string, number or boolean"))?;
            Ok((key, value))
        })
        .collect()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_turn_scalars_into_strings() {
        let env = parse_env_file("environment:\n  workers: 4\n  debug: true\n  name: x\n  empty:\n").unwrap();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("debug", "true"), ("empty", ""), ("name", "x"), ("workers", "4")]);
        assert!(parse_env_file("other: 1\n").unwrap().is_empty());
        assert!(parse_env_file("environment: [a]\n").is_err());
        assert!(parse_env_file("environment:\n  a: [1]\n").is_err());
    }

    #[test]
    fn later_env_files_win_and_missing_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "environment:\n  x: 1\n  y: a\n").unwrap();
        std::fs::write(dir.path().join("b.yml"), "environment:\n  y: b\n").unwrap();
        let env = read_env_files(dir.path(), &["a.yml".into(), "b.yml".into()]).unwrap();
        assert_eq!((env["x"].as_str(), env["y"].as_str()), ("1", "b"));
        let e = read_env_files(dir.path(), &["nope.yml".into()]).unwrap_err();
        assert!(e.to_string().contains("nope.yml"), "{e}");
    }
}
