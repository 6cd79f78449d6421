//! sedge's function runtime: where and how replicas run.
//!
//! The gateway knows functions only through the [`Provider`] trait; the local provider here runs replicas as
//! processes on this machine. A Kubernetes provider slots in beside it later without touching the gateway.

pub mod bundle;
pub mod build;
pub mod templates;
