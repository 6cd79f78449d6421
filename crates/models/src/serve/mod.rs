//! Serving one model: [`ServedModel`] owns a loaded engine and its adaptive batcher, and answers inference
//! requests — OIP v2 ones from the `/v2` routes, and whatever people send to `/function/{name}` (images, arrays,
//! OIP bodies; see [`input`]). Inference runs on tokio's blocking pool through the batcher, never on a worker.
//!
//! # Layout
//! - `mod.rs`: [`ServedModel`]: load, metadata, [`ServedModel::infer`], [`ServedModel::handle`], drain.
//! - [`load`]: choosing the engine (`auto | ort | tract`, native trees).
//! - [`batching`]: joining requests into one engine call and splitting the outputs.
//! - [`input`]: telling apart the bodies `/function/{name}` accepts.
//! - [`metrics`]: per-model Prometheus metrics (batch size, queue and inference time, load time).
//! - [`error`]: [`ServeError`] and its HTTP status.

pub mod batching;
pub mod error;
pub mod input;
pub mod load;
pub mod metrics;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sedge_core::model::{ModelConfig, Task};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::batch::{BatchObserver, BatchPolicy, Batcher};
use crate::engine::{Engine, EngineError, Shaped};
use crate::faceblur::{FaceBlur, FaceBlurResponse};
use crate::oip::{
    Datatype, InferRequest, InferResponse, Limits, ModelMetadata, Parameters, Signature, Tensor, TensorData,
    TensorMetadata, encode_response,
};
use crate::prep::{ImageSpec, Postprocess, decode_image, to_tensor};
pub use error::ServeError;
pub use load::EngineKind;

/// Facts about a loaded model, for `describe`, `/v2` metadata and metrics.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// sha256 of the model file, hex.
    pub sha256: String,
    /// The version reported over `/v2`: the first 12 hex digits of the sha256.
    pub version: String,
    /// The engine it runs on.
    pub engine: EngineKind,
    /// How long loading took (decode, checks, first plan).
    pub load_time: Duration,
    /// The model file's size.
    pub size_bytes: usize,
}

/// An answer to `/function/{name}`.
#[derive(Debug)]
pub struct Reply {
    /// The body.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: &'static str,
    /// `Inference-Header-Content-Length`, when the body uses the binary extension.
    pub header_len: Option<usize>,
}

type ModelBatcher = Batcher<Vec<Shaped>, Vec<Shaped>, EngineError>;

/// One loaded model instance with its batcher.
pub struct ServedModel {
    name: String,
    info: ModelInfo,
    metadata: ModelMetadata,
    signature: Signature,
    engine: Arc<dyn Engine>,
    batcher: ModelBatcher,
    image: Option<ImageSpec>,
    post: Option<Postprocess>,
    faceblur: Option<FaceBlur>,
    limits: Limits,
}

impl ServedModel {
    /// Loads `bytes` (whose sha256 is `sha256`) per `config` on the blocking pool and starts its batcher, which
    /// stops with `shutdown`. `labels` are the lines of the output's labels file, already read.
    pub async fn load(
        name: String,
        bytes: Arc<Vec<u8>>,
        sha256: String,
        config: &ModelConfig,
        labels: Option<Vec<String>>,
        observer: Option<BatchObserver>,
        shutdown: &CancellationToken,
    ) -> Result<Self, ServeError> {
        let started = Instant::now();
        let engine_config = config.clone();
        let engine_bytes = bytes.clone();
        let (engine, kind) = tokio::task::spawn_blocking(move || load::load_engine(&engine_bytes, &engine_config))
            .await
            .map_err(|e| ServeError::Load(EngineError::Model(format!("loading panicked: {e}"))))?
            .map_err(ServeError::Load)?;
        let load_time = started.elapsed();
        let info = ModelInfo {
            version: sha256.chars().take(12).collect(),
            sha256,
            engine: kind,
            load_time,
            size_bytes: bytes.len(),
        };
        let b = &config.batching;
        let policy = BatchPolicy::new(b.max_batch_size, b.max_queue_delay, b.queue)
            .map_err(|e| ServeError::Load(EngineError::Model(e.to_string())))?;
        let max_rows = engine.max_batch().unwrap_or(b.max_batch_size);
        let runner = engine.clone();
        let batcher = Batcher::spawn(
            policy,
            Arc::new(move |items| batching::run_batch(runner.as_ref(), items, max_rows)),
            observer,
            shutdown,
        );
        let faceblur = (config.task == Task::FaceBlur).then(FaceBlur::new);
        let signature = Signature::new(engine.inputs().to_vec(), engine.outputs().to_vec());
        let (inputs, outputs) = if faceblur.is_some() {
            let bytes = |name: &str| TensorMetadata { name: name.into(), datatype: Datatype::Bytes, shape: vec![-1] };
            (vec![bytes("image")], vec![bytes("image"), bytes("faces")])
        } else {
            (signature.inputs.clone(), signature.outputs.clone())
        };
        let metadata = ModelMetadata {
            name: name.clone(),
            versions: vec![info.version.clone()],
            platform: "onnx_onnxv1".into(),
            inputs,
            outputs,
        };
        let post = config.output.as_ref().map(|spec| Postprocess::new(spec, labels));
        Ok(Self {
            name,
            info,
            metadata,
            signature,
            engine,
            batcher,
            image: config.input.image.clone(),
            post,
            faceblur,
            limits: Limits::default(),
        })
    }

    /// The model's name (its function's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Facts about the loaded file and engine.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// What `GET /v2/models/{name}` answers.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Requests waiting in the batch queue.
    pub fn queued(&self) -> usize {
        self.batcher.queued()
    }

    /// Stops taking requests; queued ones fail with 503, the running batch finishes.
    pub fn close(&self) {
        self.batcher.close();
    }

    /// Resolves once the batcher has stopped and its last batch has answered.
    pub async fn drained(&self) {
        self.batcher.drained().await;
    }

    /// Runs an OIP v2 request. Image inputs may come as BYTES tensors when the model declares image
    /// pre-processing; a face-blur model takes its `image` BYTES tensor.
    pub async fn infer(&self, mut req: InferRequest) -> Result<InferResponse, ServeError> {
        if self.faceblur.is_some() {
            return self.infer_faceblur(req).await;
        }
        self.images_to_tensors(&mut req)?;
        self.signature.validate(&req)?;
        let mut rows = None;
        let mut inputs = Vec::with_capacity(self.signature.inputs.len());
        for meta in &self.signature.inputs {
            let position = req.inputs.iter().position(|i| i.name == meta.name);
            let tensor = req.inputs.swap_remove(position.ok_or_else(|| ServeError::Input(meta.name.clone()))?);
            let shape: Vec<usize> = tensor.shape.iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
            let n = shape.first().copied().unwrap_or(0);
            if *rows.get_or_insert(n) != n {
                return Err(ServeError::Input(format!(
                    "input \"{}\" has {n} rows but another input has {}: every input needs the same batch size",
                    meta.name,
                    rows.unwrap_or(0)
                )));
            }
            inputs.push(Shaped::new(shape, tensor.data));
        }
        let outputs = self.batcher.submit(inputs).await.map_err(|e| ServeError::from_batch(&self.name, e))?;
        let wanted = req.outputs.as_ref().map(|o| o.iter().map(|o| o.name.as_str()).collect::<Vec<_>>());
        let outputs = self
            .signature
            .outputs
            .iter()
            .zip(outputs)
            .filter(|(meta, _)| wanted.as_ref().is_none_or(|w| w.contains(&meta.name.as_str())))
            .map(|(meta, out)| Tensor::new(meta.name.clone(), out.shape.iter().map(|&d| d as u64).collect(), out.data))
            .collect();
        Ok(InferResponse {
            model_name: self.name.clone(),
            model_version: Some(self.info.version.clone()),
            id: req.id,
            parameters: Parameters::new(),
            outputs,
        })
    }

    /// Answers a `/function/{name}` call: see [`input`] for what the body may be. OIP bodies get an OIP answer;
    /// images and arrays get `{"predictions": …}` when the model declares output post-processing, else the OIP
    /// answer. A face-blur model answers seed 002's text form, or JSON when `accept` asks for it.
    pub async fn handle(
        &self,
        body: &[u8],
        header_len: Option<usize>,
        accept: Option<&str>,
    ) -> Result<Reply, ServeError> {
        if let Some(faceblur) = &self.faceblur {
            let (engine, faceblur, frame) = (self.engine.clone(), faceblur.clone(), frame_bytes(body));
            let output = tokio::task::spawn_blocking(move || faceblur.run(engine.as_ref(), &frame))
                .await
                .map_err(|e| ServeError::Engine(EngineError::Run(format!("face blur panicked: {e}"))))??;
            let response = FaceBlurResponse::from(output);
            if accept.is_some_and(|a| a.contains("application/json")) {
                let body = serde_json::to_vec(&response).map_err(|e| ServeError::Input(e.to_string()))?;
                return Ok(Reply { body, content_type: "application/json", header_len: None });
            }
            return Ok(Reply {
                body: response.to_seed_text().into_bytes(),
                content_type: "text/plain",
                header_len: None,
            });
        }
        let single = match self.signature.inputs.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        let (request, oip) = match input::classify(body, header_len, single, &self.limits)? {
            input::Body::Tensors { request, oip } => (request, oip),
            input::Body::Image(bytes) => (self.image_request(&bytes)?, false),
        };
        let answer = request.without_inputs();
        let response = self.infer(request).await?;
        if !oip && let Some(post) = &self.post {
            let predictions = self.predictions(post, &response)?;
            let body = serde_json::to_vec(&json!({ "model_name": self.name, "predictions": predictions }))
                .map_err(|e| ServeError::Input(e.to_string()))?;
            return Ok(Reply { body, content_type: "application/json", header_len: None });
        }
        let (body, header_len) = encode_response(&response, |name| answer.wants_binary_output(name));
        let content_type = if header_len.is_some() { "application/octet-stream" } else { "application/json" };
        Ok(Reply { body, content_type, header_len })
    }

    /// A one-row request from image bytes, through the model's declared pre-processing.
    fn image_request(&self, bytes: &[u8]) -> Result<InferRequest, ServeError> {
        let (Some(spec), [meta]) = (&self.image, self.signature.inputs.as_slice()) else {
            return Err(ServeError::Input(format!(
                "model {} declares no image pre-processing (input.image): send a tensor, not an image",
                self.name
            )));
        };
        let image = decode_image(bytes)?;
        let tensor = to_tensor(&image, spec)?;
        let shape = tensor.shape.iter().map(|&d| d as u64).collect();
        let data = cast(TensorData::F32(tensor.data), meta.datatype)?;
        Ok(InferRequest { inputs: vec![Tensor::new(meta.name.clone(), shape, data)], ..InferRequest::default() })
    }

    /// Replaces BYTES tensors sent for a numeric image input by their pre-processed images, row by row.
    fn images_to_tensors(&self, req: &mut InferRequest) -> Result<(), ServeError> {
        let Some(spec) = &self.image else { return Ok(()) };
        for input in &mut req.inputs {
            let Some(meta) = self.signature.inputs.iter().find(|m| m.name == input.name) else { continue };
            let TensorData::Bytes(images) = &input.data else { continue };
            if meta.datatype == Datatype::Bytes {
                continue;
            }
            let mut data = Vec::new();
            let mut shape = Vec::new();
            for bytes in images {
                let tensor = to_tensor(&decode_image(bytes)?, spec)?;
                shape = tensor.shape.to_vec();
                data.extend(tensor.data);
            }
            if let Some(first) = shape.first_mut() {
                *first = images.len();
            }
            let data = cast(TensorData::F32(data), meta.datatype)?;
            *input = Tensor::new(input.name.clone(), shape.iter().map(|&d| d as u64).collect(), data);
        }
        Ok(())
    }

    /// The first output ranked per row by the declared post-processing.
    fn predictions(&self, post: &Postprocess, response: &InferResponse) -> Result<serde_json::Value, ServeError> {
        let Some(first) = response.outputs.first() else { return Ok(json!([])) };
        let scores: Vec<f32> = match &first.data {
            TensorData::F32(v) => v.clone(),
            TensorData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            other => {
                return Err(ServeError::Input(format!(
                    "output \"{}\" is {}, not scores: remove the output block",
                    first.name,
                    other.datatype()
                )));
            }
        };
        let classes = first.shape.iter().skip(1).product::<u64>() as usize;
        let rows = post.apply(&scores, classes)?;
        let rows: Vec<Vec<serde_json::Value>> = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|p| match p.label {
                        Some(label) => json!({ "index": p.index, "label": label, "score": p.score }),
                        None => json!({ "index": p.index, "score": p.score }),
                    })
                    .collect()
            })
            .collect();
        Ok(json!(rows))
    }

    /// A face-blur request over `/v2`: each element of the `image` BYTES tensor is a frame.
    async fn infer_faceblur(&self, req: InferRequest) -> Result<InferResponse, ServeError> {
        let Some(faceblur) = self.faceblur.clone() else {
            return Err(ServeError::Input("not a face-blur model".into()));
        };
        let frames = match req.inputs.as_slice() {
            [Tensor { data: TensorData::Bytes(frames), .. }] => frames.clone(),
            _ => {
                return Err(ServeError::Input(
                    "a face-blur model takes one BYTES input `image` holding PNG/JPEG frames (or base64 of them)"
                        .into(),
                ));
            }
        };
        let engine = self.engine.clone();
        let results = tokio::task::spawn_blocking(move || {
            frames.iter().map(|f| faceblur.run(engine.as_ref(), f)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| ServeError::Engine(EngineError::Run(format!("face blur panicked: {e}"))))??;
        let n = results.len() as u64;
        let mut images = Vec::new();
        let mut faces = Vec::new();
        let mut timings = Vec::new();
        for out in results {
            faces.push(serde_json::to_vec(&out.faces).map_err(|e| ServeError::Input(e.to_string()))?);
            timings.push(json!({ "handler": out.timings.handler, "ml": out.timings.ml }));
            images.push(out.image_base64.into_bytes());
        }
        let mut parameters = Parameters::new();
        parameters.insert("timings".into(), json!(timings));
        Ok(InferResponse {
            model_name: self.name.clone(),
            model_version: Some(self.info.version.clone()),
            id: req.id,
            parameters,
            outputs: vec![
                Tensor::new("image", vec![n], TensorData::Bytes(images)),
                Tensor::new("faces", vec![n], TensorData::Bytes(faces)),
            ],
        })
    }
}

/// The frame in a face-blur body: the body itself, or the base64 string of a JSON body (`"…"` or
/// `{"image": "…"}` / `{"img": "…"}`).
fn frame_bytes(body: &[u8]) -> Vec<u8> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = match &value {
            serde_json::Value::String(s) => Some(s.as_str()),
            serde_json::Value::Object(o) => o.get("image").or_else(|| o.get("img")).and_then(|v| v.as_str()),
            _ => None,
        };
        if let Some(text) = text {
            return text.as_bytes().to_vec();
        }
    }
    body.to_vec()
}

/// Converts pre-processed image values to the model input's datatype (FP32, FP64, FP16 or UINT8).
fn cast(data: TensorData, datatype: Datatype) -> Result<TensorData, ServeError> {
    let TensorData::F32(values) = data else { return Ok(data) };
    Ok(match datatype {
        Datatype::F32 => TensorData::F32(values),
        Datatype::F64 => TensorData::F64(values.into_iter().map(f64::from).collect()),
        Datatype::F16 => TensorData::F16(values.into_iter().map(crate::oip::f32_to_f16).collect()),
        Datatype::U8 => TensorData::U8(values.into_iter().map(|v| v.clamp(0.0, 255.0) as u8).collect()),
        other => return Err(ServeError::Input(format!("an image cannot feed an input of type {other}"))),
    })
}
