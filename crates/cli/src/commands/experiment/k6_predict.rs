//! `k6-predict` (seed 000): k6's test of the predict function — 1,800 virtual users, each POSTing an MNIST
//! digit and thinking 1 s after every answer — against `examples/mnist-predict` served in-process.
//!
//! Users ramp up, hold, and ramp down as k6 stages do. The headline figures are the whole run's, as k6 prints
//! them; the served rate during the hold is reported too, since that is what 1,800 users with 1 s think time
//! offer (just under 1,800 req/s when the answers are fast). The charts over time are `sedge bench --html`'s.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::Method;
use sedge_bench::plan::Stage;
use sedge_bench::record::Recorder;
use sedge_bench::report::{Comparison, Report, Table};
use sedge_bench::run_report::{self, RunInfo};

use super::super::bench::load::{Check, Model, Test};
use super::examples;
use super::figures::{ms, percent, rate, sig3};
use super::lab::{self, Lab};

const VUS: u32 = 1800;
const THINK: Duration = Duration::from_secs(1);

/// Runs the k6 test.
pub async fn run(lab: &Lab, full: bool) -> Result<Report> {
    let (ramp, hold) = if full {
        (Duration::from_secs(60), Duration::from_secs(900))
    } else {
        (Duration::from_secs(10), Duration::from_secs(30))
    };
    let digit = std::fs::read(lab.models.join("fixtures/mnist_digit0_label3.png")).context("the MNIST fixture")?;
    eprintln!("  deploying mnist-predict");
    let example = examples::MNIST_PREDICT;
    lab.deploy(example.dir, example.file, &example.files(&lab.models, &lab.url)).await?;
    lab.wait_ready("mnist-predict", 1).await?;
    let stages = vec![
        Stage { duration: ramp, target: VUS },
        Stage { duration: hold, target: VUS },
        Stage { duration: ramp, target: 0 },
    ];
    let test = Test {
        target: lab::target(Method::POST, &lab.function_url("mnist-predict"), vec![Bytes::from(digit)], &[])?,
        model: Model::Closed { stages, start_vus: 0, think: THINK, iterations: None },
        timeout: Duration::from_secs(60),
        check: Check { status: Some(200), body_contains: None },
    };
    eprintln!(
        "  {VUS} users, think 1 s: ramp {} s, hold {} s, down {} s",
        ramp.as_secs(),
        hold.as_secs(),
        ramp.as_secs()
    );
    // The hold's own recorder: requests sent after the ramp and answered before the ramp down.
    let mut during_hold = Recorder::new();
    let (recorder, elapsed) = lab
        .run_with(test, |o| {
            if o.started >= ramp && o.finished < ramp + hold {
                during_hold.record(o);
            }
        })
        .await;
    let all = recorder.summary(elapsed);
    let hold_summary = during_hold.summary(hold);
    // The charts over time are `sedge bench --html`'s.
    let run = RunInfo { url: lab.function_url("mnist-predict"), method: "POST".into(), model: String::new() };
    let points = recorder.timeline().points_over(elapsed, 300);
    let charts = run_report::build(&run, &all, &[], &points, &[]).charts;
    Ok(Report { charts, ..report(&all, &hold_summary, ramp, hold) })
}

fn report(
    all: &sedge_bench::record::Summary,
    hold: &sedge_bench::record::Summary,
    ramp: Duration,
    hold_for: Duration,
) -> Report {
    let mut table = Table::new(
        "k6-style summary",
        &["phase", "requests", "req/s", "failed", "avg", "median", "p90", "p95", "p99", "max"],
    );
    for (phase, s) in [("whole run", all), ("hold (1,800 users)", hold)] {
        table.row(vec![
            phase.to_string(),
            s.requests.to_string(),
            rate(s.rps),
            percent(s.error_rate),
            ms(s.latency.mean_ms),
            ms(s.latency.p50_ms),
            ms(s.latency.p90_ms),
            ms(s.latency.p95_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
        ]);
    }
    let mut statuses = Table::new("Responses by status", &["status", "count"]);
    for (status, count) in &all.statuses {
        statuses.row(vec![status.clone(), count.to_string()]);
    }
    Report {
        title: "k6-predict: 1,800 virtual users against an MNIST predict function".into(),
        description: vec![format!(
            "{VUS} virtual users POST an MNIST digit (PNG) to the mnist-predict model function and think 1 s after \
             each answer: ramp 0 → {VUS} in {} s, hold {} s, ramp down {} s. The seed ran the same script on a \
             4-node Knative cluster for 17 minutes; here everything (load generator included) shares one box.",
            ramp.as_secs(),
            hold_for.as_secs(),
            ramp.as_secs()
        )],
        facts: vec![("virtual users".into(), VUS.to_string()), ("think time".into(), "1 s".into())],
        comparison: vec![
            Comparison {
                metric: "requests".into(),
                seed: "727,016 (17 min)".into(),
                sedge: format!("{} ({} s)", sig3(all.requests as f64), sig3(all.duration_s)),
                note: "seed 000, k6 on Knative/KIND, 4 nodes".into(),
            },
            Comparison {
                metric: "throughput".into(),
                seed: "712 req/s".into(),
                sedge: format!("{} (hold: {})", rate(all.rps), rate(hold.rps)),
                note: "goal here: ≥ 1,700 req/s during the hold, what 1,800 users with 1 s think time offer".into(),
            },
            Comparison {
                metric: "p95 latency".into(),
                seed: "70.8 ms".into(),
                sedge: format!("{} (hold: {})", ms(all.latency.p95_ms), ms(hold.latency.p95_ms)),
                note: "goal here: ≤ 10 ms".into(),
            },
            Comparison {
                metric: "failed requests".into(),
                seed: "0 %".into(),
                sedge: percent(all.error_rate),
                note: "non-200 answers and transport errors".into(),
            },
        ],
        tables: vec![table, statuses],
        charts: Vec::new(),
    }
}
