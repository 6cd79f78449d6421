//! `scaling` (seed 001): replicas over time while virtual users ramp up, hold and ramp down, once per OpenFaaS
//! autoscaling mode: `rps` (completions per second per replica), `capacity` (calls in flight per replica) and
//! `cpu` (millicores per replica). The function is `examples/sleep`'s python3-http handler taking 50 ms per
//! call, sleeping for rps and capacity and spinning the CPU for cpu (`SPIN=1`).
//!
//! Replicas are read from `describe` every 500 ms from the start of the ramp until a while after it ends.

use std::time::Duration;

use anyhow::Result;
use http::Method;
use sedge_bench::plan::Stage;
use sedge_bench::report::{Chart, ChartKind, Comparison, Report, Series, Table};
use tokio::time::Instant;

use super::super::bench::load::{Check, Model, Test};
use super::examples;
use super::figures::{ms, percent, rate, sig3};
use super::lab::{self, Lab};

/// One autoscaling mode: its label value, target per replica, and whether the handler spins.
struct Mode {
    kind: &'static str,
    target: u32,
    spin: bool,
}

const MODES: [Mode; 3] = [
    Mode { kind: "rps", target: 20, spin: false },
    Mode { kind: "capacity", target: 2, spin: false },
    Mode { kind: "cpu", target: 400, spin: true },
];
const MAX_REPLICAS: u32 = 8;
const VUS: u32 = 8;

/// What one mode measured.
struct Measured {
    replicas: Vec<(f64, f64)>,
    summary: sedge_bench::record::Summary,
}

/// Runs the ramp once per mode.
pub async fn run(lab: &Lab, full: bool) -> Result<Report> {
    let (ramp, hold, tail) = if full {
        (Duration::from_secs(60), Duration::from_secs(300), Duration::from_secs(120))
    } else {
        (Duration::from_secs(10), Duration::from_secs(30), Duration::from_secs(10))
    };
    let files = examples::SLEEP.with_stack(stack_text(&lab.url));
    eprintln!("  deploying scale-rps, scale-capacity, scale-cpu");
    lab.deploy("scaling", "stack.yml", &files).await?;
    let stages = vec![
        Stage { duration: ramp, target: VUS },
        Stage { duration: hold, target: VUS },
        Stage { duration: ramp, target: 0 },
    ];
    let mut results = Vec::new();
    for mode in &MODES {
        let name = format!("scale-{}", mode.kind);
        lab.wait_ready(&name, 1).await?;
        eprintln!(
            "  {name}: ramp to {VUS} users over {} s, hold {} s, down {} s",
            ramp.as_secs(),
            hold.as_secs(),
            ramp.as_secs()
        );
        let target = lab::target(Method::POST, &lab.function_url(&name), vec![], &[])?;
        let test = Test {
            target,
            model: Model::Closed { stages: stages.clone(), start_vus: 0, think: Duration::ZERO, iterations: None },
            timeout: Duration::from_secs(30),
            check: Check { status: Some(200), body_contains: None },
        };
        let total = ramp * 2 + hold + tail;
        let (load, replicas) = tokio::join!(lab.run(test), sample_replicas(lab, &name, total));
        let (recorder, elapsed) = load;
        results.push(Measured { replicas: replicas?, summary: recorder.summary(elapsed) });
    }
    Ok(report(&results, &stages, full))
}

/// The three functions: the sleeper with 50 ms per call and one mode's labels each.
fn stack_text(gateway: &str) -> String {
    let mut text = format!("version: 1.0\nprovider: {{ name: openfaas, gateway: {gateway} }}\nfunctions:\n");
    for mode in &MODES {
        text.push_str(&format!(
            "  scale-{kind}:\n    lang: python3-http\n    handler: ./sleep-http\n    image: sleep-http\n    \
             environment: {{ SLEEP: \"0.05\", SPIN: \"{spin}\" }}\n    labels:\n      \
             com.openfaas.scale.type: {kind}\n      com.openfaas.scale.target: \"{target}\"\n      \
             com.openfaas.scale.min: \"1\"\n      com.openfaas.scale.max: \"{MAX_REPLICAS}\"\n",
            kind = mode.kind,
            spin = u8::from(mode.spin),
            target = mode.target,
        ));
    }
    text
}

/// `(seconds since start, ready replicas)` every 500 ms for `total`.
async fn sample_replicas(lab: &Lab, name: &str, total: Duration) -> Result<Vec<(f64, f64)>> {
    let start = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    let mut samples = Vec::new();
    while start.elapsed() < total {
        ticks.tick().await;
        let ready = lab.describe(name).await?.available_replicas;
        samples.push((start.elapsed().as_secs_f64(), ready as f64));
    }
    Ok(samples)
}

fn report(results: &[Measured], stages: &[Stage], full: bool) -> Report {
    let mut table = Table::new(
        "Replicas under the ramp per mode",
        &[
            "mode",
            "target per replica",
            "max replicas",
            "first scale-up at",
            "max reached at",
            "requests",
            "req/s",
            "p95",
            "failed",
        ],
    );
    let mut series = Vec::new();
    for (mode, m) in MODES.iter().zip(results) {
        let max = m.replicas.iter().map(|(_, r)| *r).fold(0.0, f64::max);
        let first_up = m.replicas.iter().find(|(_, r)| *r > 1.0).map(|(t, _)| *t);
        let at_max = m.replicas.iter().find(|(_, r)| *r == max).map(|(t, _)| *t);
        let secs = |t: Option<f64>| t.map_or("—".to_string(), |t| format!("{} s", sig3(t)));
        let unit = match mode.kind {
            "rps" => " req/s",
            "capacity" => " in flight",
            _ => " millicores",
        };
        table.row(vec![
            mode.kind.to_string(),
            format!("{}{unit}", mode.target),
            format!("{max:.0}"),
            secs(first_up),
            secs(at_max),
            m.summary.requests.to_string(),
            rate(m.summary.rps),
            ms(m.summary.latency.p95_ms),
            percent(m.summary.error_rate),
        ]);
        series.push(Series::line(format!("{} (target {})", mode.kind, mode.target), m.replicas.clone()));
    }
    let mut vus = Vec::new();
    let mut t = Duration::ZERO;
    let mut from = 0u32;
    for stage in stages {
        vus.push((t.as_secs_f64(), f64::from(from)));
        t += stage.duration;
        from = stage.target;
        vus.push((t.as_secs_f64(), f64::from(from)));
    }
    let load_end: f64 = stages.iter().map(|s| s.duration.as_secs_f64()).sum();
    let cpu = &results[2].replicas;
    let cpu_max = cpu.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    let cpu_at_max = cpu.iter().find(|(_, r)| *r == cpu_max).map(|(t, _)| *t);
    let back_to_min = cpu.iter().find(|(t, r)| *t >= load_end && *r <= 1.0).map(|(t, _)| t - load_end);
    let most = results.iter().map(|m| m.replicas.iter().map(|(_, r)| *r).fold(0.0, f64::max)).fold(0.0, f64::max);
    Report {
        title: "scaling: replicas over time under a ramp, rps vs capacity vs cpu".into(),
        description: vec![format!(
            "A python3-http function taking 50 ms per call (sleeping, or spinning the CPU in cpu mode) is loaded by \
             virtual users ramping 0 → {VUS} → 0 with no think time; OpenFaaS Pro labels set the mode, its target, \
             min 1 and max {MAX_REPLICAS}. Ready replicas are read every 500 ms. rps counts completions over 30 s \
             and capacity the peak in flight over 45 s, as OpenFaaS's recording rules do, so both lag the load; \
             scale-down waits for down.window (default 30 s) after the load falls."
        )],
        facts: vec![("hold".into(), if full { "5 min".into() } else { "30 s".to_string() })],
        comparison: vec![
            Comparison {
                metric: "cpu mode: up to max replicas".into(),
                seed: "2 → 4 at once, 6 at +15 s, all running by ≈ 49–64 s".into(),
                sedge: match (cpu_max, cpu_at_max) {
                    (max, Some(t)) => format!("1 → {max:.0} by {} s", sig3(t)),
                    (max, None) => format!("up to {max:.0}"),
                },
                note: "seed 001, Kubernetes HPA at 20 % CPU, min 2 max 6, \"a high load request\" (Figs 6.20–6.22); \
                       sedge: OpenFaaS Pro cpu mode, max 8, the ramp above"
                    .into(),
            },
            Comparison {
                metric: "cpu mode: back to min after the load".into(),
                seed: "still 6 at ≈ 3 m 40 s, 2 again within ≈ 18 min".into(),
                sedge: back_to_min.map_or("not within the run (use --full)".to_string(), |t| {
                    format!("{} s after the ramp down", sig3(t))
                }),
                note: "seed 001, Fig 6.24 (HPA's 5 min stabilization); sedge: OpenFaaS Pro's down.window (30 s) \
                       runs from the first lower recommendation, during the ramp down"
                    .into(),
            },
            Comparison {
                metric: "rps and capacity modes".into(),
                seed: "— (not measured: OpenFaaS CE has rps only)".into(),
                sedge: format!("up to {most:.0} of {MAX_REPLICAS}"),
                note: "seed 001 compares CE and Pro (Fig 7.7) without running them".into(),
            },
        ],
        tables: vec![table],
        charts: vec![
            Chart {
                title: "Ready replicas over time".into(),
                x_label: "time (s)".into(),
                y_label: "replicas".into(),
                kind: ChartKind::Line,
                series,
            },
            Chart {
                title: "Offered load".into(),
                x_label: "time (s)".into(),
                y_label: "virtual users".into(),
                kind: ChartKind::Line,
                series: vec![Series::line("virtual users", vus)],
            },
        ],
    }
}
