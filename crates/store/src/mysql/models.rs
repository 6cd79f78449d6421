//! [`ModelStore`] on MariaDB/MySQL: the `models` table (migration 0002).
//!
//! Registrations and stage changes of one name start by locking that name's rows (`SELECT … FOR UPDATE` on
//! the `(name, version)` key, which also locks the gap after them), so they run one after the other and read
//! `MAX(version)` as the previous one committed it. Two first registrations of a new name both lock the empty
//! gap and then deadlock on their inserts; InnoDB rolls one back and [`retrying`] runs it again.

use async_trait::async_trait;
use sqlx::{MySql, Transaction};

use super::{MySqlStore, retrying, texts};
use crate::codec::{MODEL_COLUMNS, decode_model, model_filter, model_values, sql_limit};
use crate::{ModelQuery, ModelRecord, ModelStore, ModelVersion, NewModel, Stage, StoreError};

/// Locks every version of `name` until `tx` ends; returns the highest version (0 when none).
async fn lock_name(tx: &mut Transaction<'_, MySql>, name: &str) -> Result<i64, StoreError> {
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM models WHERE name = ? FOR UPDATE")
        .bind(name)
        .fetch_all(&mut **tx)
        .await?;
    Ok(versions.into_iter().max().unwrap_or(0))
}

/// One row by id, inside `tx`.
async fn model_by_id(tx: &mut Transaction<'_, MySql>, id: i64) -> Result<ModelRecord, StoreError> {
    let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?");
    let row = sqlx::query(&sql).bind(id).fetch_one(&mut **tx).await?;
    decode_model(&row)
}

impl MySqlStore {
    /// One attempt at [`ModelStore::add_model`].
    async fn try_add_model(&self, model: &NewModel) -> Result<ModelRecord, StoreError> {
        let v = model_values(model)?;
        let mut tx = self.pool.begin().await?;
        let version = lock_name(&mut tx, v.name).await? + 1;
        let done = sqlx::query(
            "INSERT INTO models (name, version, format, sha256, size_bytes, model_path, architecture, dataset,
                                 accuracy, loss, metrics, params, signature, stage, created_by, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'none', ?, ?)",
        )
        .bind(v.name)
        .bind(version)
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
        .execute(&mut *tx)
        .await?;
        let id = i64::try_from(done.last_insert_id())
            .map_err(|_| StoreError::Corrupt(format!("model id {} out of range", done.last_insert_id())))?;
        let record = model_by_id(&mut tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// One attempt at [`ModelStore::set_model_stage`].
    async fn try_set_model_stage(
        &self,
        name: &str,
        version: u32,
        stage: Stage,
    ) -> Result<Option<ModelRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_name(&mut tx, name).await?;
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ? AND version = ?");
        let Some(row) = sqlx::query(&sql).bind(name).bind(i64::from(version)).fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let mut record = decode_model(&row)?;
        if stage.is_exclusive() {
            sqlx::query("UPDATE models SET stage = 'archived' WHERE name = ? AND stage = ? AND version <> ?")
                .bind(name)
                .bind(stage.as_str())
                .bind(i64::from(version))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE models SET stage = ? WHERE id = ?")
            .bind(stage.as_str())
            .bind(record.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        record.stage = stage;
        Ok(Some(record))
    }
}

#[async_trait]
impl ModelStore for MySqlStore {
    async fn add_model(&self, model: &NewModel) -> Result<ModelRecord, StoreError> {
        retrying(|| self.try_add_model(model)).await
    }

    async fn get_model(&self, name: &str, version: ModelVersion) -> Result<Option<ModelRecord>, StoreError> {
        let base = format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?");
        let row = match version {
            ModelVersion::Latest => {
                let sql = format!("{base} ORDER BY version DESC LIMIT 1");
                sqlx::query(&sql).bind(name).fetch_optional(&self.pool).await?
            }
            ModelVersion::Number(n) => {
                let sql = format!("{base} AND version = ?");
                sqlx::query(&sql).bind(name).bind(i64::from(n)).fetch_optional(&self.pool).await?
            }
            ModelVersion::Stage(stage) => {
                let sql = format!("{base} AND stage = ? ORDER BY version DESC LIMIT 1");
                sqlx::query(&sql).bind(name).bind(stage.as_str()).fetch_optional(&self.pool).await?
            }
        };
        row.as_ref().map(decode_model).transpose()
    }

    async fn list_models(&self, query: &ModelQuery) -> Result<Vec<ModelRecord>, StoreError> {
        let (filter, args) = model_filter(query);
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models {filter} ORDER BY name, version DESC LIMIT ?");
        let mut q = sqlx::query(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        let rows = q.bind(sql_limit(query.limit)).fetch_all(&self.pool).await?;
        rows.iter().map(decode_model).collect()
    }

    async fn delete_model(&self, name: &str, version: u32) -> Result<Option<ModelRecord>, StoreError> {
        retrying(|| async {
            let mut tx = self.pool.begin().await?;
            let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ? AND version = ? FOR UPDATE");
            let row = sqlx::query(&sql).bind(name).bind(i64::from(version)).fetch_optional(&mut *tx).await?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let record = decode_model(&row)?;
            sqlx::query("DELETE FROM models WHERE id = ?").bind(record.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(record))
        })
        .await
    }

    async fn set_model_stage(&self, name: &str, version: u32, stage: Stage) -> Result<Option<ModelRecord>, StoreError> {
        retrying(|| self.try_set_model_stage(name, version, stage)).await
    }

    async fn model_paths(&self) -> Result<Vec<String>, StoreError> {
        let paths = sqlx::query_scalar("SELECT DISTINCT model_path FROM models ORDER BY model_path")
            .fetch_all(&self.pool)
            .await?;
        texts(paths)
    }
}
