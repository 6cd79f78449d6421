//! Knative Services (`apiVersion: serving.knative.dev/v1`, `kind: Service`, YAML or JSON, one or several `---`
//! documents) into the same [`FunctionDeployment`] the OpenFaaS API carries, plus warnings for what is ignored.
//!
//! # Mapping
//! - `metadata.name` → service, `metadata.namespace` → namespace (none: the default); `metadata.labels` /
//!   `annotations` and `spec.template.metadata.labels` / `annotations` merged (the template wins). The result
//!   is marked with [`SOURCE_ANNOTATION`] so that it scales with Knative's KPA ([`crate::autoscale::Scaling`]).
//! - The single container: `image` → image (a sedge bundle, or a program name); `command` + `args` → fprocess
//!   (joined by spaces); `args` without `command` → `image args…` (the image is the program); neither → the
//!   bundle's own command. An argument with whitespace is refused: fprocess is split on spaces.
//! - `env` (`name`/`value`) → envVars; `resources.limits` / `requests` (cpu, memory, GPUs) → limits / requests;
//!   `readinessProbe.httpGet.path` → annotation `com.openfaas.ready.http.path`; `securityContext.
//!   readOnlyRootFilesystem` → readOnlyRootFilesystem.
//! - `containerConcurrency` > 0 → envVars `max_inflight`; `timeoutSeconds` (default 300, Knative's) →
//!   `write_timeout` and `exec_timeout` (`Ns`: past it an http call answers 504, as queue-proxy does);
//!   envVars `mode=http`: a Knative container is a server on `$PORT`.
//!
//! # Ignored or refused
//! A field is ignored with a [`Warning`] when ignoring it changes nothing a function can observe beyond what
//! the warning says: `ports` (sedge gives each replica its own `PORT`), `imagePullPolicy`, `livenessProbe`,
//! `startupProbe`, probe timings, scheduling hints (`serviceAccountName`, `nodeSelector`, `affinity`, …),
//! resources other than cpu, memory and GPUs, `responseStartTimeoutSeconds` / `idleTimeoutSeconds`,
//! `metadata.generation` and other server-set metadata, `traffic[].tag`, `status`.
//! It is refused (a [`SpecError`] naming its path) when ignoring it would change behaviour: more than one
//! container, `initContainers`, `volumes` / `volumeMounts`, `env[].valueFrom`, `envFrom`, `workingDir`,
//! `lifecycle`, a `traffic` block that is not 100 % to the latest revision, `readinessProbe.exec` / `grpc`, a
//! probe on a port other than the container's, `securityContext.runAsUser` / `runAsGroup`, `timeoutSeconds`
//! outside (0, 3600], `containerConcurrency` outside [0, 1000], and any field sedge does not know.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::SpecError;
use crate::api::{FunctionDeployment, FunctionResources};
pub use crate::autoscale::scaling::{KNATIVE_SERVICE_SOURCE, SOURCE_ANNOTATION};
use crate::spec::READY_PATH_ANNOTATION;

/// The `apiVersion` of Knative Services.
pub const API_VERSION: &str = "serving.knative.dev/v1";
/// Knative's default `timeoutSeconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 300;
/// The largest `timeoutSeconds` sedge accepts.
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;
/// The largest `containerConcurrency` (Knative's `container-concurrency-max-limit`).
pub const MAX_CONTAINER_CONCURRENCY: u64 = 1000;
/// Knative's default container port.
const DEFAULT_PORT: u64 = 8080;

/// A field that was accepted but ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Dotted path of the field, e.g. `spec.template.spec.containers[0].ports`.
    pub path: String,
    /// What is ignored and what that means.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// One Knative Service, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct KnativeService {
    /// The deployment to send to `/system/functions`.
    pub deployment: FunctionDeployment,
    /// What was ignored.
    pub warnings: Vec<Warning>,
}

/// Whether `text` looks like a Knative Service file (an `apiVersion` naming `serving.knative.dev/`).
pub fn is_knative_yaml(text: &str) -> bool {
    text.lines().any(|l| l.contains("apiVersion") && l.contains("serving.knative.dev/"))
}

/// Parses every document of a Knative YAML or JSON text; errors in documents after the first are prefixed with
/// `[document N]`.
pub fn parse(text: &str) -> Result<Vec<KnativeService>, SpecError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = |e: SpecError| if i == 0 { e } else { e.within(&format!("[document {}]", i + 1)) };
        let value = Value::deserialize(doc).map_err(|e| at(SpecError::new("", format!("not valid YAML: {e}"))))?;
        if value.is_null() {
            continue;
        }
        out.push(convert(&value).map_err(at)?);
    }
    if out.is_empty() {
        return Err(SpecError::new("", "the text holds no Knative Service"));
    }
    Ok(out)
}

/// Parses a text that must hold exactly one Knative Service (an API request body).
pub fn parse_one(text: &str) -> Result<KnativeService, SpecError> {
    let mut all = parse(text)?;
    if all.len() > 1 {
        return Err(SpecError::new("", format!("the body holds {} documents: send one Service", all.len())));
    }
    Ok(all.remove(0))
}

/// A minimal Knative Service object for a stored deployment (what `GET …/services/{name}` answers).
pub fn to_service(d: &FunctionDeployment) -> serde_json::Value {
    let env = d.env_vars.clone().unwrap_or_default();
    let derived = ["mode", "max_inflight", "write_timeout", "exec_timeout"];
    let env_list: Vec<serde_json::Value> = env
        .iter()
        .filter(|(k, _)| !derived.contains(&k.as_str()))
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    let mut container = serde_json::json!({ "image": d.image });
    if let Some(process) = d.env_process.as_deref().or(env.get("fprocess").map(String::as_str)) {
        container["command"] = serde_json::json!(crate::spec::split_process(process));
    }
    if !env_list.is_empty() {
        container["env"] = serde_json::json!(env_list);
    }
    let mut resources = serde_json::Map::new();
    for (key, r) in [("limits", &d.limits), ("requests", &d.requests)] {
        if let Some(r) = r {
            resources.insert(key.into(), serde_json::to_value(r).unwrap_or_default());
        }
    }
    if !resources.is_empty() {
        container["resources"] = serde_json::Value::Object(resources);
    }
    let mut annotations = d.annotations.clone().unwrap_or_default();
    annotations.remove(SOURCE_ANNOTATION);
    if let Some(path) = annotations.remove(READY_PATH_ANNOTATION) {
        container["readinessProbe"] = serde_json::json!({"httpGet": {"path": path}});
    }
    let concurrency: u64 = env.get("max_inflight").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut spec = serde_json::json!({ "containerConcurrency": concurrency, "containers": [container] });
    if let Some(timeout) = env.get("write_timeout").and_then(|t| crate::duration::parse(t).ok()) {
        spec["timeoutSeconds"] = serde_json::json!(timeout.as_secs());
    }
    serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {
            "name": d.service,
            "namespace": d.namespace,
            "labels": d.labels.clone().unwrap_or_default(),
        },
        "spec": { "template": { "metadata": { "annotations": annotations }, "spec": spec } },
    })
}

/// The walk's output besides the result: warnings.
struct Walk {
    warnings: Vec<Warning>,
}

impl Walk {
    fn warn(&mut self, path: &str, message: &str) {
        self.warnings.push(Warning { path: path.to_string(), message: message.to_string() });
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn refuse(path: &str, message: impl Into<String>) -> SpecError {
    SpecError::new(path, message)
}

fn unknown(path: &str) -> SpecError {
    refuse(path, "is not a field sedge supports; remove it (ignoring it could change how the service behaves)")
}

fn mapping<'v>(v: &'v Value, path: &str) -> Result<&'v Mapping, SpecError> {
    match v {
        Value::Mapping(m) => Ok(m),
        _ => Err(refuse(path, "expected a mapping")),
    }
}

fn entries<'v>(v: &'v Value, path: &str) -> Result<Vec<(String, &'v Value)>, SpecError> {
    mapping(v, path)?
        .iter()
        .map(|(k, v)| match k {
            Value::String(k) => Ok((k.clone(), v)),
            other => Err(refuse(path, format!("key {other:?} is not a string"))),
        })
        .collect()
}

fn sequence<'v>(v: &'v Value, path: &str) -> Result<&'v [Value], SpecError> {
    match v {
        Value::Sequence(s) => Ok(s),
        _ => Err(refuse(path, "expected a list")),
    }
}

fn scalar(v: &Value, path: &str) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(refuse(path, "expected a string")),
    }
}

fn string(v: &Value, path: &str) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(refuse(path, "expected a string")),
    }
}

fn integer(v: &Value, path: &str) -> Result<i64, SpecError> {
    v.as_i64().ok_or_else(|| refuse(path, "expected a whole number"))
}

fn string_map(v: &Value, path: &str) -> Result<BTreeMap<String, String>, SpecError> {
    if v.is_null() {
        return Ok(BTreeMap::new());
    }
    entries(v, path)?.into_iter().map(|(k, v)| Ok((k.clone(), scalar(v, &join(path, &k))?))).collect()
}

#[derive(Default)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Server-set metadata, ignored with a warning.
const SERVER_METADATA: &[&str] = &[
    "generation",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "finalizers",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn metadata(w: &mut Walk, v: &Value, path: &str, template: bool) -> Result<Metadata, SpecError> {
    let mut m = Metadata::default();
    for (key, v) in entries(v, path)? {
        let at = join(path, &key);
        match key.as_str() {
            "name" if template => w.warn(&at, "ignored: sedge keeps no revision names"),
            "name" => m.name = Some(string(v, &at)?),
            "namespace" if !template => m.namespace = Some(string(v, &at)?).filter(|n| !n.is_empty()),
            "labels" => m.labels = string_map(v, &at)?,
            "annotations" => m.annotations = string_map(v, &at)?,
            k if SERVER_METADATA.contains(&k) => w.warn(&at, "ignored: set by the server"),
            _ => return Err(unknown(&at)),
        }
    }
    Ok(m)
}

fn convert(doc: &Value) -> Result<KnativeService, SpecError> {
    let mut w = Walk { warnings: Vec::new() };
    let top = entries(doc, "")?;
    let field = |name: &str| top.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    match field("apiVersion").map(|v| string(v, "apiVersion")).transpose()? {
        Some(v) if v == API_VERSION => {}
        Some(v) => return Err(refuse("apiVersion", format!("{v:?} is not supported: use {API_VERSION}"))),
        None => return Err(refuse("apiVersion", format!("missing: use {API_VERSION}"))),
    }
    match field("kind").map(|v| string(v, "kind")).transpose()? {
        Some(v) if v == "Service" => {}
        Some(v) => return Err(refuse("kind", format!("{v:?} is not supported: use Service"))),
        None => return Err(refuse("kind", "missing: use Service")),
    }
    for (key, _) in &top {
        match key.as_str() {
            "apiVersion" | "kind" | "metadata" | "spec" => {}
            "status" => w.warn("status", "ignored: sedge reports status through /system/functions"),
            other => return Err(unknown(other)),
        }
    }
    let meta = metadata(&mut w, field("metadata").ok_or_else(|| refuse("metadata", "missing"))?, "metadata", false)?;
    let name = meta.name.clone().ok_or_else(|| refuse("metadata.name", "missing: name the service"))?;
    let spec = field("spec").ok_or_else(|| refuse("spec", "missing"))?;
    let mut template = None;
    for (key, v) in entries(spec, "spec")? {
        match key.as_str() {
            "template" => template = Some(v),
            "traffic" => traffic(&mut w, v)?,
            _ => return Err(unknown(&join("spec", &key))),
        }
    }
    let template = template.ok_or_else(|| refuse("spec.template", "missing"))?;
    let mut tmeta = Metadata::default();
    let mut pod = None;
    for (key, v) in entries(template, "spec.template")? {
        match key.as_str() {
            "metadata" => tmeta = metadata(&mut w, v, "spec.template.metadata", true)?,
            "spec" => pod = Some(v),
            _ => return Err(unknown(&join("spec.template", &key))),
        }
    }
    let pod = pod.ok_or_else(|| refuse("spec.template.spec", "missing"))?;
    let mut labels = meta.labels;
    labels.extend(tmeta.labels);
    let mut annotations = meta.annotations;
    annotations.extend(tmeta.annotations);
    annotations.insert(SOURCE_ANNOTATION.into(), KNATIVE_SERVICE_SOURCE.into());
    let mut d = FunctionDeployment { service: name, namespace: meta.namespace, ..Default::default() };
    pod_spec(&mut w, pod, &mut d, &mut annotations)?;
    d.labels = Some(labels).filter(|l| !l.is_empty());
    d.annotations = Some(annotations);
    Ok(KnativeService { deployment: d, warnings: w.warnings })
}

fn traffic(w: &mut Walk, v: &Value) -> Result<(), SpecError> {
    let path = "spec.traffic";
    let targets = sequence(v, path)?;
    let not_latest = || refuse(path, "only 100 % to the latest revision is supported (sedge keeps one revision)");
    let [target] = targets else { return Err(not_latest()) };
    let mut latest = true;
    let mut percent = 100;
    for (key, v) in entries(target, "spec.traffic[0]")? {
        let at = format!("spec.traffic[0].{key}");
        match key.as_str() {
            "latestRevision" => latest = v.as_bool().ok_or_else(|| refuse(&at, "expected true or false"))?,
            "percent" => percent = integer(v, &at)?,
            "tag" => w.warn(&at, "ignored: sedge gives the service one URL"),
            "revisionName" | "configurationName" => return Err(not_latest()),
            _ => return Err(unknown(&at)),
        }
    }
    if latest && percent == 100 { Ok(()) } else { Err(not_latest()) }
}

/// Pod-level fields ignored with a warning: scheduling and identity, meaningless on one machine.
const HARMLESS_POD: &[&str] = &[
    "serviceAccountName",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "imagePullSecrets",
    "nodeSelector",
    "affinity",
    "tolerations",
    "priorityClassName",
    "schedulerName",
    "topologySpreadConstraints",
    "dnsPolicy",
    "dnsConfig",
    "runtimeClassName",
    "terminationGracePeriodSeconds",
];

fn pod_spec(
    w: &mut Walk,
    v: &Value,
    d: &mut FunctionDeployment,
    annotations: &mut BTreeMap<String, String>,
) -> Result<(), SpecError> {
    let path = "spec.template.spec";
    let mut env = BTreeMap::new();
    let mut containers = None;
    let mut timeout = DEFAULT_TIMEOUT_SECONDS;
    for (key, v) in entries(v, path)? {
        let at = join(path, &key);
        match key.as_str() {
            "containers" => containers = Some(sequence(v, &at)?),
            "containerConcurrency" => {
                let cc = integer(v, &at)?;
                if !(0..=MAX_CONTAINER_CONCURRENCY as i64).contains(&cc) {
                    return Err(refuse(&at, format!("{cc} is outside [0, {MAX_CONTAINER_CONCURRENCY}]")));
                }
                if cc > 0 {
                    env.insert("max_inflight".to_string(), cc.to_string());
                }
            }
            "timeoutSeconds" => {
                let t = integer(v, &at)?;
                if t <= 0 || t > MAX_TIMEOUT_SECONDS as i64 {
                    return Err(refuse(&at, format!("{t} is outside (0, {MAX_TIMEOUT_SECONDS}]")));
                }
                timeout = t as u64;
            }
            "responseStartTimeoutSeconds" | "idleTimeoutSeconds" => {
                w.warn(&at, "ignored: sedge bounds a call by timeoutSeconds only")
            }
            "volumes" => return Err(refuse(&at, "volumes are not supported: sedge mounts nothing into functions")),
            "initContainers" => return Err(refuse(&at, "init containers are not supported")),
            "securityContext" => security_context(w, v, &at, None)?,
            k if HARMLESS_POD.contains(&k) => w.warn(&at, "ignored: sedge runs functions on this machine"),
            _ => return Err(unknown(&at)),
        }
    }
    let containers = containers.ok_or_else(|| refuse(&join(path, "containers"), "missing: give one container"))?;
    let [container] = containers else {
        return Err(refuse(
            &join(path, "containers"),
            format!("{} containers given: sedge runs exactly one per function", containers.len()),
        ));
    };
    let user_env = self::container(w, container, &format!("{path}.containers[0]"), d, annotations)?;
    if let Some(mode) = user_env.get("mode").filter(|m| *m != "http") {
        return Err(refuse(
            &format!("{path}.containers[0].env"),
            format!("mode {mode:?}: a Knative container is a server on $PORT, so mode must be http"),
        ));
    }
    let mut all = user_env;
    env.insert("mode".into(), "http".into());
    env.insert("write_timeout".into(), format!("{timeout}s"));
    env.insert("exec_timeout".into(), format!("{timeout}s"));
    all.extend(env);
    d.env_vars = Some(all);
    Ok(())
}

fn security_context(
    w: &mut Walk,
    v: &Value,
    path: &str,
    mut d: Option<&mut FunctionDeployment>,
) -> Result<(), SpecError> {
    for (key, v) in entries(v, path)? {
        let at = join(path, &key);
        match key.as_str() {
            "runAsUser" | "runAsGroup" => {
                return Err(refuse(&at, "not supported: functions run as the user that runs sedge"));
            }
            "readOnlyRootFilesystem" if d.is_some() => {
                let ro = v.as_bool().ok_or_else(|| refuse(&at, "expected true or false"))?;
                if let Some(d) = d.as_deref_mut() {
                    d.read_only_root_filesystem = ro;
                }
            }
            _ => w.warn(&at, "ignored: sedge applies no security context"),
        }
    }
    Ok(())
}

/// Returns the container's own environment variables.
fn container(
    w: &mut Walk,
    v: &Value,
    path: &str,
    d: &mut FunctionDeployment,
    annotations: &mut BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SpecError> {
    let fields = entries(v, path)?;
    // Ports first: probes are checked against them.
    let mut port_names = Vec::new();
    let mut port = DEFAULT_PORT;
    let mut command: Option<Vec<String>> = None;
    let mut args: Option<Vec<String>> = None;
    let mut env = BTreeMap::new();
    if let Some((_, ports)) = fields.iter().find(|(k, _)| k == "ports") {
        let at = join(path, "ports");
        for (i, p) in sequence(ports, &at)?.iter().enumerate() {
            for (key, v) in entries(p, &format!("{at}[{i}]"))? {
                match key.as_str() {
                    "containerPort" => port = integer(v, &format!("{at}[{i}].containerPort"))? as u64,
                    "name" => port_names.push(scalar(v, &format!("{at}[{i}].name"))?),
                    _ => {}
                }
            }
        }
        w.warn(&at, "ignored: sedge gives each replica its own PORT (read $PORT)");
    }
    for (key, v) in &fields {
        let at = join(path, key);
        match key.as_str() {
            "name" | "ports" => {}
            "image" => d.image = string(v, &at)?,
            "command" => command = Some(words(v, &at)?),
            "args" => args = Some(words(v, &at)?),
            "env" => env = env_list(v, &at)?,
            "resources" => resources(w, v, &at, d)?,
            "readinessProbe" => {
                if let Some(p) = probe(w, v, &at, port, &port_names)? {
                    annotations.insert(READY_PATH_ANNOTATION.into(), p);
                }
            }
            "livenessProbe" | "startupProbe" => w.warn(&at, "ignored: sedge restarts a replica when its process exits"),
            "imagePullPolicy" => w.warn(&at, "ignored: sedge pulls no images"),
            "terminationMessagePath" | "terminationMessagePolicy" => w.warn(&at, "ignored"),
            "securityContext" => security_context(w, v, &at, Some(d))?,
            "volumeMounts" => {
                return Err(refuse(&at, "volumes are not supported: sedge mounts nothing into functions"));
            }
            "envFrom" => return Err(refuse(&at, "not supported: give each variable in env")),
            "workingDir" | "lifecycle" => return Err(refuse(&at, "not supported")),
            _ => return Err(unknown(&at)),
        }
    }
    if d.image.is_empty() {
        return Err(refuse(&join(path, "image"), "missing: name a sedge bundle or a program"));
    }
    d.env_process = match (command, args) {
        (Some(c), a) => Some(c.into_iter().chain(a.unwrap_or_default()).collect::<Vec<_>>().join(" ")),
        (None, Some(a)) => Some(std::iter::once(d.image.clone()).chain(a).collect::<Vec<_>>().join(" ")),
        (None, None) => None,
    }
    .filter(|p| !p.is_empty());
    Ok(env)
}

fn words(v: &Value, path: &str) -> Result<Vec<String>, SpecError> {
    sequence(v, path)?
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let at = format!("{path}[{i}]");
            let w = scalar(w, &at)?;
            if w.is_empty() || w.contains(char::is_whitespace) {
                return Err(refuse(
                    &at,
                    format!("{w:?} is empty or has whitespace: sedge splits the command on spaces"),
                ));
            }
            Ok(w)
        })
        .collect()
}

fn env_list(v: &Value, path: &str) -> Result<BTreeMap<String, String>, SpecError> {
    let mut env = BTreeMap::new();
    for (i, item) in sequence(v, path)?.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let (mut name, mut value) = (None, String::new());
        for (key, v) in entries(item, &at)? {
            match key.as_str() {
                "name" => name = Some(string(v, &join(&at, "name"))?),
                "value" => value = scalar(v, &join(&at, "value"))?,
                "valueFrom" => {
                    return Err(refuse(&join(&at, "valueFrom"), "not supported: give the value (or use a secret)"));
                }
                _ => return Err(unknown(&join(&at, &key))),
            }
        }
        env.insert(name.ok_or_else(|| refuse(&join(&at, "name"), "missing"))?, value);
    }
    Ok(env)
}

fn resources(w: &mut Walk, v: &Value, path: &str, d: &mut FunctionDeployment) -> Result<(), SpecError> {
    for (key, v) in entries(v, path)? {
        let at = join(path, &key);
        let slot = match key.as_str() {
            "limits" => &mut d.limits,
            "requests" => &mut d.requests,
            "claims" => {
                w.warn(&at, "ignored: sedge allocates no resource claims");
                continue;
            }
            _ => return Err(unknown(&at)),
        };
        let mut r = FunctionResources::default();
        for (name, q) in entries(v, &at)? {
            let qat = join(&at, &name);
            let value = Some(scalar(q, &qat)?);
            match name.as_str() {
                "cpu" => r.cpu = value,
                "memory" => r.memory = value,
                "nvidia.com/gpu" => r.nvidia_gpu = value,
                "amd.com/gpu" => r.amd_gpu = value,
                "intel.com/gpu" => r.intel_gpu = value,
                _ => w.warn(&qat, "ignored: sedge accounts only cpu, memory and GPUs"),
            }
        }
        *slot = Some(r);
    }
    Ok(())
}

/// Checks a readiness probe; returns its HTTP path, if any.
fn probe(w: &mut Walk, v: &Value, path: &str, port: u64, names: &[String]) -> Result<Option<String>, SpecError> {
    let mut ready_path = None;
    let check_port = |v: &Value, at: &str| -> Result<(), SpecError> {
        let same = match v {
            Value::Number(n) => n.as_u64() == Some(port),
            Value::String(s) => names.contains(s) || s.parse::<u64>().ok() == Some(port),
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(refuse(
                at,
                format!("the probe must use the container's port ({port}): sedge probes the server on $PORT"),
            ))
        }
    };
    for (key, v) in entries(v, path)? {
        let at = join(path, &key);
        match key.as_str() {
            "httpGet" => {
                for (k, v) in entries(v, &at)? {
                    let kat = join(&at, &k);
                    match k.as_str() {
                        "path" => ready_path = Some(string(v, &kat)?),
                        "port" => check_port(v, &kat)?,
                        "scheme" if v.as_str() == Some("HTTP") => {}
                        "httpHeaders" => w.warn(&kat, "ignored: the probe sends no extra headers"),
                        _ => return Err(refuse(&kat, "not supported")),
                    }
                }
                if ready_path.is_none() {
                    ready_path = Some("/".into());
                }
            }
            "tcpSocket" => {
                for (k, v) in entries(v, &at)? {
                    match k.as_str() {
                        "port" => check_port(v, &join(&at, &k))?,
                        _ => return Err(refuse(&join(&at, &k), "not supported")),
                    }
                }
            }
            "exec" | "grpc" => {
                return Err(refuse(&at, "not supported: sedge probes over HTTP (httpGet) or TCP (tcpSocket)"));
            }
            "periodSeconds"
            | "initialDelaySeconds"
            | "timeoutSeconds"
            | "failureThreshold"
            | "successThreshold"
            | "terminationGracePeriodSeconds" => w.warn(&at, "ignored: sedge probes every 20 ms until ready"),
            _ => return Err(unknown(&at)),
        }
    }
    Ok(ready_path)
}

#[cfg(test)]
mod tests;
