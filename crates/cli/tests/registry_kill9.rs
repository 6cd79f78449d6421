//! Atomic registration under `kill -9`: 100 uploads, streamed slowly in 5 at a time, with the gateway killed at
//! a random moment during each batch of 5, then restarted. Afterwards every upload the gateway acknowledged
//! (201) is registered, whole (its pulled bytes have the recorded sha256 and size and are what was sent), and
//! nothing else is left: no temporaries, no file that no version points to. Runs on SQLite and on PostgreSQL.

mod registry_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng as _, SeedableRng as _};
use registry_support::{Backends, padded_onnx};
use reqwest::StatusCode;
use sedge_testkit::TestGateway;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");
const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/gbt_taxi_xgb.onnx");
const UPLOADS: usize = 100;
const AT_ONCE: usize = 5;

#[tokio::test]
async fn uploads_cut_by_kill_9_leave_whole_models_or_nothing_on_sqlite() -> anyhow::Result<()> {
    uploads_under_kill_9(Backends::sqlite_local(), 1).await
}

#[tokio::test]
async fn uploads_cut_by_kill_9_leave_whole_models_or_nothing_on_postgres() -> anyhow::Result<()> {
    uploads_under_kill_9(Backends::postgres_local().await?, 2).await
}

async fn uploads_under_kill_9(backends: Backends, seed: u64) -> anyhow::Result<()> {
    let base = std::fs::read(BASE)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gw = TestGateway::start_with(SEDGE, &backends.args()).await?;
    let mut sent: HashMap<String, Vec<u8>> = HashMap::new(); // sha256 → bytes of every upload started
    let mut acknowledged = HashSet::new(); // sha256 of every upload answered 201
    let mut temporaries_left = 0; // temporaries found right after a kill (collected at the restart)
    for round in 0..UPLOADS / AT_ONCE {
        let mut uploads = Vec::new();
        for k in 0..AT_ONCE {
            let padding: Vec<u8> =
                (0..rng.random_range(10_000..400_000)).map(|_| rng.random_range(b'a'..=b'z')).collect();
            let bytes = padded_onnx(&base, &padding);
            let sha = hex(&Sha256::digest(&bytes));
            sent.insert(sha.clone(), bytes.clone());
            let client = gw.client();
            let name = format!("m{}", (round * AT_ONCE + k) % 7);
            uploads.push(tokio::spawn(async move { (sha, slow_push(&client, &name, bytes).await) }));
        }
        // Kill at a random moment: before, during or after the uploads' bodies arrive.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        gw.kill9().await?;
        temporaries_left +=
            files_under(&gw.state_dir().join("artifacts")).iter().filter(|f| f.starts_with("tmp/")).count();
        for upload in uploads {
            let (sha, status) = upload.await?;
            if status == Some(StatusCode::CREATED) {
                acknowledged.insert(sha);
            }
        }
        gw.restart().await?;
    }

    let versions: Vec<Value> = gw.system(reqwest::Method::GET, "/system/models").send().await?.json().await?;
    let registered: HashSet<String> = versions.iter().map(|v| v["sha256"].as_str().unwrap().to_string()).collect();
    for sha in &acknowledged {
        assert!(registered.contains(sha), "an acknowledged upload ({sha}) was lost");
    }
    for v in &versions {
        let (name, version, sha) =
            (v["name"].as_str().unwrap(), v["version"].as_u64().unwrap(), v["sha256"].as_str().unwrap());
        let r =
            gw.system(reqwest::Method::GET, &format!("/system/models/{name}/versions/{version}/file")).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "{name}:{version}");
        let body = r.bytes().await?;
        assert_eq!(hex(&Sha256::digest(&body)), sha, "{name}:{version} is whole");
        assert_eq!(body.len() as u64, v["size_bytes"].as_u64().unwrap());
        assert_eq!(sent.get(sha).map(Vec::as_slice), Some(body.as_ref()), "{name}:{version} is what was sent");
    }
    // Versions of a name are 1..=n with no duplicates: the version is picked in the row's transaction.
    let mut by_name: HashMap<&str, Vec<u64>> = HashMap::new();
    for v in &versions {
        by_name.entry(v["name"].as_str().unwrap()).or_default().push(v["version"].as_u64().unwrap());
    }
    for numbers in by_name.values() {
        assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), numbers.len(), "distinct versions: {numbers:?}");
    }

    // What the restart's collection left: only files that versions point to, no temporaries.
    let artifacts = gw.state_dir().join("artifacts");
    let left = files_under(&artifacts);
    let referenced: HashSet<String> = versions.iter().map(|v| v["model_path"].as_str().unwrap().to_string()).collect();
    for file in &left {
        assert!(referenced.contains(file), "{file} is left over (no version points to it)");
    }
    eprintln!(
        "{UPLOADS} uploads, {} acknowledged, {} registered, {} files, {temporaries_left} temporaries collected",
        acknowledged.len(),
        versions.len(),
        left.len()
    );
    assert!(temporaries_left > 0, "some kills should cut an upload while its temporary is being written");
    assert!(!acknowledged.is_empty(), "some uploads should finish between kills");
    assert!(acknowledged.len() < UPLOADS, "some uploads should be cut off");
    Ok(())
}

/// Pushes `bytes` as `name` in 16 KiB chunks a millisecond apart; the status, or `None` if the connection broke.
async fn slow_push(client: &sedge_testkit::Client, name: &str, bytes: Vec<u8>) -> Option<StatusCode> {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(16 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let stream = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        c
    });
    let file = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), bytes.len() as u64)
        .file_name("model.onnx");
    let form = reqwest::multipart::Form::new()
        .part("metadata", reqwest::multipart::Part::text(json!({"name": name}).to_string()))
        .part("file", file);
    client.system(reqwest::Method::POST, "/system/models").multipart(form).send().await.ok().map(|r| r.status())
}

/// Files under the local artifact folder, as store keys (`models/…`, `tmp/…`).
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

use futures_util::StreamExt as _;
