//! No accepted asynchronous call is lost to `kill -9`: 200 calls are queued to a function that records each
//! call id it runs; the gateway is killed while they run, restarted, and every accepted call runs (at least
//! once) and ends `succeeded`. Calls repeated are only those cut off while running (at most the concurrency).
//! The same storm runs on each store backend: SQLite, PostgreSQL and MariaDB (private servers from
//! `sedge_testkit::databases`; only sedge is killed, the database server stays up).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sedge_testkit::{Client, TestGateway};
use serde_json::{Value, json};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const CALLS: usize = 200;
const CONCURRENCY: usize = 4;

/// Ids the function recorded, one line per run.
fn runs(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Counts `status` calls (at most 1000).
async fn count(gw: &Client, status: &str) -> anyhow::Result<usize> {
    let list: Vec<Value> = gw
        .system(Method::GET, &format!("/system/async-calls?status={status}&limit=1000"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(list.len())
}

/// Queues [`CALLS`] calls, `kill -9`s the gateway while they run, restarts it and checks that none was lost.
async fn kill_9_while_async_calls_run(extra_args: &[&str]) -> anyhow::Result<()> {
    let concurrency = CONCURRENCY.to_string();
    let mut args = vec!["--async-concurrency", concurrency.as_str()];
    args.extend_from_slice(extra_args);
    let mut gw = TestGateway::start_with(SEDGE, &args).await?;
    let dir = tempfile::tempdir()?;
    let record = dir.path().join("runs");
    let script = dir.path().join("record.sh");
    std::fs::write(&script, "echo \"$Http_X_Call_Id\" >> \"$RUNS\"; sleep 0.05; echo ok\n")?;
    let spec = json!({"service": "record", "image": "x", "envProcess": format!("sh {}", script.display()),
                      "envVars": {"RUNS": record}});
    assert_eq!(gw.deploy(spec).await?, StatusCode::ACCEPTED);

    // Four clients queue the calls; the ids answered 202 are the accepted ones.
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut storm = Vec::new();
    for client in 0..4 {
        let (gw, accepted) = (gw.client(), accepted.clone());
        storm.push(tokio::spawn(async move {
            for i in (client..CALLS).step_by(4) {
                let sent = gw.request(Method::POST, "/async-function/record").body(format!("call {i}")).send().await;
                let Ok(resp) = sent else { break }; // the gateway was killed
                if resp.status() == StatusCode::ACCEPTED {
                    let id = resp.headers()["x-call-id"].to_str().unwrap().to_string();
                    accepted.lock().unwrap().insert(id);
                }
            }
        }));
    }
    // Kill once some calls have run (bounded wait), mid-storm or just after it.
    for _ in 0..1200 {
        if runs(&record).len() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ran_before = runs(&record).len();
    assert!(ran_before >= 20, "calls started running before the kill ({ran_before})");
    gw.kill9().await?;
    for task in storm {
        task.await?;
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(!accepted.is_empty());
    eprintln!("killed after {ran_before} runs, with {} calls accepted", accepted.len());

    gw.restart().await?;
    let mut left = usize::MAX;
    for _ in 0..1200 {
        left = count(&gw, "queued").await? + count(&gw, "running").await?;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "every call ran within 120 s of the restart");

    let all: Vec<Value> = gw.system(Method::GET, "/system/async-calls?limit=1000").send().await?.json().await?;
    let statuses: BTreeMap<String, String> = all
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    let not_succeeded: Vec<_> = statuses.iter().filter(|(_, s)| *s != "succeeded").collect();
    assert!(not_succeeded.is_empty(), "{not_succeeded:?}");
    let lost: Vec<_> = accepted.iter().filter(|id| !statuses.contains_key(*id)).collect();
    assert!(lost.is_empty(), "accepted but not stored: {lost:?}");

    let ran = runs(&record);
    let ran_ids: BTreeSet<&String> = ran.iter().collect();
    let never_ran: Vec<_> = accepted.iter().filter(|id| !ran_ids.contains(id)).collect();
    assert!(never_ran.is_empty(), "accepted calls that never ran: {never_ran:?}");
    assert!(statuses.keys().all(|id| ran_ids.contains(id)), "every stored call ran");
    let repeated = ran.len() - ran_ids.len();
    eprintln!("{} runs of {} stored calls ({repeated} repeated)", ran.len(), statuses.len());
    assert!(
        repeated <= CONCURRENCY,
        "only calls running at the kill run twice: {repeated} repeats, concurrency {CONCURRENCY}"
    );
    Ok(())
}

#[tokio::test]
async fn kill_9_loses_no_accepted_async_call_sqlite() -> anyhow::Result<()> {
    kill_9_while_async_calls_run(&[]).await
}

#[tokio::test]
async fn kill_9_loses_no_accepted_async_call_postgres() -> anyhow::Result<()> {
    let url = tokio::task::spawn_blocking(|| {
        sedge_testkit::databases::PostgresServer::shared()?.fresh_database("async_kill9")
    })
    .await??;
    kill_9_while_async_calls_run(&["--db", &url]).await
}

#[tokio::test]
async fn kill_9_loses_no_accepted_async_call_mariadb() -> anyhow::Result<()> {
    let url = tokio::task::spawn_blocking(|| {
        sedge_testkit::databases::MariaDbServer::shared()?.fresh_database("async_kill9")
    })
    .await??;
    kill_9_while_async_calls_run(&["--db", &url]).await
}
