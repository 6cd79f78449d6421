//! `chain` (seed 003, ServerlessBench and owperf): three costs of composing functions.
//!
//! 1. **Data transfer between chained functions**: `chain-entry` forwards payloads of 1 KB … 10 MB to
//!    `chain-next` through the gateway and reports the hop's round trip; the client also times the whole call.
//! 2. **Stateless vs stateful**: `chain-state` bumps a counter inside a state of 1 KB … 1 MB that either travels
//!    in every request and answer (stateless) or stays in the replica's memory (stateful, a session key only).
//! 3. **Invocation throughput vs concurrency** (owperf): closed-loop users 1 … 32 against `hello` (fork mode)
//!    and `chain-next` (Python), each for a few seconds.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use http::Method;
use sedge_bench::report::{Chart, ChartKind, Comparison, Report, Series, Table};

use super::examples;
use super::figures::{ms, quantile, rate};
use super::lab::{self, Lab};

const KB: usize = 1000;

/// Sizes, calls per size, concurrency levels and time per level.
struct Plan {
    transfer_sizes: Vec<usize>,
    state_sizes: Vec<usize>,
    calls: u64,
    concurrency: Vec<u32>,
    per_level: Duration,
}

impl Plan {
    fn new(full: bool) -> Self {
        if full {
            Self {
                transfer_sizes: vec![KB, 10 * KB, 100 * KB, 1000 * KB, 10_000 * KB],
                state_sizes: vec![KB, 10 * KB, 100 * KB, 1000 * KB, 10_000 * KB],
                calls: 100,
                concurrency: vec![1, 2, 4, 8, 16, 32, 64],
                per_level: Duration::from_secs(10),
            }
        } else {
            Self {
                transfer_sizes: vec![KB, 10 * KB, 100 * KB, 1000 * KB, 10_000 * KB],
                state_sizes: vec![KB, 10 * KB, 100 * KB, 1000 * KB],
                calls: 10,
                concurrency: vec![1, 2, 4, 8, 16, 32],
                per_level: Duration::from_secs(3),
            }
        }
    }
}

/// Runs the three parts.
pub async fn run(lab: &Lab, full: bool) -> Result<Report> {
    let plan = Plan::new(full);
    eprintln!("  deploying chain-entry, chain-next, chain-state, hello");
    lab.deploy(examples::CHAIN.dir, examples::CHAIN.file, &examples::CHAIN.files(&lab.models, &lab.url)).await?;
    lab.deploy(examples::HELLO.dir, examples::HELLO.file, &examples::HELLO.files(&lab.models, &lab.url)).await?;
    for name in ["chain-entry", "chain-next", "chain-state", "hello"] {
        lab.wait_ready(name, 1).await?;
    }
    let transfer = transfer(lab, &plan).await?;
    let state = state(lab, &plan).await?;
    let throughput = throughput(lab, &plan).await?;
    Ok(report(&transfer, &state, &throughput, full))
}

/// Per payload size: (size, client p50 ms, hop p50 ms).
async fn transfer(lab: &Lab, plan: &Plan) -> Result<Vec<(usize, f64, f64)>> {
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    for &size in &plan.transfer_sizes {
        eprintln!("  transfer: {} × {}", plan.calls, bytes(size));
        let payload = Bytes::from(vec![b'x'; size]);
        let (mut client_ms, mut hop_ms) = (Vec::new(), Vec::new());
        for _ in 0..plan.calls {
            let started = Instant::now();
            let r = http.post(lab.function_url("chain-entry")).body(payload.clone()).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            client_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            ensure!(status.is_success(), "chain-entry answered {status}: {}", String::from_utf8_lossy(&body));
            let answer: serde_json::Value = serde_json::from_slice(&body).context("chain-entry's answer")?;
            ensure!(answer["received"].as_u64() == Some(size as u64), "chain-next received {}", answer["received"]);
            hop_ms.push(answer["hop_ms"].as_f64().context("hop_ms")?);
        }
        rows.push((size, quantile(client_ms, 0.5), quantile(hop_ms, 0.5)));
    }
    Ok(rows)
}

/// Per state size: (size, stateless p50 ms, stateful p50 ms).
async fn state(lab: &Lab, plan: &Plan) -> Result<Vec<(usize, f64, f64)>> {
    let url = lab.function_url("chain-state");
    let mut rows = Vec::new();
    for &size in &plan.state_sizes {
        eprintln!("  state: {} × {} stateless and stateful", plan.calls, bytes(size));
        let stateless = lab::target(Method::POST, &url, vec![Bytes::from(vec![0u8; size])], &[])?;
        let session = format!("s{size}");
        let size_text = size.to_string();
        let stateful = lab::target(
            Method::POST,
            &url,
            vec![],
            &[("X-State", "stateful"), ("X-Session", &session), ("X-State-Size", &size_text)],
        )?;
        let mut p50 = Vec::new();
        for target in [stateless, stateful] {
            lab.run(lab::iterations(target.clone(), 1, 1)).await; // warm-up: the first call of a size is not counted
            let (recorder, elapsed) = lab.run(lab::iterations(target, 1, plan.calls)).await;
            let summary = recorder.summary(elapsed);
            ensure!(summary.failed == 0, "chain-state failed {} of {} calls", summary.failed, summary.requests);
            p50.push(summary.latency.p50_ms);
        }
        rows.push((size, p50[0], p50[1]));
    }
    Ok(rows)
}

/// Per function and concurrency: (function, users, req/s, p50 ms, failed calls).
async fn throughput(lab: &Lab, plan: &Plan) -> Result<Vec<(&'static str, u32, f64, f64, u64)>> {
    let mut rows = Vec::new();
    for name in ["hello", "chain-next"] {
        for &users in &plan.concurrency {
            eprintln!("  throughput: {name} with {users} users for {} s", plan.per_level.as_secs());
            let target = lab::target(Method::POST, &lab.function_url(name), vec![Bytes::from_static(b"x")], &[])?;
            let mut test = lab::closed(target, users, plan.per_level, Duration::ZERO);
            test.check.status = Some(200);
            let (recorder, elapsed) = lab.run(test).await;
            let summary = recorder.summary(elapsed);
            rows.push((name, users, summary.rps, summary.latency.p50_ms, summary.failed));
        }
    }
    Ok(rows)
}

/// `1 KB`, `10 MB`.
fn bytes(size: usize) -> String {
    match size {
        s if s >= 1_000_000 => format!("{} MB", s / 1_000_000),
        s => format!("{} KB", s / KB),
    }
}

fn report(
    transfer: &[(usize, f64, f64)],
    state: &[(usize, f64, f64)],
    throughput: &[(&str, u32, f64, f64, u64)],
    full: bool,
) -> Report {
    let mut transfer_table =
        Table::new("Data transfer between chained functions", &["payload", "client round trip (p50)", "hop A→B (p50)"]);
    for (size, client, hop) in transfer {
        transfer_table.row(vec![bytes(*size), ms(*client), ms(*hop)]);
    }
    let mut state_table = Table::new(
        "Stateless vs stateful",
        &["state size", "stateless (state in the request, p50)", "stateful (state in the function, p50)"],
    );
    for (size, stateless, stateful) in state {
        state_table.row(vec![bytes(*size), ms(*stateless), ms(*stateful)]);
    }
    let mut throughput_table =
        Table::new("Invocation throughput vs concurrency", &["function", "concurrent users", "req/s", "p50", "failed"]);
    for (name, users, rps, p50, failed) in throughput {
        throughput_table.row(vec![name.to_string(), users.to_string(), rate(*rps), ms(*p50), failed.to_string()]);
    }
    let kb = |size: usize| size as f64 / KB as f64;
    let peak = |name: &str| throughput.iter().filter(|r| r.0 == name).map(|r| r.2).fold(0.0, f64::max);
    let hop_at = |size: usize| transfer.iter().find(|r| r.0 == size).map_or(f64::NAN, |r| r.2);
    let mut throughput_series = Vec::new();
    for name in ["hello", "chain-next"] {
        let points = throughput.iter().filter(|r| r.0 == name).map(|r| (f64::from(r.1), r.2)).collect();
        throughput_series.push(Series::line(name, points));
    }
    Report {
        title: "chain: data transfer between functions, stateless vs stateful, throughput vs concurrency".into(),
        description: vec![
            "chain-entry forwards its body to chain-next through the gateway (Python urllib, a new connection per \
             hop) and reports the hop's round trip; the client times the whole call."
                .into(),
            "chain-state keeps a counter in a state of the given size: stateless sends the state in and out on \
             every call, stateful keeps it in the replica's memory and sends a session key."
                .into(),
            "Throughput: closed-loop users with no think time, as owperf's throughput runs.".into(),
        ],
        facts: vec![("calls per point".into(), if full { "100".into() } else { "10".to_string() })],
        comparison: vec![
            Comparison {
                metric: "hop between chained functions, 1 KB".into(),
                seed: "— (charts only)".into(),
                sedge: ms(hop_at(KB)),
                note: "seed 003 (OpenWhisk on k3s, charts only): \"the latency is neglectably affected by passing \
                       small amount of data between subsequent functions\""
                    .into(),
            },
            Comparison {
                metric: "hop between chained functions, 1 MB".into(),
                seed: "— (charts only)".into(),
                sedge: ms(hop_at(1000 * KB)),
                note: "seed 003 (charts only)".into(),
            },
            Comparison {
                metric: "stateless vs stateful, largest state".into(),
                seed: "— (charts only)".into(),
                sedge: state
                    .last()
                    .map_or("—".to_string(), |r| format!("{} vs {} ({})", ms(r.1), ms(r.2), bytes(r.0))),
                note: "seed 003: \"the cost of sharing the implicit states between functions is minimum compared to \
                       the execution speedup that they provide\""
                    .into(),
            },
            Comparison {
                metric: "peak invocation throughput, process function".into(),
                seed: "— (charts only)".into(),
                sedge: rate(peak("hello")),
                note: "seed 003, owperf (warm; charts only): \"high concurrency leads to lower throughput due to \
                       … CouchDB, Kafka, Zookeeper\""
                    .into(),
            },
            Comparison {
                metric: "peak invocation throughput, Python function".into(),
                seed: "— (charts only)".into(),
                sedge: rate(peak("chain-next")),
                note: "seed 003, owperf (charts only)".into(),
            },
        ],
        tables: vec![transfer_table, state_table, throughput_table],
        charts: vec![
            Chart {
                title: "Hop latency by payload size".into(),
                x_label: "payload (KB)".into(),
                y_label: "latency (ms)".into(),
                kind: ChartKind::Line,
                series: vec![
                    Series::line("hop A→B", transfer.iter().map(|r| (kb(r.0), r.2)).collect()),
                    Series::line("client round trip", transfer.iter().map(|r| (kb(r.0), r.1)).collect()),
                ],
            },
            Chart {
                title: "Stateless vs stateful by state size".into(),
                x_label: "state (KB)".into(),
                y_label: "latency p50 (ms)".into(),
                kind: ChartKind::Line,
                series: vec![
                    Series::line("stateless", state.iter().map(|r| (kb(r.0), r.1)).collect()),
                    Series::line("stateful", state.iter().map(|r| (kb(r.0), r.2)).collect()),
                ],
            },
            Chart {
                title: "Throughput vs concurrency".into(),
                x_label: "concurrent users".into(),
                y_label: "req/s".into(),
                kind: ChartKind::Line,
                series: throughput_series,
            },
        ],
    }
}
