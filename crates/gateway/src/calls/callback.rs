//! Sending a finished call's result to its `X-Callback-Url`, as OpenFaaS's queue-worker does: a POST whose body
//! is the function's response body, with `X-Call-Id`, `X-Function-Status`, `X-Duration-Seconds` (six decimals,
//! the attempt's duration), `X-Function-Name` (`name.namespace`), `X-Sedge-Attempts` and the function's
//! `Content-Type`.
//!
//! A callback is tried [`TRIES`] times (each within [`TIMEOUT`], 1 s then 2 s apart) until the receiver answers
//! 2xx; after that it is logged and given up, and the call ends anyway: the result stays readable through
//! `/system/async-calls/{id}`. Redirects are not followed.

use std::time::Duration;

use http::header;
use sedge_store::{CallRecord, CallResult};

use crate::invoke::duration_header;

/// Attempts at delivering one callback.
pub const TRIES: u32 = 3;
/// Bound on each attempt (connect, send, answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client callbacks are sent with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sedge-dispatcher/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// POSTs `body` (the function's response) to `url` for the finished `call`, whose last attempt took `took`;
/// logs what fails.
pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    call: &CallRecord,
    result: &CallResult,
    body: bytes::Bytes,
    took: Duration,
) {
    let duration = duration_header(took);
    let content_type = result.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v);
    for try_number in 1..=TRIES {
        let mut request = client
            .post(url)
            .header("X-Call-Id", &call.call.id)
            .header("X-Function-Status", result.status_code.to_string())
            .header("X-Duration-Seconds", duration.clone())
            .header("X-Function-Name", call.call.function.to_string())
            .header("X-Sedge-Attempts", call.attempts.to_string())
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => {
                tracing::debug!(url, status = %answer.status(), "callback delivered");
                return;
            }
            Ok(answer) => tracing::warn!(url, status = %answer.status(), try_number, "callback refused"),
            Err(e) => tracing::warn!(url, error = %e, try_number, "callback failed"),
        }
        if try_number < TRIES {
            tokio::time::sleep(Duration::from_secs(u64::from(try_number))).await;
        }
    }
    tracing::error!(url, tries = TRIES, "callback not delivered; the call's result stays in /system/async-calls");
}
