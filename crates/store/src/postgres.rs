//! The PostgreSQL backend of [`Store`], chosen by a `postgres://` or `postgresql://` URL.
//!
//! Same tables and semantics as the SQLite backend (migrations under `migrations/postgres/`, embedded and run at
//! start-up under sqlx's advisory lock, so several sedges may start at once). Keys use the `"C"` collation, so
//! lists sort by bytes whatever the database's locale. Every method is one statement or one transaction,
//! committed before it returns; PostgreSQL's own durability settings (`fsync`, `synchronous_commit`) apply.
//!
//! # Layout
//! - this file: connecting, migrations, functions and secrets.
//! - `postgres/models.rs`: [`crate::ModelStore`]; versions are picked under a per-name advisory lock.
//! - `postgres/calls.rs`: [`crate::CallQueue`]; claims use `FOR UPDATE SKIP LOCKED`.
//!
//! SQL is written with `?` placeholders, as for the other backends, and numbered (`$1`, `$2`, …) by [`pg`].

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sedge_core::QualifiedName;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};

use crate::codec::{FUNCTION_COLUMNS, decode_function, function_values, to_sql_count};
use crate::{FunctionRecord, SecretWrite, Store, StoreError};

/// Schema migrations in order: `(version, description, SQL)`. Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/postgres/0001_init.sql")),
    (2, "registry queue", include_str!("../migrations/postgres/0002_registry_queue.sql")),
];

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 8;

/// How long opening waits for the server, and a busy pool for a free connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] in a PostgreSQL database. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and brings its schema
    /// up to date. An unreachable server fails at once with [`StoreError::Connect`], naming host and port.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Invalid(format!("bad PostgreSQL URL: {e}")))?;
        let target = match options.get_socket() {
            Some(socket) => format!("PostgreSQL at {}", socket.display()),
            None => format!("PostgreSQL at {}:{}", options.get_host(), options.get_port()),
        };
        crate::check_connect::<PgConnection>(&options, &target, CONNECT_TIMEOUT).await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        crate::embedded_migrator(MIGRATIONS).run(&pool).await?;
        tracing::debug!(%target, "opened PostgreSQL store");
        Ok(PostgresStore { pool })
    }

    /// Closes every connection. Later calls on this store (or its clones) fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Numbers `?` placeholders as PostgreSQL wants them: `$1`, `$2`, … (the SQL here has no `?` in literals).
pub(crate) fn pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

crate::codec::row_read_by_try_get!(PgRow);

#[async_trait]
impl Store for PostgresStore {
    async fn put_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let (namespace, json) = function_values(record)?;
        sqlx::query(&pg(
            "INSERT INTO functions (namespace, name, deployment, replicas, created_at_ms, invocation_count)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (namespace, name) DO UPDATE SET deployment = EXCLUDED.deployment, replicas = EXCLUDED.replicas",
        ))
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
        let sql = pg(&format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE namespace = ? AND name = ?"));
        let row = sqlx::query(&sql).bind(&name.namespace).bind(&name.name).fetch_optional(&self.pool).await?;
        row.as_ref().map(decode_function).transpose()
    }

    async fn list_functions(&self, namespace: Option<&str>) -> Result<Vec<FunctionRecord>, StoreError> {
        let rows = match namespace {
            Some(ns) => {
                let sql = pg(&format!("SELECT {FUNCTION_COLUMNS} FROM functions WHERE namespace = ? ORDER BY name"));
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
        let done = sqlx::query(&pg("DELETE FROM functions WHERE namespace = ? AND name = ?"))
            .bind(&name.namespace)
            .bind(&name.name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_replicas(&self, name: &QualifiedName, replicas: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(&pg("UPDATE functions SET replicas = ? WHERE namespace = ? AND name = ?"))
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
        let sql = pg("UPDATE functions SET invocation_count = CASE
                 WHEN invocation_count > 9223372036854775807 - ? THEN 9223372036854775807
                 ELSE invocation_count + ? END
             WHERE namespace = ? AND name = ?");
        let mut tx = self.pool.begin().await?;
        for (name, count) in counts {
            let count = to_sql_count(*count);
            sqlx::query(&sql).bind(count).bind(count).bind(&name.namespace).bind(&name.name).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn put_secret(&self, namespace: &str, name: &str, value: &[u8], how: SecretWrite) -> Result<(), StoreError> {
        let done = match how {
            SecretWrite::Create => {
                sqlx::query(&pg("INSERT INTO secrets (namespace, name, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"))
                    .bind(namespace)
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await?
            }
            SecretWrite::Update => {
                sqlx::query(&pg("UPDATE secrets SET value = ? WHERE namespace = ? AND name = ?"))
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
        let value = sqlx::query_scalar(&pg("SELECT value FROM secrets WHERE namespace = ? AND name = ?"))
            .bind(namespace)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    async fn list_secrets(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        let names = sqlx::query_scalar(&pg("SELECT name FROM secrets WHERE namespace = ? ORDER BY name"))
            .bind(namespace)
            .fetch_all(&self.pool)
            .await?;
        Ok(names)
    }

    async fn delete_secret(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&pg("DELETE FROM secrets WHERE namespace = ? AND name = ?"))
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

mod calls;
mod models;

#[cfg(test)]
mod tests {
    use super::pg;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(pg("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"), "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)");
        assert_eq!(pg("SELECT 1"), "SELECT 1");
    }
}
