//! The cases every backend must pass, each an `async fn(&Fixture)`; [`conformance_tests!`] turns them into one
//! `#[tokio::test]` per case for a backend's opener.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use futures_util::StreamExt as _;
use rand::{RngCore as _, SeedableRng as _};
use sedge_artifacts::{ArtifactError, ArtifactStore, ByteStream, TempArtifact, model_key};
use sha2::{Digest as _, Sha256};

/// An opened store and whatever must live as long as it (a temporary folder).
pub struct Fixture {
    pub store: Arc<dyn ArtifactStore>,
    pub _guard: Option<tempfile::TempDir>,
}

/// Generates one test per case, for the backend `$open` (an `async fn() -> anyhow::Result<Fixture>`), with the
/// attributes given (e.g. `#[ignore = "…"]`) on each.
macro_rules! conformance_tests {
    ($open:path $(, #[$attr:meta])*) => {
        conformance_tests!(@cases $open [$(#[$attr])*]
            empty_body_round_trips small_body_round_trips large_body_round_trips_in_uneven_chunks
            an_upload_past_the_limit_leaves_nothing a_large_upload_past_the_limit_leaves_nothing
            a_digest_mismatch_leaves_nothing a_failing_body_leaves_nothing a_body_failing_after_a_part_leaves_nothing
            missing_objects_are_not_found delete_says_whether_it_removed_something list_filters_by_prefix
            download_to_writes_the_exact_bytes_and_returns_the_digest
            garbage_collection_keeps_only_referenced_models invalid_keys_are_refused
            commit_is_idempotent_for_identical_content_and_discard_is_idempotent);
    };
    (@cases $open:path [$($attr:tt)*]) => {};
    (@cases $open:path [$($attr:tt)*] $case:ident $($rest:ident)*) => {
        #[tokio::test]
        $($attr)*
        async fn $case() -> anyhow::Result<()> {
            let fixture = $open().await?;
            $crate::suite::$case(&fixture).await
        }
        conformance_tests!(@cases $open [$($attr)*] $($rest)*);
    };
}
pub(crate) use conformance_tests;

/// `len` pseudo-random bytes (the same for the same seed).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// Lowercase hex sha256 of `data`, computed independently of the crate.
pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// `data` as a body cut into chunks whose sizes cycle through `sizes`.
pub fn chunked(data: &[u8], sizes: &[usize]) -> ByteStream {
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let end = (at + sizes[i % sizes.len()]).min(data.len());
        chunks.push(Ok(Bytes::copy_from_slice(&data[at..end])));
        (at, i) = (end, i + 1);
    }
    futures_util::stream::iter(chunks).boxed()
}

/// `data` in 64 KiB chunks, then an I/O error, as a client that goes away mid-upload.
pub fn failing(data: &[u8]) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = data.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let failure = futures_util::stream::iter([Err(io::Error::other("client went away"))]);
    futures_util::stream::iter(chunks).chain(failure).boxed()
}

/// All bytes of a stream.
pub async fn read_all(mut stream: ByteStream) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// The sorted keys under `prefix`.
async fn keys(store: &dyn ArtifactStore, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut keys: Vec<String> = store.list(prefix).await?.into_iter().map(|o| o.key).collect();
    keys.sort();
    Ok(keys)
}

/// Uploads `data` as `model/<sha>.onnx` of model `name` and checks the temporary; returns the key.
async fn upload(store: &dyn ArtifactStore, name: &str, data: &[u8], sizes: &[usize]) -> anyhow::Result<String> {
    let digest = sha256(data);
    let temp = store.put_temp(chunked(data, sizes), data.len() as u64, Some(&digest)).await?;
    ensure!(temp.sha256 == digest && temp.size_bytes == data.len() as u64, "{temp:?}");
    ensure!(temp.key.starts_with("tmp/"), "{temp:?}");
    let key = model_key(name, &temp.sha256, "onnx");
    store.commit(&temp, &key).await?;
    Ok(key)
}

/// Uploads, commits and reads back `data`, checking every byte, the sizes, and that no temporary is left.
async fn round_trip(fixture: &Fixture, data: &[u8], sizes: &[usize]) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let key = upload(store, "m", data, sizes).await?;
    assert_eq!(key, format!("models/m/{}.onnx", sha256(data)));
    let (info, body) = store.get(&key).await?;
    assert_eq!((info.key.as_str(), info.size_bytes), (key.as_str(), data.len() as u64));
    assert!(info.last_modified_ms > 1_600_000_000_000, "{info:?}");
    let read = read_all(body).await?;
    assert_eq!(read.len(), data.len());
    assert!(read == data, "the bytes read back differ from those written");
    assert_eq!(keys(store, "tmp/").await?, Vec::<String>::new(), "the temporary was not removed");
    assert_eq!(keys(store, "").await?, [key]);
    Ok(())
}

pub async fn empty_body_round_trips(fixture: &Fixture) -> anyhow::Result<()> {
    assert_eq!(sha256(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    round_trip(fixture, b"", &[1]).await
}

pub async fn small_body_round_trips(fixture: &Fixture) -> anyhow::Result<()> {
    round_trip(fixture, b"a small model, in three chunks", &[5, 11, 100]).await
}

pub async fn large_body_round_trips_in_uneven_chunks(fixture: &Fixture) -> anyhow::Result<()> {
    let data = random_bytes(12 * 1024 * 1024, 12);
    round_trip(fixture, &data, &[1, 7919, 65_537, 1 << 20, 3, (1 << 20) + 17, 300_000]).await
}

/// An upload of `len` bytes with a limit one byte short must fail TooLarge and leave nothing.
async fn past_the_limit(fixture: &Fixture, len: usize) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let data = random_bytes(len, 4);
    let err = store.put_temp(chunked(&data, &[4096, 100_000]), len as u64 - 1, None).await.unwrap_err();
    assert!(matches!(err, ArtifactError::TooLarge { limit } if limit == len as u64 - 1), "{err:?}");
    assert_eq!(keys(store, "").await?, Vec::<String>::new());
    // Exactly at the limit is fine.
    let temp = store.put_temp(chunked(&data, &[4096, 100_000]), len as u64, None).await?;
    assert_eq!((temp.size_bytes, temp.sha256.clone()), (len as u64, sha256(&data)));
    assert_eq!(keys(store, "tmp/").await?, [temp.key]);
    Ok(())
}

pub async fn an_upload_past_the_limit_leaves_nothing(fixture: &Fixture) -> anyhow::Result<()> {
    past_the_limit(fixture, 300_000).await
}

pub async fn a_large_upload_past_the_limit_leaves_nothing(fixture: &Fixture) -> anyhow::Result<()> {
    past_the_limit(fixture, 10 * 1024 * 1024).await // past one multipart part on object stores
}

pub async fn a_digest_mismatch_leaves_nothing(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let data = random_bytes(100_000, 5);
    let wrong = sha256(b"something else");
    let err = store.put_temp(chunked(&data, &[999]), 1 << 20, Some(&wrong)).await.unwrap_err();
    match err {
        ArtifactError::DigestMismatch { expected, actual } => {
            assert_eq!((expected, actual), (wrong, sha256(&data)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(keys(store, "").await?, Vec::<String>::new());
    // The digest compares in any case.
    let temp = store.put_temp(chunked(&data, &[999]), 1 << 20, Some(&sha256(&data).to_uppercase())).await?;
    assert_eq!(temp.sha256, sha256(&data));
    Ok(())
}

/// An upload whose body fails after `len` bytes must fail with Body and leave nothing.
async fn failing_body(fixture: &Fixture, len: usize) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let err = store.put_temp(failing(&random_bytes(len, 6)), u64::MAX, None).await.unwrap_err();
    match &err {
        ArtifactError::Body(e) => assert_eq!(e.to_string(), "client went away"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "reading the upload failed: client went away");
    assert_eq!(keys(store, "").await?, Vec::<String>::new());
    Ok(())
}

pub async fn a_failing_body_leaves_nothing(fixture: &Fixture) -> anyhow::Result<()> {
    failing_body(fixture, 200_000).await
}

pub async fn a_body_failing_after_a_part_leaves_nothing(fixture: &Fixture) -> anyhow::Result<()> {
    failing_body(fixture, 9 * 1024 * 1024).await
}

pub async fn missing_objects_are_not_found(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    for key in ["models/none/abc.onnx", "models", "nothing"] {
        match store.get(key).await {
            Err(ArtifactError::NotFound(k)) => assert_eq!(k, key),
            other => panic!("{key}: {:?}", other.map(|(info, _)| info)),
        }
    }
    upload(store, "present", b"x", &[1]).await?;
    assert!(matches!(store.get("models/present").await, Err(ArtifactError::NotFound(_))), "a folder is no object");
    let gone = TempArtifact { key: "tmp/0000".into(), sha256: sha256(b""), size_bytes: 0 };
    match store.commit(&gone, "models/x/y.onnx").await {
        Err(ArtifactError::NotFound(k)) => assert_eq!(k, "tmp/0000"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(store.get("models/x/y.onnx").await, Err(ArtifactError::NotFound(_))));
    Ok(())
}

pub async fn delete_says_whether_it_removed_something(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let key = upload(store, "d", b"to be deleted", &[4]).await?;
    assert!(store.delete(&key).await?, "the first delete removes it");
    assert!(matches!(store.get(&key).await, Err(ArtifactError::NotFound(_))));
    assert!(!store.delete(&key).await?, "the second finds nothing");
    assert!(!store.delete("models/never/was.onnx").await?);
    assert_eq!(keys(store, "").await?, Vec::<String>::new());
    Ok(())
}

pub async fn list_filters_by_prefix(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let a = upload(store, "alpha", b"aaaa", &[2]).await?;
    let b = upload(store, "beta", b"bbbbbbbb", &[3]).await?;
    let temp = store.put_temp(chunked(b"pending", &[2]), 100, None).await?;
    assert_eq!(keys(store, "models/").await?, [a.as_str(), b.as_str()]);
    assert_eq!(keys(store, "models/alpha/").await?, [a.as_str()]);
    assert_eq!(keys(store, "models/al").await?, [a.as_str()], "a prefix need not end at a folder");
    assert_eq!(keys(store, "mod").await?, [a.as_str(), b.as_str()]);
    assert_eq!(keys(store, "tmp/").await?, [temp.key.as_str()]);
    assert_eq!(keys(store, "datasets/").await?, Vec::<String>::new());
    let mut all = vec![a.clone(), b.clone(), temp.key.clone()];
    all.sort();
    assert_eq!(keys(store, "").await?, all);
    let listed = store.list("models/beta/").await?;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.as_str(), listed[0].size_bytes), (b.as_str(), 8));
    assert!(listed[0].last_modified_ms > 1_600_000_000_000, "{listed:?}");
    Ok(())
}

pub async fn download_to_writes_the_exact_bytes_and_returns_the_digest(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let data = random_bytes(3 * 1024 * 1024 + 5, 7);
    let key = upload(store, "dl", &data, &[70_001]).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("models/dl/model.onnx");
    assert_eq!(store.download_to(&key, &path).await?, sha256(&data));
    assert!(std::fs::read(&path)? == data, "the downloaded file differs");
    // Replacing an existing file works the same.
    std::fs::write(&path, b"an older version")?;
    assert_eq!(store.download_to(&key, &path).await?, sha256(&data));
    assert_eq!(std::fs::read(&path)?.len(), data.len());
    let names: Vec<_> = std::fs::read_dir(path.parent().context("parent")?)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["model.onnx"], "no temporary is left beside the file");
    let missing = dir.path().join("missing.onnx");
    assert!(matches!(store.download_to("models/dl/none.onnx", &missing).await, Err(ArtifactError::NotFound(_))));
    assert!(!missing.exists());
    Ok(())
}

pub async fn garbage_collection_keeps_only_referenced_models(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let kept = upload(store, "kept", b"referenced", &[3]).await?;
    let orphan = upload(store, "orphan", b"not referenced", &[3]).await?;
    let temp = store.put_temp(chunked(b"interrupted upload", &[5]), 100, None).await?;
    let keep: HashSet<String> = [kept.clone(), "models/gone/0.onnx".to_string()].into();
    let mut expected = vec![orphan, temp.key];
    expected.sort();
    let mut removed = sedge_artifacts::collect_garbage(store, &keep).await?;
    removed.sort();
    assert_eq!(removed, expected);
    assert_eq!(keys(store, "").await?, [kept.as_str()]);
    assert_eq!(read_all(store.get(&kept).await?.1).await?, b"referenced");
    assert_eq!(sedge_artifacts::collect_garbage(store, &keep).await?, Vec::<String>::new());
    Ok(())
}

pub async fn invalid_keys_are_refused(fixture: &Fixture) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let invalid = |r: Result<(), ArtifactError>, what: &str| match r {
        Err(ArtifactError::InvalidKey(message)) => assert!(message.contains(what), "{message}"),
        other => panic!("{what}: {other:?}"),
    };
    invalid(store.get("../etc/passwd").await.map(drop), "..");
    invalid(store.get("/etc/passwd").await.map(drop), "/etc/passwd");
    invalid(store.delete("models//x").await.map(drop), "models//x");
    invalid(store.list("../").await.map(drop), "..");
    invalid(store.download_to("a/../../b", &std::env::temp_dir().join("never")).await.map(drop), "a/../../b");
    let temp = store.put_temp(chunked(b"data", &[4]), 10, None).await?;
    invalid(store.commit(&temp, "models/../../escape").await, "escape");
    invalid(store.commit(&temp, "tmp/other").await, "reserved");
    invalid(store.commit(&temp, "").await, "empty");
    let kept = upload(store, "safe", b"safe", &[4]).await?;
    let forged = TempArtifact { key: kept.clone(), sha256: temp.sha256.clone(), size_bytes: 4 };
    invalid(store.discard(&forged).await, "not a temporary");
    invalid(store.commit(&forged, "models/x/y.onnx").await, "not a temporary");
    let mut left = vec![kept, temp.key];
    left.sort();
    assert_eq!(keys(store, "").await?, left, "nothing was touched");
    Ok(())
}

pub async fn commit_is_idempotent_for_identical_content_and_discard_is_idempotent(
    fixture: &Fixture,
) -> anyhow::Result<()> {
    let store = &*fixture.store;
    let first = upload(store, "same", b"identical bytes", &[7]).await?;
    let second = upload(store, "same", b"identical bytes", &[2]).await?;
    assert_eq!(first, second, "content-addressed keys");
    assert_eq!(keys(store, "").await?, [first.as_str()]);
    assert_eq!(read_all(store.get(&first).await?.1).await?, b"identical bytes");
    let temp = store.put_temp(chunked(b"discard me", &[3]), 100, None).await?;
    store.discard(&temp).await?;
    store.discard(&temp).await?;
    assert_eq!(keys(store, "tmp/").await?, Vec::<String>::new());
    assert!(matches!(store.commit(&temp, "models/d/x.onnx").await, Err(ArtifactError::NotFound(_))));
    Ok(())
}
