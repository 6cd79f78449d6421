//! [`FunctionSpec`]: one validated function, whatever format it came from (OpenFaaS API, `stack.yml`).
//!
//! Watchdog settings travel as environment variables, as they do for OpenFaaS users (`fprocess`, `mode`,
//! `read_timeout`, `write_timeout`, `exec_timeout`, `max_inflight`, `combine_output`, `content_type`); scaling
//! settings as `com.openfaas.scale.*` labels or `autoscaling.knative.dev/*` annotations (see [`Scaling`]). They
//! are read and checked here once, so the runtime never parses.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::{FunctionDeployment, FunctionResources};
use crate::autoscale::Scaling;
use crate::autoscale::scaling::{ScalingInput, is_knative};
use crate::model::ModelSpec;
use crate::name::{QualifiedName, validate_secret_name};
use crate::{SpecError, duration, quantity};

/// Label that chooses the process mode when the `mode` environment variable is not set.
pub const MODE_LABEL: &str = "com.sedge.mode";
/// Label with the minimum (and initial) replica count.
pub const SCALE_MIN_LABEL: &str = "com.openfaas.scale.min";
/// Label with the maximum replica count.
pub const SCALE_MAX_LABEL: &str = "com.openfaas.scale.max";
/// Label with the number of calls that may wait per function when every replica is at `max_inflight`.
pub const QUEUE_LABEL: &str = "com.sedge.queue";
/// The largest value of [`QUEUE_LABEL`].
pub const MAX_QUEUE: u32 = 100_000;
/// Annotation naming the HTTP path that must answer 2xx before an http-mode replica is ready.
pub const READY_PATH_ANNOTATION: &str = "com.openfaas.ready.http.path";

/// How a process function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Classic watchdog: one process per request, body on stdin, stdout is the response.
    Fork,
    /// of-watchdog `http`: one long-running server per replica, listening on `PORT`.
    Http,
}

/// The timeout chain of one function (see ARCHITECTURE.md, "Timeouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for the request body.
    pub read: Duration,
    /// Longest wait for the function's response, counted from arrival; past it the gateway answers 502.
    pub write: Duration,
    /// Longest run of the function; past it the process is killed (408 in fork mode, 504 in http mode).
    /// `None` (`exec_timeout=0`, the classic watchdog's default) leaves only `write` to bound the call.
    pub exec: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { read: Duration::from_secs(30), write: Duration::from_secs(30), exec: None }
    }
}

/// A validated function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Name and namespace.
    pub name: QualifiedName,
    /// The deployment as submitted, with `service` and `namespace` normalised; echoed back by the API.
    pub deployment: FunctionDeployment,
    /// The command (`fprocess` split on spaces); `None` when the image's bundle provides it.
    pub process: Option<Vec<String>>,
    /// Process mode; `None` when the image's bundle decides (fork unless the bundle says otherwise).
    pub mode: Option<Mode>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Concurrent requests per replica; excess requests get 429. `None` = unlimited.
    pub max_inflight: Option<u32>,
    /// Fork mode: stderr joins stdout in the response (classic watchdog default `true`).
    pub combine_output: bool,
    /// Fork mode: forced response Content-Type; `None` echoes the request's.
    pub content_type: Option<String>,
    /// Http mode: the path that must answer 2xx before a replica takes traffic; `None` = TCP connect.
    pub ready_path: Option<String>,
    /// Replicas at deploy time (`com.openfaas.scale.min`, default 1), raised to the autoscaling policy's
    /// minimum (`autoscaling.knative.dev/min-scale`) when that is higher.
    pub min_replicas: u32,
    /// Upper bound for replicas (`com.openfaas.scale.max`, else the autoscaling policy's bound, e.g.
    /// `autoscaling.knative.dev/max-scale`).
    pub max_replicas: Option<u32>,
    /// How replicas are chosen: [`Scaling::Static`] (as the user sets them), OpenFaaS Pro's policy (any of
    /// [`crate::autoscale::scaling::OPENFAAS_LABELS`]), or Knative's KPA / HPA (any `autoscaling.knative.dev/*`
    /// annotation, or a converted Knative Service). For KPA, `containerConcurrency` is `max_inflight` (0 when
    /// unset).
    pub scaling: Scaling,
    /// How many calls may wait for a slot when every replica is at its `max_inflight` limit (label
    /// `com.sedge.queue`, 0..=100000). Default 0 for OpenFaaS-style functions (the watchdog answers 429 at once);
    /// for Knative functions `10 × containerConcurrency` (queue-proxy's queue depth), or 0 when concurrency is
    /// unlimited.
    pub queue: u32,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_limit: Option<u64>,
    /// Set for a model function (annotation `com.sedge.model`): the gateway serves the model in-process and
    /// `process`/`mode` do not apply.
    pub model: Option<ModelSpec>,
}

impl FunctionSpec {
    /// Environment variables as given (watchdog settings included, as OpenFaaS passes them to the process too).
    pub fn env(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.deployment.env_vars.as_ref().unwrap_or(&EMPTY)
    }

    /// Names of the secrets this function may read.
    pub fn secrets(&self) -> &[String] {
        self.deployment.secrets.as_deref().unwrap_or(&[])
    }

    /// Replicas a new deployment starts with: a Knative function's `initial-scale` (0 allowed, as with
    /// Knative's `allow-zero-initial-scale`: the first call wakes it), never below `min-scale`; otherwise
    /// `min_replicas`.
    pub fn initial_replicas(&self) -> u32 {
        match &self.scaling {
            Scaling::Knative(kpa) => kpa.initial_scale.max(kpa.min),
            _ => self.min_replicas,
        }
    }

    /// Labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.deployment.labels.as_ref().unwrap_or(&EMPTY)
    }
}

impl TryFrom<FunctionDeployment> for FunctionSpec {
    type Error = SpecError;

    fn try_from(mut d: FunctionDeployment) -> Result<Self, SpecError> {
        let name = QualifiedName::new(&d.service, d.namespace.as_deref()).map_err(|e| e.within("service"))?;
        d.namespace = Some(name.namespace.clone());
        let env = d.env_vars.clone().unwrap_or_default();
        let labels = d.labels.clone().unwrap_or_default();
        let annotations = d.annotations.clone().unwrap_or_default();
        let env_field = |key: &str| env.get(key).map(|v| (format!("envVars.{key}"), v.as_str()));

        let process = match d.env_process.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(split_process(p)),
            None => env.get("fprocess").filter(|p| !p.trim().is_empty()).map(|p| split_process(p)),
        };

        let mode = match env_field("mode")
            .or_else(|| labels.get(MODE_LABEL).map(|v| (format!("labels.{MODE_LABEL}"), v.as_str())))
        {
            None => None,
            Some((path, value)) => Some(parse_mode(value).map_err(|e| e.within(&path))?),
        };

        let positive = |key: &str, default: Duration| -> Result<Duration, SpecError> {
            match env_field(key) {
                None => Ok(default),
                Some((path, v)) => match duration::parse(v).map_err(|e| e.within(&path))? {
                    Duration::ZERO => Err(SpecError::new(path, "must be greater than 0")),
                    d => Ok(d),
                },
            }
        };
        let defaults = Timeouts::default();
        let exec = match env_field("exec_timeout") {
            None => defaults.exec,
            Some((path, v)) => Some(duration::parse(v).map_err(|e| e.within(&path))?).filter(|d| !d.is_zero()),
        };
        let timeouts = Timeouts {
            read: positive("read_timeout", defaults.read)?,
            write: positive("write_timeout", defaults.write)?,
            exec,
        };

        let max_inflight = match env_field("max_inflight") {
            None => None,
            Some((path, v)) => Some(parse_number::<u32>(v, &path)?).filter(|n| *n > 0),
        };
        let combine_output = match env_field("combine_output") {
            None => true,
            Some((path, v)) => parse_bool(v, &path)?,
        };
        let content_type = env.get("content_type").filter(|v| !v.is_empty()).cloned();
        let ready_path = match annotations.get(READY_PATH_ANNOTATION) {
            None => None,
            Some(p) if p.starts_with('/') => Some(p.clone()),
            Some(p) => {
                return Err(SpecError::new(
                    format!("annotations.{READY_PATH_ANNOTATION}"),
                    format!("{p:?} is not a path: it must start with '/'"),
                ));
            }
        };

        let (memory_limit, cpu_limit) = check_resources(d.limits.as_ref(), "limits")?;
        let (_, cpu_request) = check_resources(d.requests.as_ref(), "requests")?;
        let container_concurrency = max_inflight.unwrap_or(0);
        let scaling = Scaling::choose(ScalingInput {
            labels: &labels,
            annotations: &annotations,
            container_concurrency,
            cpu_request_millicores: cpu_request.or(cpu_limit),
        })?;

        let scale_label = |key: &str| -> Result<Option<u32>, SpecError> {
            labels.get(key).map(|v| parse_number::<u32>(v, &format!("labels.{key}"))).transpose()
        };
        let min_replicas = scale_label(SCALE_MIN_LABEL)?.unwrap_or(1).max(scaling.min().unwrap_or(0));
        let max_label = scale_label(SCALE_MAX_LABEL)?;
        let max_replicas = max_label.or(scaling.max());
        if let Some(max) = max_replicas.filter(|max| *max < min_replicas) {
            let path = match max_label {
                Some(_) => format!("labels.{SCALE_MAX_LABEL}"),
                None => "annotations.autoscaling.knative.dev/max-scale".to_string(),
            };
            return Err(SpecError::new(
                path,
                format!(
                    "{max} is below the minimum replica count ({min_replicas}, from {SCALE_MIN_LABEL} or min-scale)"
                ),
            ));
        }
        let queue = match labels.get(QUEUE_LABEL) {
            Some(v) => {
                let path = format!("labels.{QUEUE_LABEL}");
                parse_number::<u32>(v, &path)
                    .ok()
                    .filter(|q| *q <= MAX_QUEUE)
                    .ok_or_else(|| SpecError::new(path, format!("{v:?} is not a whole number in [0, {MAX_QUEUE}]")))?
            }
            None if scaling.is_knative() || is_knative(&annotations) => {
                container_concurrency.saturating_mul(10).min(MAX_QUEUE)
            }
            None => 0,
        };

        for (i, secret) in d.secrets.iter().flatten().enumerate() {
            validate_secret_name(secret).map_err(|e| SpecError::new(format!("secrets[{i}]"), e.message))?;
        }
        let model = ModelSpec::from_annotations(&annotations)?;

        Ok(Self {
            name,
            deployment: d,
            process,
            mode,
            timeouts,
            max_inflight,
            combine_output,
            content_type,
            ready_path,
            min_replicas,
            max_replicas,
            scaling,
            queue,
            memory_limit,
            cpu_limit,
            model,
        })
    }
}

/// Splits `fprocess` into argv on spaces, without a shell, as both watchdogs do.
pub fn split_process(fprocess: &str) -> Vec<String> {
    fprocess.split_ascii_whitespace().map(str::to_string).collect()
}

fn parse_mode(value: &str) -> Result<Mode, SpecError> {
    match value {
        "http" => Ok(Mode::Http),
        // of-watchdog's streaming and serializing modes fork per request too; sedge serves both as fork mode.
        "fork" | "classic" | "streaming" | "serializing" => Ok(Mode::Fork),
        other => Err(SpecError::new("", format!("{other:?} is not a mode: use \"fork\" or \"http\""))),
    }
}

pub(crate) fn parse_number<T: std::str::FromStr>(value: &str, path: &str) -> Result<T, SpecError> {
    value.trim().parse().map_err(|_| SpecError::new(path, format!("{value:?} is not a whole number")))
}

pub(crate) fn parse_bool(value: &str, path: &str) -> Result<bool, SpecError> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(SpecError::new(path, format!("{value:?} is not a boolean: use true or false"))),
    }
}

fn check_resources(r: Option<&FunctionResources>, path: &str) -> Result<(Option<u64>, Option<u64>), SpecError> {
    let Some(r) = r else { return Ok((None, None)) };
    let memory =
        r.memory.as_deref().map(quantity::parse_memory).transpose().map_err(|e| e.within(&format!("{path}.memory")))?;
    let cpu = r.cpu.as_deref().map(quantity::parse_cpu).transpose().map_err(|e| e.within(&format!("{path}.cpu")))?;
    Ok((memory, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(env: &[(&str, &str)]) -> FunctionDeployment {
        FunctionDeployment {
            service: "sleepy".into(),
            image: "sleepy:latest".into(),
            env_vars: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_watchdog_settings() {
        let spec = FunctionSpec::try_from(deployment(&[
            ("fprocess", "sleep 3"),
            ("read_timeout", "5s"),
            ("write_timeout", "8"),
            ("exec_timeout", "2s"),
            ("max_inflight", "1"),
            ("combine_output", "false"),
            ("mode", "http"),
        ]))
        .unwrap();
        assert_eq!(spec.process, Some(vec!["sleep".to_string(), "3".to_string()]));
        assert_eq!(spec.timeouts.read, Duration::from_secs(5));
        assert_eq!(spec.timeouts.write, Duration::from_secs(8));
        assert_eq!(spec.timeouts.exec, Some(Duration::from_secs(2)));
        assert_eq!(spec.max_inflight, Some(1));
        assert!(!spec.combine_output);
        assert_eq!(spec.mode, Some(Mode::Http));
        assert_eq!(spec.name.namespace, "openfaas-fn");
        assert_eq!(spec.deployment.namespace.as_deref(), Some("openfaas-fn"));
    }

    #[test]
    fn env_process_wins_over_fprocess_env() {
        let mut d = deployment(&[("fprocess", "cat")]);
        d.env_process = Some("wc -l".into());
        assert_eq!(FunctionSpec::try_from(d).unwrap().process.unwrap(), ["wc", "-l"]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = FunctionSpec::try_from(deployment(&[("exec_timeout", "soon")])).unwrap_err();
        assert_eq!(e.path, "envVars.exec_timeout");
        let e = FunctionSpec::try_from(deployment(&[("write_timeout", "0")])).unwrap_err();
        assert_eq!(e.to_string(), "envVars.write_timeout: must be greater than 0");
        let e = FunctionSpec::try_from(deployment(&[("mode", "turbo")])).unwrap_err();
        assert_eq!(e.path, "envVars.mode");
        let mut d = deployment(&[]);
        d.limits = Some(FunctionResources { memory: Some("12x".into()), ..Default::default() });
        let e = FunctionSpec::try_from(d).unwrap_err();
        assert!(e.to_string().starts_with("limits.memory: \"12x\" is not a quantity"), "{e}");
        let mut d = deployment(&[]);
        d.service = "../etc".into();
        assert_eq!(FunctionSpec::try_from(d).unwrap_err().path, "service");
        let mut d = deployment(&[]);
        d.secrets = Some(vec!["../../root".into()]);
        assert_eq!(FunctionSpec::try_from(d).unwrap_err().path, "secrets[0]");
        let mut d = deployment(&[]);
        d.labels = Some([(SCALE_MIN_LABEL.to_string(), "two".to_string())].into());
        assert_eq!(FunctionSpec::try_from(d).unwrap_err().path, "labels.com.openfaas.scale.min");
    }

    fn labelled(labels: &[(&str, &str)], annotations: &[(&str, &str)], env: &[(&str, &str)]) -> FunctionDeployment {
        let map = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        FunctionDeployment { labels: map(labels), annotations: map(annotations), ..deployment(env) }
    }

    #[test]
    fn scaling_and_queue_are_chosen() {
        let spec = FunctionSpec::try_from(deployment(&[])).unwrap();
        assert_eq!((spec.scaling.clone(), spec.queue), (Scaling::Static, 0));
        let spec =
            FunctionSpec::try_from(labelled(&[("com.openfaas.scale.type", "capacity")], &[], &[("max_inflight", "4")]))
                .unwrap();
        assert!(matches!(spec.scaling, Scaling::OpenFaas(_)));
        assert_eq!(spec.queue, 0, "OpenFaaS functions answer 429 at once");
        let spec = FunctionSpec::try_from(labelled(
            &[],
            &[("autoscaling.knative.dev/min-scale", "2"), ("autoscaling.knative.dev/max-scale", "5")],
            &[("max_inflight", "4")],
        ))
        .unwrap();
        let Scaling::Knative(kpa) = &spec.scaling else { panic!("{:?}", spec.scaling) };
        assert_eq!(kpa.total, 4.0, "containerConcurrency is max_inflight");
        assert_eq!(spec.initial_replicas(), 2, "initial-scale 1, raised to min-scale 2");
        assert_eq!((spec.queue, spec.min_replicas, spec.max_replicas), (40, 2, Some(5)), "10 × containerConcurrency");
        let spec = FunctionSpec::try_from(labelled(&[], &[("autoscaling.knative.dev/window", "10s")], &[])).unwrap();
        assert_eq!(spec.queue, 0, "unlimited concurrency: no queue");
        let spec =
            FunctionSpec::try_from(labelled(&[(QUEUE_LABEL, "7")], &[("autoscaling.knative.dev/window", "10s")], &[]))
                .unwrap();
        assert_eq!(spec.queue, 7);
        let mut d = labelled(&[], &[("autoscaling.knative.dev/class", "hpa.autoscaling.knative.dev")], &[]);
        d.requests = Some(FunctionResources { cpu: Some("250m".into()), ..Default::default() });
        let Scaling::Hpa(hpa) = FunctionSpec::try_from(d).unwrap().scaling else { panic!() };
        assert_eq!(hpa.request_millicores, 250.0);
        let mut d = labelled(&[], &[("autoscaling.knative.dev/class", "hpa.autoscaling.knative.dev")], &[]);
        d.limits = Some(FunctionResources { cpu: Some("0.5".into()), ..Default::default() });
        let Scaling::Hpa(hpa) = FunctionSpec::try_from(d).unwrap().scaling else { panic!() };
        assert_eq!(hpa.request_millicores, 500.0, "limits.cpu when no request");
        let zero = labelled(&[], &[("autoscaling.knative.dev/initial-scale", "0")], &[]);
        assert_eq!(FunctionSpec::try_from(zero).unwrap().initial_replicas(), 0, "deployed at zero, woken by a call");
        assert_eq!(FunctionSpec::try_from(deployment(&[])).unwrap().initial_replicas(), 1);
    }

    #[test]
    fn bad_scaling_settings_are_named() {
        for (labels, annotations, path) in [
            (vec![("com.openfaas.scale.target", "-3")], vec![], "labels.com.openfaas.scale.target"),
            (vec![("com.openfaas.scale.zero-duration", "5 apples")], vec![], "labels.com.openfaas.scale.zero-duration"),
            (vec![(SCALE_MIN_LABEL, "3"), (SCALE_MAX_LABEL, "2")], vec![], "labels.com.openfaas.scale.max"),
            (vec![(QUEUE_LABEL, "100001")], vec![], "labels.com.sedge.queue"),
            (vec![(QUEUE_LABEL, "-1")], vec![], "labels.com.sedge.queue"),
            (vec![], vec![("autoscaling.knative.dev/metric", "gpu")], "annotations.autoscaling.knative.dev/metric"),
            (vec![], vec![("autoscaling.knative.dev/class", "x")], "annotations.autoscaling.knative.dev/class"),
            (vec![], vec![("autoscaling.knative.dev/class", "hpa.autoscaling.knative.dev")], "requests.cpu"),
            (
                vec![(SCALE_MIN_LABEL, "4")],
                vec![("autoscaling.knative.dev/max-scale", "2")],
                "annotations.autoscaling.knative.dev/max-scale",
            ),
        ] {
            let e = FunctionSpec::try_from(labelled(&labels, &annotations, &[])).expect_err(path);
            assert_eq!(e.path, path, "{e}");
        }
        let e = FunctionSpec::try_from(labelled(&[(QUEUE_LABEL, "x")], &[], &[])).unwrap_err();
        assert!(e.message.contains("[0, 100000]"), "{e}");
    }

    #[test]
    fn exec_zero_disables() {
        let spec = FunctionSpec::try_from(deployment(&[("exec_timeout", "0")])).unwrap();
        assert_eq!(spec.timeouts.exec, None);
        assert_eq!(spec.min_replicas, 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_bodies_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            if let Ok(d) = crate::error::from_json::<FunctionDeployment>(&bytes) {
                let _ = FunctionSpec::try_from(d);
            }
        }

        #[test]
        fn arbitrary_watchdog_settings_never_panic(key in "(read|write|exec)_timeout|max_inflight|combine_output|mode", value in "\\PC{0,12}") {
            let _ = FunctionSpec::try_from(deployment(&[(key.as_str(), value.as_str())]));
        }
    }
}
