//! `sedge list`, `describe`, `remove` (`rm`) and `scale`: managing deployed functions through `/system/*`.

use anyhow::Result;

use super::GatewayArgs;
use crate::output::{self, Format};

/// Arguments of `sedge list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only functions in this namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge list`.
pub async fn list(args: ListArgs) -> Result<()> {
    let functions = args.gateway.client(None)?.list_functions(args.namespace.as_deref()).await?;
    match output::structured(args.format, &functions)? {
        Some(text) => print!("{text}"),
        None => print!("{}", output::functions_table(&functions)),
    }
    Ok(())
}

/// Arguments of `sedge describe`.
#[derive(Debug, Clone, clap::Args)]
pub struct DescribeArgs {
    /// Function name.
    pub name: String,
    /// Namespace of the function.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge describe`.
pub async fn describe(args: DescribeArgs) -> Result<()> {
    let client = args.gateway.client(None)?;
    let function = client.get_function(&args.name, args.namespace.as_deref()).await?;
    match output::structured(args.format, &function)? {
        Some(text) => print!("{text}"),
        None => print!("{}", output::describe(&function, client.base())),
    }
    Ok(())
}

/// Arguments of `sedge remove`.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoveArgs {
    /// Function name.
    pub name: String,
    /// Namespace of the function.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge remove`.
pub async fn remove(args: RemoveArgs) -> Result<()> {
    println!("Deleting: {}.", args.name);
    args.gateway.client(None)?.remove(&args.name, args.namespace.as_deref()).await?;
    println!("Removing old function.");
    Ok(())
}

/// Arguments of `sedge scale`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Function name.
    pub name: String,
    /// Desired replicas (0 scales to zero).
    #[arg(long, short = 'r')]
    pub replicas: u64,
    /// Namespace of the function.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs `sedge scale`.
pub async fn scale(args: ScaleArgs) -> Result<()> {
    args.gateway.client(None)?.scale(&args.name, args.replicas, args.namespace.as_deref()).await?;
    println!("Scaled {} to {} replica(s).", args.name, args.replicas);
    Ok(())
}
