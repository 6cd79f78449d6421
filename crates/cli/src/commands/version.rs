//! `sedge version`: the CLI's version and, when the gateway answers, the gateway's and provider's.

use anyhow::Result;

use super::GatewayArgs;
use crate::output::{self, Format, VersionReport};

/// Arguments of `sedge version`.
#[derive(Debug, Clone, clap::Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge version`; an unreachable gateway is a warning, not an error.
pub async fn run(args: VersionArgs) -> Result<()> {
    let client = args.gateway.client(None)?;
    let gateway = match client.info().await {
        Ok(info) => Some(info),
        Err(e) => {
            eprintln!("Warning: {e:#}");
            None
        }
    };
    let report =
        VersionReport { cli: env!("CARGO_PKG_VERSION").to_string(), gateway_url: client.base().to_string(), gateway };
    match output::structured(args.format, &report)? {
        Some(text) => print!("{text}"),
        None => print!("{}", output::version(&report)),
    }
    Ok(())
}
