//! `timeouts` (seed 001, §5.4.3): which of `read_timeout`, `write_timeout` and `exec_timeout` ends a slow call.
//!
//! The seed's handler slept 3 s and then trained the ionosphere MLP for 50 epochs (3.68 s on its own), so a
//! call took about 6.7 s. `examples/sleep` stands in for it with one sleep of the same length (`SLEEP`), once
//! as the seed's classic fork-mode `python3` function and once as `python3-http` (of-watchdog http mode), with
//! each row's timeouts in its environment. All rows are deployed and called at once; each answer's status,
//! first body line and round trip go beside the seed's.

use std::time::{Duration, Instant};

use anyhow::Result;
use sedge_bench::report::{Comparison, Report, Table};

use super::examples;
use super::figures::sig3;
use super::lab::Lab;

/// One row of the seed's table.
struct Row {
    what: &'static str,
    sleep_s: f64,
    read: &'static str,
    write: &'static str,
    exec: &'static str,
    seed: &'static str,
}

/// The seed's no-sleep round trip: the 50-epoch training alone.
const TRAINING_S: f64 = 3.7;

const ROWS: [Row; 5] = [
    Row {
        what: "no sleep (training only)",
        sleep_s: TRAINING_S,
        read: "5s",
        write: "8s",
        exec: "8s",
        seed: "success, 3.68 s (Fig 5.14)",
    },
    Row {
        what: "sleep 3 s",
        sleep_s: 3.0 + TRAINING_S,
        read: "5s",
        write: "8s",
        exec: "8s",
        seed: "success, 7.06 s (Fig 5.15)",
    },
    Row {
        what: "sleep 3 s, read timeout 3 s",
        sleep_s: 3.0 + TRAINING_S,
        read: "3s",
        write: "8s",
        exec: "8s",
        seed: "200, 6.809 s (Fig 5.16)",
    },
    Row {
        what: "sleep 3 s, write timeout 5 s",
        sleep_s: 3.0 + TRAINING_S,
        read: "5s",
        write: "5s",
        exec: "8s",
        seed: "500 Can't reach service, 6.633 s (Fig 5.17)",
    },
    Row {
        what: "sleep 3 s, exec timeout 5 s",
        sleep_s: 3.0 + TRAINING_S,
        read: "5s",
        write: "8s",
        exec: "5s",
        seed: "408 Killed process., 10.359 s (Fig 5.18)",
    },
];

/// One call's answer: status, first line of the body, round trip.
struct Answer {
    status: u16,
    line: String,
    seconds: f64,
}

/// Runs every row in both modes.
pub async fn run(lab: &Lab, _full: bool) -> Result<Report> {
    eprintln!("  deploying {} rows × fork and http mode", ROWS.len());
    let files = examples::SLEEP.with_stack(stack_text(&lab.url));
    lab.deploy("timeouts", "stack.yml", &files).await?;
    for i in 0..ROWS.len() {
        for mode in ["fork", "http"] {
            lab.wait_ready(&format!("t{i}-{mode}"), 1).await?;
        }
    }
    eprintln!("  calling every row at once (up to ~11 s)");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let calls: Vec<_> = (0..ROWS.len())
        .flat_map(|i| ["fork", "http"].map(|mode| (i, mode)))
        .map(|(i, mode)| {
            let (http, url) = (http.clone(), lab.function_url(&format!("t{i}-{mode}")));
            tokio::spawn(async move {
                let started = Instant::now();
                let r = http.post(url).body("").send().await?;
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                let line = shorten(body.lines().next().unwrap_or_default());
                anyhow::Ok(Answer { status, line, seconds: started.elapsed().as_secs_f64() })
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await??);
    }
    Ok(report(&answers))
}

/// Two functions per row, `t{i}-fork` (python3) and `t{i}-http` (python3-http), with the row's settings.
fn stack_text(gateway: &str) -> String {
    let mut text = format!("version: 1.0\nprovider: {{ name: openfaas, gateway: {gateway} }}\nfunctions:\n");
    for (i, row) in ROWS.iter().enumerate() {
        for (mode, lang, handler) in [("fork", "python3", "sleep"), ("http", "python3-http", "sleep-http")] {
            text.push_str(&format!(
                "  t{i}-{mode}:\n    lang: {lang}\n    handler: ./{handler}\n    image: {handler}\n    environment: \
                 {{ SLEEP: \"{}\", read_timeout: {}, write_timeout: {}, exec_timeout: {} }}\n",
                row.sleep_s, row.read, row.write, row.exec
            ));
        }
    }
    text
}

/// The first 60 characters, with `…` when there were more.
fn shorten(line: &str) -> String {
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

fn outcome(a: &Answer) -> String {
    format!("{} {}, {} s", a.status, a.line, sig3(a.seconds))
}

fn report(answers: &[Answer]) -> Report {
    let mut table = Table::new(
        "Timeouts against a slow handler",
        &[
            "row",
            "handler time",
            "read / write / exec",
            "seed 001 (classic watchdog)",
            "sedge, fork mode",
            "sedge, http mode",
        ],
    );
    let mut comparison = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let (fork, http) = (&answers[2 * i], &answers[2 * i + 1]);
        table.row(vec![
            row.what.to_string(),
            format!("{} s", row.sleep_s),
            format!("{} / {} / {}", row.read, row.write, row.exec),
            row.seed.to_string(),
            outcome(fork),
            outcome(http),
        ]);
        comparison.push(Comparison {
            metric: row.what.to_string(),
            seed: row.seed.to_string(),
            sedge: outcome(fork),
            note: format!(
                "read {} / write {} / exec {}; sedge fork mode (the seed's watchdog)",
                row.read, row.write, row.exec
            ),
        });
    }
    Report {
        title: "timeouts: a slow handler against read, write and exec timeouts".into(),
        description: vec![
            format!(
                "Seed 001's handler slept 3 s, then trained for 50 epochs ({TRAINING_S} s on its own). Here one sleep \
                 of the same total length stands in for both; each row is one function with the row's timeouts in \
                 its environment, deployed twice: as a classic fork-mode python3 function (the seed's watchdog) and \
                 as python3-http (of-watchdog http mode)."
            ),
            "The seed's round trips include its Kubernetes gateway and a cold TensorFlow import; sedge's are the \
             handler's time plus milliseconds. Where the seed's gateway answered 500 \"Can't reach service\" for a \
             write timeout, sedge answers 502 naming the function and the timeout, at the timeout."
                .into(),
        ],
        facts: Vec::new(),
        comparison,
        tables: vec![table],
        charts: Vec::new(),
    }
}
