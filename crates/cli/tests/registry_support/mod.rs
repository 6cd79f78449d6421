//! Shared by the registry's end-to-end tests: the store and artifact backends a gateway runs on (each server
//! private to the test and stopped when dropped), training through the CLI, the same training in-process for
//! the predictions to compare with, and distinct valid ONNX files of any size.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;

use sedge_testkit::databases::{MariaDbServer, PostgresServer};
use sedge_testkit::s3::MotoServer;
use sedge_train::data::{CsvOptions, Dataset, load_csv};
use sedge_train::gbdt::{Model, Params, train};
use serde_json::Value;

pub const TAXI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/chicago_taxi_modeldata.csv");
const SEDGE: &str = env!("CARGO_BIN_EXE_sedge");

/// `sedge up` arguments for one store and one artifact store, with the servers behind them.
pub struct Backends {
    db: Option<String>,
    artifacts: Option<String>,
    _postgres: Option<PostgresServer>,
    _mariadb: Option<MariaDbServer>,
}

impl Backends {
    /// The defaults: SQLite and a folder in the state directory.
    pub fn sqlite_local() -> Self {
        Self { db: None, artifacts: None, _postgres: None, _mariadb: None }
    }

    /// A private PostgreSQL and a bucket on a private S3 server (moto).
    pub async fn postgres_s3() -> anyhow::Result<Self> {
        let postgres = PostgresServer::start()?;
        let db = postgres.fresh_database("registry")?;
        Ok(Self { db: Some(db), artifacts: Some(bucket()?), _postgres: Some(postgres), _mariadb: None })
    }

    /// A private PostgreSQL and the local folder.
    pub async fn postgres_local() -> anyhow::Result<Self> {
        let postgres = PostgresServer::start()?;
        let db = postgres.fresh_database("registry")?;
        Ok(Self { db: Some(db), artifacts: None, _postgres: Some(postgres), _mariadb: None })
    }

    /// A private MariaDB and the local folder.
    pub async fn mariadb_local() -> anyhow::Result<Self> {
        let mariadb = MariaDbServer::start()?;
        let db = mariadb.fresh_database("registry")?;
        Ok(Self { db: Some(db), artifacts: None, _postgres: None, _mariadb: Some(mariadb) })
    }

    /// SQLite and a bucket on a private S3 server (moto).
    pub async fn sqlite_s3() -> anyhow::Result<Self> {
        Ok(Self { db: None, artifacts: Some(bucket()?), _postgres: None, _mariadb: None })
    }

    /// The `sedge up` arguments.
    pub fn args(&self) -> Vec<&str> {
        let mut args = Vec::new();
        if let Some(db) = &self.db {
            args.extend(["--db", db.as_str()]);
        }
        if let Some(artifacts) = &self.artifacts {
            args.extend(["--artifacts", artifacts.as_str()]);
        }
        args
    }
}

/// A fresh bucket on the shared moto server, as an `s3://` URL with its endpoint and test credentials.
fn bucket() -> anyhow::Result<String> {
    let name = format!("models-{}", std::process::id() as u64 * 1000 + rand::random::<u16>() as u64 % 1000);
    MotoServer::shared()?.create_bucket(&name)
}

/// `sedge train gbdt` on the taxi data with `trees` trees of depth 4 into `out`, then `extra` arguments (such
/// as `--register NAME`); returns the one-line JSON summary it prints.
pub async fn train_cli(out: &Path, trees: u32, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Value> {
    let output = tokio::process::Command::new(SEDGE)
        .args(["train", "gbdt", "--data", TAXI, "--target", "tip", "--drop", "rownames"])
        .args(["--trees", &trees.to_string(), "--depth", "4", "--learning-rate", "0.1", "-o"])
        .arg(out)
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().last().ok_or_else(|| anyhow::anyhow!("no summary printed"))?;
    Ok(serde_json::from_str(line)?)
}

/// The same training in-process (it is deterministic): the data and the model whose predictions to expect.
pub fn trained(trees: usize) -> anyhow::Result<(Dataset, Model)> {
    let data =
        load_csv(std::fs::File::open(TAXI)?, &CsvOptions { target: "tip".into(), drop: vec!["rownames".into()] })?;
    let train_set = data.select(|i| i % 5 != 0);
    let params = Params { trees, max_depth: 4, learning_rate: 0.1, ..Params::default() };
    let model = train(&train_set.x, &train_set.y, data.features.len(), &params, &mut |_, _| true);
    Ok((data, model))
}

/// `base` (an ONNX file) with a `doc_string` of `padding` (UTF-8, as protobuf strings must be) appended: still
/// the same valid model (the last value of a protobuf field wins), with its own sha256 and size.
pub fn padded_onnx(base: &[u8], padding: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    out.push((6 << 3) | 2); // ModelProto.doc_string, length-delimited
    let mut len = padding.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(padding);
    out
}
