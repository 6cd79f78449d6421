//! `sedge up`: opens the store, starts the local provider and serves the gateway until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `sedge up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "SEDGE_LISTEN")]
    pub listen: SocketAddr,
    /// State directory: database, secrets, bundles, logs.
    #[arg(long, default_value = ".sedge", env = "SEDGE_STATE")]
    pub state: PathBuf,
    /// Database URL (default: SQLite file in the state directory).
    #[arg(long, env = "SEDGE_DB")]
    pub db: Option<String>,
    /// Largest request body accepted, in bytes or a quantity such as 20Mi.
    #[arg(long, default_value = "20Mi")]
    pub max_body: String,
    /// The gateway's own bound on any call, whatever the function's timeouts (Go duration or seconds).
    #[arg(long, default_value = "60s")]
    pub upstream_timeout: String,
}

/// Runs `sedge up` until a shutdown signal.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("sedge up is being wired")
}
