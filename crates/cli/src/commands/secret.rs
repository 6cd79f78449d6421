//! `sedge secret create|update|list|remove`: managing secrets through `/system/secrets`.
//!
//! A value comes from `--from-literal`, `--from-file` (sent as bytes, `rawValue`) or stdin (trailing newlines
//! trimmed, as faas-cli's `--trim` does by default).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sedge_core::api::Secret;
use sedge_core::name::validate_secret_name;

use super::GatewayArgs;
use crate::output::{self, Format};

/// `sedge secret` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SecretCommand {
    /// Create a secret.
    Create(SecretValueArgs),
    /// Replace a secret's value.
    Update(SecretValueArgs),
    /// List secret names.
    #[command(visible_alias = "ls")]
    List(SecretListArgs),
    /// Remove a secret.
    #[command(visible_alias = "rm")]
    Remove(SecretRemoveArgs),
}

/// Arguments of `sedge secret create` and `update`.
#[derive(Debug, Clone, clap::Args)]
pub struct SecretValueArgs {
    /// Secret name (lowercase letters, digits, '-' and '.').
    pub name: String,
    /// The value, given on the command line.
    #[arg(long, conflicts_with = "from_file")]
    pub from_literal: Option<String>,
    /// Read the value from this file (sent as bytes).
    #[arg(long)]
    pub from_file: Option<PathBuf>,
    /// Namespace of the secret.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge secret list`.
#[derive(Debug, Clone, clap::Args)]
pub struct SecretListArgs {
    /// Namespace of the secrets.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Arguments of `sedge secret remove`.
#[derive(Debug, Clone, clap::Args)]
pub struct SecretRemoveArgs {
    /// Secret name.
    pub name: String,
    /// Namespace of the secret.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Runs a `sedge secret` subcommand.
pub async fn run(command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Create(args) => {
            let secret = read_secret(&args)?;
            args.gateway.client(None)?.create_secret(&secret).await?;
            println!("Created: {}", secret.name);
        }
        SecretCommand::Update(args) => {
            let secret = read_secret(&args)?;
            args.gateway.client(None)?.update_secret(&secret).await?;
            println!("Updated: {}", secret.name);
        }
        SecretCommand::List(args) => {
            let secrets = args.gateway.client(None)?.list_secrets(args.namespace.as_deref()).await?;
            match output::structured(args.format, &secrets)? {
                Some(text) => print!("{text}"),
                None => print!("{}", output::secrets_table(&secrets)),
            }
        }
        SecretCommand::Remove(args) => {
            args.gateway.client(None)?.remove_secret(&args.name, args.namespace.as_deref()).await?;
            println!("Removed: {}", args.name);
        }
    }
    Ok(())
}

/// The secret to send: name checked, value from the literal, the file or stdin.
fn read_secret(args: &SecretValueArgs) -> Result<Secret> {
    validate_secret_name(&args.name)?;
    let mut secret =
        Secret { name: args.name.clone(), namespace: args.namespace.clone(), value: None, raw_value: None };
    if let Some(literal) = &args.from_literal {
        secret.value = Some(literal.clone());
    } else if let Some(file) = &args.from_file {
        let bytes =
            std::fs::read(file).with_context(|| format!("could not read the secret from {}", file.display()))?;
        secret.raw_value = Some(bytes);
    } else {
        if std::io::stdin().is_terminal() {
            eprintln!("Reading from STDIN - hit (Control + D) to stop.");
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("could not read the secret's value from stdin")?;
        secret.value = Some(trim_newlines(&text).to_string());
    }
    if secret.value.as_deref() == Some("") || secret.raw_value.as_deref() == Some(&[]) {
        bail!("the secret {} has an empty value: give --from-literal, --from-file or a value on stdin", args.name);
    }
    Ok(secret)
}

fn trim_newlines(text: &str) -> &str {
    text.trim_end_matches(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_values_lose_trailing_newlines_only() {
        assert_eq!(trim_newlines("  s3cret \r\n\n"), "  s3cret ");
        assert_eq!(trim_newlines("a\nb\n"), "a\nb");
    }
}
