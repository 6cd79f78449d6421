//! Shared by the gateway's route tests: one gateway over a real SQLite store, a local artifact folder and the
//! local provider in a temp state folder (admin `admin:pw`, `--max-body` 1 KiB), its router with a fixed peer
//! address, and the admin's `Authorization` value.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::MockConnectInfo;
use base64::Engine as _;
use sedge_core::api::VersionInfo;
use sedge_gateway::registry::Registry;
use sedge_gateway::{Credentials, Gateway, GatewayConfig};
use sedge_runtime::local::LocalProvider;

/// A gateway ready to take requests (stored functions restored: none).
pub struct TestGateway {
    /// The state folder (removed on drop).
    pub state: tempfile::TempDir,
    /// The shared state, for tests that start the dispatcher.
    pub gateway: Arc<Gateway>,
    /// All routes.
    pub app: axum::Router,
    /// `Basic …` for the admin.
    pub admin: String,
}

/// A gateway whose functions' API token is `token` and whose registry refuses files over `max_model_bytes`.
pub async fn gateway(token: Option<&str>, max_model_bytes: u64) -> TestGateway {
    let state = tempfile::tempdir().unwrap();
    let store = sedge_store::open(&format!("sqlite://{}", state.path().join("db").display())).await.unwrap();
    let provider = Arc::new(LocalProvider::new(state.path().to_path_buf()));
    let config = GatewayConfig {
        credentials: Credentials { user: "admin".into(), password: "pw".into() },
        max_body: 1024,
        upstream_timeout: Duration::from_secs(10),
        version: VersionInfo { release: "test".into(), ..Default::default() },
        function_token: token.map(str::to_string),
    };
    let artifacts = sedge_artifacts::open(None, state.path()).await.unwrap();
    let registry = Arc::new(Registry::new(store.clone(), artifacts, state.path().join("registry"), max_model_bytes));
    let gateway = Gateway::new(store, provider, registry, config);
    gateway.restored.cancel();
    let app = sedge_gateway::router(gateway.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
    let admin = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin:pw"));
    TestGateway { state, gateway, app, admin }
}
