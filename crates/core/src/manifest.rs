//! sedge's own YAML (SPEC §4) for what `stack.yml` cannot say: `kind: ModelFunction` documents, turned into the
//! same [`FunctionDeployment`] the OpenFaaS API carries (the model and its settings ride in annotations), so
//! that one validated [`crate::FunctionSpec`] sits behind every format.
//!
//! ```yaml
//! apiVersion: sedge.dev/v1
//! kind: ModelFunction
//! metadata: { name: mnist }
//! spec:
//!   model: ./models/mnist_cnn.onnx
//!   engine: auto
//!   input:  { image: { size: [28, 28], color: gray, layout: NCHW, scale: 0.00392157 } }
//!   output: { softmax: false, topK: 3 }
//!   batching: { maxBatchSize: 32, maxQueueDelay: 2ms }
//!   scaling: { min: 1, max: 4 }
//! ```
//!
//! Relative paths (`model`, `output.labels`) are left as written; the caller resolves them against the file's
//! folder with [`ModelFunction::resolve_paths`].

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::SpecError;
use crate::api::FunctionDeployment;
use crate::model::{MODEL_ANNOTATION, MODEL_CONFIG_ANNOTATION, ModelConfig, ModelSource};
use crate::spec::{SCALE_MAX_LABEL, SCALE_MIN_LABEL};

/// The `apiVersion` of sedge's own documents.
pub const API_VERSION: &str = "sedge.dev/v1";
/// The image name given to model functions, which run no image.
pub const MODEL_IMAGE: &str = "sedge/model";

/// One `kind: ModelFunction` document, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFunction {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.model`.
    pub model: ModelSource,
    /// The rest of `spec`.
    pub config: ModelConfig,
    /// `spec.scaling.min`.
    pub min: Option<u32>,
    /// `spec.scaling.max`.
    pub max: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDoc {
    api_version: String,
    kind: String,
    metadata: RawMetadata,
    spec: serde_yaml::Mapping,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScaling {
    #[serde(default)]
    min: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
}

/// Whether `text` looks like sedge's own YAML (an `apiVersion: sedge.dev/…` document) rather than a stack file.
pub fn is_sedge_yaml(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("apiVersion:") && l.contains("sedge.dev/"))
}

/// Parses every document of a sedge YAML file (documents separated by `---`).
pub fn parse(text: &str) -> Result<Vec<ModelFunction>, SpecError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = |path: String| if i == 0 { path } else { format!("[document {}].{path}", i + 1) };
        let raw: RawDoc = serde_path_to_error::deserialize(doc)
            .map_err(|e| SpecError::new(at(e.path().to_string()), e.into_inner().to_string()))?;
        out.push(ModelFunction::from_raw(raw).map_err(|e| SpecError::new(at(e.path), e.message))?);
    }
    if out.is_empty() {
        return Err(SpecError::new("", "the file holds no document"));
    }
    Ok(out)
}

impl ModelFunction {
    fn from_raw(raw: RawDoc) -> Result<Self, SpecError> {
        if raw.api_version != API_VERSION {
            return Err(SpecError::new(
                "apiVersion",
                format!("{:?} is not supported: use {API_VERSION}", raw.api_version),
            ));
        }
        if raw.kind != "ModelFunction" {
            return Err(SpecError::new("kind", format!("{:?} is not a kind sedge knows: use ModelFunction", raw.kind)));
        }
        let mut spec = raw.spec;
        let model = match spec.remove("model") {
            Some(serde_yaml::Value::String(s)) => {
                ModelSource::parse(&s).map_err(|m| SpecError::new("spec.model", m))?
            }
            Some(_) => return Err(SpecError::new("spec.model", "must be a path or registry:NAME")),
            None => return Err(SpecError::new("spec.model", "is missing: give the path of an .onnx file")),
        };
        let scaling: RawScaling = match spec.remove("scaling") {
            None => RawScaling::default(),
            Some(v) => serde_path_to_error::deserialize(v)
                .map_err(|e| SpecError::new(format!("spec.scaling.{}", e.path()), e.into_inner().to_string()))?,
        };
        let config: ModelConfig = serde_path_to_error::deserialize(serde_yaml::Value::Mapping(spec))
            .map_err(|e| SpecError::new(format!("spec.{}", e.path()), e.into_inner().to_string()))?;
        config.validate().map_err(|e| e.within("spec"))?;
        let meta = raw.metadata;
        Ok(Self {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels,
            annotations: meta.annotations,
            model,
            config,
            min: scaling.min,
            max: scaling.max,
        })
    }

    /// Rewrites relative file paths (`model`, `output.labels`) with `resolve`, e.g. against the file's folder.
    pub fn resolve_paths(&mut self, resolve: impl Fn(&str) -> String) {
        if let ModelSource::File(path) = &mut self.model {
            *path = resolve(path);
        }
        if let Some(labels) = self.config.output.as_mut().and_then(|o| o.labels.as_mut()) {
            *labels = resolve(labels);
        }
    }

    /// The deployment the OpenFaaS API carries for this model function.
    pub fn to_deployment(&self) -> FunctionDeployment {
        let mut labels = self.labels.clone();
        if let Some(min) = self.min {
            labels.insert(SCALE_MIN_LABEL.into(), min.to_string());
        }
        if let Some(max) = self.max {
            labels.insert(SCALE_MAX_LABEL.into(), max.to_string());
        }
        let mut annotations = self.annotations.clone();
        annotations.insert(MODEL_ANNOTATION.into(), self.model.to_string());
        // Serialising a plain data struct to JSON cannot fail.
        let config = serde_json::to_string(&self.config).unwrap_or_default();
        annotations.insert(MODEL_CONFIG_ANNOTATION.into(), config);
        FunctionDeployment {
            service: self.name.clone(),
            image: MODEL_IMAGE.into(),
            namespace: self.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            ..FunctionDeployment::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FunctionSpec;
    use crate::model::{EngineChoice, Task};

    const DOC: &str = "apiVersion: sedge.dev/v1
kind: ModelFunction
metadata: { name: mnist }
spec:
  model: ./models/mnist_cnn.onnx
  engine: tract
  input:  { image: { size: [28, 28], color: gray, layout: NCHW, scale: 0.00392157 } }
  output: { softmax: false, topK: 3, labels: labels.txt }
  batching: { maxBatchSize: 16, maxQueueDelay: 2ms }
  scaling: { min: 2, max: 4 }
";

    #[test]
    fn a_model_function_becomes_a_deployment_and_back() {
        assert!(is_sedge_yaml(DOC));
        let mut docs = parse(DOC).expect("parses");
        assert_eq!(docs.len(), 1);
        let doc = &mut docs[0];
        doc.resolve_paths(|p| format!("/srv/{p}"));
        let spec = FunctionSpec::try_from(doc.to_deployment()).expect("valid");
        assert_eq!(spec.min_replicas, 2);
        assert_eq!(spec.max_replicas, Some(4));
        let model = spec.model.expect("a model function");
        assert_eq!(model.source, ModelSource::File("/srv/./models/mnist_cnn.onnx".into()));
        assert_eq!(model.config.engine, EngineChoice::Tract);
        assert_eq!(model.config.task, Task::Tensor);
        assert_eq!(model.config.batching.max_batch_size, 16);
        assert_eq!(model.config.batching.max_queue_delay, std::time::Duration::from_millis(2));
        assert_eq!(model.config.output.and_then(|o| o.labels).as_deref(), Some("/srv/labels.txt"));
        assert_eq!(model.config.input.image.and_then(|i| i.size), Some((28, 28)));
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases = [
            (DOC.replace("engine: tract", "engine: cuda"), "spec.engine"),
            (DOC.replace("maxBatchSize: 16", "maxBatchSize: 0"), "spec.batching.maxBatchSize"),
            (DOC.replace("maxQueueDelay: 2ms", "maxQueueDelay: soon"), "spec.batching.maxQueueDelay"),
            (DOC.replace("  engine: tract\n", "  engin: tract\n"), "spec.engin"),
            (DOC.replace("  model: ./models/mnist_cnn.onnx\n", ""), "spec.model"),
            (DOC.replace("kind: ModelFunction", "kind: Function"), "kind"),
            (DOC.replace("min: 2", "min: -1"), "spec.scaling.min"),
            (DOC.replace("color: gray", "color: purple"), "spec.input.image.color"),
        ];
        for (text, path) in cases {
            let err = parse(&text).expect_err(path);
            assert_eq!(err.path, path, "{err}");
        }
    }

    #[test]
    fn annotations_carry_yaml_config_and_errors_point_into_it() {
        let mut d = FunctionDeployment { service: "m".into(), image: "x".into(), ..Default::default() };
        let mut annotations = BTreeMap::from([(MODEL_ANNOTATION.to_string(), "/m.onnx".to_string())]);
        annotations.insert(MODEL_CONFIG_ANNOTATION.into(), "engine: ort\nbatching: { maxBatchSize: 4 }\n".into());
        d.annotations = Some(annotations.clone());
        let spec = FunctionSpec::try_from(d.clone()).expect("valid");
        let config = spec.model.expect("model").config;
        assert_eq!((config.engine, config.batching.max_batch_size), (EngineChoice::Ort, 4));

        annotations.insert(MODEL_CONFIG_ANNOTATION.into(), "batching: { maxBatchSize: 64, queue: 8 }".into());
        d.annotations = Some(annotations.clone());
        let err = FunctionSpec::try_from(d.clone()).expect_err("queue below batch");
        assert_eq!(err.path, "annotations.com.sedge.model.config.batching.queue", "{err}");

        annotations.insert(MODEL_ANNOTATION.into(), " ".into());
        d.annotations = Some(annotations);
        let err = FunctionSpec::try_from(d).expect_err("empty model");
        assert_eq!(err.path, "annotations.com.sedge.model", "{err}");
    }
}
