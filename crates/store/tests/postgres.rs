//! The store conformance suite against the PostgreSQL backend: one private server for the whole binary
//! (`sedge_testkit::databases::PostgresServer`), a new database per check, opened through [`sedge_store::open`].
//! Needs the Debian package `postgresql`; without it every check fails, saying so.

mod conformance;

use conformance::Fixture;
use sedge_store::StoreError;
use sedge_testkit::databases::PostgresServer;

fn server() -> &'static PostgresServer {
    PostgresServer::shared().unwrap_or_else(|e| panic!("cannot start PostgreSQL for the store tests: {e:#}"))
}

async fn fresh(test: &'static str) -> Fixture {
    let url = server().fresh_database(test).unwrap();
    let store = sedge_store::open(&url).await.unwrap();
    Fixture { store, keep: Box::new(()) }
}

conformance::conformance_tests!(fresh);

#[tokio::test]
async fn both_url_schemes_open_the_same_database() {
    let url = server().fresh_database("schemes").unwrap();
    let store = sedge_store::open(&url).await.unwrap();
    store.put_secret("ns", "k", b"v", sedge_store::SecretWrite::Create).await.unwrap();
    let other = sedge_store::open(&url.replacen("postgres://", "postgresql://", 1)).await.unwrap();
    assert_eq!(other.get_secret("ns", "k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn reopening_keeps_data_and_runs_no_migration_twice() {
    let url = server().fresh_database("reopen").unwrap();
    let store = sedge_store::open(&url).await.unwrap();
    store.put_secret("ns", "k", b"v", sedge_store::SecretWrite::Create).await.unwrap();
    drop(store);
    let store = sedge_store::open(&url).await.unwrap();
    assert_eq!(store.list_secrets("ns").await.unwrap(), ["k"]);
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_the_drivers_reason() {
    // A port just freed, on which nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = sedge_store::open(&format!("postgres://postgres@127.0.0.1:{port}/sedge")).await.err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(text.contains(&format!("PostgreSQL at 127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn a_missing_database_is_reported_as_such() {
    let url = format!("postgres://postgres@127.0.0.1:{}/no_such_db", server().port());
    let text = sedge_store::open(&url).await.err().unwrap().to_string();
    assert!(text.contains(&format!("127.0.0.1:{}", server().port())) && text.contains("no_such_db"), "{text}");
}
