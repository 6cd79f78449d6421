//! Tests of [`SqliteStore`] against real SQLite files in temporary folders.

use std::collections::BTreeMap;

use tempfile::TempDir;

use super::*;

async fn fresh() -> (TempDir, SqliteStore) {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&dir.path().join("sedge.db")).await.unwrap();
    (dir, store)
}

fn qn(name: &str, namespace: &str) -> QualifiedName {
    QualifiedName::new(name, Some(namespace)).unwrap()
}

fn record(name: &str, namespace: &str, image: &str) -> FunctionRecord {
    FunctionRecord {
        deployment: FunctionDeployment {
            service: name.to_string(),
            image: image.to_string(),
            namespace: Some(namespace.to_string()),
            env_vars: Some(BTreeMap::from([("exec_timeout".to_string(), "5s".to_string())])),
            labels: Some(BTreeMap::from([("com.openfaas.scale.min".to_string(), "2".to_string())])),
            ..FunctionDeployment::default()
        },
        replicas: 2,
        created_at_ms: 1_700_000_000_000,
        invocation_count: 0,
    }
}

fn names(records: &[FunctionRecord]) -> Vec<String> {
    records.iter().map(|r| format!("{}.{}", r.deployment.service, r.deployment.namespace.as_deref().unwrap())).collect()
}

#[tokio::test]
async fn open_creates_parent_folders_and_a_private_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a/b/sedge.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.put_secret("ns", "s", b"x", SecretWrite::Create).await.unwrap();
    assert!(path.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("a/b/sedge.db-wal")), 0o600);
    }
}

#[tokio::test]
async fn connections_are_durable() {
    let (_dir, store) = fresh().await;
    let mut conn = store.pool.acquire().await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
    assert_eq!((journal.as_str(), synchronous, foreign_keys, busy), ("wal", 2, 1, 5000));
}

#[tokio::test]
async fn function_round_trip() {
    let (_dir, store) = fresh().await;
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), None);
    let rec = record("echo", "ns", "img:1");
    store.put_function(&rec).await.unwrap();
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), Some(rec));
    assert_eq!(store.get_function(&qn("echo", "other")).await.unwrap(), None);
}

#[tokio::test]
async fn put_function_without_namespace_uses_the_default() {
    let (_dir, store) = fresh().await;
    let mut rec = record("echo", "ns", "img");
    rec.deployment.namespace = None;
    store.put_function(&rec).await.unwrap();
    let got = store.get_function(&qn("echo", DEFAULT_NAMESPACE)).await.unwrap().unwrap();
    assert_eq!(got.deployment.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
}

#[tokio::test]
async fn put_function_upsert_keeps_created_at_and_count() {
    let (_dir, store) = fresh().await;
    let name = qn("echo", "ns");
    store.put_function(&record("echo", "ns", "img:1")).await.unwrap();
    store.add_invocations(&[(name.clone(), 7)]).await.unwrap();

    let mut update = record("echo", "ns", "img:2");
    update.replicas = 5;
    update.created_at_ms = 1;
    update.invocation_count = 0;
    store.put_function(&update).await.unwrap();

    let got = store.get_function(&name).await.unwrap().unwrap();
    assert_eq!(got.deployment.image, "img:2");
    assert_eq!(got.replicas, 5);
    assert_eq!(got.created_at_ms, 1_700_000_000_000);
    assert_eq!(got.invocation_count, 7);
}

#[tokio::test]
async fn list_functions_is_ordered_and_filtered() {
    let (_dir, store) = fresh().await;
    for (name, ns) in [("zeta", "a"), ("alpha", "b"), ("beta", "a"), ("alpha", "a")] {
        store.put_function(&record(name, ns, "img")).await.unwrap();
    }
    let all = store.list_functions(None).await.unwrap();
    assert_eq!(names(&all), ["alpha.a", "beta.a", "zeta.a", "alpha.b"]);
    let a = store.list_functions(Some("a")).await.unwrap();
    assert_eq!(names(&a), ["alpha.a", "beta.a", "zeta.a"]);
    assert!(store.list_functions(Some("none")).await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_function_reports_existence() {
    let (_dir, store) = fresh().await;
    store.put_function(&record("echo", "ns", "img")).await.unwrap();
    assert!(store.delete_function(&qn("echo", "ns")).await.unwrap());
    assert!(!store.delete_function(&qn("echo", "ns")).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), None);
}

#[tokio::test]
async fn set_replicas_updates_only_existing_functions() {
    let (_dir, store) = fresh().await;
    store.put_function(&record("echo", "ns", "img")).await.unwrap();
    assert!(store.set_replicas(&qn("echo", "ns"), 0).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap().unwrap().replicas, 0);
    assert!(store.set_replicas(&qn("echo", "ns"), u32::MAX).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap().unwrap().replicas, u32::MAX);
    assert!(!store.set_replicas(&qn("ghost", "ns"), 3).await.unwrap());
}

#[tokio::test]
async fn add_invocations_adds_skips_unknown_and_saturates() {
    let (_dir, store) = fresh().await;
    store.put_function(&record("a", "ns", "img")).await.unwrap();
    store.put_function(&record("b", "ns", "img")).await.unwrap();
    store.add_invocations(&[]).await.unwrap();
    store.add_invocations(&[(qn("a", "ns"), 3), (qn("ghost", "ns"), 9), (qn("b", "ns"), 1)]).await.unwrap();
    store.add_invocations(&[(qn("a", "ns"), 4)]).await.unwrap();
    assert_eq!(store.get_function(&qn("a", "ns")).await.unwrap().unwrap().invocation_count, 7);
    assert_eq!(store.get_function(&qn("b", "ns")).await.unwrap().unwrap().invocation_count, 1);
    assert_eq!(store.get_function(&qn("ghost", "ns")).await.unwrap(), None);

    store.add_invocations(&[(qn("a", "ns"), u64::MAX)]).await.unwrap();
    store.add_invocations(&[(qn("a", "ns"), 1)]).await.unwrap();
    let count = store.get_function(&qn("a", "ns")).await.unwrap().unwrap().invocation_count;
    assert_eq!(count, i64::MAX as u64);
}

#[tokio::test]
async fn secret_create_conflicts_when_it_exists() {
    let (_dir, store) = fresh().await;
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), None);
    store.put_secret("ns", "key", b"\x00one", SecretWrite::Create).await.unwrap();
    let err = store.put_secret("ns", "key", b"two", SecretWrite::Create).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(what) if what == "secret key"), "{err:?}");
    assert_eq!(store.get_secret("ns", "key").await.unwrap().as_deref(), Some(&b"\x00one"[..]));
    store.put_secret("other", "key", b"three", SecretWrite::Create).await.unwrap();
}

#[tokio::test]
async fn secret_update_needs_an_existing_secret() {
    let (_dir, store) = fresh().await;
    let err = store.put_secret("ns", "key", b"v", SecretWrite::Update).await.unwrap_err();
    assert!(matches!(&err, StoreError::NotFound(what) if what == "secret key"), "{err:?}");
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), None);
    store.put_secret("ns", "key", b"v1", SecretWrite::Create).await.unwrap();
    store.put_secret("ns", "key", b"", SecretWrite::Update).await.unwrap();
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), Some(Vec::new()));
}

#[tokio::test]
async fn list_and_delete_secrets() {
    let (_dir, store) = fresh().await;
    for name in ["b", "c.d", "a"] {
        store.put_secret("ns", name, name.as_bytes(), SecretWrite::Create).await.unwrap();
    }
    store.put_secret("other", "z", b"z", SecretWrite::Create).await.unwrap();
    assert_eq!(store.list_secrets("ns").await.unwrap(), ["a", "b", "c.d"]);
    assert!(store.delete_secret("ns", "b").await.unwrap());
    assert!(!store.delete_secret("ns", "b").await.unwrap());
    assert_eq!(store.list_secrets("ns").await.unwrap(), ["a", "c.d"]);
    assert_eq!(store.list_secrets("other").await.unwrap(), ["z"]);
    assert!(store.list_secrets("none").await.unwrap().is_empty());
}

#[tokio::test]
async fn namespaces_is_the_sorted_union() {
    let (_dir, store) = fresh().await;
    assert!(store.namespaces().await.unwrap().is_empty());
    store.put_function(&record("f", "zz", "img")).await.unwrap();
    store.put_function(&record("g", "mm", "img")).await.unwrap();
    store.put_function(&record("h", "mm", "img")).await.unwrap();
    store.put_secret("aa", "s", b"v", SecretWrite::Create).await.unwrap();
    store.put_secret("mm", "s", b"v", SecretWrite::Create).await.unwrap();
    assert_eq!(store.namespaces().await.unwrap(), ["aa", "mm", "zz"]);
    store.delete_function(&qn("f", "zz")).await.unwrap();
    assert_eq!(store.namespaces().await.unwrap(), ["aa", "mm"]);
}

#[tokio::test]
async fn data_persists_across_reopen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("sedge.db");
    let rec = record("echo", "ns", "img");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.put_function(&rec).await.unwrap();
        store.add_invocations(&[(qn("echo", "ns"), 11)]).await.unwrap();
        store.put_secret("ns", "key", b"v", SecretWrite::Create).await.unwrap();
        // Dropped without close(): committed data must already be on disk.
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let got = store.get_function(&qn("echo", "ns")).await.unwrap().unwrap();
    assert_eq!(got, FunctionRecord { invocation_count: 11, ..rec });
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), Some(b"v".to_vec()));
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.namespaces().await.unwrap(), ["ns"]);
}

#[tokio::test]
async fn corrupt_deployment_is_reported() {
    let (_dir, store) = fresh().await;
    sqlx::query(
        "INSERT INTO functions (namespace, name, deployment, replicas, created_at_ms, invocation_count)
         VALUES ('ns', 'bad', '{not json', 1, 0, 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let err = store.get_function(&qn("bad", "ns")).await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt(msg) if msg.contains("bad.ns")), "{err:?}");
    assert!(matches!(store.list_functions(None).await, Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn open_by_url() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("url.db");
    let store = crate::open(&format!("sqlite://{}", path.display())).await.unwrap();
    store.put_secret("ns", "k", b"v", SecretWrite::Create).await.unwrap();
    let store = crate::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.list_secrets("ns").await.unwrap(), ["k"]);
    assert!(matches!(crate::open("postgres://db").await, Err(StoreError::UnsupportedUrl(_))));
}
