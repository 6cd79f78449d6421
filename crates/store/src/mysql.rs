//! The MariaDB backend of [`Store`] (MySQL 8 works too), chosen by a `mysql://` or `mariadb://` URL (the
//! latter is rewritten to `mysql://` for sqlx by [`crate::open`]).
//!
//! Same tables and semantics as the SQLite backend: InnoDB, utf8mb4 with the binary collation (keys are
//! case-sensitive and sort by bytes), `LONGBLOB` for bodies and secrets; migrations under `migrations/mysql/`,
//! embedded and run at start-up under sqlx's named lock. The SQL avoids `RETURNING`, which MariaDB lacks on
//! `UPDATE` and MySQL lacks everywhere: a write is followed by a read in the same transaction.
//!
//! # Layout
//! - this file: connecting, migrations, functions and secrets, and the helpers below.
//! - `mysql/models.rs`: [`crate::ModelStore`]; a name's rows are locked (`FOR UPDATE`) before a change.
//! - `mysql/calls.rs`: [`crate::CallQueue`]; claims `SELECT … FOR UPDATE SKIP LOCKED`, then `UPDATE`.
//!
//! InnoDB may end a transaction as a deadlock victim when two of them lock overlapping ranges (two first
//! registrations of one new name); [`retrying`] runs such a transaction again, a bounded number of times.
//! Text is read as bytes and checked as UTF-8, because sqlx refuses `String` for binary-collated columns.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sedge_core::QualifiedName;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlPoolOptions, MySqlRow};

use crate::codec::{FUNCTION_COLUMNS, RowRead, decode_function, function_values, to_sql_count};
use crate::{FunctionRecord, SecretWrite, Store, StoreError};

/// Schema migrations in order: `(version, description, SQL)`. Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/mysql/0001_init.sql")),
    (2, "registry queue", include_str!("../migrations/mysql/0002_registry_queue.sql")),
];

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 8;

/// How long opening waits for the server, and a busy pool for a free connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times [`retrying`] runs a transaction that InnoDB chose as a deadlock victim.
const DEADLOCK_ATTEMPTS: u32 = 32;

/// A [`Store`] in a MariaDB or MySQL database. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// Connects to the database at `url` (`mysql://user:password@host:port/database`) and brings its schema up
    /// to date. An unreachable server fails at once with [`StoreError::Connect`], naming host and port.
    pub async fn open(url: &str) -> Result<MySqlStore, StoreError> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("bad MariaDB/MySQL URL: {e}")))?
            .charset("utf8mb4");
        let target = match options.get_socket() {
            Some(socket) => format!("MariaDB at {}", socket.display()),
            None => format!("MariaDB at {}:{}", options.get_host(), options.get_port()),
        };
        crate::check_connect::<MySqlConnection>(&options, &target, CONNECT_TIMEOUT).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        crate::embedded_migrator(MIGRATIONS).run(&pool).await?;
        tracing::debug!(%target, "opened MariaDB store");
        Ok(MySqlStore { pool })
    }

    /// Closes every connection. Later calls on this store (or its clones) fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl RowRead for MySqlRow {
    fn int(&self, index: usize) -> Result<i64, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
    fn opt_real(&self, index: usize) -> Result<Option<f64>, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
    fn text(&self, index: usize) -> Result<String, sqlx::Error> {
        utf8(sqlx::Row::try_get(self, index)?, index)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        let bytes: Option<Vec<u8>> = sqlx::Row::try_get(self, index)?;
        bytes.map(|b| utf8(b, index)).transpose()
    }
    fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
}

/// Text read as bytes, checked; `at` names where it was read (a column index or a list position).
fn utf8(bytes: Vec<u8>, at: impl ToString) -> Result<String, sqlx::Error> {
    String::from_utf8(bytes)
        .map_err(|e| sqlx::Error::ColumnDecode { index: at.to_string(), source: Box::new(e.utf8_error()) })
}

/// A list of texts read as bytes.
pub(crate) fn texts(values: Vec<Vec<u8>>) -> Result<Vec<String>, StoreError> {
    values.into_iter().enumerate().map(|(i, v)| utf8(v, format!("row {i}")).map_err(StoreError::from)).collect()
}

/// The server's error number, if `error` is one (1062 duplicate key, 1213 deadlock, …).
pub(crate) fn error_number(error: &StoreError) -> Option<u16> {
    match error {
        StoreError::Database(sqlx::Error::Database(e)) => {
            e.try_downcast_ref::<MySqlDatabaseError>().map(|e| e.number())
        }
        _ => None,
    }
}

/// `ER_DUP_ENTRY`: a unique key already holds the value.
pub(crate) const DUPLICATE_KEY: u16 = 1062;

/// Runs `transaction` again while InnoDB picks it as a deadlock victim (`ER_LOCK_DEADLOCK`, its work rolled
/// back), at most [`DEADLOCK_ATTEMPTS`] times in all.
pub(crate) async fn retrying<T, F, Fut>(mut transaction: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    const DEADLOCK: u16 = 1213;
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(e) if error_number(&e) == Some(DEADLOCK) && attempt < DEADLOCK_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

#[async_trait]
impl Store for MySqlStore {
    async fn put_function(&self, record: &FunctionRecord) -> Result<(), StoreError> {
        let (namespace, json) = function_values(record)?;
        sqlx::query(
            "INSERT INTO functions (namespace, name, deployment, replicas, created_at_ms, invocation_count)
             VALUES (?, ?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE deployment = VALUES(deployment), replicas = VALUES(replicas)",
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
        // sqlx connects with CLIENT_FOUND_ROWS: rows matched count, even when the value does not change.
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
                let inserted = sqlx::query("INSERT INTO secrets (namespace, name, value) VALUES (?, ?, ?)")
                    .bind(namespace)
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from);
                match inserted {
                    Err(e) if error_number(&e) == Some(DUPLICATE_KEY) => {
                        return Err(StoreError::Conflict(format!("secret {name}")));
                    }
                    other => other?,
                }
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
        texts(names)
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
        texts(names)
    }
}

mod calls;
mod models;
