//! Nothing acknowledged is lost: a storm of deploys, updates, deletes and secrets is cut by `kill -9`; after
//! a restart every acknowledged change is there, and the functions run again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use sedge_testkit::{Client, TestGateway};
use serde_json::json;

const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// One change and the state it leaves when acknowledged.
#[derive(Clone, Debug)]
enum Op {
    Deploy { name: String, version: u32 },
    Delete { name: String },
    Secret { name: String },
}

impl Op {
    fn name(&self) -> &str {
        match self {
            Op::Deploy { name, .. } | Op::Delete { name } | Op::Secret { name } => name,
        }
    }
}

fn plan() -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..400u32 {
        let name = format!("f{i}");
        ops.push(Op::Deploy { name: name.clone(), version: 1 });
        if i % 3 == 1 {
            ops.push(Op::Deploy { name: name.clone(), version: 2 });
        }
        if i % 5 == 2 {
            ops.push(Op::Delete { name });
        }
        if i % 4 == 0 {
            ops.push(Op::Secret { name: format!("s{i}") });
        }
    }
    ops
}

async fn apply(gw: &Client, op: &Op) -> anyhow::Result<bool> {
    let status = match op {
        Op::Deploy { name, version } => {
            let spec = json!({"service": name, "image": "x", "envProcess": "cat",
                              "envVars": {"VERSION": version.to_string()}});
            gw.deploy(spec).await?
        }
        Op::Delete { name } => {
            gw.system(Method::DELETE, "/system/functions").json(&json!({"functionName": name})).send().await?.status()
        }
        Op::Secret { name } => {
            gw.system(Method::POST, "/system/secrets").json(&json!({"name": name, "value": "v"})).send().await?.status()
        }
    };
    Ok(status.is_success())
}

#[tokio::test]
async fn kill_9_during_a_deploy_storm_loses_no_acknowledged_change() -> anyhow::Result<()> {
    let mut gw = TestGateway::start(SEDGE).await?;
    let ops = plan();
    let acked = Arc::new(Mutex::new(0usize));
    let storm = {
        let (acked, ops) = (acked.clone(), ops.clone());
        let client = gw.client();
        tokio::spawn(async move {
            for (i, op) in ops.iter().enumerate() {
                match apply(&client, op).await {
                    Ok(true) => *acked.lock().unwrap() = i + 1,
                    _ => break,
                }
            }
        })
    };
    // Let a good part of the storm through, then pull the plug mid-way.
    for _ in 0..3000 {
        if *acked.lock().unwrap() >= 150 || storm.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    gw.kill9().await?;
    let _ = storm.await;
    let done = *acked.lock().unwrap();
    assert!(done >= 150 && done < ops.len(), "the kill should land mid-storm (acknowledged {done} of {})", ops.len());

    // The expected state after every acknowledged op; the one in flight at the kill may or may not have landed.
    let uncertain = ops.get(done).map(|op| op.name().to_string());
    let mut functions: BTreeMap<String, Option<u32>> = BTreeMap::new();
    let mut secrets = Vec::new();
    for op in &ops[..done] {
        match op {
            Op::Deploy { name, version } => {
                functions.insert(name.clone(), Some(*version));
            }
            Op::Delete { name } => {
                functions.insert(name.clone(), None);
            }
            Op::Secret { name } => secrets.push(name.clone()),
        }
    }

    gw.restart().await?;
    let listed: Vec<serde_json::Value> = gw.system(Method::GET, "/system/functions").send().await?.json().await?;
    let present: BTreeMap<String, String> = listed
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["envVars"]["VERSION"].as_str().unwrap().to_string()))
        .collect();
    for (name, version) in &functions {
        if Some(name) == uncertain.as_ref() {
            continue;
        }
        match version {
            Some(v) => assert_eq!(present.get(name), Some(&v.to_string()), "{name} lost or stale after kill -9"),
            None => assert!(!present.contains_key(name), "{name} was deleted but came back"),
        }
    }
    let stored: Vec<serde_json::Value> = gw.system(Method::GET, "/system/secrets").send().await?.json().await?;
    let stored: Vec<&str> = stored.iter().filter_map(|s| s["name"].as_str()).collect();
    for s in &secrets {
        assert!(stored.contains(&s.as_str()), "secret {s} lost after kill -9");
    }

    // Restored functions run again.
    let survivor =
        functions.iter().find(|(n, v)| v.is_some() && Some(*n) != uncertain.as_ref()).map(|(n, _)| n.clone());
    let survivor = survivor.expect("some function survives");
    gw.wait_available(&survivor, 1).await?;
    let r = gw.invoke(&survivor, "still here").await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await?, "still here");
    Ok(())
}
