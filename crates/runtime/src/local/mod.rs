//! The local provider: every replica is a process on this machine (fork mode: one per call; http mode: one
//! long-running server per replica), supervised by sedge itself. No Docker, no Kubernetes.
//!
//! # Layout
//! - [`command`]: resolving what to run (fprocess or bundle), checked at deploy time.
//! - [`fork`]: one process per call, classic watchdog semantics.
//! - [`http`]: proxying to a replica's server, of-watchdog http semantics.
//! - [`replica`]: replica state, in-flight slots, http-mode supervision with restarts.
//! - [`function`]: a function's replicas and its least-in-flight router.
//! - [`secrets`]: secret files, readable only by the function that names them.

pub mod command;
pub mod fork;
pub mod function;
pub mod http;
pub mod replica;
pub mod secrets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use sedge_core::{FunctionSpec, QualifiedName};

use crate::invoke::Invoke;
use crate::logs::LogHub;
use crate::provider::{Provider, ProviderError, ReplicaCounts};
use function::LocalFunction;

/// Runs functions as processes on this machine.
pub struct LocalProvider {
    state_dir: PathBuf,
    functions: RwLock<HashMap<QualifiedName, Arc<LocalFunction>>>,
    client: http::HttpClient,
    logs: Arc<LogHub>,
}

impl LocalProvider {
    /// A provider keeping bundles, run folders and logs under `state_dir`. Must be called inside a tokio runtime.
    pub fn new(state_dir: PathBuf) -> Self {
        let logs = Arc::new(LogHub::new(state_dir.join("logs")));
        Self { state_dir, functions: RwLock::default(), client: http::client(), logs }
    }

    fn get(&self, name: &QualifiedName) -> Option<Arc<LocalFunction>> {
        self.functions.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn check(&self, spec: &FunctionSpec) -> Result<(), ProviderError> {
        command::resolve(spec, &self.state_dir).map(drop)
    }

    async fn apply(
        &self,
        spec: FunctionSpec,
        replicas: u32,
        secrets: Vec<(String, Vec<u8>)>,
    ) -> Result<(), ProviderError> {
        let command = command::resolve(&spec, &self.state_dir)?;
        let dir = command::run_dir(&self.state_dir, &spec);
        tokio::fs::create_dir_all(&dir).await?;
        secrets::write_all(&command.secrets_dir, &secrets).await?;
        let name = spec.name.clone();
        let function = LocalFunction::new(spec, command, self.client.clone(), self.logs.clone());
        function.scale(replicas).await;
        let old = self.functions.write().unwrap_or_else(|p| p.into_inner()).insert(name, function);
        if let Some(old) = old {
            old.stop(old.spec().timeouts.write).await;
        }
        Ok(())
    }

    async fn remove(&self, name: &QualifiedName) -> Result<(), ProviderError> {
        let removed = self.functions.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        let Some(function) = removed else { return Err(ProviderError::NotFound(name.to_string())) };
        function.stop(function.spec().timeouts.write).await;
        self.logs.forget(name);
        let _ = tokio::fs::remove_dir_all(command::run_dir(&self.state_dir, function.spec())).await;
        Ok(())
    }

    async fn scale(&self, name: &QualifiedName, replicas: u32) -> Result<(), ProviderError> {
        let function = self.get(name).ok_or_else(|| ProviderError::NotFound(name.to_string()))?;
        function.scale(replicas).await;
        Ok(())
    }

    async fn write_secret(&self, namespace: &str, name: &str, value: Option<&[u8]>) -> Result<(), ProviderError> {
        let users: Vec<Arc<LocalFunction>> = self
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|f| f.spec().name.namespace == namespace && f.spec().secrets().iter().any(|s| s == name))
            .cloned()
            .collect();
        for f in users {
            secrets::write_one(&f.command().secrets_dir, name, value).await?;
        }
        Ok(())
    }

    fn replicas(&self, name: &QualifiedName) -> Option<ReplicaCounts> {
        self.get(name).map(|f| f.counts())
    }

    fn target(&self, name: &QualifiedName) -> Option<Arc<dyn Invoke>> {
        self.get(name).map(|f| f as Arc<dyn Invoke>)
    }

    fn functions(&self) -> Vec<QualifiedName> {
        self.functions.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    fn logs(&self) -> &LogHub {
        &self.logs
    }

    async fn shutdown(&self) {
        let all: Vec<Arc<LocalFunction>> =
            self.functions.write().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, f)| f).collect();
        futures_util::future::join_all(all.iter().map(|f| f.stop(f.spec().timeouts.write))).await;
    }
}
