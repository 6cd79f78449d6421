//! [`Scaling`]: which autoscaling policy a function uses, chosen once from its labels and annotations.
//!
//! - Any `autoscaling.knative.dev/*` annotation, or a deployment converted from a Knative Service
//!   ([`crate::knative_service`]), is a Knative function: KPA ([`knative::KpaConfig`]), or HPA on CPU
//!   ([`hpa::HpaPolicy`]) when `autoscaling.knative.dev/class` is `hpa.autoscaling.knative.dev`.
//! - Else any of the OpenFaaS Pro autoscaler labels in [`OPENFAAS_LABELS`] makes it an OpenFaaS function
//!   ([`openfaas::Policy`]). `com.openfaas.scale.min` / `max` alone do not: they only bound manual scaling.
//! - Else it is [`Scaling::Static`]: the replica count is whatever the user sets.

use std::collections::BTreeMap;

use super::{hpa, knative, openfaas};
use crate::SpecError;

/// Knative's autoscaler class annotation.
pub const CLASS_ANNOTATION: &str = "autoscaling.knative.dev/class";
/// The KPA class (the default).
pub const KPA_CLASS: &str = "kpa.autoscaling.knative.dev";
/// The HPA class.
pub const HPA_CLASS: &str = "hpa.autoscaling.knative.dev";
/// Annotation marking a deployment converted from a Knative Service; its value is [`KNATIVE_SERVICE_SOURCE`].
pub const SOURCE_ANNOTATION: &str = "com.sedge.source";
/// The value of [`SOURCE_ANNOTATION`] for a converted Knative Service.
pub const KNATIVE_SERVICE_SOURCE: &str = "serving.knative.dev/v1/Service";
/// The labels that opt a function into OpenFaaS Pro autoscaling.
pub const OPENFAAS_LABELS: [&str; 6] = [
    "com.openfaas.scale.type",
    "com.openfaas.scale.target",
    "com.openfaas.scale.target-proportion",
    "com.openfaas.scale.zero",
    "com.openfaas.scale.zero-duration",
    "com.openfaas.scale.down.window",
];

/// A function's autoscaling policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Scaling {
    /// No autoscaling: replicas are exactly what the user sets (bounded by `com.openfaas.scale.min/max`).
    Static,
    /// OpenFaaS Pro's policy (`com.openfaas.scale.*` labels).
    OpenFaas(openfaas::Policy),
    /// Knative's KPA (`autoscaling.knative.dev/*` annotations, class `kpa.autoscaling.knative.dev`).
    Knative(knative::KpaConfig),
    /// Kubernetes HPA on CPU (class `hpa.autoscaling.knative.dev`).
    Hpa(hpa::HpaPolicy),
}

/// What [`Scaling::choose`] reads from a function.
#[derive(Debug, Clone, Copy)]
pub struct ScalingInput<'a> {
    /// The function's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The function's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// Requests in flight per replica (`max_inflight`; 0 = unlimited): Knative's `containerConcurrency`.
    pub container_concurrency: u32,
    /// CPU each replica requests in millicores (`requests.cpu`, else `limits.cpu`), for HPA.
    pub cpu_request_millicores: Option<u64>,
}

impl Scaling {
    /// Chooses and validates the policy; a bad label or annotation is an error naming it and its allowed values.
    pub fn choose(input: ScalingInput<'_>) -> Result<Self, SpecError> {
        if is_knative(input.annotations) {
            let class = input.annotations.get(CLASS_ANNOTATION).map(|c| c.trim());
            return match class {
                None | Some(KPA_CLASS) => Ok(Self::Knative(knative::KpaConfig::from_annotations(
                    input.annotations,
                    input.container_concurrency,
                )?)),
                Some(HPA_CLASS) => {
                    Ok(Self::Hpa(hpa::HpaPolicy::from_annotations(input.annotations, input.cpu_request_millicores)?))
                }
                Some(other) => Err(SpecError::new(
                    format!("annotations.{CLASS_ANNOTATION}"),
                    format!("{other:?} is not an autoscaler class: use {KPA_CLASS} or {HPA_CLASS}"),
                )),
            };
        }
        if OPENFAAS_LABELS.iter().any(|l| input.labels.contains_key(*l)) {
            return Ok(Self::OpenFaas(openfaas::Policy::from_labels(input.labels)?));
        }
        Ok(Self::Static)
    }

    /// Whether this is one of Knative's policies (KPA or HPA).
    pub fn is_knative(&self) -> bool {
        matches!(self, Self::Knative(_) | Self::Hpa(_))
    }

    /// The fewest replicas the policy keeps while the function is in use, if it says.
    pub fn min(&self) -> Option<u32> {
        match self {
            Self::Static => None,
            Self::OpenFaas(p) => Some(p.min),
            Self::Knative(c) => Some(c.min),
            Self::Hpa(p) => Some(p.min),
        }
    }

    /// The most replicas the policy allows, if bounded.
    pub fn max(&self) -> Option<u32> {
        match self {
            Self::Static => None,
            Self::OpenFaas(p) => Some(p.max),
            Self::Knative(c) => Some(c.max).filter(|m| *m > 0),
            Self::Hpa(p) => Some(p.max).filter(|m| *m < u32::MAX),
        }
    }
}

/// Whether `annotations` make a function a Knative one: any `autoscaling.knative.dev/*` key, or the mark of a
/// converted Knative Service.
pub fn is_knative(annotations: &BTreeMap<String, String>) -> bool {
    annotations.keys().any(|k| k.starts_with(knative::PREFIX))
        || annotations.get(SOURCE_ANNOTATION).is_some_and(|v| v == KNATIVE_SERVICE_SOURCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn choose(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Result<Scaling, SpecError> {
        Scaling::choose(ScalingInput {
            labels: &map(labels),
            annotations: &map(annotations),
            container_concurrency: 4,
            cpu_request_millicores: Some(100),
        })
    }

    #[test]
    fn the_choice_follows_labels_and_annotations() {
        assert_eq!(choose(&[], &[]).unwrap(), Scaling::Static);
        assert_eq!(
            choose(&[("com.openfaas.scale.min", "2"), ("com.openfaas.scale.max", "4")], &[]).unwrap(),
            Scaling::Static
        );
        let Scaling::OpenFaas(p) = choose(&[("com.openfaas.scale.zero", "true")], &[]).unwrap() else { panic!() };
        assert!(p.zero);
        let Scaling::Knative(c) =
            choose(&[("com.openfaas.scale.zero", "true")], &[("autoscaling.knative.dev/min-scale", "1")]).unwrap()
        else {
            panic!("knative annotations win")
        };
        assert_eq!((c.min, c.total), (1, 4.0), "containerConcurrency is max_inflight");
        let Scaling::Knative(c) = choose(&[], &[(SOURCE_ANNOTATION, KNATIVE_SERVICE_SOURCE)]).unwrap() else {
            panic!()
        };
        assert_eq!(c.min, 0);
        let Scaling::Hpa(p) =
            choose(&[], &[(CLASS_ANNOTATION, HPA_CLASS), ("autoscaling.knative.dev/metric", "cpu")]).unwrap()
        else {
            panic!()
        };
        assert_eq!((p.target_percent, p.request_millicores), (80.0, 100.0));
        let Scaling::Knative(c) = choose(&[], &[("autoscaling.knative.dev/minScale", "3")]).unwrap() else { panic!() };
        assert_eq!(c.min, 3, "legacy camelCase alias");
    }

    #[test]
    fn bad_values_name_the_key_and_range() {
        for (labels, annotations, path, says) in [
            (vec![("com.openfaas.scale.target", "-3")], vec![], "labels.com.openfaas.scale.target", "positive"),
            (
                vec![("com.openfaas.scale.zero-duration", "5 apples")],
                vec![],
                "labels.com.openfaas.scale.zero-duration",
                "not a duration",
            ),
            (
                vec![
                    ("com.openfaas.scale.type", "rps"),
                    ("com.openfaas.scale.min", "5"),
                    ("com.openfaas.scale.max", "2"),
                ],
                vec![],
                "labels.com.openfaas.scale.max",
                "below",
            ),
            (vec![], vec![(CLASS_ANNOTATION, "magic")], "annotations.autoscaling.knative.dev/class", HPA_CLASS),
            (
                vec![],
                vec![("autoscaling.knative.dev/metric", "memory")],
                "annotations.autoscaling.knative.dev/metric",
                "concurrency or rps",
            ),
            (
                vec![],
                vec![(CLASS_ANNOTATION, HPA_CLASS), ("autoscaling.knative.dev/metric", "memory")],
                "annotations.autoscaling.knative.dev/metric",
                "only cpu",
            ),
            (
                vec![],
                vec![("autoscaling.knative.dev/target", "-3")],
                "annotations.autoscaling.knative.dev/target",
                "≥ 0.01",
            ),
        ] {
            let err = choose(&labels, &annotations).expect_err(path);
            assert_eq!(err.path, path, "{err}");
            assert!(err.message.contains(says), "{err}");
        }
    }
}
