//! The artifact store's conformance suite (`suite`), run against every backend: a local folder, moto's S3
//! server (from PyPI, through `sedge_testkit::s3`) with and without a `prefix`, and Google Cloud Storage
//! (ignored: it needs a bucket and credentials). Plus what is particular to each backend: its description and
//! where its objects land.

mod suite;

use std::path::Path;

use anyhow::Context as _;
use sedge_artifacts::{ArtifactError, open};
use sedge_testkit::s3::MotoServer;
use suite::{Fixture, conformance_tests};

/// A fresh bucket name on the shared moto server.
fn bucket() -> String {
    format!("conformance-{:016x}", rand::random::<u64>())
}

mod local {
    use super::*;

    pub async fn open_local() -> anyhow::Result<Fixture> {
        let dir = tempfile::tempdir()?;
        let store = open(None, dir.path()).await?;
        Ok(Fixture { store, _guard: Some(dir) })
    }

    conformance_tests!(open_local);

    #[tokio::test]
    async fn the_default_is_a_folder_under_the_state_directory_and_temporaries_live_in_it() -> anyhow::Result<()> {
        let state = tempfile::tempdir()?;
        let store = open(None, state.path()).await?;
        let root = state.path().join("artifacts");
        assert_eq!(store.describe(), format!("local {}", root.display()));
        assert!(root.join("tmp").is_dir());
        let temp = store.put_temp(suite::chunked(b"abc", &[1]), 3, None).await?;
        assert_eq!(std::fs::read(root.join(&temp.key))?, b"abc");
        store.commit(&temp, "models/m/abc.bin").await?;
        assert_eq!(std::fs::read(root.join("models/m/abc.bin"))?, b"abc");
        assert!(!root.join(&temp.key).exists());
        std::fs::remove_dir_all(root.join("tmp"))?;
        let again = store.put_temp(suite::chunked(b"tmp/ is made again", &[4]), 100, None).await?;
        assert_eq!(std::fs::read(root.join(&again.key))?, b"tmp/ is made again");
        Ok(())
    }

    #[tokio::test]
    async fn file_urls_and_plain_paths_name_the_same_folder() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let by_url = open(Some(&format!("file://{}", dir.path().display())), Path::new("/unused")).await?;
        let by_path = open(Some(&dir.path().display().to_string()), Path::new("/unused")).await?;
        assert_eq!(by_url.describe(), format!("local {}", dir.path().display()));
        assert_eq!(by_url.describe(), by_path.describe());
        let temp = by_url.put_temp(suite::chunked(b"shared", &[2]), 100, None).await?;
        by_url.commit(&temp, "models/s/1.bin").await?;
        assert_eq!(suite::read_all(by_path.get("models/s/1.bin").await?.1).await?, b"shared");
        Ok(())
    }
}

mod s3 {
    use super::*;

    pub async fn open_s3() -> anyhow::Result<Fixture> {
        let url = MotoServer::shared()?.create_bucket(&bucket())?;
        Ok(Fixture { store: open(Some(&url), Path::new("/unused")).await?, _guard: None })
    }

    conformance_tests!(open_s3);

    #[tokio::test]
    async fn describe_names_the_bucket_and_endpoint_but_no_secret() -> anyhow::Result<()> {
        let moto = MotoServer::shared()?;
        let name = bucket();
        let url = moto.create_bucket(&name)?;
        let store = open(Some(&url), Path::new("/unused")).await?;
        assert_eq!(store.describe(), format!("s3://{name} (endpoint {}, region us-east-1)", moto.endpoint()));
        assert!(!format!("{store:?}").contains("secret"), "{store:?}");
        Ok(())
    }

    #[tokio::test]
    async fn large_uploads_are_multipart_and_a_failed_one_is_aborted() -> anyhow::Result<()> {
        use futures_util::StreamExt as _;
        let moto = MotoServer::shared()?;
        let name = bucket();
        let store = open(Some(&moto.create_bucket(&name)?), Path::new("/unused")).await?;
        // The body reports how many multipart uploads are open when it fails, after more than one part.
        let probe_bucket = name.clone();
        let probe = futures_util::stream::once(async move {
            let open_uploads = moto.multipart_uploads_in_progress(&probe_bucket).map_err(std::io::Error::other)?;
            Err(std::io::Error::other(format!("{open_uploads} upload(s) open")))
        });
        let body = suite::chunked(&suite::random_bytes(9 << 20, 9), &[1 << 20]).chain(probe).boxed();
        match store.put_temp(body, u64::MAX, None).await {
            Err(ArtifactError::Body(e)) => assert_eq!(e.to_string(), "1 upload(s) open"),
            other => panic!("{other:?}"),
        }
        assert_eq!(moto.multipart_uploads_in_progress(&name)?, 0, "the failed upload was aborted");
        let too_large = store.put_temp(suite::chunked(&suite::random_bytes(10 << 20, 10), &[1 << 20]), 9 << 20, None);
        assert!(matches!(too_large.await, Err(ArtifactError::TooLarge { .. })));
        assert_eq!(moto.multipart_uploads_in_progress(&name)?, 0, "the refused upload was aborted");
        assert!(store.list("").await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_bucket_is_a_backend_error_naming_it() -> anyhow::Result<()> {
        let moto = MotoServer::shared()?;
        let url = format!("s3://no-such-bucket?endpoint={}&access_key_id=a&secret_access_key=b", moto.endpoint());
        let store = open(Some(&url), Path::new("/unused")).await?;
        match store.put_temp(suite::chunked(b"x", &[1]), 10, None).await {
            Err(ArtifactError::Backend(message)) => assert!(message.contains("s3://no-such-bucket"), "{message}"),
            other => panic!("{other:?}"),
        }
        Ok(())
    }
}

mod s3_prefixed {
    use super::*;

    pub async fn open_s3_prefixed() -> anyhow::Result<Fixture> {
        let url = MotoServer::shared()?.create_bucket(&bucket())?;
        Ok(Fixture {
            store: open(Some(&format!("{url}&prefix=edge/site-1")), Path::new("/unused")).await?,
            _guard: None,
        })
    }

    conformance_tests!(open_s3_prefixed);

    #[tokio::test]
    async fn objects_live_under_the_prefix_and_nothing_outside_it_is_listed() -> anyhow::Result<()> {
        let url = MotoServer::shared()?.create_bucket(&bucket())?;
        let whole = open(Some(&url), Path::new("/unused")).await?;
        let prefixed = open(Some(&format!("{url}&prefix=/edge/site-1/")), Path::new("/unused")).await?;
        assert!(prefixed.describe().ends_with(", prefix edge/site-1)"), "{}", prefixed.describe());
        let temp = prefixed.put_temp(suite::chunked(b"weights", &[3]), 100, None).await?;
        prefixed.commit(&temp, "models/p/1.onnx").await?;
        let outside = whole.put_temp(suite::chunked(b"other", &[3]), 100, None).await?;
        let mut all: Vec<String> = whole.list("").await?.into_iter().map(|o| o.key).collect();
        all.sort();
        assert_eq!(all, ["edge/site-1/models/p/1.onnx".to_string(), outside.key]);
        let seen: Vec<String> = prefixed.list("").await?.into_iter().map(|o| o.key).collect();
        assert_eq!(seen, ["models/p/1.onnx"]);
        Ok(())
    }
}

mod gcs {
    use super::*;

    /// A fresh folder in the bucket named by `SEDGE_TEST_GCS_BUCKET`, with credentials from
    /// `GOOGLE_APPLICATION_CREDENTIALS` / `GOOGLE_SERVICE_ACCOUNT`.
    pub async fn open_gcs() -> anyhow::Result<Fixture> {
        let bucket = std::env::var("SEDGE_TEST_GCS_BUCKET").context("set SEDGE_TEST_GCS_BUCKET to a GCS bucket")?;
        let url = format!("gs://{bucket}?prefix=sedge-conformance/{:016x}", rand::random::<u64>());
        Ok(Fixture { store: open(Some(&url), Path::new("/unused")).await?, _guard: None })
    }

    conformance_tests!(open_gcs, #[ignore = "needs GCS"]);
}

#[tokio::test]
async fn bad_urls_fail_to_open_with_a_clear_message() {
    for (url, says) in [
        ("ftp://x/y", "unsupported scheme `ftp`"),
        ("s3://b/dir", "write `?prefix=dir`"),
        ("s3://b?endpoint=127.0.0.1:9000", "must start with http:// or https://"),
        ("gs://b?region=x", "unknown option \"region\""),
    ] {
        match open(Some(url), Path::new("/unused")).await {
            Err(ArtifactError::InvalidUrl(message)) => assert!(message.contains(says), "{url}: {message}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
