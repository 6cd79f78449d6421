//! sedge's domain: what a function *is*, independent of where or how it runs.
//!
//! This crate parses every accepted input format into one validated type and says clearly what is wrong when it
//! cannot. It does **not** do I/O, spawn tasks, or know about HTTP servers, databases or processes: those live in
//! `sedge-store`, `sedge-runtime` and `sedge-gateway`, which all depend on this crate.
//!
//! # Layout
//! - [`name`]: DNS-1123 function, namespace and secret names; `name.namespace` addressing.
//! - [`autoscale`]: pure autoscaling deciders (OpenFaaS Pro's policy, Knative's KPA, HPA on CPU) and
//!   [`autoscale::Scaling`], the choice between them.
//! - [`duration`]: Go-style duration strings (`1m05s`, `500ms`) and plain seconds, as OpenFaaS accepts them.
//! - [`quantity`]: Kubernetes resource quantities (`128Mi`, `100m`).
//! - [`bundle`]: the manifest of a function bundle built by `sedge build`.
//! - [`api`]: the OpenFaaS gateway's JSON wire types (`FunctionDeployment`, `FunctionStatus`, …).
//! - [`knative_service`]: Knative Services (`serving.knative.dev/v1`) into deployments, with warnings.
//! - [`manifest`]: sedge's own YAML (`kind: ModelFunction`) into deployments.
//! - [`model`]: [`model::ModelSpec`], a model function's model, engine, batching and pre/post-processing.
//! - [`spec`]: [`FunctionSpec`], the validated function every other crate works with, and its watchdog settings.
//! - [`stack`]: `stack.yml` (faas-cli's format, version 1.0) into deployments.
//! - [`error`]: [`SpecError`], an error that names the field at fault.

pub mod api;
pub mod autoscale;
pub mod bundle;
pub mod duration;
pub mod error;
pub mod knative_service;
pub mod manifest;
pub mod model;
pub mod name;
pub mod quantity;
pub mod spec;
pub mod stack;

pub use error::SpecError;
pub use name::{DEFAULT_NAMESPACE, QualifiedName};
pub use spec::{FunctionSpec, Mode, Timeouts};
