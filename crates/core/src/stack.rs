//! `stack.yml`, faas-cli's function list (schema version 1.0), parsed into [`FunctionDeployment`]s.
//!
//! Checks match faas-cli's, with its messages: `provider.name` must be `openfaas` and `version` must be `1.0`
//! when given. `${VAR}` and `${VAR:-default}` are substituted from the environment first, as faas-cli does.
//! Reading `environment_file`s is the caller's job (this crate does no I/O): pass their variables to
//! [`StackFunction::to_deployment`].

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::api::{FunctionDeployment, FunctionResources};
use crate::spec::FunctionSpec;
use crate::{SpecError, name};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    /// Schema version; only `1.0` is valid.
    #[serde(default, deserialize_with = "scalar_opt")]
    pub version: Option<String>,
    /// Provider section.
    #[serde(default)]
    pub provider: Option<StackProvider>,
    /// Functions by name.
    #[serde(default)]
    pub functions: BTreeMap<String, StackFunction>,
    /// Template configuration (accepted, unused: sedge ships its templates).
    #[serde(default)]
    pub configuration: Option<serde_yaml::Value>,
}

/// `provider:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StackProvider {
    /// Must be `openfaas`.
    #[serde(default)]
    pub name: String,
    /// Gateway URL.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Docker network (ignored).
    #[serde(default)]
    pub network: Option<String>,
}

/// One function in `functions:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StackFunction {
    /// Template name, e.g. `python3`.
    #[serde(default)]
    pub lang: Option<String>,
    /// Handler folder, relative to the stack file.
    #[serde(default)]
    pub handler: Option<String>,
    /// Image (bundle) name.
    #[serde(default)]
    pub image: Option<String>,
    /// Watchdog `fprocess`.
    #[serde(default)]
    pub fprocess: Option<String>,
    /// Environment variables.
    #[serde(default, deserialize_with = "scalar_map")]
    pub environment: BTreeMap<String, String>,
    /// Files with more environment variables (YAML `environment:` maps), relative to the stack file.
    #[serde(default)]
    pub environment_file: Vec<String>,
    /// Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Skip building (accepted; sedge builds only functions with a `lang`).
    #[serde(default)]
    pub skip_build: bool,
    /// Constraints.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Labels.
    #[serde(default, deserialize_with = "scalar_map")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, deserialize_with = "scalar_map")]
    pub annotations: BTreeMap<String, String>,
    /// Limits.
    #[serde(default)]
    pub limits: Option<StackResources>,
    /// Requests.
    #[serde(default)]
    pub requests: Option<StackResources>,
    /// Read-only root filesystem.
    #[serde(default)]
    pub readonly_root_filesystem: bool,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Docker build options (accepted, unused).
    #[serde(default)]
    pub build_options: Vec<String>,
    /// Docker build args (accepted, unused).
    #[serde(default)]
    pub build_args: Option<serde_yaml::Value>,
    /// Docker build secrets (accepted, unused).
    #[serde(default)]
    pub build_secrets: Option<serde_yaml::Value>,
    /// Target platforms (accepted, unused).
    #[serde(default)]
    pub platforms: Option<String>,
}

/// `limits:` / `requests:` in stack.yml.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StackResources {
    /// Memory quantity.
    #[serde(default, deserialize_with = "scalar_opt")]
    pub memory: Option<String>,
    /// CPU quantity.
    #[serde(default, deserialize_with = "scalar_opt")]
    pub cpu: Option<String>,
}

impl Stack {
    /// Parses and checks a stack file; `env` looks up variables for `${VAR}` substitution.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, SpecError> {
        let text = substitute(text, env);
        let stack: Stack = serde_yaml::from_str(&text).map_err(yaml_error)?;
        if let Some(provider) = stack.provider.as_ref().filter(|p| p.name != "openfaas") {
            return Err(SpecError::new(
                "",
                format!(
                    "['openfaas'] is the only valid \"provider.name\" for the OpenFaaS CLI, but you gave: {}",
                    provider.name
                ),
            ));
        }
        if let Some(version) = stack.version.as_deref().filter(|v| !v.is_empty() && *v != "1.0") {
            return Err(SpecError::new(
                "",
                format!("[1.0] are the only valid versions for the stack file - found: {version}"),
            ));
        }
        for (fn_name, f) in &stack.functions {
            let path = format!("functions.{fn_name}");
            name::validate_label(fn_name, "function name").map_err(|e| e.within(&path))?;
            FunctionSpec::try_from(f.to_deployment(fn_name, &BTreeMap::new())).map_err(|e| stack_error(e, &path))?;
        }
        Ok(stack)
    }
}

impl StackFunction {
    /// The deployment faas-cli would send for this function; `file_env` holds variables read from
    /// `environment_file`s (the function's own `environment` wins over them).
    pub fn to_deployment(&self, name: &str, file_env: &BTreeMap<String, String>) -> FunctionDeployment {
        let mut env = file_env.clone();
        env.extend(self.environment.clone());
        let non_empty_map = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        let resources = |r: &Option<StackResources>| {
            r.as_ref().map(|r| FunctionResources { memory: r.memory.clone(), cpu: r.cpu.clone(), ..Default::default() })
        };
        FunctionDeployment {
            service: name.to_string(),
            image: self.image.clone().unwrap_or_else(|| name.to_string()),
            namespace: self.namespace.clone(),
            env_process: self.fprocess.clone(),
            env_vars: non_empty_map(&env),
            constraints: (!self.constraints.is_empty()).then(|| self.constraints.clone()),
            secrets: (!self.secrets.is_empty()).then(|| self.secrets.clone()),
            labels: non_empty_map(&self.labels),
            annotations: non_empty_map(&self.annotations),
            limits: resources(&self.limits),
            requests: resources(&self.requests),
            read_only_root_filesystem: self.readonly_root_filesystem,
        }
    }
}

/// Rewrites an API-path error (`envVars.exec_timeout`) into the stack file's terms (`environment.exec_timeout`).
fn stack_error(e: SpecError, function_path: &str) -> SpecError {
    let renamed = [("envVars", "environment"), ("envProcess", "fprocess"), ("service", "")]
        .iter()
        .find_map(|(api, stack)| {
            let rest = e.path.strip_prefix(api)?;
            Some(format!("{stack}{rest}").trim_start_matches('.').to_string())
        })
        .unwrap_or_else(|| e.path.clone());
    SpecError::new(renamed, e.message).within(function_path)
}

fn yaml_error(e: serde_yaml::Error) -> SpecError {
    // serde_yaml already prefixes the path (`functions.a.limits: invalid type …`); keep its text whole.
    SpecError::new("", format!("stack file is not valid: {e}"))
}

/// `${VAR}` and `${VAR:-default}` substitution, as faas-cli applies before parsing.
fn substitute(text: &str, env: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = &after[..end];
        let (var, default) = match expr.split_once(":-") {
            Some((var, default)) => (var, Some(default)),
            None => (expr, None),
        };
        let value = env(var).filter(|v| !v.is_empty());
        out.push_str(&value.unwrap_or_else(|| default.unwrap_or("").to_string()));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn scalar_to_string(v: serde_yaml::Value) -> Result<Option<String>, String> {
    use serde_yaml::Value;
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(format!("expected a string, number or boolean, found {other:?}")),
    }
}

fn scalar_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar_to_string(serde_yaml::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map: Option<BTreeMap<String, serde_yaml::Value>> = Option::deserialize(d)?;
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = scalar_to_string(v).map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))?;
            Ok((k, v.unwrap_or_default()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = r#"
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  mltest:
    lang: python3
    handler: ./mltest
    image: ${REGISTRY:-local}/mltest:latest
    environment:
      read_timeout: 5s
      write_timeout: 8
      exec_timeout: 8s
    labels:
      com.openfaas.scale.min: 2
    limits:
      memory: 128Mi
  wc:
    image: anything
    fprocess: wc -l
"#;

    #[test]
    fn parses_and_converts() {
        let stack = Stack::parse(STACK, |_| None).unwrap();
        let d = stack.functions["mltest"].to_deployment("mltest", &BTreeMap::new());
        assert_eq!(d.image, "local/mltest:latest");
        assert_eq!(d.env_vars.as_ref().unwrap()["write_timeout"], "8");
        assert_eq!(d.labels.as_ref().unwrap()["com.openfaas.scale.min"], "2");
        let spec = FunctionSpec::try_from(d).unwrap();
        assert_eq!(spec.min_replicas, 2);
        let wc = stack.functions["wc"].to_deployment("wc", &BTreeMap::new());
        assert_eq!(FunctionSpec::try_from(wc).unwrap().process.unwrap(), ["wc", "-l"]);
    }

    #[test]
    fn substitutes_environment() {
        let stack = Stack::parse(STACK, |v| (v == "REGISTRY").then(|| "ghcr.io/me".to_string())).unwrap();
        assert_eq!(stack.functions["mltest"].image.as_deref(), Some("ghcr.io/me/mltest:latest"));
    }

    #[test]
    fn errors_as_faas_cli_and_with_paths() {
        let e = Stack::parse("provider:\n  name: faas\nfunctions: {}\n", |_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "['openfaas'] is the only valid \"provider.name\" for the OpenFaaS CLI, but you gave: faas"
        );
        let e = Stack::parse("version: 2.0\nfunctions: {}\n", |_| None).unwrap_err();
        assert_eq!(e.to_string(), "[1.0] are the only valid versions for the stack file - found: 2.0");
        let bad = STACK.replace("memory: 128Mi", "memory: 12x");
        let e = Stack::parse(&bad, |_| None).unwrap_err();
        assert!(e.to_string().starts_with("functions.mltest.limits.memory: \"12x\" is not a quantity"), "{e}");
        let bad = STACK.replace("exec_timeout: 8s", "exec_timeout: later");
        assert_eq!(Stack::parse(&bad, |_| None).unwrap_err().path, "functions.mltest.environment.exec_timeout");
        let e = Stack::parse("functions:\n  Bad_Name:\n    image: x\n", |_| None).unwrap_err();
        assert_eq!(e.path, "functions.Bad_Name");
        let e = Stack::parse("functions:\n  a:\n    limits: [1]\n", |_| None).unwrap_err();
        assert!(e.to_string().contains("functions.a.limits"), "{e}");
        assert!(Stack::parse("functions: [", |_| None).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Stack::parse(&text, |_| None);
        }

        #[test]
        fn mangled_stacks_never_panic(cut in 0usize..STACK.len(), junk in "[:{}\\[\\]$ -]{0,8}") {
            let mangled = format!("{}{junk}{}", &STACK[..cut], &STACK[cut..]);
            let _ = Stack::parse(&mangled, |_| Some("x".into()));
        }
    }
}
