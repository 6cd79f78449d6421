//! The local-folder backend: an object is the file `<root>/<key>`. Uploads are written to `<root>/tmp/<random>`
//! through a buffered tokio file and fsynced; `commit` renames the file to its key within the same tree (atomic
//! on one file system) and fsyncs every folder from the key's up to the root, so after a crash a key is complete
//! or absent. Listing walks the folder on the blocking pool.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::transfer::{Meter, sync_dir};
use crate::{ArtifactError, ArtifactStore, ByteStream, ObjectInfo, TMP_PREFIX, TempArtifact};

/// Bytes read from a file per chunk of a [`ByteStream`].
const READ_CHUNK: usize = 64 * 1024;

/// Objects as files under one folder.
#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the folder `root` and its `tmp/`.
    pub(crate) async fn open(root: PathBuf) -> Result<Self, ArtifactError> {
        let store = Self { root };
        let tmp = store.path(TMP_PREFIX);
        tokio::fs::create_dir_all(&tmp).await.map_err(|e| store.failed("creating", TMP_PREFIX, e))?;
        Ok(store)
    }

    /// The file of `key` (already checked).
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// A [`ArtifactError::Backend`] naming this store, what was done and the key.
    fn failed(&self, what: &str, key: &str, e: std::io::Error) -> ArtifactError {
        ArtifactError::Backend(format!("{}: {what} {key}: {e}", self.describe()))
    }

    /// Streams `body` into the open file at `path`, returning the digest and size.
    async fn write_body(
        &self,
        key: &str,
        file: tokio::fs::File,
        mut body: ByteStream,
        limit: u64,
        expected_sha256: Option<&str>,
    ) -> Result<(String, u64), ArtifactError> {
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut meter = Meter::new(limit);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(ArtifactError::Body)?;
            meter.take(&chunk).await?;
            out.write_all(&chunk).await.map_err(|e| self.failed("writing", key, e))?;
        }
        let (sha256, size) = meter.finish(expected_sha256)?;
        out.flush().await.map_err(|e| self.failed("writing", key, e))?;
        out.get_mut().sync_all().await.map_err(|e| self.failed("syncing", key, e))?;
        Ok((sha256, size))
    }
}

/// Whether an I/O error means "there is no such file" (also when a folder on the way is a file, or the key is a
/// folder).
fn is_absent(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory)
}

/// Milliseconds since the Unix epoch of a file's modification time (0 when unknown).
fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    let since = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    since.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl ArtifactStore for LocalStore {
    fn describe(&self) -> String {
        format!("local {}", self.root.display())
    }

    async fn put_temp(
        &self,
        body: ByteStream,
        limit: u64,
        expected_sha256: Option<&str>,
    ) -> Result<TempArtifact, ArtifactError> {
        let key = crate::temp_key();
        let path = self.path(&key);
        let file = match tokio::fs::File::create_new(&path).await {
            // `tmp/` was removed behind our back: make it again, once.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tokio::fs::create_dir_all(self.path(TMP_PREFIX))
                    .await
                    .map_err(|e| self.failed("creating", TMP_PREFIX, e))?;
                tokio::fs::File::create_new(&path).await
            }
            other => other,
        }
        .map_err(|e| self.failed("creating", &key, e))?;
        match self.write_body(&key, file, body, limit, expected_sha256).await {
            Ok((sha256, size_bytes)) => Ok(TempArtifact { key, sha256, size_bytes }),
            Err(e) => {
                if let Err(removing) = tokio::fs::remove_file(&path).await {
                    tracing::warn!(key, error = %removing, "could not remove a failed upload's temporary");
                }
                Err(e)
            }
        }
    }

    async fn commit(&self, temp: &TempArtifact, key: &str) -> Result<(), ArtifactError> {
        crate::check_temp_key(&temp.key)?;
        crate::check_final_key(key)?;
        let (from, to) = (self.path(&temp.key), self.path(key));
        let dir = to.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| self.failed("creating the folder of", key, e))?;
        if let Err(e) = tokio::fs::rename(&from, &to).await {
            if e.kind() == std::io::ErrorKind::NotFound && !tokio::fs::try_exists(&from).await.unwrap_or(true) {
                return Err(ArtifactError::NotFound(temp.key.clone()));
            }
            return Err(self.failed(&format!("renaming {} to", temp.key), key, e));
        }
        // The new name, and any folder created for it, must reach the disk.
        for folder in dir.ancestors().take_while(|d| d.starts_with(&self.root)) {
            sync_dir(folder).await.map_err(|e| self.failed("syncing the folder of", key, e))?;
        }
        Ok(())
    }

    async fn discard(&self, temp: &TempArtifact) -> Result<(), ArtifactError> {
        crate::check_temp_key(&temp.key)?;
        match tokio::fs::remove_file(self.path(&temp.key)).await {
            Err(e) if !is_absent(&e) => Err(self.failed("removing", &temp.key, e)),
            _ => Ok(()),
        }
    }

    async fn get(&self, key: &str) -> Result<(ObjectInfo, ByteStream), ArtifactError> {
        crate::check_key(key)?;
        let file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Err(ArtifactError::NotFound(key.to_string())),
            Err(e) => return Err(self.failed("opening", key, e)),
        };
        let meta = file.metadata().await.map_err(|e| self.failed("reading", key, e))?;
        if !meta.is_file() {
            return Err(ArtifactError::NotFound(key.to_string()));
        }
        let info = ObjectInfo { key: key.to_string(), size_bytes: meta.len(), last_modified_ms: modified_ms(&meta) };
        Ok((info, tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).boxed()))
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<String, ArtifactError> {
        crate::transfer::download_to(self, key, path).await
    }

    async fn delete(&self, key: &str) -> Result<bool, ArtifactError> {
        crate::check_key(key)?;
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(true),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(self.failed("removing", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArtifactError> {
        crate::check_prefix(prefix)?;
        let (root, prefix_owned) = (self.root.clone(), prefix.to_string());
        tokio::task::spawn_blocking(move || walk(&root, &prefix_owned))
            .await
            .map_err(|e| ArtifactError::Backend(format!("{}: listing {prefix}: {e}", self.describe())))?
            .map_err(|e| self.failed("listing", prefix, e))
    }
}

/// The files under `root` whose key starts with `prefix`, walking only the deepest folder the prefix names.
fn walk(root: &Path, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
    let start = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let mut found = Vec::new();
    let mut pending = vec![(root.join(start), start.to_string())];
    while let Some((dir, key_of_dir)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_absent(&e) => continue, // no such folder, or removed while walking
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let key = if key_of_dir.is_empty() { name } else { format!("{key_of_dir}/{name}") };
            let kind = entry.file_type()?;
            if kind.is_dir() && (key.starts_with(prefix) || prefix.starts_with(&format!("{key}/"))) {
                pending.push((entry.path(), key));
            } else if kind.is_file() && key.starts_with(prefix) {
                match entry.metadata() {
                    Ok(meta) => {
                        found.push(ObjectInfo { key, size_bytes: meta.len(), last_modified_ms: modified_ms(&meta) })
                    }
                    Err(e) if is_absent(&e) => {} // removed while walking
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(found)
}
