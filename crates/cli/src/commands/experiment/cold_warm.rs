//! `cold-warm` (seeds 001 and 003): how much slower the first call to a function at zero is than a warm one,
//! and what a replica costs in CPU and memory, for three kinds of function: a process (`hello`, fork mode), a
//! Python handler (`python-hello`, prebaked python3-http) and a model (`mnist-predict`).
//!
//! Cold: the function is scaled to zero and waited down, then called once; the client's latency is the cold
//! call's, and the gateway's `X-Sedge-Cold-Start-Ms` says how much of it was the wake-up. Repeated `cold_n`
//! times. Warm: one user calling back to back for a few seconds; afterwards `describe`'s usage (sampled every
//! 5 s from the replica's cgroup) gives CPU and memory.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use http::Method;
use sedge_bench::report::{Chart, ChartKind, Comparison, Report, Series, Table};

use super::examples::{self, Example};
use super::figures::{ms, quantile, sig3};
use super::lab::{self, Lab};

/// One function under test.
struct Subject {
    name: &'static str,
    kind: &'static str,
    example: Example,
    body: Bytes,
}

/// What one function measured.
struct Measured {
    cold_ms: Vec<f64>,
    wake_ms: Vec<f64>,
    warm: sedge_bench::record::Summary,
    cpu_millicores: Option<f64>,
    memory_mib: Option<f64>,
}

/// Runs the experiment: `cold_n` cold calls and a warm run per function.
pub async fn run(lab: &Lab, full: bool) -> Result<Report> {
    let (cold_n, warm_for) = if full { (100, Duration::from_secs(30)) } else { (10, Duration::from_secs(6)) };
    let digit = std::fs::read(lab.models.join("fixtures/mnist_digit0_label3.png")).context("the MNIST fixture")?;
    let subjects = [
        Subject { name: "hello", kind: "process (fork `cat`)", example: examples::HELLO, body: Bytes::from("hello") },
        Subject {
            name: "python-hello",
            kind: "Python handler (python3-http)",
            example: examples::PYTHON_HELLO,
            body: Bytes::from("edge"),
        },
        Subject {
            name: "mnist-predict",
            kind: "model (MNIST CNN, in-process)",
            example: examples::MNIST_PREDICT,
            body: Bytes::from(digit),
        },
    ];
    let mut results = Vec::new();
    for s in &subjects {
        eprintln!("  {}: deploying", s.name);
        lab.deploy(s.example.dir, s.example.file, &s.example.files(&lab.models, &lab.url)).await?;
        lab.wait_ready(s.name, 1).await?;
        results.push(measure(lab, s, cold_n, warm_for).await.with_context(|| s.name)?);
    }
    Ok(report(&subjects, &results, cold_n, warm_for))
}

async fn measure(lab: &Lab, s: &Subject, cold_n: usize, warm_for: Duration) -> Result<Measured> {
    eprintln!("  {}: warm calls for {} s", s.name, warm_for.as_secs());
    let target = lab::target(Method::POST, &lab.function_url(s.name), vec![s.body.clone()], &[])?;
    let (recorder, elapsed) = lab.run(lab::closed(target, 1, warm_for, Duration::ZERO)).await;
    let warm = recorder.summary(elapsed);
    ensure!(warm.failed == 0, "{} of {} warm calls failed: {:?}", warm.failed, warm.requests, warm.statuses);
    let usage = lab.describe(s.name).await?.usage;

    eprintln!("  {}: {cold_n} cold starts", s.name);
    let http = reqwest::Client::new();
    let (mut cold_ms, mut wake_ms) = (Vec::new(), Vec::new());
    for _ in 0..cold_n {
        lab.scale(s.name, 0).await?;
        let started = Instant::now();
        let r = http.post(lab.function_url(s.name)).body(s.body.clone()).send().await?;
        let (status, headers) = (r.status(), r.headers().clone());
        r.bytes().await?;
        cold_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(status.is_success(), "a cold call to {} answered {status}", s.name);
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        ensure!(header("x-sedge-cold-start").as_deref() == Some("true"), "a call at zero was not reported cold");
        if let Some(w) = header("x-sedge-cold-start-ms").and_then(|v| v.parse().ok()) {
            wake_ms.push(w);
        }
    }
    lab.scale(s.name, 1).await?;
    Ok(Measured {
        cold_ms,
        wake_ms,
        warm,
        cpu_millicores: usage.as_ref().map(|u| u.cpu).filter(|c| *c > 0.0),
        memory_mib: usage.as_ref().map(|u| u.total_memory_bytes / 1048576.0).filter(|m| *m > 0.0),
    })
}

fn report(subjects: &[Subject], results: &[Measured], cold_n: usize, warm_for: Duration) -> Report {
    let mut table = Table::new(
        "Cold and warm latency per function",
        &[
            "function",
            "kind",
            "cold p50",
            "cold p90",
            "cold max",
            "wake-up p50",
            "warm p50",
            "warm p99",
            "cold/warm (p50)",
            "CPU (millicores)",
            "memory (MiB)",
        ],
    );
    let (mut cold_bars, mut warm_bars) = (Vec::new(), Vec::new());
    for (s, m) in subjects.iter().zip(results) {
        let cold50 = quantile(m.cold_ms.iter().copied(), 0.5);
        let optional = |v: Option<f64>| v.map_or("—".to_string(), sig3);
        table.row(vec![
            s.name.to_string(),
            s.kind.to_string(),
            ms(cold50),
            ms(quantile(m.cold_ms.iter().copied(), 0.9)),
            ms(quantile(m.cold_ms.iter().copied(), 1.0)),
            ms(quantile(m.wake_ms.iter().copied(), 0.5)),
            ms(m.warm.latency.p50_ms),
            ms(m.warm.latency.p99_ms),
            format!("{}×", sig3(cold50 / m.warm.latency.p50_ms)),
            optional(m.cpu_millicores),
            optional(m.memory_mib),
        ]);
        cold_bars.push((s.name.to_string(), cold50));
        warm_bars.push((s.name.to_string(), m.warm.latency.p50_ms));
    }
    let figure = |name: &str| {
        subjects.iter().zip(results).find(|(s, _)| s.name == name).map(|(_, m)| m).expect("every subject measured")
    };
    let (hello, model) = (figure("hello"), figure("mnist-predict"));
    let python = figure("python-hello");
    let usage = |m: &Measured| {
        let part = |v: Option<f64>, unit: &str| v.map_or("—".to_string(), |v| format!("{}{unit}", sig3(v)));
        format!("{} / {}", part(m.cpu_millicores, "m"), part(m.memory_mib, " MiB"))
    };
    let comparison = vec![
        Comparison {
            metric: "hello function, cold start".into(),
            seed: "— (charts only)".into(),
            sedge: ms(quantile(hello.cold_ms.iter().copied(), 0.5)),
            note: "seed 003, a Java Hello on OpenWhisk/k3s: \"startup overhead holds a major percentage of the total \
                   latency making methods like prewarming a must\"; sedge: p50 of the client's latency"
                .into(),
        },
        Comparison {
            metric: "hello function, warm call".into(),
            seed: "— (charts only)".into(),
            sedge: ms(hello.warm.latency.p50_ms),
            note: "seed 003, same function warm".into(),
        },
        Comparison {
            metric: "ML function, scale 0 → 1 on a call".into(),
            seed: "works, latency not given".into(),
            sedge: ms(quantile(model.cold_ms.iter().copied(), 0.5)),
            note:
                "seed 001, Figs 6.25–6.26 (a TensorFlow function on OpenFaaS); sedge serves the ONNX model in-process"
                    .into(),
        },
        Comparison {
            metric: "CPU / memory of a busy replica".into(),
            seed: "322m / 91 MiB".into(),
            sedge: usage(python),
            note: "seed 001, kubectl top of the TensorFlow pod under load (Fig 6.35); sedge: the python3-http \
                   replica's cgroup under one back-to-back user"
                .into(),
        },
    ];
    Report {
        title: "cold-warm: cold vs warm start for a process, a Python and a model function".into(),
        description: vec![format!(
            "Each function is scaled to zero and called once, {cold_n} times (cold), then called back to back by one \
                 user for {} s (warm). Wake-up is the gateway's X-Sedge-Cold-Start-Ms: the time the call waited for a \
                 replica. CPU and memory are describe's usage after the warm run (cgroup readings; — where the \
                 replica has no cgroup, as fork-mode functions without limits, and for model functions, which run \
                 inside sedge). A prebaked Python replica is forked from a server that already imported the \
                 handler, so the pages it shares with that server are not charged to it.",
            warm_for.as_secs()
        )],
        facts: vec![("cold starts per function".into(), cold_n.to_string())],
        comparison,
        tables: vec![table],
        charts: vec![Chart {
            title: "Cold vs warm latency (p50)".into(),
            x_label: "function".into(),
            y_label: "latency (ms)".into(),
            kind: ChartKind::Bar,
            series: vec![Series::bars("cold p50", &cold_bars), Series::bars("warm p50", &warm_bars)],
        }],
    }
}
