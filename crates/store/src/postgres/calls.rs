//! [`CallQueue`] on PostgreSQL: the `async_calls` table (migration 0002).
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) RETURNING`: rows another
//! claim holds are skipped rather than waited for, and a row claimed and committed meanwhile no longer matches
//! `status = 'queued'` when rechecked, so two dispatchers never claim the same call. Every state change is guarded by the status it starts from
//! (`WHERE status = 'running'` for a retry, …), so a stale caller changes nothing and is told so.

use async_trait::async_trait;
use sedge_core::QualifiedName;

use super::{PostgresStore, pg};
use crate::codec::{
    CALL_BODY_COLUMNS, CALL_COLUMNS, CLAIM_ORDER, call_filter, decode_call, final_status, headers_json, now_ms,
    result_values, sort_claimed,
};
use crate::{CallQueue, CallRecord, CallResult, CallStatus, NewCall, StoreError};

#[async_trait]
impl CallQueue for PostgresStore {
    async fn enqueue(&self, call: &NewCall) -> Result<(), StoreError> {
        let done = sqlx::query(&pg(
            "INSERT INTO async_calls (id, namespace, function, method, path, query, headers, body, callback_url,
                                      max_attempts, status, attempts, next_attempt_at_ms, enqueued_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        ))
        .bind(&call.id)
        .bind(&call.function.namespace)
        .bind(&call.function.name)
        .bind(&call.method)
        .bind(&call.path)
        .bind(call.query.as_deref())
        .bind(headers_json(&call.headers))
        .bind(&call.body)
        .bind(call.callback_url.as_deref())
        .bind(i64::from(call.max_attempts))
        .bind(call.enqueued_at_ms)
        .bind(call.enqueued_at_ms)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("call {}", call.id)));
        }
        Ok(())
    }

    async fn due_functions(&self, now_ms: i64) -> Result<Vec<QualifiedName>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(&pg(
            "SELECT DISTINCT namespace, function FROM async_calls WHERE status = 'queued' AND next_attempt_at_ms <= ?",
        ))
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut names: Vec<QualifiedName> =
            rows.into_iter().map(|(namespace, name)| QualifiedName { name, namespace }).collect();
        names.sort();
        Ok(names)
    }

    async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let at = sqlx::query_scalar("SELECT MIN(next_attempt_at_ms) FROM async_calls WHERE status = 'queued'")
            .fetch_one(&self.pool)
            .await?;
        Ok(at)
    }

    async fn claim_calls(
        &self,
        function: &QualifiedName,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = pg(&format!(
            "UPDATE async_calls SET status = 'running', attempts = attempts + 1, started_at_ms = ?
             WHERE id IN (SELECT id FROM async_calls
                          WHERE namespace = ? AND function = ? AND status = 'queued' AND next_attempt_at_ms <= ?
                          {CLAIM_ORDER} LIMIT ? FOR UPDATE SKIP LOCKED)
             RETURNING {CALL_COLUMNS}, {CALL_BODY_COLUMNS}"
        ));
        let rows = sqlx::query(&sql)
            .bind(now_ms)
            .bind(&function.namespace)
            .bind(&function.name)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut calls = rows.iter().map(|row| decode_call(row, true)).collect::<Result<Vec<_>, _>>()?;
        sort_claimed(&mut calls);
        Ok(calls)
    }

    async fn retry_call(&self, id: &str, next_attempt_at_ms: i64, last: &CallResult) -> Result<(), StoreError> {
        let (status, headers, body, duration) = result_values(last);
        let done = sqlx::query(&pg(
            "UPDATE async_calls SET status = 'queued', next_attempt_at_ms = ?, result_status = ?, result_headers = ?,
                                    result_body = ?, result_duration_ms = ?
             WHERE id = ? AND status = 'running'",
        ))
        .bind(next_attempt_at_ms)
        .bind(status)
        .bind(headers)
        .bind(body)
        .bind(duration)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("running call {id}")));
        }
        Ok(())
    }

    async fn finish_call(
        &self,
        id: &str,
        status: CallStatus,
        result: Option<&CallResult>,
        finished_at_ms: i64,
    ) -> Result<(), StoreError> {
        let status = final_status(status)?;
        let done = match result {
            Some(result) => {
                let (code, headers, body, duration) = result_values(result);
                sqlx::query(&pg(
                    "UPDATE async_calls SET status = ?, finished_at_ms = ?, result_status = ?, result_headers = ?,
                                            result_body = ?, result_duration_ms = ?
                     WHERE id = ? AND status IN ('queued', 'running')",
                ))
                .bind(status)
                .bind(finished_at_ms)
                .bind(code)
                .bind(headers)
                .bind(body)
                .bind(duration)
                .bind(id)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&pg("UPDATE async_calls SET status = ?, finished_at_ms = ?
                     WHERE id = ? AND status IN ('queued', 'running')"))
                .bind(status)
                .bind(finished_at_ms)
                .bind(id)
                .execute(&self.pool)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("unfinished call {id}")));
        }
        Ok(())
    }

    async fn requeue_running(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE async_calls SET status = 'queued' WHERE status = 'running'")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn cancel_call(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(&pg(
            "UPDATE async_calls SET status = 'cancelled', finished_at_ms = ? WHERE id = ? AND status = 'queued'",
        ))
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_call(&self, id: &str) -> Result<Option<CallRecord>, StoreError> {
        let sql = pg(&format!("SELECT {CALL_COLUMNS}, {CALL_BODY_COLUMNS} FROM async_calls WHERE id = ?"));
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(|row| decode_call(row, true)).transpose()
    }

    async fn list_calls(
        &self,
        function: Option<&QualifiedName>,
        status: Option<CallStatus>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let (filter, args) = call_filter(function, status);
        let sql = pg(&format!(
            "SELECT {CALL_COLUMNS} FROM async_calls {filter} ORDER BY enqueued_at_ms DESC, id DESC LIMIT ?"
        ));
        let mut q = sqlx::query(&sql);
        for arg in &args {
            q = q.bind(arg);
        }
        let rows = q.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(|row| decode_call(row, false)).collect()
    }
}
