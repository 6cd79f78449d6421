//! Autoscaling deciders, pure: observed load and a policy in, desired replicas out. No clock (the caller passes
//! `now`), no I/O; the loop that samples metrics and applies decisions lives in the runtime (issue #5).
//!
//! # Layout
//! - [`scaling`]: [`Scaling`], which of the policies below a function uses, chosen from its labels and
//!   annotations.
//! - [`openfaas`]: OpenFaaS Pro's policy from `com.openfaas.scale.*` labels (modes rps, capacity, cpu), its
//!   formula, the scale-down window and scale to zero after an idle duration.
//! - [`knative`]: Knative's KPA: stable and panic windows, rate limits, panic mode, scale-down delay, bounds,
//!   scale to zero after the stable window and grace period.
//! - [`hpa`]: Kubernetes HPA semantics for CPU (Knative's `hpa.autoscaling.knative.dev` class): tolerance,
//!   scale-up rate, scale-down stabilization.

pub mod hpa;
pub mod knative;
pub mod openfaas;
pub mod scaling;

pub use scaling::Scaling;
