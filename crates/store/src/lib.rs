//! sedge's durable state: deployed functions, secrets, invocation counts, the model registry's metadata and the
//! asynchronous call queue.
//!
//! Every write the API acknowledges has been committed here first, so a `kill -9` at any moment loses nothing
//! that a client was told succeeded. One [`Store`] trait, one module per backend, chosen by URL with [`open`].
//! Logs are not stored here: they live in files under the state directory (see `sedge-runtime`).
//!
//! # Layout
//! - [`Store`], [`FunctionRecord`], [`StoreError`]: the capability every backend provides, made of functions and
//!   secrets here, [`registry::ModelStore`] (model versions) and [`queue::CallQueue`] (async calls).
//! - [`sqlite`]: the default backend, a WAL-mode SQLite file with embedded migrations.
//! - [`postgres`]: PostgreSQL, for `postgres://` and `postgresql://` URLs.
//! - [`mysql`]: MariaDB (or MySQL), for `mariadb://` and `mysql://` URLs.
//! - `codec`: what the backends share about rows: column lists, JSON encodings, decoders.
//!
//! Each backend embeds its own migrations (`migrations/<backend>/NNNN_*.sql`) and runs them at start-up.
//! sqlx is built without TLS: sedge reaches its database over loopback or a private network.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use sedge_core::QualifiedName;
use sedge_core::api::FunctionDeployment;
use sqlx::migrate::{Migration, MigrationType, Migrator};

mod codec;
pub mod mysql;
pub mod postgres;
pub mod queue;
pub mod registry;
pub mod sqlite;

pub use queue::{CallQueue, CallRecord, CallResult, CallStatus, NewCall};
pub use registry::{ModelQuery, ModelRecord, ModelRef, ModelStore, ModelVersion, NewModel, Stage};

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
    /// The caller asked for something the contract does not allow (an invalid model name, a status that is not
    /// final where one must be).
    #[error("{0}")]
    Invalid(String),
    /// The database URL is not one this build understands.
    #[error(
        "unsupported database URL {0:?}: use a file path, sqlite://PATH, postgres://USER@HOST:PORT/DB \
         (or postgresql://), or mysql://USER@HOST:PORT/DB (or mariadb://)"
    )]
    UnsupportedUrl(String),
    /// The database server could not be reached or refused the connection at start-up.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// What was dialled: the kind of server and its host and port (never the password).
        target: String,
        /// The driver's reason.
        reason: String,
    },
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
pub trait Store: ModelStore + CallQueue + Send + Sync {
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

/// Opens the store named by `url`: a file path or `sqlite://PATH` (created if missing), `postgres://…` or
/// `postgresql://…`, `mysql://…` or `mariadb://…`. A server that cannot be reached fails with
/// [`StoreError::Connect`], naming its host and port and the driver's reason.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        None => Ok(Arc::new(sqlite::SqliteStore::open(url.as_ref()).await?)),
        Some("sqlite") => Ok(Arc::new(sqlite::SqliteStore::open(url["sqlite://".len()..].as_ref()).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(postgres::PostgresStore::open(url).await?)),
        Some("mysql") => Ok(Arc::new(mysql::MySqlStore::open(url).await?)),
        Some("mariadb") => {
            let url = format!("mysql://{}", &url["mariadb://".len()..]);
            Ok(Arc::new(mysql::MySqlStore::open(&url).await?))
        }
        Some(_) => Err(StoreError::UnsupportedUrl(url.to_string())),
    }
}

/// Makes one connection with `options` and closes it, so that an unreachable server is reported at once with
/// the driver's reason (a pool would retry a refused connection until its timeout and then only say so).
async fn check_connect<C: sqlx::Connection>(
    options: &C::Options,
    target: &str,
    timeout: std::time::Duration,
) -> Result<(), StoreError> {
    let failed = |reason: String| StoreError::Connect { target: target.to_string(), reason };
    match tokio::time::timeout(timeout, C::connect_with(options)).await {
        Err(_) => Err(failed(format!("no answer within {} s", timeout.as_secs()))),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Ok(Ok(connection)) => {
            // Closing politely can only fail if the connection broke meanwhile; the pool will find out.
            let _ = connection.close().await;
            Ok(())
        }
    }
}

/// Embedded migrations, `(version, description, SQL)` in order, as a [`Migrator`] (what `sqlx::migrate!` would
/// build at compile time). Each backend has its own list.
fn embedded_migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = migrations
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false)
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}
