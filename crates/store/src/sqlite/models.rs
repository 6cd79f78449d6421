//! [`ModelStore`] on SQLite: the `models` table (migration 0002).
//!
//! Version numbers are picked inside the `INSERT` itself (`INSERT … SELECT MAX(version) + 1`): one statement is
//! one write transaction, and SQLite runs one writer at a time (others wait up to the busy timeout), so
//! concurrent registrations of one name get distinct, increasing versions. A stage change writes before it
//! reads, so its transaction takes the write lock first and never has to upgrade a stale read snapshot.

use async_trait::async_trait;

use super::SqliteStore;
use crate::codec::{MODEL_COLUMNS, decode_model, model_filter, model_values, sql_limit};
use crate::{ModelQuery, ModelRecord, ModelStore, ModelVersion, NewModel, Stage, StoreError};

/// One row as the JSON object `ModelRecord` serialises to, built by SQLite. The JSON columns are embedded as
/// stored (`serde_json` wrote them), text is quoted by `json_quote`, and a REAL is written with 15 significant
/// digits when that reads back as the same double, else 17 (SQLite's own JSON rendering keeps 15, which would
/// round `1/3`). `group_concat` over the ordered subquery keeps its order, which the `models_listing` index
/// gives without a sort (an aggregate `ORDER BY` would sort the rows again); the conformance suite checks the
/// order against `list_models`.
const MODEL_JSON: &str = r#"'{"id":' || id || ',"version":' || version || ',"stage":' || json_quote(stage)
    || ',"name":' || json_quote(name) || ',"format":' || json_quote(format) || ',"sha256":' || json_quote(sha256)
    || ',"size_bytes":' || size_bytes || ',"model_path":' || json_quote(model_path)
    || ',"architecture":' || json_quote(architecture) || ',"dataset":' || json_quote(dataset)
    || ',"accuracy":' || CASE WHEN accuracy IS NULL THEN 'null' WHEN CAST(printf('%!.15g', accuracy) AS REAL) = accuracy
        THEN printf('%!.15g', accuracy) ELSE printf('%!.17g', accuracy) END
    || ',"loss":' || CASE WHEN loss IS NULL THEN 'null' WHEN CAST(printf('%!.15g', loss) AS REAL) = loss
        THEN printf('%!.15g', loss) ELSE printf('%!.17g', loss) END
    || ',"metrics":' || metrics || ',"params":' || params || ',"signature":' || signature
    || ',"created_by":' || json_quote(created_by) || ',"created_at_ms":' || created_at_ms || '}'"#;

#[async_trait]
impl ModelStore for SqliteStore {
    async fn add_model(&self, model: &NewModel) -> Result<ModelRecord, StoreError> {
        let v = model_values(model)?;
        let sql = format!(
            "INSERT INTO models (name, version, format, sha256, size_bytes, model_path, architecture, dataset,
                                 accuracy, loss, metrics, params, signature, stage, created_by, created_at_ms)
             SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'none', ?, ?
             FROM models WHERE name = ?
             RETURNING {MODEL_COLUMNS}"
        );
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
            .fetch_one(&self.pool)
            .await?;
        decode_model(&row)
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
        let limit = sql_limit(query.limit);
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models {filter} ORDER BY name, version DESC LIMIT ?");
        let mut q = sqlx::query(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(decode_model).collect()
    }

    async fn list_models_json(&self, query: &ModelQuery) -> Result<String, StoreError> {
        let (filter, args) = model_filter(query);
        let sql = format!(
            "SELECT '[' || COALESCE(group_concat({MODEL_JSON}, ','), '') || ']'
             FROM (SELECT * FROM models {filter} ORDER BY name, version DESC LIMIT ?)"
        );
        let mut q = sqlx::query_scalar(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        Ok(q.bind(sql_limit(query.limit)).fetch_one(&self.pool).await?)
    }

    async fn delete_model(&self, name: &str, version: u32) -> Result<Option<ModelRecord>, StoreError> {
        let sql = format!("DELETE FROM models WHERE name = ? AND version = ? RETURNING {MODEL_COLUMNS}");
        let row = sqlx::query(&sql).bind(name).bind(i64::from(version)).fetch_optional(&self.pool).await?;
        row.as_ref().map(decode_model).transpose()
    }

    async fn set_model_stage(&self, name: &str, version: u32, stage: Stage) -> Result<Option<ModelRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if stage.is_exclusive() {
            sqlx::query("UPDATE models SET stage = 'archived' WHERE name = ? AND stage = ? AND version <> ?")
                .bind(name)
                .bind(stage.as_str())
                .bind(i64::from(version))
                .execute(&mut *tx)
                .await?;
        }
        let sql = format!("UPDATE models SET stage = ? WHERE name = ? AND version = ? RETURNING {MODEL_COLUMNS}");
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
