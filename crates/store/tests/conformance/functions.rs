//! Conformance checks for functions, secrets, namespaces and invocation counts.

use std::sync::Arc;

use sedge_core::DEFAULT_NAMESPACE;
use sedge_store::{SecretWrite, Store, StoreError};

use super::{names, qn, record};

pub async fn function_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), None);
    let rec = record("echo", "ns", "img:1");
    store.put_function(&rec).await.unwrap();
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), Some(rec));
    assert_eq!(store.get_function(&qn("echo", "other")).await.unwrap(), None);
}

pub async fn put_function_without_namespace_uses_the_default(store: Arc<dyn Store>) {
    let mut rec = record("echo", "ns", "img");
    rec.deployment.namespace = None;
    store.put_function(&rec).await.unwrap();
    let got = store.get_function(&qn("echo", DEFAULT_NAMESPACE)).await.unwrap().unwrap();
    assert_eq!(got.deployment.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
}

pub async fn put_function_upsert_keeps_created_at_and_count(store: Arc<dyn Store>) {
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

pub async fn list_functions_is_ordered_and_filtered(store: Arc<dyn Store>) {
    for (name, ns) in [("zeta", "a"), ("alpha", "b"), ("beta", "a"), ("alpha", "a")] {
        store.put_function(&record(name, ns, "img")).await.unwrap();
    }
    let all = store.list_functions(None).await.unwrap();
    assert_eq!(names(&all), ["alpha.a", "beta.a", "zeta.a", "alpha.b"]);
    let a = store.list_functions(Some("a")).await.unwrap();
    assert_eq!(names(&a), ["alpha.a", "beta.a", "zeta.a"]);
    assert!(store.list_functions(Some("none")).await.unwrap().is_empty());
}

pub async fn delete_function_reports_existence(store: Arc<dyn Store>) {
    store.put_function(&record("echo", "ns", "img")).await.unwrap();
    assert!(store.delete_function(&qn("echo", "ns")).await.unwrap());
    assert!(!store.delete_function(&qn("echo", "ns")).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap(), None);
}

pub async fn set_replicas_updates_only_existing_functions(store: Arc<dyn Store>) {
    store.put_function(&record("echo", "ns", "img")).await.unwrap();
    assert!(store.set_replicas(&qn("echo", "ns"), 0).await.unwrap());
    // Setting the count it already has still reports an existing function.
    assert!(store.set_replicas(&qn("echo", "ns"), 0).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap().unwrap().replicas, 0);
    assert!(store.set_replicas(&qn("echo", "ns"), u32::MAX).await.unwrap());
    assert_eq!(store.get_function(&qn("echo", "ns")).await.unwrap().unwrap().replicas, u32::MAX);
    assert!(!store.set_replicas(&qn("ghost", "ns"), 3).await.unwrap());
}

pub async fn add_invocations_adds_skips_unknown_and_saturates(store: Arc<dyn Store>) {
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

pub async fn secret_create_conflicts_when_it_exists(store: Arc<dyn Store>) {
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), None);
    store.put_secret("ns", "key", b"\x00one", SecretWrite::Create).await.unwrap();
    let err = store.put_secret("ns", "key", b"two", SecretWrite::Create).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(what) if what == "secret key"), "{err:?}");
    assert_eq!(store.get_secret("ns", "key").await.unwrap().as_deref(), Some(&b"\x00one"[..]));
    store.put_secret("other", "key", b"three", SecretWrite::Create).await.unwrap();
    assert_eq!(store.get_secret("other", "key").await.unwrap().as_deref(), Some(&b"three"[..]));
}

pub async fn secret_update_needs_an_existing_secret(store: Arc<dyn Store>) {
    let err = store.put_secret("ns", "key", b"v", SecretWrite::Update).await.unwrap_err();
    assert!(matches!(&err, StoreError::NotFound(what) if what == "secret key"), "{err:?}");
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), None);
    store.put_secret("ns", "key", b"v1", SecretWrite::Create).await.unwrap();
    store.put_secret("ns", "key", b"", SecretWrite::Update).await.unwrap();
    assert_eq!(store.get_secret("ns", "key").await.unwrap(), Some(Vec::new()));
    // Writing the value it already has is still an update of an existing secret, not "not found".
    store.put_secret("ns", "key", b"", SecretWrite::Update).await.unwrap();
}

pub async fn list_and_delete_secrets(store: Arc<dyn Store>) {
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

pub async fn secret_values_are_bytes(store: Arc<dyn Store>) {
    let value: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0x00, 0xc3, 0x28]).collect();
    store.put_secret("ns", "bin", &value, SecretWrite::Create).await.unwrap();
    assert_eq!(store.get_secret("ns", "bin").await.unwrap(), Some(value));
    let big = vec![0xa5u8; 1 << 20];
    store.put_secret("ns", "bin", &big, SecretWrite::Update).await.unwrap();
    assert_eq!(store.get_secret("ns", "bin").await.unwrap(), Some(big));
}

pub async fn keys_are_case_sensitive_and_sorted_by_bytes(store: Arc<dyn Store>) {
    // A case-insensitive collation (MariaDB's default) would make these one key and sort them as a < B.
    store.put_secret("ns", "a", b"lower", SecretWrite::Create).await.unwrap();
    store.put_secret("ns", "B", b"upper", SecretWrite::Create).await.unwrap();
    store.put_secret("ns", "A", b"upper-a", SecretWrite::Create).await.unwrap();
    assert_eq!(store.list_secrets("ns").await.unwrap(), ["A", "B", "a"]);
    assert_eq!(store.get_secret("ns", "a").await.unwrap().as_deref(), Some(&b"lower"[..]));
    assert_eq!(store.get_secret("ns", "A").await.unwrap().as_deref(), Some(&b"upper-a"[..]));
    assert_eq!(store.get_secret("ns", "b").await.unwrap(), None);
}

pub async fn namespaces_is_the_sorted_union(store: Arc<dyn Store>) {
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
