//! The load loop, the I/O around the pure core: virtual users (closed model) or an arrival schedule (open
//! model) sending real HTTP/1.1 requests over kept-alive connections, every [`Outcome`] handed to one collector
//! that records it and passes it to the writers (`sink`).
//!
//! # Layout
//! - [`closed`]: the closed model (k6's `ramping-vus`), the generator's hot path: VUs on one current-thread
//!   runtime per core, each with its own connection, handing outcomes over in batches.
//! - [`conn`]: one VU's connection, without a pool: connects, keeps alive, reconnects.
//! - here: the types, [`run`] and its collector, the open model, and turning a response into an [`Outcome`].
//!
//! **Open model** (`constant-arrival-rate`, `ramping-arrival-rate`): a scheduler sleeps until each intended
//! send time and starts the request then, on hyper-util's pooled client (a request starts when its time comes,
//! on whichever connection is free); its latency counts from the intended time, so a stalled server shows in the
//! percentiles instead of silently slowing the generator down (coordinated omission, as wrk2 and
//! `oha --latency-correction` correct it). When `max_inflight` requests are already out, the send is dropped
//! and counted. tokio's timers fire on a 1 ms grid, so open-model latencies include up to a millisecond of
//! scheduling lag; the summary's service time (from the actual send) shows the server's part alone.

mod closed;
mod conn;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri, header, response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use conn::Conn;
use sedge_bench::arrival::Schedule;
use sedge_bench::plan::Stage;
use sedge_bench::record::{Outcome, Recorder};

/// What each request sends.
#[derive(Debug, Clone)]
pub struct Target {
    /// Method.
    pub method: Method,
    /// Absolute `http://` URL.
    pub url: Uri,
    /// Extra headers.
    pub headers: HeaderMap,
    /// Bodies, used in turn (one per request): a single literal, or one per file of a folder.
    pub bodies: Vec<Bytes>,
}

/// How load is offered.
#[derive(Debug)]
pub enum Model {
    /// Virtual users, each sending its next request once the previous one answered (and it thought).
    Closed {
        /// VUs over time.
        stages: Vec<Stage>,
        /// VUs at the start of the first stage.
        start_vus: u32,
        /// Pause after each response.
        think: Duration,
        /// Stop after this many requests in all.
        iterations: Option<u64>,
    },
    /// Requests started at scheduled times, whatever the server does.
    Open {
        /// The intended send times.
        schedule: Schedule,
        /// Most requests out at once; sends beyond are dropped.
        max_inflight: u32,
    },
}

/// What a response must satisfy to count as a success, besides a 2xx/3xx status.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Exact status expected.
    pub status: Option<u16>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
}

/// A whole test.
#[derive(Debug)]
pub struct Test {
    /// The request.
    pub target: Target,
    /// The load model.
    pub model: Model,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Response checks.
    pub check: Check,
}

/// Live counters for progress lines.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests answered (or failed).
    pub done: AtomicU64,
    /// Failures so far.
    pub failed: AtomicU64,
    /// VUs (closed) or requests in flight (open) now.
    pub active: AtomicU32,
}

/// What every request of a run shares.
struct Shared {
    target: Target,
    /// The closed model's request line and headers: origin-form path, the target's headers and `Host`.
    origin: Uri,
    origin_headers: HeaderMap,
    /// The bytes of the request line and headers, before any `content-length` (see [`request_head_len`]).
    head_len: u64,
    check: Check,
    timeout: Duration,
    start: Instant,
    next_body: AtomicU64,
    outcomes: mpsc::UnboundedSender<Vec<Outcome>>,
    progress: Arc<Progress>,
}

/// Runs `test` until its plan ends or `stop` fires; every outcome is also passed to `sink` (writers). Returns
/// what was recorded and how long the test ran.
pub async fn run(
    test: Test,
    stop: CancellationToken,
    progress: Arc<Progress>,
    mut sink: impl FnMut(&Outcome) + Send,
) -> (Recorder, Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Outcome>>();
    let start = Instant::now();
    let origin = test.target.url.path_and_query().map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    let mut origin_headers = test.target.headers.clone();
    if let Some(host) = Conn::host(&test.target.url).filter(|_| !origin_headers.contains_key(header::HOST)) {
        origin_headers.insert(header::HOST, host);
    }
    let head_len = request_head_len(&test.target.method, &origin, &origin_headers);
    let shared = Arc::new(Shared {
        target: test.target,
        origin,
        origin_headers,
        head_len,
        check: test.check,
        timeout: test.timeout,
        start,
        next_body: AtomicU64::new(0),
        outcomes: tx,
        progress,
    });
    let driver = {
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match test.model {
                Model::Closed { stages, start_vus, think, iterations } => {
                    closed::run(shared, stages, start_vus, think, iterations, stop).await
                }
                Model::Open { schedule, max_inflight } => open(shared, schedule, max_inflight, stop).await,
            }
        })
    };
    drop(shared);
    let mut recorder = Recorder::new();
    while let Some(batch) = rx.recv().await {
        for outcome in &batch {
            recorder.record(outcome);
            sink(outcome);
        }
    }
    let dropped = driver.await.unwrap_or(0);
    recorder.dropped(dropped);
    (recorder, start.elapsed())
}

/// Open model: returns how many sends were dropped.
async fn open(shared: Arc<Shared>, mut schedule: Schedule, max_inflight: u32, stop: CancellationToken) -> u64 {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let client: PooledClient =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(usize::MAX).build(connector);
    let inflight = Arc::new(AtomicU32::new(0));
    let mut dropped = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u32;
    while let Some(intended) = schedule.next() {
        tokio::select! {
            () = tokio::time::sleep_until(shared.start + intended) => {}
            () = stop.cancelled() => break,
        }
        if inflight.fetch_add(1, Ordering::AcqRel) >= max_inflight {
            inflight.fetch_sub(1, Ordering::AcqRel);
            dropped += 1;
            continue;
        }
        shared.progress.active.store(inflight.load(Ordering::Relaxed), Ordering::Relaxed);
        let (shared, inflight, client) = (shared.clone(), inflight.clone(), client.clone());
        let worker = n;
        n = n.wrapping_add(1);
        tasks.spawn(async move {
            let outcome = pooled_send(&shared, &client, intended, worker % max_inflight.max(1)).await;
            shared.progress.done.fetch_add(1, Ordering::Relaxed);
            if !outcome.ok() {
                shared.progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            let _ = shared.outcomes.send(vec![outcome]);
            inflight.fetch_sub(1, Ordering::AcqRel);
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    dropped
}

type PooledClient = Client<HttpConnector, Full<Bytes>>;

/// Open model: one request intended at `intended`, on the shared pool.
async fn pooled_send(shared: &Shared, client: &PooledClient, intended: Duration, vu: u32) -> Outcome {
    let t = &shared.target;
    let (body, bytes_sent) = next_body(shared);
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = t.method.clone();
    *request.uri_mut() = t.url.clone();
    *request.headers_mut() = t.headers.clone();
    let started = shared.start.elapsed();
    let call = async {
        let response = client.request(request).await.map_err(|e| sedge_core::error::chain(&e))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| sedge_core::error::chain(&e))?.to_bytes();
        Ok::<_, String>((parts, body))
    };
    let result = match tokio::time::timeout(shared.timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout after {:?}", shared.timeout)),
    };
    outcome(shared, intended, started, bytes_sent, result, vu)
}

/// The next body to send (bodies are used in turn) and the bytes the whole request takes on the wire.
fn next_body(shared: &Shared) -> (Bytes, u64) {
    let bodies = &shared.target.bodies;
    let body = match bodies.len() {
        0 => Bytes::new(),
        1 => bodies[0].clone(),
        n => bodies[(shared.next_body.fetch_add(1, Ordering::Relaxed) % n as u64) as usize].clone(),
    };
    // hyper adds `content-length: N` to a request with a body.
    let digits = body.len().checked_ilog10().map_or(1, |d| d as usize + 1);
    let content_length = if body.is_empty() { 0 } else { "content-length: \r\n".len() + digits };
    let len = shared.head_len + (content_length + body.len()) as u64;
    (body, len)
}

/// The size of the HTTP/1.1 request line and headers as sent: `METHOD /path HTTP/1.1`, the target's headers with
/// `Host`, and the blank line.
fn request_head_len(method: &Method, origin: &Uri, headers: &HeaderMap) -> u64 {
    let path = origin.path_and_query().map_or(1, |p| p.as_str().len());
    let line = method.as_str().len() + 1 + path + " HTTP/1.1\r\n".len();
    (line + headers_len(headers) + 2) as u64
}

/// The bytes of `name: value\r\n` for every header.
fn headers_len(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + 2 + value.len() + 2).sum()
}

/// The size of a response's status line and headers as received (`HTTP/1.1 200 OK\r\n`, headers, blank line).
fn response_head_len(parts: &response::Parts) -> u64 {
    let reason = parts.status.canonical_reason().map_or(0, |r| r.len() + 1);
    ("HTTP/1.1 200\r\n".len() + reason + headers_len(&parts.headers) + 2) as u64
}

/// The outcome of a request intended at `intended`, sent at `started`, finishing now.
fn outcome(
    shared: &Shared,
    intended: Duration,
    started: Duration,
    bytes_sent: u64,
    result: Result<(response::Parts, Bytes), String>,
    vu: u32,
) -> Outcome {
    let finished = shared.start.elapsed();
    match result {
        Ok((parts, body)) => {
            let status = parts.status.as_u16();
            let cold = parts.headers.get("x-sedge-cold-start").map(|v| v.as_bytes() == b"true");
            Outcome {
                intended,
                started,
                finished,
                status: Some(status),
                error: check(&shared.check, status, &body),
                cold,
                bytes_sent,
                bytes_received: response_head_len(&parts) + body.len() as u64,
                vu,
            }
        }
        Err(error) => Outcome {
            intended,
            started,
            finished,
            status: None,
            error: Some(error),
            cold: None,
            bytes_sent,
            bytes_received: 0,
            vu,
        },
    }
}

/// The failed check, if any.
fn check(check: &Check, status: u16, body: &[u8]) -> Option<String> {
    if let Some(want) = check.status.filter(|want| *want != status) {
        return Some(format!("status {status}, expected {want}"));
    }
    let text = check.body_contains.as_deref()?;
    let found = body.windows(text.len().max(1)).any(|w| w == text.as_bytes());
    (!found).then(|| format!("body does not contain {text:?}"))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn request_heads_count_the_request_line_headers_and_blank_line() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, http::HeaderValue::from_static("h:1"));
        let len = request_head_len(&Method::POST, &Uri::from_static("/f?x=1"), &headers);
        assert_eq!(len, "POST /f?x=1 HTTP/1.1\r\nhost: h:1\r\n\r\n".len() as u64);
    }

    #[test]
    fn response_heads_count_the_status_line_headers_and_blank_line() {
        let response = http::Response::builder().status(200).header("content-length", "2").body(()).unwrap();
        let (parts, ()) = response.into_parts();
        assert_eq!(response_head_len(&parts), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n".len() as u64);
    }

    /// A keep-alive HTTP/1.1 server on loopback that answers "ok" at once, except that every request arriving
    /// in `[stall_from, stall_until)` after `t0` is held until `stall_until` (a whole-server pause).
    async fn stalling_server(t0: Instant, stall_from: Duration, stall_until: Duration) -> Uri {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let now = t0.elapsed();
                            if now >= stall_from && now < stall_until {
                                tokio::time::sleep_until(t0 + stall_until).await;
                            }
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        format!("http://{addr}/").parse().unwrap()
    }

    #[tokio::test]
    async fn the_closed_model_sends_the_iterations_and_every_outcome_reaches_the_sink_and_the_progress() {
        let url = stalling_server(Instant::now(), Duration::from_secs(3600), Duration::from_secs(3600)).await;
        let stages = vec![Stage { duration: Duration::from_secs(60), target: 4 }];
        let test = Test {
            target: Target { method: Method::GET, url, headers: HeaderMap::new(), bodies: Vec::new() },
            model: Model::Closed { stages, start_vus: 4, think: Duration::ZERO, iterations: Some(1000) },
            timeout: Duration::from_secs(10),
            check: Check { status: Some(200), body_contains: Some("ok".into()) },
        };
        let progress = Arc::new(Progress::default());
        let mut outcomes = Vec::new();
        let (recorder, _) = run(test, CancellationToken::new(), progress.clone(), |o| outcomes.push(o.clone())).await;
        assert_eq!(recorder.count(), 1000);
        assert_eq!(outcomes.len(), 1000);
        assert!(outcomes.iter().all(Outcome::ok), "{:?}", outcomes.iter().find(|o| !o.ok()));
        let vus: std::collections::BTreeSet<u32> = outcomes.iter().map(|o| o.vu).collect();
        assert_eq!(vus.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3], "every VU sent");
        assert_eq!(progress.done.load(Ordering::Relaxed), 1000);
        assert_eq!(progress.failed.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_server_stall_shows_in_the_latency_counted_from_the_intended_send() {
        let t0 = Instant::now();
        let url = stalling_server(t0, Duration::from_millis(500), Duration::from_millis(600)).await;
        let test = Test {
            target: Target { method: Method::GET, url, headers: HeaderMap::new(), bodies: Vec::new() },
            model: Model::Open { schedule: Schedule::constant(1000.0, Duration::from_secs(1)), max_inflight: 1000 },
            timeout: Duration::from_secs(10),
            check: Check::default(),
        };
        let mut outcomes = Vec::new();
        let (recorder, _) =
            run(test, CancellationToken::new(), Arc::new(Progress::default()), |o| outcomes.push(o.clone())).await;
        assert_eq!(recorder.count(), 1000, "every scheduled send happened");
        assert!(outcomes.iter().all(Outcome::ok));
        // Sends intended in the first half of the stall cannot finish before it ends: ≥ 50 ms each, whether
        // they reached the server inside the window or (on a busy machine) after it.
        let intended_early =
            |o: &&Outcome| o.intended >= Duration::from_millis(500) && o.intended < Duration::from_millis(550);
        let stalled: Vec<&Outcome> = outcomes.iter().filter(intended_early).collect();
        assert!(stalled.len() >= 45, "about 50 sends were intended then: {}", stalled.len());
        for o in &stalled {
            assert!(o.latency() >= Duration::from_millis(50), "{o:?}");
        }
        let summary = recorder.summary(Duration::from_secs(1));
        // Sends intended in [500, 590) ms wait ≥ 10 ms: 9 % of all, so the corrected p95 is at least 10 ms.
        assert!(summary.latency.p95_ms >= 10.0, "the stall is in the corrected p95: {:?}", summary.latency);
    }
}
