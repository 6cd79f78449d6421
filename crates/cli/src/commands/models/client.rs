//! The registry's calls on the gateway client: `/system/models…`. The push streams the file from disk in a
//! multipart body (`metadata` JSON first, then `file`), with the sha256 computed beforehand so the gateway
//! refuses a file that changed on the way.

use std::path::Path;

use anyhow::{Context, Result};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use sedge_store::ModelRecord;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::client::{Client, expect};

/// `/system/models/NAME/versions/VERSION` with the name and version as given (validated by the gateway).
fn version_path(name: &str, version: &str, rest: &str) -> String {
    format!("/system/models/{name}/versions/{version}{rest}")
}

impl Client {
    /// `POST /system/models`: registers `file` with `metadata` (a JSON object with at least `name`).
    pub async fn push_model(&self, file: &Path, mut metadata: serde_json::Map<String, Value>) -> Result<ModelRecord> {
        let what = format!("pushing {}", file.display());
        let (sha256, size) = file_digest(file).await.with_context(|| format!("reading {}", file.display()))?;
        metadata.insert("sha256".into(), Value::from(sha256));
        let handle = tokio::fs::File::open(file).await.with_context(|| format!("opening {}", file.display()))?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(handle));
        let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        let form = Form::new()
            .part("metadata", Part::text(Value::Object(metadata).to_string()).mime_str("application/json")?)
            .part(
                "file",
                Part::stream_with_length(body, size).file_name(file_name).mime_str("application/octet-stream")?,
            );
        let resp = self.send(self.system(Method::POST, "/system/models").multipart(form), &what).await?;
        let resp = expect(resp, &[StatusCode::CREATED], &what).await?;
        resp.json().await.with_context(|| format!("{what}: the gateway's answer is not a model version"))
    }

    /// `GET /system/models` with filters.
    pub async fn list_models(&self, query: &[(&str, String)]) -> Result<Vec<ModelRecord>> {
        self.json(self.system(Method::GET, "/system/models").query(query), "listing models").await
    }

    /// `GET /system/models/NAME/versions/VERSION` (VERSION: a number, `latest` or a stage).
    pub async fn get_model(&self, name: &str, version: &str) -> Result<ModelRecord> {
        self.json(self.system(Method::GET, &version_path(name, version, "")), &format!("showing model {name}")).await
    }

    /// `GET …/file`: the response, whose body is the model's bytes.
    pub async fn pull_model(&self, name: &str, version: &str) -> Result<Response> {
        let what = format!("pulling model {name}");
        let resp = self.send(self.system(Method::GET, &version_path(name, version, "/file")), &what).await?;
        expect(resp, &[StatusCode::OK], &what).await
    }

    /// `DELETE /system/models/NAME/versions/VERSION`.
    pub async fn remove_model(&self, name: &str, version: u32) -> Result<ModelRecord> {
        let what = format!("removing model {name}:{version}");
        let req = self.system(Method::DELETE, &version_path(name, &version.to_string(), ""));
        self.json(req, &what).await
    }

    /// `POST …/stage`.
    pub async fn promote_model(&self, name: &str, version: u32, stage: &str) -> Result<ModelRecord> {
        let what = format!("promoting model {name}:{version}");
        let req = self
            .system(Method::POST, &version_path(name, &version.to_string(), "/stage"))
            .json(&serde_json::json!({ "stage": stage }));
        self.json(req, &what).await
    }
}

/// The sha256 (hex) and length of a file, read in 1 MiB chunks.
pub async fn file_digest(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}
