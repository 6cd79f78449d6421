//! sedge's function runtime: where and how replicas run.
//!
//! The gateway knows functions only through the [`Provider`] trait and calls them through the [`Invoke`]
//! seam; the [`local`] provider runs replicas as processes on this machine. A Kubernetes provider slots in
//! beside it later without touching the gateway.
//!
//! # Layout
//! - [`autoscaler`]: the loop that applies the pure deciders of `sedge_core::autoscale` through the provider.
//! - [`provider`]: the [`Provider`] trait, replica states and counts.
//! - [`invoke`]: [`Call`], [`Deadlines`], [`InvokeError`], the [`Invoke`] trait.
//! - [`local`]: the local provider (fork and http modes, supervision, secrets).
//! - [`logs`]: captured replica output, per function.
//! - [`stats`]: per-function call counters (load for the autoscaler, cold starts).
//! - [`bundle`], [`build`], [`templates`]: function bundles made from handler folders (`sedge build`).

pub mod autoscaler;
pub mod build;
pub mod bundle;
pub mod invoke;
pub mod local;
pub mod logs;
pub mod provider;
pub mod stats;
pub mod templates;

pub use invoke::{Call, ColdStart, Deadlines, Invoke, InvokeError, ResponseBody};
pub use provider::{
    FetchedModel, FunctionLoad, ModelResolver, Provider, ProviderError, ReplicaCounts, ReplicaState, ReplicaUsage,
    Usage,
};
