//! `sedge logs NAME`: prints a function's log lines as `TIMESTAMP INSTANCE TEXT`, as they arrive.

use std::io::Write;

use anyhow::Result;

use super::GatewayArgs;
use crate::client::LogsQuery;

/// Arguments of `sedge logs`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Function name.
    pub name: String,
    /// Keep printing new lines until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<i64>,
    /// Only lines written after this RFC 3339 time, e.g. 2026-01-02T15:04:05Z.
    #[arg(long)]
    pub since: Option<String>,
    /// Namespace of the function.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge logs`.
pub async fn run(args: LogsArgs) -> Result<()> {
    let client = args.gateway.client(None)?;
    let query = LogsQuery {
        name: args.name,
        namespace: args.namespace,
        tail: args.tail,
        since: args.since,
        follow: args.follow,
    };
    let mut stdout = std::io::stdout();
    client
        .logs(&query, |m| {
            // A closed pipe (`| head`) ends the output; nothing useful can be done about it here.
            let _ = writeln!(stdout, "{} {} {}", m.timestamp, m.instance, m.text.trim_end_matches('\n'));
            let _ = stdout.flush();
        })
        .await
}
