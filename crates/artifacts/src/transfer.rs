//! Byte plumbing shared by the backends: the [`Meter`] every upload goes through (size limit and sha256, the
//! hashing of large chunks on the blocking pool), and [`download_to`], a local file written from
//! [`ArtifactStore::get`] through a sibling temporary.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::{ArtifactError, ArtifactStore};

/// Chunks at least this large are hashed on the blocking pool rather than on the executor.
const BLOCKING_HASH_BYTES: usize = 256 * 1024;

/// Counts and hashes an upload's chunks, refusing the one that goes past the limit.
pub(crate) struct Meter {
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Meter {
    /// A meter for an upload of at most `limit` bytes.
    pub(crate) fn new(limit: u64) -> Self {
        Self { hasher: Sha256::new(), size: 0, limit }
    }

    /// Accounts for the next `chunk` before it is written: [`ArtifactError::TooLarge`] when it would take the
    /// upload past the limit.
    pub(crate) async fn take(&mut self, chunk: &Bytes) -> Result<(), ArtifactError> {
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.limit {
            return Err(ArtifactError::TooLarge { limit: self.limit });
        }
        if chunk.len() < BLOCKING_HASH_BYTES {
            self.hasher.update(chunk);
        } else {
            let (mut hasher, chunk) = (std::mem::take(&mut self.hasher), chunk.clone());
            self.hasher = tokio::task::spawn_blocking(move || {
                hasher.update(&chunk);
                hasher
            })
            .await
            .map_err(|e| ArtifactError::Backend(format!("hashing the upload: {e}")))?;
        }
        Ok(())
    }

    /// The digest (lowercase hex) and size, or [`ArtifactError::DigestMismatch`] when `expected` (hex, any
    /// case) is given and differs.
    pub(crate) fn finish(self, expected: Option<&str>) -> Result<(String, u64), ArtifactError> {
        let actual = hex(&self.hasher.finalize());
        match expected {
            Some(expected) if !expected.eq_ignore_ascii_case(&actual) => {
                Err(ArtifactError::DigestMismatch { expected: expected.to_string(), actual })
            }
            _ => Ok((actual, self.size)),
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes object `key` of `store` to `path` through a sibling temporary (fsynced, then renamed over `path`,
/// then the folder fsynced; the folder is created if missing); returns the sha256 of what was written. The temporary is removed on failure.
pub(crate) async fn download_to(store: &dyn ArtifactStore, key: &str, path: &Path) -> Result<String, ArtifactError> {
    let failed = |what: &str, e: std::io::Error| {
        ArtifactError::Backend(format!("{}: downloading {key} to {}: {what}: {e}", store.describe(), path.display()))
    };
    let (_, mut body) = store.get(key).await?;
    let name = path.file_name().ok_or_else(|| failed("no file name", std::io::ErrorKind::InvalidInput.into()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let part = dir.join(format!(".{}.{:016x}.part", name.to_string_lossy(), rand::random::<u64>()));
    let written = async {
        tokio::fs::create_dir_all(&dir).await.map_err(|e| failed("creating the folder", e))?;
        let file = tokio::fs::File::create_new(&part).await.map_err(|e| failed("creating the temporary", e))?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut meter = Meter::new(u64::MAX);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| failed("reading", e))?;
            meter.take(&chunk).await?;
            out.write_all(&chunk).await.map_err(|e| failed("writing", e))?;
        }
        out.flush().await.map_err(|e| failed("writing", e))?;
        out.get_mut().sync_all().await.map_err(|e| failed("syncing", e))?;
        tokio::fs::rename(&part, path).await.map_err(|e| failed("renaming", e))?;
        sync_dir(&dir).await.map_err(|e| failed("syncing the folder", e))?;
        Ok(meter.finish(None)?.0)
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    written
}

/// Fsyncs a directory, so a rename or a new entry in it survives a crash.
pub(crate) async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[tokio::test]
    async fn the_meter_hashes_small_and_large_chunks_alike() {
        let big = Bytes::from(vec![7u8; BLOCKING_HASH_BYTES + 3]);
        let mut meter = Meter::new(u64::MAX);
        meter.take(&Bytes::from_static(b"ab")).await.unwrap();
        meter.take(&big).await.unwrap();
        meter.take(&Bytes::from_static(b"c")).await.unwrap();
        let mut whole = b"ab".to_vec();
        whole.extend_from_slice(&big);
        whole.push(b'c');
        assert_eq!(meter.finish(None).unwrap(), (hex(&Sha256::digest(&whole)), whole.len() as u64));

        let mut meter = Meter::new(3);
        meter.take(&Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(meter.finish(Some(&ABC.to_uppercase())).unwrap(), (ABC.to_string(), 3));
    }

    #[tokio::test]
    async fn the_meter_refuses_the_chunk_past_the_limit_and_a_wrong_digest() {
        let mut meter = Meter::new(4);
        meter.take(&Bytes::from_static(b"abcd")).await.unwrap();
        let err = meter.take(&Bytes::from_static(b"e")).await.unwrap_err();
        assert!(matches!(err, ArtifactError::TooLarge { limit: 4 }), "{err:?}");

        let mut meter = Meter::new(10);
        meter.take(&Bytes::from_static(b"abc")).await.unwrap();
        match meter.finish(Some("00")).unwrap_err() {
            ArtifactError::DigestMismatch { expected, actual } => {
                assert_eq!((expected.as_str(), actual.as_str()), ("00", ABC))
            }
            other => panic!("{other:?}"),
        }
    }
}
