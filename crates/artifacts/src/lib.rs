//! The model registry's object store: where model files ("artifacts") live, while their metadata lives in SQL
//! (`sedge-store`). One trait, [`ArtifactStore`], and one module per backend, chosen by URL in [`open`]:
//!
//! | URL | backend |
//! |---|---|
//! | none (default) | a local folder, `<state>/artifacts` |
//! | `file:///abs/path` or a plain path | a local folder |
//! | `s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&prefix=some/dir` | any S3-compatible server |
//! | `gs://bucket?prefix=some/dir` | Google Cloud Storage |
//!
//! An upload is two steps: [`ArtifactStore::put_temp`] streams the client's body into a fresh object under
//! `tmp/`, hashing and counting as it goes; once the registry has recorded the version, [`ArtifactStore::commit`]
//! makes it the final key ([`model_key`]: content-addressed) in one step, so a key is complete or absent, never
//! partial. A crash between the two leaves only `tmp/` objects and unreferenced `models/` objects, which
//! [`collect_garbage`] removes at the next start.
//!
//! # Layout
//! - `lib.rs`: the trait, the error, [`open`], [`model_key`] and key validation.
//! - `url`: parsing a store URL into a typed location (local folder, S3 or GCS config); no I/O.
//! - `local`: the local-folder backend (tokio files, fsync + rename).
//! - `object`: the `object_store`-backed backends (S3 and GCS).
//! - `transfer`: byte plumbing shared by the backends: the upload meter (limit + sha256) and `download_to`.
//! - `gc`: garbage collection, a pure decision ([`gc::garbage`]) and a thin loop.
//!
//! This crate reads no environment variables itself; the S3 and GCS backends take credentials from the usual
//! `AWS_*` / `GOOGLE_*` variables through `object_store`'s `from_env` builders, as every S3 client does.

mod gc;
mod local;
mod object;
mod transfer;
mod url;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

pub use gc::garbage;

/// A stream of bytes: an upload body coming in, or an object going out.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// The folder under which temporary objects live.
pub const TMP_PREFIX: &str = "tmp/";

/// The folder under which committed model versions live.
pub const MODELS_PREFIX: &str = "models/";

/// An uploaded object waiting under `tmp/` to be committed or discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempArtifact {
    /// Its key, `tmp/<random>`.
    pub key: String,
    /// The sha256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// What a listing or a read says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key, relative to the store (no backend prefix).
    pub key: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// When it was last written, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The object does not exist (the key is given).
    #[error("no artifact {0}")]
    NotFound(String),
    /// The upload was larger than the limit; nothing was kept.
    #[error("the artifact is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The upload's sha256 is not the one the client announced; nothing was kept.
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the client announced.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The store URL could not be understood (the message says why).
    #[error("invalid artifact store URL: {0}")]
    InvalidUrl(String),
    /// A key or prefix is not a plain relative path (`..`, a leading `/`, an empty segment, ...).
    #[error("invalid artifact key: {0}")]
    InvalidKey(String),
    /// The client's upload stream failed; nothing was kept.
    #[error("reading the upload failed: {0}")]
    Body(#[source] std::io::Error),
    /// The store itself failed; the message names the backend and the key.
    #[error("artifact store: {0}")]
    Backend(String),
}

/// An object store for model artifacts. Keys are relative paths with `/` separators (see [`check_key`]).
#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync + std::fmt::Debug {
    /// What the URL named, for logs (`local /path`, `s3://bucket (endpoint …)`).
    fn describe(&self) -> String;

    /// Streams `body` into a fresh temporary object under `tmp/` (a random name), hashing as it goes, at most
    /// `limit` bytes ([`ArtifactError::TooLarge`] beyond, the temporary removed). If `expected_sha256` is given
    /// (hex, any case) and differs: [`ArtifactError::DigestMismatch`], the temporary removed. A failing `body`
    /// gives [`ArtifactError::Body`], the temporary removed. Never holds the whole body in memory.
    async fn put_temp(
        &self,
        body: ByteStream,
        limit: u64,
        expected_sha256: Option<&str>,
    ) -> Result<TempArtifact, ArtifactError>;

    /// Makes a temporary object the final `key` (local: rename within the folder tree, then fsync the
    /// directories; object stores: copy, then delete the temporary). Afterwards `key` is complete or absent,
    /// never partial; an existing `key` is replaced. Keys under `tmp/` are refused.
    async fn commit(&self, temp: &TempArtifact, key: &str) -> Result<(), ArtifactError>;

    /// Removes a temporary object (best effort, idempotent).
    async fn discard(&self, temp: &TempArtifact) -> Result<(), ArtifactError>;

    /// Streams an object. [`ArtifactError::NotFound`] when absent.
    async fn get(&self, key: &str) -> Result<(ObjectInfo, ByteStream), ArtifactError>;

    /// Copies an object into a local file `path` (written to a sibling temporary, fsynced, renamed over `path`;
    /// missing folders created), returning its sha256; what a model function loads from. NotFound when absent,
    /// and then nothing is written.
    async fn download_to(&self, key: &str, path: &Path) -> Result<String, ArtifactError>;

    /// Removes an object; `false` when it did not exist.
    async fn delete(&self, key: &str) -> Result<bool, ArtifactError>;

    /// Objects whose key starts with `prefix` (`tmp/`, `models/`, `""` for all), in any order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArtifactError>;
}

/// Opens the store named by `url` (see the crate docs for the forms); `None` is the local folder
/// `<state_dir>/artifacts`, created if missing.
pub async fn open(url: Option<&str>, state_dir: &Path) -> Result<Arc<dyn ArtifactStore>, ArtifactError> {
    match url::parse(url, state_dir)? {
        url::Location::Local(root) => Ok(Arc::new(local::LocalStore::open(root).await?)),
        url::Location::S3(config) => Ok(Arc::new(object::ObjectBackend::s3(&config)?)),
        url::Location::Gcs(config) => Ok(Arc::new(object::ObjectBackend::gcs(&config)?)),
    }
}

/// The key a committed model version gets: `models/<name>/<sha256>.<format>` (content-addressed: two versions
/// with the same bytes share one object). The result is checked when it is used ([`check_key`]).
pub fn model_key(name: &str, sha256: &str, format: &str) -> String {
    format!("{MODELS_PREFIX}{name}/{sha256}.{format}")
}

/// Removes every object under `tmp/` and every object under `models/` whose key is not in `keep`; returns the
/// removed keys. Meant for start-up, after a crash: an upload in flight would lose its temporary.
pub async fn collect_garbage(store: &dyn ArtifactStore, keep: &HashSet<String>) -> Result<Vec<String>, ArtifactError> {
    gc::collect(store, keep).await
}

/// The longest key accepted, in bytes (S3's limit).
const MAX_KEY_BYTES: usize = 1024;

/// Checks that `key` is a plain relative path: not empty, at most 1024 bytes, no leading `/`, no empty, `.` or
/// `..` segment, no backslash or control character.
pub fn check_key(key: &str) -> Result<(), ArtifactError> {
    let invalid = |why: &str| Err(ArtifactError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() {
        return invalid("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("starts with `/`");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return invalid("contains a control character or `\\`");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("has an empty segment"),
            "." | ".." => return invalid("has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a listing prefix: empty, or a key, optionally ending with `/`.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), ArtifactError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        "" => Err(ArtifactError::InvalidKey(format!("{prefix:?}: starts with `/`"))),
        dir => check_key(dir),
    }
}

/// Checks that `key` is a valid key outside `tmp/`, one [`ArtifactStore::commit`] may write.
pub(crate) fn check_final_key(key: &str) -> Result<(), ArtifactError> {
    check_key(key)?;
    if key.starts_with(TMP_PREFIX) {
        return Err(ArtifactError::InvalidKey(format!("{key:?}: keys under `tmp/` are reserved for uploads")));
    }
    Ok(())
}

/// Checks that `key` names a temporary object (`tmp/…`), so `commit` and `discard` never touch a model.
pub(crate) fn check_temp_key(key: &str) -> Result<(), ArtifactError> {
    check_key(key)?;
    if !key.starts_with(TMP_PREFIX) {
        return Err(ArtifactError::InvalidKey(format!("{key:?}: not a temporary object (under `tmp/`)")));
    }
    Ok(())
}

/// A fresh temporary key, `tmp/<32 random hex digits>`.
pub(crate) fn temp_key() -> String {
    format!("{TMP_PREFIX}{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_keys_are_accepted() {
        for key in ["a", "models/resnet/abc.onnx", "tmp/0123", "a b/ü.bin", "x/.hidden"] {
            assert!(check_key(key).is_ok(), "{key:?} refused");
        }
    }

    #[test]
    fn keys_that_escape_or_are_ambiguous_are_refused_with_the_reason() {
        for (key, why) in [
            ("", "empty"),
            ("/etc/passwd", "starts with `/`"),
            ("models/../../etc", "`..`"),
            ("..", "`..`"),
            ("a/./b", "`.`"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("a\\b", "`\\`"),
            ("a\nb", "control"),
        ] {
            let err = check_key(key).expect_err(key).to_string();
            assert!(err.starts_with("invalid artifact key: "), "{err}");
            assert!(err.contains(why), "{key:?}: {err}");
        }
        assert!(check_key(&"a".repeat(1025)).is_err());
        assert!(check_key(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash() {
        for prefix in ["", "tmp/", "models/", "models/resnet", "models/resnet/"] {
            assert!(check_prefix(prefix).is_ok(), "{prefix:?} refused");
        }
        for prefix in ["/", "/models/", "../", "models//", "a/../b/"] {
            assert!(check_prefix(prefix).is_err(), "{prefix:?} accepted");
        }
    }

    #[test]
    fn commit_keys_stay_out_of_tmp_and_temp_keys_stay_in_it() {
        assert!(check_final_key("models/a/b.onnx").is_ok());
        assert!(check_final_key("tmp/abc").unwrap_err().to_string().contains("reserved"));
        assert!(check_temp_key("tmp/abc").is_ok());
        assert!(check_temp_key("models/a/b.onnx").unwrap_err().to_string().contains("not a temporary"));
        assert!(check_temp_key("tmp/../models/x").is_err());
    }

    #[test]
    fn temp_keys_are_random_and_valid() {
        let (a, b) = (temp_key(), temp_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), "tmp/".len() + 32);
        assert!(check_temp_key(&a).is_ok());
    }

    #[test]
    fn model_keys_are_content_addressed() {
        assert_eq!(model_key("resnet", "ab12", "onnx"), "models/resnet/ab12.onnx");
        assert!(check_final_key(&model_key("resnet", "ab12", "onnx")).is_ok());
        assert!(check_final_key(&model_key("../x", "ab12", "onnx")).is_err());
    }
}
