//! Tests of what is particular to [`SqliteStore`] (file mode, pragmas, reopening, migrating an existing file),
//! against real SQLite files in temporary folders. The backend-neutral contract is checked by the conformance
//! suite (`tests/sqlite.rs`).

use std::collections::BTreeMap;

use tempfile::TempDir;

use sedge_core::api::FunctionDeployment;

use super::*;
use crate::ModelStore;

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
    let err = crate::open("redis://db").await.err().unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err:?}");
    let text = err.to_string();
    for form in ["sqlite://", "postgres://", "postgresql://", "mysql://", "mariadb://"] {
        assert!(text.contains(form), "{text}");
    }
}

#[tokio::test]
async fn a_version_1_database_is_migrated_in_place() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("old.db");
    {
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        crate::embedded_migrator(&MIGRATIONS[..1]).run(&pool).await.unwrap();
        sqlx::query("INSERT INTO secrets (namespace, name, value) VALUES ('ns', 'old', X'00ff')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.get_secret("ns", "old").await.unwrap(), Some(vec![0x00, 0xff]));
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(applied, [1, 2]);
    let model = crate::NewModel { name: "m".into(), format: "onnx".into(), ..Default::default() };
    assert_eq!(store.add_model(&model).await.unwrap().version, 1);
}

#[tokio::test]
async fn the_exclusive_stage_index_backs_up_set_model_stage() {
    let (_dir, store) = fresh().await;
    let model = crate::NewModel { name: "m".into(), format: "onnx".into(), ..Default::default() };
    store.add_model(&model).await.unwrap();
    store.add_model(&model).await.unwrap();
    sqlx::query("UPDATE models SET stage = 'production' WHERE version = 1").execute(&store.pool).await.unwrap();
    let err = sqlx::query("UPDATE models SET stage = 'production' WHERE version = 2").execute(&store.pool).await;
    assert!(err.unwrap_err().to_string().contains("UNIQUE"), "two production versions of one name");
}
