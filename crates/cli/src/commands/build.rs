//! `sedge build`: builds a bundle for every function in the stack file that has a `lang`.
//!
//! The work itself is `sedge_runtime::build::build_bundle`; this module resolves each function's handler
//! folder and image from the stack file and prints the builder's progress as `[name] line`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sedge_core::bundle::BundleManifest;
use sedge_core::stack::{Stack, StackFunction};
use sedge_runtime::build::build_bundle;

use super::{StackArgs, StateArgs, resolve, selected, stack_dir};

/// Arguments of `sedge build`.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Build only this function.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Reads and parses the stack file, substituting `${VAR}` from the environment.
pub fn load_stack(args: &StackArgs) -> Result<(PathBuf, Stack)> {
    let (path, text) = args.read()?;
    let stack = Stack::parse(&text, |var| std::env::var(var).ok())
        .with_context(|| format!("{} is not a valid stack file", path.display()))?;
    Ok((path, stack))
}

/// Fails when `--filter` names no function of the stack file.
pub fn check_filter(stack: &Stack, filter: Option<&str>, path: &Path) -> Result<()> {
    match filter {
        Some(name) if !stack.functions.contains_key(name) => {
            let known: Vec<&str> = stack.functions.keys().map(String::as_str).collect();
            bail!("no function {name} in {} (it has: {})", path.display(), known.join(", "))
        }
        _ => Ok(()),
    }
}

/// Runs `sedge build`.
pub async fn run(args: BuildArgs) -> Result<()> {
    let (path, stack) = load_stack(&args.stack)?;
    check_filter(&stack, args.filter.as_deref(), &path)?;
    let dir = stack_dir(&path);
    for (name, f) in stack.functions.iter().filter(|(name, _)| selected(args.filter.as_deref(), name)) {
        if f.lang.is_none() {
            println!("Skipping {name}: it has no lang, so there is nothing to build.");
            continue;
        }
        build_function(&args.state.state, &dir, name, f).await?;
    }
    Ok(())
}

/// Builds the bundle of one stack function (which must have a `lang`), printing progress.
pub async fn build_function(state: &Path, stack_dir: &Path, name: &str, f: &StackFunction) -> Result<BundleManifest> {
    let Some(lang) = f.lang.clone() else { bail!("function {name} has no lang: nothing to build") };
    let handler = resolve(stack_dir, f.handler.as_deref().unwrap_or(name));
    let image = f.image.clone().unwrap_or_else(|| name.to_string());
    let (state, tag) = (state.to_path_buf(), name.to_string());
    let manifest = tokio::task::spawn_blocking(move || {
        build_bundle(&state, &image, &lang, &handler, &mut |line| println!("[{tag}] {line}"))
    })
    .await
    .context("the build task failed")?
    .with_context(|| format!("building {name}"))?;
    println!("[{name}] Built {} ({} mode).", manifest.image, manifest.mode);
    Ok(manifest)
}
