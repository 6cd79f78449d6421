//! The SQLite backend of [`Store`]: one WAL-mode database file, schema migrations embedded in the binary.
//!
//! Durability: `synchronous = FULL` in WAL mode fsyncs the log on every commit, so each method's write has
//! reached the disk before it returns and survives a `kill -9` (or power loss) right after. The file is created
//! with mode 0600 on unix because it holds secrets; SQLite gives its `-wal` and `-shm` files the same mode.
//!
//! Functions are kept as the accepted `FunctionDeployment` in JSON next to their key columns, which are
//! authoritative: on read, `service` and `namespace` of the deployment are set from the row's key.
//!
//! # Layout
//! - this file: opening (pragmas, file mode, migrations under `migrations/sqlite/`), functions and secrets.
//! - `sqlite/models.rs`: [`crate::ModelStore`]; `sqlite/calls.rs`: [`crate::CallQueue`].
//! - `sqlite/tests.rs`: what is particular to SQLite; the shared contract is checked by `tests/sqlite.rs`.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sedge_core::QualifiedName;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use crate::codec::{FUNCTION_COLUMNS, decode_function, function_values, to_sql_count};
use crate::{FunctionRecord, SecretWrite, Store, StoreError};

/// Schema migrations in order: `(version, description, SQL)`. Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/sqlite/0001_init.sql")),
    (2, "registry queue", include_str!("../migrations/sqlite/0002_registry_queue.sql")),
];

/// Connections in the pool. SQLite serialises writers anyway; a few connections let reads run beside a write.
const MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in one SQLite file. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates, with its parent folders) the database at `path` and brings its schema up to date.
    ///
    /// A new file gets mode 0600 on unix; an existing file keeps its mode.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(sqlx::Error::Io)?;
        }
        create_private_file(path).await?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS).connect_with(options).await?;
        crate::embedded_migrator(MIGRATIONS).run(&pool).await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(SqliteStore { pool })
    }

    /// Closes every connection, checkpointing the WAL. Later calls on this store (or its clones) fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates `path` empty with mode 0600 (unix) unless it exists; SQLite treats an empty file as a new database.
async fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(sqlx::Error::Io(e).into()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let (namespace, json) = function_values(record)?;
        sqlx::query(
            "INSERT INTO functions (namespace, name, deployment, replicas, created_at_ms, invocation_count)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (namespace, name) DO UPDATE SET deployment = excluded.deployment, replicas = excluded.replicas",
        )
        .bind(namespace)
        .bind(&record.deployment.service)
        .bind(json)
        .bind(i64::from(record.replicas))
        .bind(record.created_at_ms)
        .bind(to_sql_count(record.invocation_count))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_function(&self, name: &QualifiedName) -> Result<Option<FunctionRecord>, StoreError> {
        let sql = format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE namespace = ? AND name = ?");
        let row = sqlx::query(&sql).bind(&name.namespace).bind(&name.name).fetch_optional(&self.pool).await?;
        row.as_ref().map(decode_function).transpose()
    }

    async fn list_functions(&self, namespace: Option<&str>) -> Result<Vec<FunctionRecord>, StoreError> {
        let rows = match namespace {
            Some(ns) => {
                let sql = format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE namespace = ? ORDER BY name");
                sqlx::query(&sql).bind(ns).fetch_all(&self.pool).await?
            }
            None => {
                let sql = format!("SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY namespace, name");
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
        };
        rows.iter().map(decode_function).collect()
    }

    async fn delete_function(&self, name: &QualifiedName) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM functions WHERE namespace = ? AND name = ?")
            .bind(&name.namespace)
            .bind(&name.name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_replicas(&self, name: &QualifiedName, replicas: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE functions SET replicas = ? WHERE namespace = ? AND name = ?")
            .bind(i64::from(replicas))
            .bind(&name.namespace)
            .bind(&name.name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_invocations(&self, counts: &[(QualifiedName, u64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (name, count) in counts {
            let count = to_sql_count(*count);
            // Saturates at i64::MAX: an overflowing `+` would turn the value into a REAL, which STRICT rejects.
            sqlx::query(
                "UPDATE functions SET invocation_count = CASE
                     WHEN invocation_count > 9223372036854775807 - ? THEN 9223372036854775807
                     ELSE invocation_count + ? END
                 WHERE namespace = ? AND name = ?",
            )
            .bind(count)
            .bind(count)
            .bind(&name.namespace)
            .bind(&name.name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn put_secret(&self, namespace: &str, name: &str, value: &[u8], how: SecretWrite) -> Result<(), StoreError> {
        let done = match how {
            SecretWrite::Create => {
                sqlx::query("INSERT INTO secrets (namespace, name, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(namespace)
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await?
            }
            SecretWrite::Update => {
                sqlx::query("UPDATE secrets SET value = ? WHERE namespace = ? AND name = ?")
                    .bind(value)
                    .bind(namespace)
                    .bind(name)
                    .execute(&self.pool)
                    .await?
            }
        };
        match (done.rows_affected(), how) {
            (0, SecretWrite::Create) => Err(StoreError::Conflict(format!("secret {name}"))),
            (0, SecretWrite::Update) => Err(StoreError::NotFound(format!("secret {name}"))),
            _ => Ok(()),
        }
    }

    async fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM secrets WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        let names = sqlx::query_scalar("SELECT name FROM secrets WHERE namespace = ? ORDER BY name")
            .bind(namespace)
            .fetch_all(&self.pool)
            .await?;
        Ok(names)
    }

    async fn delete_secret(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let names = sqlx::query_scalar(
            "SELECT namespace FROM functions UNION SELECT namespace FROM secrets ORDER BY namespace",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(names)
    }
}

crate::codec::row_read_by_try_get!(SqliteRow);

mod calls;
mod models;
#[cfg(test)]
mod tests;
