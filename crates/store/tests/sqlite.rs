//! The store conformance suite against the SQLite backend: each check on a new database file in its own temp
//! folder, opened through [`sedge_store::open`] as `sedge up` does.

mod conformance;

use conformance::Fixture;

async fn fresh(_test: &'static str) -> Fixture {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sedge.db").display());
    let store = sedge_store::open(&url).await.unwrap();
    Fixture { store, keep: Box::new(dir) }
}

conformance::conformance_tests!(fresh);
