//! Model functions' domain: [`ModelSpec`] (what a model function serves and how), parsed from the annotations
//! a deployment carries (`com.sedge.model`, `com.sedge.model.config`) and from sedge's own `ModelFunction` YAML
//! (see [`crate::manifest`]), with the image pre-processing ([`ImageSpec`]) and output post-processing
//! ([`OutputSpec`]) a model declares. Pure: nothing here reads the model file.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SpecError;

/// Annotation naming the model: a path to an `.onnx` file, or `registry:NAME[:VERSION|@STAGE]`.
pub const MODEL_ANNOTATION: &str = "com.sedge.model";
/// Annotation holding the rest of the model's settings as YAML or JSON ([`ModelConfig`]).
pub const MODEL_CONFIG_ANNOTATION: &str = "com.sedge.model.config";
/// Annotation the gateway sets to the sha256 of the model file it loaded (read back on restart).
pub const MODEL_SHA256_ANNOTATION: &str = "com.sedge.model.sha256";

/// Where a model's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// An ONNX file on the gateway's machine.
    File(String),
    /// A model in sedge's registry (issue #7): `registry:NAME`, `registry:NAME:VERSION`, `registry:NAME@STAGE`.
    Registry(String),
}

impl ModelSource {
    /// Parses the `com.sedge.model` annotation's value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("is empty: give the path of an .onnx file".into());
        }
        match value.strip_prefix("registry:") {
            Some("") => Err("names no model after `registry:`".into()),
            Some(reference) => Ok(Self::Registry(reference.to_string())),
            None => Ok(Self::File(value.to_string())),
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.write_str(path),
            Self::Registry(reference) => write!(f, "registry:{reference}"),
        }
    }
}

/// Which inference engine runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// onnxruntime when its library is found, else tract.
    #[default]
    Auto,
    /// onnxruntime (the `ort` crate, library loaded at run time); refused at deploy when it is not installed.
    Ort,
    /// tract, pure Rust, always available.
    Tract,
}

/// What a model function does with a request beyond running the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Tensors in, tensors out (with the declared image pre- and output post-processing).
    #[default]
    Tensor,
    /// Seed 002's face blur: a CenterFace detector, its boxes blurred in the frame, frame and boxes returned.
    FaceBlur,
}

/// Adaptive batching settings (see `sedge_models::batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Batching {
    /// The most requests one engine call takes; 1 turns batching off.
    #[serde(default = "default_max_batch")]
    pub max_batch_size: usize,
    /// How long a burst that arrived while the engine was idle may wait for company (a lone request never waits).
    #[serde(default, with = "go_duration")]
    pub max_queue_delay: Duration,
    /// How many requests may wait per model instance before the next one is refused with 429.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self { max_batch_size: default_max_batch(), max_queue_delay: Duration::ZERO, queue: default_queue() }
    }
}

fn default_max_batch() -> usize {
    32
}

fn default_queue() -> usize {
    1024
}

/// The input block: how request images become the model's input tensor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputSpec {
    /// Image pre-processing; without it, images sent to the function are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
}

/// A model function's settings other than the model itself: the `spec` of a `ModelFunction` minus `model`, or
/// the YAML in the `com.sedge.model.config` annotation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelConfig {
    /// Engine choice.
    #[serde(default)]
    pub engine: EngineChoice,
    /// Intra-op threads per model instance (onnxruntime); default 1, so that instances scale with replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// What the function does around the model.
    #[serde(default)]
    pub task: Task,
    /// Input pre-processing.
    #[serde(default)]
    pub input: InputSpec,
    /// Output post-processing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    /// Adaptive batching.
    #[serde(default)]
    pub batching: Batching,
}

/// A validated model function: its model and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Where the model comes from.
    pub source: ModelSource,
    /// The sha256 (hex) of the file the gateway loaded, once it has.
    pub sha256: Option<String>,
    /// Everything else.
    pub config: ModelConfig,
}

impl ModelSpec {
    /// Reads a model function from a deployment's annotations; `Ok(None)` when `com.sedge.model` is absent.
    pub fn from_annotations(
        annotations: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Self>, SpecError> {
        let Some(model) = annotations.get(MODEL_ANNOTATION) else { return Ok(None) };
        let at = |key: &str| format!("annotations.{key}");
        let source = ModelSource::parse(model).map_err(|m| SpecError::new(at(MODEL_ANNOTATION), m))?;
        let config = match annotations.get(MODEL_CONFIG_ANNOTATION) {
            None => ModelConfig::default(),
            Some(text) => {
                let de = serde_yaml::Deserializer::from_str(text);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = e.path().to_string();
                    let path = if path == "." {
                        at(MODEL_CONFIG_ANNOTATION)
                    } else {
                        format!("{}.{path}", at(MODEL_CONFIG_ANNOTATION))
                    };
                    SpecError::new(path, e.into_inner().to_string())
                })?
            }
        };
        config.validate().map_err(|e| e.within(&at(MODEL_CONFIG_ANNOTATION)))?;
        let sha256 = annotations.get(MODEL_SHA256_ANNOTATION).cloned();
        Ok(Some(Self { source, sha256, config }))
    }
}

impl ModelConfig {
    /// Checks values serde cannot: batch size ≥ 1, queue ≥ batch size, threads ≥ 1, a valid image spec.
    pub fn validate(&self) -> Result<(), SpecError> {
        let b = &self.batching;
        if b.max_batch_size == 0 {
            return Err(SpecError::new("batching.maxBatchSize", "must be at least 1 (1 turns batching off)"));
        }
        if b.queue < b.max_batch_size {
            return Err(SpecError::new(
                "batching.queue",
                format!("{} is below maxBatchSize ({}): the queue must hold a full batch", b.queue, b.max_batch_size),
            ));
        }
        if self.threads == Some(0) {
            return Err(SpecError::new("threads", "must be at least 1"));
        }
        if let Some(image) = &self.input.image {
            image.validate().map_err(|m| SpecError::new("input.image", m))?;
        }
        Ok(())
    }
}

/// Durations as Go strings (`2ms`, `500us`) or plain seconds, as elsewhere in sedge's specs.
mod go_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}us", value.as_micros()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(text) => crate::duration::parse(&text).map_err(|e| serde::de::Error::custom(e.message)),
            Raw::Number(secs) if secs.is_finite() && secs >= 0.0 => Ok(Duration::from_secs_f64(secs)),
            Raw::Number(secs) => Err(serde::de::Error::custom(format!("{secs} is not a duration"))),
        }
    }
}

/// The colour channels a model expects, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// One channel: luma, `0.2126 R + 0.7152 G + 0.0722 B` (the `image` crate's conversion).
    #[serde(alias = "grey", alias = "GRAY", alias = "L")]
    Gray,
    /// Three channels, red first.
    #[default]
    #[serde(alias = "RGB")]
    Rgb,
    /// Three channels, blue first (OpenCV-style models).
    #[serde(alias = "BGR")]
    Bgr,
}

impl Color {
    /// How many channels this colour mode has: 1 or 3.
    pub fn channels(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb | Self::Bgr => 3,
        }
    }
}

/// Where the channel axis goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Layout {
    /// `[1, C, H, W]`: channel planes (PyTorch/ONNX convention).
    #[default]
    #[serde(rename = "NCHW", alias = "nchw")]
    Nchw,
    /// `[1, H, W, C]`: interleaved channels (TensorFlow convention).
    #[serde(rename = "NHWC", alias = "nhwc")]
    Nhwc,
}

/// How to turn a decoded image into a model's input tensor.
///
/// Order of operations: convert to [`ImageSpec::color`], resize to [`ImageSpec::size`], then each value is
/// `v = (pixel * scale - mean[c]) / std[c]` with `pixel` in `0..=255`, then laid out per [`ImageSpec::layout`].
/// `mean`/`std` hold one value per channel, or a single value for all channels; absent means 0 and 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    /// Target `[width, height]`; `None` keeps the image's own size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u32, u32)>,
    /// Channels and their order.
    #[serde(default)]
    pub color: Color,
    /// Channel axis position.
    #[serde(default)]
    pub layout: Layout,
    /// Multiplies each 0..=255 pixel first (`1/255` gives 0..1). Default 1.
    #[serde(default = "one")]
    pub scale: f32,
    /// Subtracted after scaling, per channel (in the model's channel order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// Divides after subtracting the mean, per channel (in the model's channel order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

fn one() -> f32 {
    1.0
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self { size: None, color: Color::default(), layout: Layout::default(), scale: 1.0, mean: None, std: None }
    }
}

impl ImageSpec {
    /// Checks the spec can be applied: non-zero size, finite scale, `mean`/`std` of length 1 or the channel
    /// count, finite, and `std` non-zero.
    pub fn validate(&self) -> Result<(), String> {
        if let Some((w, h)) = self.size
            && (w == 0 || h == 0)
        {
            return Err(format!("size [{w}, {h}] has a zero dimension"));
        }
        if !self.scale.is_finite() {
            return Err(format!("scale {} is not finite", self.scale));
        }
        self.per_channel("mean", self.mean.as_deref(), 0.0)?;
        let std = self.per_channel("std", self.std.as_deref(), 1.0)?;
        if std.contains(&0.0) {
            return Err("std has a zero".into());
        }
        Ok(())
    }

    /// `mean` or `std` expanded to exactly one value per channel.
    pub fn per_channel(&self, what: &str, values: Option<&[f32]>, default: f32) -> Result<Vec<f32>, String> {
        let channels = self.color.channels();
        let out = match values {
            None => vec![default; channels],
            Some([v]) => vec![*v; channels],
            Some(v) if v.len() == channels => v.to_vec(),
            Some(v) => {
                return Err(format!("{what} has {} values; {:?} needs 1 or {channels}", v.len(), self.color));
            }
        };
        if out.iter().any(|v| !v.is_finite()) {
            return Err(format!("{what} has a value that is not finite"));
        }
        Ok(out)
    }
}

/// The `output` block as written in a ModelFunction: `{ softmax: true, topK: 3, labels: ./labels.txt }`.
/// `labels` is a path; read it and pass its lines through [`parse_labels`] to build a [`Postprocess`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputSpec {
    /// Apply softmax to each row before ranking.
    #[serde(default)]
    pub softmax: bool,
    /// Keep only the best `topK` classes per row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Path of a labels file, one label per line, line `i` naming class `i`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
}
