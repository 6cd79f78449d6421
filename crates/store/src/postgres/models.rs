//! [`ModelStore`] on PostgreSQL: the `models` table (migration 0002).
//!
//! Registrations and stage changes of one name take a transaction-scoped advisory lock on that name first, so
//! they run one after the other: `MAX(version) + 1` is then never read twice for the same number (READ
//! COMMITTED gives each statement a fresh snapshot, which sees the previous holder's commit), and two
//! promotions to one exclusive stage cannot both miss each other's row. Different names do not wait.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::{PostgresStore, pg};
use crate::codec::{MODEL_COLUMNS, decode_model, model_filter, model_values, sql_limit};
use crate::{ModelQuery, ModelRecord, ModelStore, ModelVersion, NewModel, Stage, StoreError};

/// The first key of sedge's advisory locks on model names (the second is the name's hash).
const MODEL_LOCK_CLASS: i32 = 0x5ed9e;

/// Waits for the advisory lock on `name`, held until `tx` ends.
async fn lock_name(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(MODEL_LOCK_CLASS)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One row as the JSON object `ModelRecord` serialises to, built by PostgreSQL: the JSON columns are cast from
/// the text `serde_json` wrote, and doubles print as the shortest text that reads back exactly (PostgreSQL 12+).
const MODEL_JSON: &str = "json_build_object('id', id, 'version', version, 'stage', stage, 'name', name,
    'format', format, 'sha256', sha256, 'size_bytes', size_bytes, 'model_path', model_path,
    'architecture', architecture, 'dataset', dataset, 'accuracy', accuracy, 'loss', loss,
    'metrics', metrics::json, 'params', params::json, 'signature', signature::json,
    'created_by', created_by, 'created_at_ms', created_at_ms)";

#[async_trait]
impl ModelStore for PostgresStore {
    async fn add_model(&self, model: &NewModel) -> Result<ModelRecord, StoreError> {
        let v = model_values(model)?;
        let sql = pg(&format!(
            "INSERT INTO models (name, version, format, sha256, size_bytes, model_path, architecture, dataset,
                                 accuracy, loss, metrics, params, signature, stage, created_by, created_at_ms)
             SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'none', ?, ?
             FROM models WHERE name = ?
             RETURNING {MODEL_COLUMNS}"
        ));
        let mut tx = self.pool.begin().await?;
        lock_name(&mut tx, v.name).await?;
        let row = sqlx::query(&sql)
            .bind(v.name)
            .bind(v.format)
            .bind(v.sha256)
            .bind(v.size_bytes)
            .bind(v.model_path)
            .bind(v.architecture)
            .bind(v.dataset)
            .bind(v.accuracy)
            .bind(v.loss)
            .bind(&v.metrics)
            .bind(&v.params)
            .bind(&v.signature)
            .bind(v.created_by)
            .bind(v.created_at_ms)
            .bind(v.name)
            .fetch_one(&mut *tx)
            .await?;
        let record = decode_model(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_model(&self, name: &str, version: ModelVersion) -> Result<Option<ModelRecord>, StoreError> {
        let base = format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = $1");
        let row = match version {
            ModelVersion::Latest => {
                let sql = format!("{base} ORDER BY version DESC LIMIT 1");
                sqlx::query(&sql).bind(name).fetch_optional(&self.pool).await?
            }
            ModelVersion::Number(n) => {
                let sql = format!("{base} AND version = $2");
                sqlx::query(&sql).bind(name).bind(i64::from(n)).fetch_optional(&self.pool).await?
            }
            ModelVersion::Stage(stage) => {
                let sql = format!("{base} AND stage = $2 ORDER BY version DESC LIMIT 1");
                sqlx::query(&sql).bind(name).bind(stage.as_str()).fetch_optional(&self.pool).await?
            }
        };
        row.as_ref().map(decode_model).transpose()
    }

    async fn list_models(&self, query: &ModelQuery) -> Result<Vec<ModelRecord>, StoreError> {
        let (filter, args) = model_filter(query);
        let sql = pg(&format!("SELECT {MODEL_COLUMNS} FROM models {filter} ORDER BY name, version DESC LIMIT ?"));
        let mut q = sqlx::query(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        let rows = q.bind(sql_limit(query.limit)).fetch_all(&self.pool).await?;
        rows.iter().map(decode_model).collect()
    }

    async fn list_models_json(&self, query: &ModelQuery) -> Result<String, StoreError> {
        let (filter, args) = model_filter(query);
        let sql = pg(&format!(
            "SELECT COALESCE(json_agg({MODEL_JSON} ORDER BY name, version DESC), '[]')::text
             FROM (SELECT * FROM models {filter} ORDER BY name, version DESC LIMIT ?) m"
        ));
        let mut q = sqlx::query_scalar(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        Ok(q.bind(sql_limit(query.limit)).fetch_one(&self.pool).await?)
    }

    async fn delete_model(&self, name: &str, version: u32) -> Result<Option<ModelRecord>, StoreError> {
        let sql = format!("DELETE FROM models WHERE name = $1 AND version = $2 RETURNING {MODEL_COLUMNS}");
        let row = sqlx::query(&sql).bind(name).bind(i64::from(version)).fetch_optional(&self.pool).await?;
        row.as_ref().map(decode_model).transpose()
    }

    async fn set_model_stage(&self, name: &str, version: u32, stage: Stage) -> Result<Option<ModelRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_name(&mut tx, name).await?;
        if stage.is_exclusive() {
            sqlx::query("UPDATE models SET stage = 'archived' WHERE name = $1 AND stage = $2 AND version <> $3")
                .bind(name)
                .bind(stage.as_str())
                .bind(i64::from(version))
                .execute(&mut *tx)
                .await?;
        }
        let sql = format!("UPDATE models SET stage = $1 WHERE name = $2 AND version = $3 RETURNING {MODEL_COLUMNS}");
        let row =
            sqlx::query(&sql).bind(stage.as_str()).bind(name).bind(i64::from(version)).fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let record = decode_model(&row)?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn model_paths(&self) -> Result<Vec<String>, StoreError> {
        let paths = sqlx::query_scalar("SELECT DISTINCT model_path FROM models ORDER BY model_path")
            .fetch_all(&self.pool)
            .await?;
        Ok(paths)
    }
}
