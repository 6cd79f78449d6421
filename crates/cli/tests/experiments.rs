//! Every `sedge experiment` in its scaled-down default form, as a user runs it: the binary starts its own sedge in
//! a temporary state folder, deploys the embedded examples, loads them and writes a report folder. Each test
//! checks the report's files and the figures that must hold whatever the machine's speed (statuses, success,
//! counts, replicas growing under load), never a timing.
//!
//! The experiments load the machine for a minute or more each, so they run one at a time (one lock).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::Mutex;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn shared(folder: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(folder)
}

/// Runs `sedge experiment NAME` into a temp folder; returns the folder and `report.json`.
async fn experiment(name: &str) -> anyhow::Result<(tempfile::TempDir, Value)> {
    let _one = ONE_AT_A_TIME.lock().await;
    let out = tempfile::tempdir()?;
    let run = tokio::process::Command::new(SEDGE)
        .args(["experiment", name, "--out"])
        .arg(out.path())
        .arg("--models")
        .arg(shared("models"))
        .arg("--data")
        .arg(shared("data"))
        .env_remove("SEDGE_GATEWAY")
        .output()
        .await?;
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    anyhow::ensure!(run.status.success(), "sedge experiment {name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("SEED") && stdout.contains("SEDGE"), "the comparison is printed: {stdout}");
    for file in ["index.html", "report.json", "comparison.csv"] {
        assert!(out.path().join(file).is_file(), "{name}: {file} written");
    }
    let report: Value = serde_json::from_slice(&std::fs::read(out.path().join("report.json"))?)?;
    assert!(!report["comparison"].as_array().unwrap().is_empty(), "{name}: a seed-vs-sedge table");
    for table in report["tables"].as_array().unwrap() {
        let slug = sedge_bench::report::slug(table["title"].as_str().unwrap());
        assert!(out.path().join(format!("{slug}.csv")).is_file(), "{name}: {slug}.csv written");
        assert!(!table["rows"].as_array().unwrap().is_empty(), "{name}: table {} has rows", table["title"]);
    }
    Ok((out, report))
}

/// The rows of the table titled `title`, as strings.
fn rows(report: &Value, title: &str) -> Vec<Vec<String>> {
    let table = report["tables"].as_array().unwrap().iter().find(|t| t["title"] == title);
    let table = table.unwrap_or_else(|| panic!("no table {title:?} in {report:#}"));
    serde_json::from_value(table["rows"].clone()).unwrap()
}

fn csv_lines(dir: &Path, file: &str) -> usize {
    std::fs::read_to_string(dir.join(file)).unwrap().lines().count()
}

#[tokio::test]
async fn timeouts_reproduces_seed_001s_table() -> anyhow::Result<()> {
    let (_dir, report) = experiment("timeouts").await?;
    let rows = rows(&report, "Timeouts against a slow handler");
    let status = |row: usize, column: usize| rows[row][column].split_whitespace().next().unwrap().to_string();
    // Fork mode (the seed's watchdog): the first three succeed, a short write timeout fails the call at the
    // gateway, a short exec timeout kills the process: 408 "Killed process.".
    assert_eq!([status(0, 4), status(1, 4), status(2, 4)], ["200", "200", "200"], "{rows:?}");
    assert_eq!(status(3, 4), "502", "{rows:?}");
    assert!(rows[4][4].starts_with("408 Killed process."), "{rows:?}");
    // http mode: the exec timeout is the of-watchdog's 504.
    assert_eq!(status(4, 5), "504", "{rows:?}");
    Ok(())
}

#[tokio::test]
async fn cold_warm_measures_three_kinds_of_function() -> anyhow::Result<()> {
    let (dir, report) = experiment("cold-warm").await?;
    let rows = rows(&report, "Cold and warm latency per function");
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["hello", "python-hello", "mnist-predict"]);
    for row in &rows {
        for cell in &row[2..9] {
            assert!(cell.chars().next().is_some_and(|c| c.is_ascii_digit()), "a figure, not {cell:?}: {row:?}");
        }
    }
    assert_eq!(csv_lines(dir.path(), "cold-and-warm-latency-per-function.csv"), 4);
    Ok(())
}

#[tokio::test]
async fn scaling_adds_replicas_under_the_ramp_in_every_mode() -> anyhow::Result<()> {
    let (_dir, report) = experiment("scaling").await?;
    let rows = rows(&report, "Replicas under the ramp per mode");
    let modes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(modes, ["rps", "capacity", "cpu"]);
    for row in &rows {
        let max: f64 = row[2].parse()?;
        assert!(max > 1.0 && max <= 8.0, "{} scaled to {max} (1 < max ≤ 8): {row:?}", row[0]);
        assert_eq!(row[8], "0%", "no failures: {row:?}");
    }
    let charts = report["charts"].as_array().unwrap();
    assert_eq!(charts[0]["series"].as_array().unwrap().len(), 3, "one replica series per mode");
    Ok(())
}

#[tokio::test]
async fn k6_predict_serves_1800_users_without_failures() -> anyhow::Result<()> {
    let (_dir, report) = experiment("k6-predict").await?;
    let rows = rows(&report, "k6-style summary");
    assert_eq!(rows[0][0], "whole run");
    assert!(rows[0][1].parse::<u64>()? > 1800, "every user sent at least once: {rows:?}");
    assert_eq!(rows[0][3], "0%", "{rows:?}");
    let statuses = self::rows(&report, "Responses by status");
    assert_eq!(statuses.len(), 1, "only 200s: {statuses:?}");
    assert_eq!(statuses[0][0], "200");
    Ok(())
}

#[tokio::test]
async fn face_blur_grid_succeeds_for_every_frame() -> anyhow::Result<()> {
    let (_dir, report) = experiment("face-blur").await?;
    let grid = rows(&report, "Users × sleep before POST");
    assert_eq!(grid.len(), 4, "2 user counts × 2 sleeps: {grid:?}");
    for row in &grid {
        assert_eq!(row[3], "100%", "{row:?}");
    }
    let frames = rows(&report, "Per frame, 1 user, sleep 0 ms");
    assert_eq!(frames.len(), 12);
    Ok(())
}

#[tokio::test]
async fn chain_measures_transfer_state_and_throughput() -> anyhow::Result<()> {
    let (_dir, report) = experiment("chain").await?;
    let transfer = rows(&report, "Data transfer between chained functions");
    let sizes: Vec<&str> = transfer.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(sizes, ["1 KB", "10 KB", "100 KB", "1 MB", "10 MB"]);
    assert_eq!(rows(&report, "Stateless vs stateful").len(), 4);
    let throughput = rows(&report, "Invocation throughput vs concurrency");
    assert_eq!(throughput.len(), 12, "2 functions × 6 levels");
    Ok(())
}

#[tokio::test]
async fn a_missing_models_folder_is_named() -> anyhow::Result<()> {
    let out = tokio::process::Command::new(SEDGE)
        .args(["experiment", "cold-warm", "--models", "/nonexistent/models", "--data"])
        .arg(shared("data"))
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/models") && stderr.contains("--models"), "{stderr}");
    Ok(())
}
