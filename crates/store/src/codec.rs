//! What every backend shares about the `models` and `async_calls` rows: the column lists in the order the
//! decoders read them, the values written (JSON texts, stage and status spellings, counts as signed 64-bit
//! integers) and the decoders from a row to a [`ModelRecord`] or [`CallRecord`].
//!
//! Backends differ in their SQL, not in their rows: each one implements [`RowRead`] for its row type (MariaDB's
//! reads text as bytes, because sqlx refuses `String` for columns with a binary collation) and passes its rows
//! here.

use sedge_core::QualifiedName;
use serde_json::{Map, Value};

use sedge_core::DEFAULT_NAMESPACE;
use sedge_core::api::FunctionDeployment;

use crate::{CallRecord, CallResult, CallStatus, FunctionRecord, ModelRecord, NewCall, NewModel, Stage, StoreError};

/// Columns of `functions` in the order [`decode_function`] reads them.
pub(crate) const FUNCTION_COLUMNS: &str = "namespace, name, deployment, replicas, created_at_ms, invocation_count";

/// Columns of `models` in the order [`decode_model`] reads them.
pub(crate) const MODEL_COLUMNS: &str = "id, name, version, format, sha256, size_bytes, model_path, architecture, \
     dataset, accuracy, loss, metrics, params, signature, stage, created_by, created_at_ms";

/// Columns of `async_calls` without the bodies, in the order [`decode_call`] reads them.
pub(crate) const CALL_COLUMNS: &str = "id, namespace, function, method, path, query, headers, callback_url, \
     max_attempts, status, attempts, next_attempt_at_ms, enqueued_at_ms, started_at_ms, finished_at_ms, \
     result_status, result_headers, result_duration_ms";

/// The body columns, selected after [`CALL_COLUMNS`] when a call is read whole.
pub(crate) const CALL_BODY_COLUMNS: &str = "body, result_body";

/// Typed access to one column of a row, by position. Errors are the driver's (wrong type, NULL).
pub(crate) trait RowRead {
    /// A 64-bit integer.
    fn int(&self, index: usize) -> Result<i64, sqlx::Error>;
    /// A nullable 64-bit integer.
    fn opt_int(&self, index: usize) -> Result<Option<i64>, sqlx::Error>;
    /// A nullable double.
    fn opt_real(&self, index: usize) -> Result<Option<f64>, sqlx::Error>;
    /// A text.
    fn text(&self, index: usize) -> Result<String, sqlx::Error>;
    /// A nullable text.
    fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error>;
    /// A nullable blob.
    fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

/// Implements [`RowRead`] with `try_get` for a row type whose driver decodes every column type directly.
macro_rules! row_read_by_try_get {
    ($row:ty) => {
        impl $crate::codec::RowRead for $row {
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
                sqlx::Row::try_get(self, index)
            }
            fn opt_text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }
            fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }
        }
    };
}
pub(crate) use row_read_by_try_get;

/// A function's namespace (the default when absent) and its deployment as stored JSON, namespace filled in.
pub(crate) fn function_values(record: &FunctionRecord) -> Result<(String, String), StoreError> {
    let namespace = match record.deployment.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns,
        _ => DEFAULT_NAMESPACE,
    };
    let mut deployment = record.deployment.clone();
    deployment.namespace = Some(namespace.to_string());
    let json = serde_json::to_string(&deployment)
        .map_err(|e| StoreError::Corrupt(format!("function {}: cannot encode deployment: {e}", deployment.service)))?;
    Ok((namespace.to_string(), json))
}

/// Reads one `functions` row selected with [`FUNCTION_COLUMNS`]. The row's key columns are authoritative: the
/// deployment's `service` and `namespace` are set from them.
pub(crate) fn decode_function(row: &impl RowRead) -> Result<FunctionRecord, StoreError> {
    let namespace = row.text(0)?;
    let name = row.text(1)?;
    let json = row.text(2)?;
    let replicas = row.int(3)?;
    let created_at_ms = row.int(4)?;
    let invocation_count = row.int(5)?;
    let corrupt = |what: String| StoreError::Corrupt(format!("function {name}.{namespace}: {what}"));
    let mut deployment: FunctionDeployment =
        serde_json::from_str(&json).map_err(|e| corrupt(format!("deployment JSON: {e}")))?;
    let replicas = u32::try_from(replicas).map_err(|_| corrupt(format!("replicas {replicas}")))?;
    let invocation_count =
        u64::try_from(invocation_count).map_err(|_| corrupt(format!("invocation count {invocation_count}")))?;
    deployment.service = name;
    deployment.namespace = Some(namespace);
    Ok(FunctionRecord { deployment, replicas, created_at_ms, invocation_count })
}

/// A [`NewModel`]'s values as stored, in [`MODEL_COLUMNS`] order after `id` and `version`.
pub(crate) struct ModelValues<'a> {
    /// `name`.
    pub name: &'a str,
    /// `format`.
    pub format: &'a str,
    /// `sha256`.
    pub sha256: &'a str,
    /// `size_bytes`.
    pub size_bytes: i64,
    /// `model_path`.
    pub model_path: &'a str,
    /// `architecture`.
    pub architecture: Option<&'a str>,
    /// `dataset`.
    pub dataset: Option<&'a str>,
    /// `accuracy`.
    pub accuracy: Option<f64>,
    /// `loss`.
    pub loss: Option<f64>,
    /// `metrics`, JSON.
    pub metrics: String,
    /// `params`, JSON.
    pub params: String,
    /// `signature`, JSON.
    pub signature: String,
    /// `created_by`.
    pub created_by: Option<&'a str>,
    /// `created_at_ms`.
    pub created_at_ms: i64,
}

/// Checks a model about to be added and turns it into stored values.
pub(crate) fn model_values(model: &NewModel) -> Result<ModelValues<'_>, StoreError> {
    crate::registry::validate_model_name(&model.name).map_err(StoreError::Invalid)?;
    let json = |what: &str, value: &Value| {
        serde_json::to_string(value)
            .map_err(|e| StoreError::Invalid(format!("model {}: cannot encode {what}: {e}", model.name)))
    };
    Ok(ModelValues {
        name: &model.name,
        format: &model.format,
        sha256: &model.sha256,
        size_bytes: to_sql_count(model.size_bytes),
        model_path: &model.model_path,
        architecture: model.architecture.as_deref(),
        dataset: model.dataset.as_deref(),
        accuracy: model.accuracy,
        loss: model.loss,
        metrics: json("metrics", &Value::Object(model.metrics.clone()))?,
        params: json("params", &Value::Object(model.params.clone()))?,
        signature: json("signature", &model.signature)?,
        created_by: model.created_by.as_deref(),
        created_at_ms: model.created_at_ms,
    })
}

/// Reads one `models` row selected with [`MODEL_COLUMNS`].
pub(crate) fn decode_model(row: &impl RowRead) -> Result<ModelRecord, StoreError> {
    let id = row.int(0)?;
    let name = row.text(1)?;
    let version = row.int(2)?;
    let corrupt = |what: String| StoreError::Corrupt(format!("model {name}:{version}: {what}"));
    let object = |what: &str, text: String| match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(corrupt(format!("{what} is not a JSON object: {other}"))),
        Err(e) => Err(corrupt(format!("{what} JSON: {e}"))),
    };
    let size_bytes = row.int(5)?;
    let metrics: Map<String, Value> = object("metrics", row.text(11)?)?;
    let params = object("params", row.text(12)?)?;
    let signature = serde_json::from_str(&row.text(13)?).map_err(|e| corrupt(format!("signature JSON: {e}")))?;
    let stage = Stage::parse(&row.text(14)?).map_err(corrupt)?;
    let model = NewModel {
        name: name.clone(),
        format: row.text(3)?,
        sha256: row.text(4)?,
        size_bytes: u64::try_from(size_bytes).map_err(|_| corrupt(format!("size {size_bytes}")))?,
        model_path: row.text(6)?,
        architecture: row.opt_text(7)?,
        dataset: row.opt_text(8)?,
        accuracy: row.opt_real(9)?,
        loss: row.opt_real(10)?,
        metrics,
        params,
        signature,
        created_by: row.opt_text(15)?,
        created_at_ms: row.int(16)?,
    };
    let version = u32::try_from(version).map_err(|_| corrupt("version out of range".into()))?;
    Ok(ModelRecord { id, version, stage, model })
}

/// Headers as stored: a JSON array of `[name, value]` pairs.
pub(crate) fn headers_json(headers: &[(String, String)]) -> String {
    // A list of string pairs always serialises.
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

/// A [`CallResult`]'s columns: `result_status`, `result_headers`, `result_body`, `result_duration_ms`.
pub(crate) fn result_values(result: &CallResult) -> (i64, String, &[u8], i64) {
    (i64::from(result.status_code), headers_json(&result.headers), &result.body, to_sql_count(result.duration_ms))
}

/// Reads one `async_calls` row selected with [`CALL_COLUMNS`], followed by [`CALL_BODY_COLUMNS`] when
/// `with_bodies` (otherwise the bodies are empty).
pub(crate) fn decode_call(row: &impl RowRead, with_bodies: bool) -> Result<CallRecord, StoreError> {
    let id = row.text(0)?;
    let corrupt = |what: String| StoreError::Corrupt(format!("call {id}: {what}"));
    let headers = |text: String| -> Result<Vec<(String, String)>, StoreError> {
        serde_json::from_str(&text).map_err(|e| corrupt(format!("headers JSON: {e}")))
    };
    let count = |value: i64, what: &str| u32::try_from(value).map_err(|_| corrupt(format!("{what} {value}")));
    let (body, result_body) = if with_bodies {
        (row.opt_bytes(18)?.unwrap_or_default(), row.opt_bytes(19)?.unwrap_or_default())
    } else {
        (Vec::new(), Vec::new())
    };
    let result = match row.opt_int(15)? {
        None => None,
        Some(status) => Some(CallResult {
            status_code: u16::try_from(status).map_err(|_| corrupt(format!("result status {status}")))?,
            headers: headers(row.opt_text(16)?.unwrap_or_else(|| "[]".into()))?,
            body: result_body,
            duration_ms: u64::try_from(row.opt_int(17)?.unwrap_or(0)).unwrap_or(0),
        }),
    };
    let call = NewCall {
        function: QualifiedName { namespace: row.text(1)?, name: row.text(2)? },
        method: row.text(3)?,
        path: row.text(4)?,
        query: row.opt_text(5)?,
        headers: headers(row.text(6)?)?,
        body,
        callback_url: row.opt_text(7)?,
        max_attempts: count(row.int(8)?, "max attempts")?,
        enqueued_at_ms: row.int(12)?,
        id: id.clone(),
    };
    Ok(CallRecord {
        status: CallStatus::parse(&row.text(9)?).map_err(corrupt)?,
        attempts: count(row.int(10)?, "attempts")?,
        next_attempt_at_ms: row.int(11)?,
        started_at_ms: row.opt_int(13)?,
        finished_at_ms: row.opt_int(14)?,
        result,
        call,
    })
}

/// Sorts a call list as [`crate::CallQueue::claim_calls`] returns it: oldest first (ties by id), since
/// `UPDATE … RETURNING` gives rows in no particular order.
pub(crate) fn sort_claimed(calls: &mut [CallRecord]) {
    calls.sort_by(|a, b| (a.call.enqueued_at_ms, &a.call.id).cmp(&(b.call.enqueued_at_ms, &b.call.id)));
}

/// The SQL `ORDER BY` that [`sort_claimed`] matches.
pub(crate) const CLAIM_ORDER: &str = "ORDER BY enqueued_at_ms, id";

/// Checks a final status for [`crate::CallQueue::finish_call`].
pub(crate) fn final_status(status: CallStatus) -> Result<&'static str, StoreError> {
    if status.is_final() {
        Ok(status.as_str())
    } else {
        Err(StoreError::Invalid(format!("cannot finish a call as {status}: the status is not final")))
    }
}

/// The `LIMIT` for an optional row count (no limit: the largest count every backend accepts).
pub(crate) fn sql_limit(limit: Option<u32>) -> i64 {
    limit.map_or(i64::MAX, i64::from)
}

/// Now, in milliseconds since the Unix epoch (the time a cancelled call is stamped with).
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A count as a signed 64-bit integer, saturating (2^63 is not reached in practice).
pub(crate) fn to_sql_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A `WHERE` clause (with `?` placeholders) and its text arguments for `list_models`, in bind order.
pub(crate) fn model_filter(query: &crate::ModelQuery) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(name) = &query.name {
        clauses.push("name = ?");
        args.push(name.clone());
    }
    if let Some(stage) = query.stage {
        clauses.push("stage = ?");
        args.push(stage.as_str().to_string());
    }
    if let Some(dataset) = &query.dataset {
        clauses.push("dataset = ?");
        args.push(dataset.clone());
    }
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, args)
}

/// A `WHERE` clause (with `?` placeholders) and its text arguments for `list_calls`, in bind order.
pub(crate) fn call_filter(function: Option<&QualifiedName>, status: Option<CallStatus>) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(function) = function {
        clauses.push("namespace = ? AND function = ?");
        args.push(function.namespace.clone());
        args.push(function.name.clone());
    }
    if let Some(status) = status {
        clauses.push("status = ?");
        args.push(status.as_str().to_string());
    }
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, args)
}
