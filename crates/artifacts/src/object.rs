//! The `object_store`-backed backends: S3 (any S3-compatible server) and Google Cloud Storage, one type over an
//! `Arc<dyn ObjectStore>`, built from a parsed URL (`crate::url`). Keys live under the URL's `prefix`, if any.
//!
//! Uploads go through `object_store`'s `BufWriter`: up to one 8 MiB part is buffered, a single PUT when the
//! body is smaller, a multipart upload (at most two parts in flight) when larger, aborted on any failure, so a
//! refused upload leaves no object. `commit` is a server-side copy (atomic: the key is complete or absent), then
//! the temporary is deleted; a single copy is limited to 5 GiB on S3. Requests time out after 5 minutes
//! (`object_store`'s default of 30 s would cut a large part on a slow link); reads that break are resumed by
//! `object_store` from where they stopped.
//!
//! Credentials: the `AWS_*` or `GOOGLE_*` environment variables, read by `object_store`'s `from_env` builders;
//! S3 URL options (`access_key_id`, `secret_access_key`, `session_token`) override them.

use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectMeta, ObjectStore, ObjectStoreExt as _};
use tokio::io::AsyncWriteExt as _;

use crate::transfer::Meter;
use crate::url::{GcsConfig, S3Config};
use crate::{ArtifactError, ArtifactStore, ByteStream, ObjectInfo, TempArtifact};

/// The part size of multipart uploads, and the most an upload buffers before starting one.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// The time one request (a part, a whole small object, a read) may take.
const REQUEST_TIMEOUT: &str = "5 minutes";

/// A bucket behind `object_store`.
pub(crate) struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    /// The folder inside the bucket, without leading or trailing `/`.
    prefix: Option<String>,
    description: String,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackend").field("store", &self.description).finish()
    }
}

impl ObjectBackend {
    /// An S3 bucket; no request is made yet.
    pub(crate) fn s3(config: &S3Config) -> Result<Self, ArtifactError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), REQUEST_TIMEOUT);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        let mut description = format!("s3://{}", config.bucket);
        let details: Vec<String> =
            [("endpoint", &config.endpoint), ("region", &config.region), ("prefix", &config.prefix)]
                .into_iter()
                .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
                .collect();
        if !details.is_empty() {
            description.push_str(&format!(" ({})", details.join(", ")));
        }
        let store = builder.build().map_err(|e| ArtifactError::InvalidUrl(format!("{description}: {e}")))?;
        Ok(Self { store: Arc::new(store), prefix: config.prefix.clone(), description })
    }

    /// A Google Cloud Storage bucket; no request is made yet.
    pub(crate) fn gcs(config: &GcsConfig) -> Result<Self, ArtifactError> {
        let builder = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(&config.bucket)
            .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), REQUEST_TIMEOUT);
        let mut description = format!("gs://{}", config.bucket);
        if let Some(prefix) = &config.prefix {
            description.push_str(&format!(" (prefix {prefix})"));
        }
        let store = builder.build().map_err(|e| ArtifactError::InvalidUrl(format!("{description}: {e}")))?;
        Ok(Self { store: Arc::new(store), prefix: config.prefix.clone(), description })
    }

    /// Where `key` (already checked) lives in the bucket.
    fn location(&self, key: &str) -> Result<ObjectPath, ArtifactError> {
        let full = match &self.prefix {
            Some(prefix) if key.is_empty() => prefix.clone(),
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_string(),
        };
        ObjectPath::parse(&full).map_err(|e| ArtifactError::InvalidKey(format!("{key:?}: {e}")))
    }

    /// The key of a listed object, or `None` when it is outside the prefix.
    fn key_of(&self, location: &ObjectPath) -> Option<String> {
        let raw = location.as_ref();
        match &self.prefix {
            Some(prefix) => raw.strip_prefix(prefix.as_str())?.strip_prefix('/').map(str::to_string),
            None => Some(raw.to_string()),
        }
    }

    /// A [`ArtifactError::Backend`] naming this store, what was done and the key.
    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> ArtifactError {
        ArtifactError::Backend(format!("{}: {what} {key}: {e}", self.description))
    }

    /// An [`ObjectInfo`] for `meta`, stored under `key`.
    fn info(key: String, meta: &ObjectMeta) -> ObjectInfo {
        ObjectInfo { key, size_bytes: meta.size, last_modified_ms: meta.last_modified.timestamp_millis() }
    }

    /// Streams `body` into `writer`, returning the digest and size; the caller finishes or aborts.
    async fn write_body(
        &self,
        key: &str,
        writer: &mut BufWriter,
        mut body: ByteStream,
        limit: u64,
        expected_sha256: Option<&str>,
    ) -> Result<(String, u64), ArtifactError> {
        let mut meter = Meter::new(limit);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(ArtifactError::Body)?;
            meter.take(&chunk).await?;
            writer.put(chunk).await.map_err(|e| self.failed("uploading", key, e))?;
        }
        meter.finish(expected_sha256)
    }
}

#[async_trait::async_trait]
impl ArtifactStore for ObjectBackend {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn put_temp(
        &self,
        body: ByteStream,
        limit: u64,
        expected_sha256: Option<&str>,
    ) -> Result<TempArtifact, ArtifactError> {
        let key = crate::temp_key();
        let location = self.location(&key)?;
        let mut writer = BufWriter::with_capacity(Arc::clone(&self.store), location, PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        match self.write_body(&key, &mut writer, body, limit, expected_sha256).await {
            Ok((sha256, size_bytes)) => {
                // Nothing is visible before this: a small body is one PUT here, a large one completes its upload.
                writer.shutdown().await.map_err(|e| {
                    ArtifactError::Backend(format!("{}: finishing the upload of {key}: {e}", self.description))
                })?;
                Ok(TempArtifact { key, sha256, size_bytes })
            }
            Err(e) => {
                if let Err(aborting) = writer.abort().await {
                    tracing::warn!(key, error = %aborting, store = %self.description, "could not abort an upload");
                }
                Err(e)
            }
        }
    }

    async fn commit(&self, temp: &TempArtifact, key: &str) -> Result<(), ArtifactError> {
        crate::check_temp_key(&temp.key)?;
        crate::check_final_key(key)?;
        let (from, to) = (self.location(&temp.key)?, self.location(key)?);
        match self.store.copy(&from, &to).await {
            Err(object_store::Error::NotFound { .. }) => return Err(ArtifactError::NotFound(temp.key.clone())),
            Err(e) => return Err(self.failed(&format!("copying {} to", temp.key), key, e)),
            Ok(()) => {}
        }
        if let Err(e) = self.store.delete(&from).await {
            // The model is in place; the temporary is garbage for `collect_garbage`.
            tracing::warn!(key = temp.key, error = %e, store = %self.description, "could not delete a committed temporary");
        }
        Ok(())
    }

    async fn discard(&self, temp: &TempArtifact) -> Result<(), ArtifactError> {
        crate::check_temp_key(&temp.key)?;
        match self.store.delete(&self.location(&temp.key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("removing", &temp.key, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<(ObjectInfo, ByteStream), ArtifactError> {
        crate::check_key(key)?;
        let result = match self.store.get(&self.location(key)?).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(ArtifactError::NotFound(key.to_string())),
            Err(e) => return Err(self.failed("reading", key, e)),
        };
        let info = Self::info(key.to_string(), &result.meta);
        Ok((info, result.into_stream().map_err(std::io::Error::other).boxed()))
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<String, ArtifactError> {
        crate::transfer::download_to(self, key, path).await
    }

    async fn delete(&self, key: &str) -> Result<bool, ArtifactError> {
        crate::check_key(key)?;
        let location = self.location(key)?;
        // S3 answers a delete of a missing object with success, so ask first.
        match self.store.head(&location).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.failed("looking up", key, e)),
        }
        match self.store.delete(&location).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed("removing", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ArtifactError> {
        crate::check_prefix(prefix)?;
        // `object_store` lists whole path segments; list the folder the prefix names, then filter.
        let folder = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let folder = match (folder, &self.prefix) {
            ("", None) => None,
            (folder, _) => Some(self.location(folder)?),
        };
        let mut listing = self.store.list(folder.as_ref());
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.failed("listing", prefix, e))?;
            if let Some(key) = self.key_of(&meta.location).filter(|k| k.starts_with(prefix)) {
                found.push(Self::info(key, &meta));
            }
        }
        Ok(found)
    }
}
