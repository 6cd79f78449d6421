//! sedge's durable state: deployed functions, secrets and invocation counts.
//!
//! Every write the API acknowledges has been committed here first, so a `kill -9` at any moment loses nothing
//! that a client was told succeeded. One [`Store`] trait, one module per backend, chosen by URL with [`open`].
//! Logs are not stored here: they live in files under the state directory (see `sedge-runtime`).
//!
//! # Layout
//! - [`Store`], [`FunctionRecord`], [`StoreError`]: the capability every backend provides.
//! - [`sqlite`]: the default backend, a WAL-mode SQLite file with embedded migrations.

use std::sync::Arc;

use async_trait::async_trait;
use sedge_core::QualifiedName;
use sedge_core::api::FunctionDeployment;

pub mod sqlite;

/// A deployed function as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRecord {
    /// The deployment as accepted (namespace filled in).
    pub deployment: FunctionDeployment,
    /// Desired replicas (set at deploy from `com.openfaas.scale.min`, then by `/system/scale-function`).
    pub replicas: u32,
    /// First deployed, milliseconds since the Unix epoch (kept across updates).
    pub created_at_ms: i64,
    /// Completed invocations, as last flushed.
    pub invocation_count: u64,
}

/// Whether [`Store::put_secret`] creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretWrite {
    /// Fails with [`StoreError::Conflict`] if the secret exists.
    Create,
    /// Fails with [`StoreError::NotFound`] if the secret does not exist.
    Update,
}

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing to update or delete does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing to create exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database URL is not one this build understands.
    #[error("unsupported database URL {0:?}: use a path or sqlite://PATH")]
    UnsupportedUrl(String),
    /// The database failed (I/O, corruption, constraint); retrying may help.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed at start-up.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The durable state behind the gateway. Every method commits before it returns.
#[async_trait]
pub trait Store: Send + Sync {
    /// Inserts or replaces a function. On replace, `created_at_ms` and `invocation_count` of the existing row
    /// are kept; `replicas` is written as given.
    async fn put_function(&self, record: &FunctionRecord) -> Result<(), StoreError>;
    /// One function.
    async fn get_function(&self, name: &QualifiedName) -> Result<Option<FunctionRecord>, StoreError>;
    /// All functions, or those of one namespace, ordered by namespace then name.
    async fn list_functions(&self, namespace: Option<&str>) -> Result<Vec<FunctionRecord>, StoreError>;
    /// Removes a function; `false` if it did not exist.
    async fn delete_function(&self, name: &QualifiedName) -> Result<bool, StoreError>;
    /// Sets desired replicas; `false` if the function does not exist.
    async fn set_replicas(&self, name: &QualifiedName, replicas: u32) -> Result<bool, StoreError>;
    /// Adds completed invocations to the counters (one transaction); unknown functions are skipped.
    async fn add_invocations(&self, counts: &[(QualifiedName, u64)]) -> Result<(), StoreError>;
    /// Creates or updates a secret.
    async fn put_secret(&self, namespace: &str, name: &str, value: &[u8], how: SecretWrite) -> Result<(), StoreError>;
    /// A secret's value.
    async fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Secret names in a namespace, sorted.
    async fn list_secrets(&self, namespace: &str) -> Result<Vec<String>, StoreError>;
    /// Removes a secret; `false` if it did not exist.
    async fn delete_secret(&self, namespace: &str, name: &str) -> Result<bool, StoreError>;
    /// Namespaces that hold at least one function or secret, sorted.
    async fn namespaces(&self) -> Result<Vec<String>, StoreError>;
}

/// Opens the store named by `url`: a file path or `sqlite://PATH` (created if missing).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(sqlite::SqliteStore::open(path.as_ref()).await?));
    }
    if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    Ok(Arc::new(sqlite::SqliteStore::open(url.as_ref()).await?))
}
