//! `sedge up`: opens the store, starts the local provider and serves the gateway until SIGINT/SIGTERM.
//!
//! Start-up order keeps `/healthz` fast: bind, serve, then restore stored functions in the background.
//! Shutdown order keeps calls whole: stop accepting, let in-flight calls finish, stop replicas, flush counts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sedge_core::api::VersionInfo;
use sedge_gateway::registry::Registry;
use sedge_gateway::{Credentials, Gateway, GatewayConfig};
use sedge_runtime::Provider;
use sedge_runtime::autoscaler::{Autoscaler, TokioClock};
use sedge_runtime::local::LocalProvider;
use sedge_runtime::local::resources::Cgroups;

/// Longest wait for in-flight calls at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Arguments of `sedge up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "SEDGE_LISTEN")]
    pub listen: SocketAddr,
    /// State directory: database, secrets, bundles, logs.
    #[arg(long, default_value = ".sedge", env = "SEDGE_STATE")]
    pub state: PathBuf,
    /// Database URL: `sqlite://PATH` (default: `sedge.db` in the state directory), `postgres://…` or
    /// `mysql://…` (MariaDB).
    #[arg(long, env = "SEDGE_DB")]
    pub db: Option<String>,
    /// Where registered model files live: a folder (default: `artifacts/` in the state directory),
    /// `s3://BUCKET?endpoint=URL` for any S3-compatible server, or `gs://BUCKET`.
    #[arg(long, env = "SEDGE_ARTIFACTS")]
    pub artifacts: Option<String>,
    /// Largest model file the registry accepts, in bytes or a quantity such as 2Gi.
    #[arg(long, default_value = "2Gi")]
    pub max_model_size: String,
    /// Largest request body accepted, in bytes or a quantity such as 20Mi.
    #[arg(long, default_value = "20Mi")]
    pub max_body: String,
    /// The gateway's own bound on any call, whatever the function's timeouts (Go duration or seconds).
    #[arg(long, default_value = "60s")]
    pub upstream_timeout: String,
    /// The onnxruntime shared library for the `ort` engine (`libonnxruntime.so`); without it, sedge looks for
    /// a Python installation of the `onnxruntime` package, and `engine: auto` falls back to tract.
    #[arg(long, env = "ORT_DYLIB_PATH")]
    pub onnxruntime: Option<PathBuf>,
    /// How long a call to a function at zero replicas is held while the function wakes; past it, 504.
    #[arg(long, default_value = "60s")]
    pub activation_timeout: String,
    /// How often the autoscaler samples load and decides (Knative's tick-interval).
    #[arg(long, default_value = "1s")]
    pub autoscale_interval: String,
    /// `auto` confines replicas in cgroups when this process may create them; `off` never looks, and bounds
    /// memory with setrlimit only.
    #[arg(long, default_value = "auto", env = "SEDGE_CGROUPS", value_parser = ["auto", "off"])]
    pub cgroups: String,
    /// Attempts of one function's async calls run at once, unless it sets `com.sedge.async.concurrency`.
    #[arg(long, default_value_t = sedge_gateway::calls::policy::DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub async_concurrency: u32,
}

/// Runs `sedge up` until a shutdown signal.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let max_body = sedge_core::quantity::parse_memory(&args.max_body).context("--max-body")? as usize;
    let max_model_size = sedge_core::quantity::parse_memory(&args.max_model_size).context("--max-model-size")?;
    let upstream_timeout = sedge_core::duration::parse(&args.upstream_timeout).context("--upstream-timeout")?;
    let activation_timeout = sedge_core::duration::parse(&args.activation_timeout).context("--activation-timeout")?;
    let autoscale_interval = sedge_core::duration::parse(&args.autoscale_interval).context("--autoscale-interval")?;
    if autoscale_interval.is_zero() {
        anyhow::bail!("--autoscale-interval must be longer than 0s");
    }
    let state = absolute(&args.state)?;
    std::fs::create_dir_all(state.join("logs")).with_context(|| format!("creating {}", state.display()))?;
    init_logging(&state)?;
    let credentials = credentials(&state)?;
    if let Some(library) = &args.onnxruntime {
        let loaded = sedge_models::engine::ort_library(Some(library))
            .map_err(|e| anyhow::anyhow!("--onnxruntime {}: {e}", library.display()))?;
        tracing::info!(library = %loaded.display(), "onnxruntime loaded");
    }

    let db = args.db.clone().unwrap_or_else(|| format!("sqlite://{}", state.join("sedge.db").display()));
    let store = sedge_store::open(&db).await.with_context(|| format!("opening the store {db}"))?;
    let artifacts = sedge_artifacts::open(args.artifacts.as_deref(), &state)
        .await
        .with_context(|| format!("opening the artifact store {}", args.artifacts.as_deref().unwrap_or("(default)")))?;
    let registry = Arc::new(Registry::new(store.clone(), artifacts, state.join("registry"), max_model_size as u64));
    // Before serving: temporaries and unreferenced files of uploads a crash cut off.
    let collected = registry.collect_garbage().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(artifacts = %registry.artifacts().describe(), collected, "model registry ready");

    // Bound before the provider starts, so that functions learn the gateway's address.
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let function_token = random_token();
    let platform_env = vec![
        ("SEDGE_GATEWAY_URL".to_string(), format!("http://{addr}")),
        ("SEDGE_API_TOKEN".to_string(), function_token.clone()),
    ];
    let cgroups = match args.cgroups.as_str() {
        "off" => Cgroups::unavailable("--cgroups off"),
        _ => Cgroups::detect(),
    };
    let local = LocalProvider::with_cgroups(state.clone(), cgroups)
        .with_activation_timeout(activation_timeout)
        .with_model_registry(registry.clone())
        .with_platform_env(platform_env);
    tracing::info!(resources = %local.resources(), "replica limits and readings");
    let provider: Arc<dyn Provider> = Arc::new(local);
    let version = VersionInfo { commit_message: None, sha: String::new(), release: env!("CARGO_PKG_VERSION").into() };
    let config =
        GatewayConfig { credentials, max_body, upstream_timeout, version, function_token: Some(function_token) };
    let gateway = Gateway::new(store.clone(), provider.clone(), registry, config);
    println!("sedge {} listening on http://{addr} (state in {})", env!("CARGO_PKG_VERSION"), state.display());

    let shutdown = gateway.shutdown.clone();
    // Async invocation (issue #7): the durable queue's dispatcher; `attach` lets /async-function wake it.
    let dispatcher = sedge_gateway::calls::Dispatcher::new(gateway.clone(), args.async_concurrency);
    let router = dispatcher.attach(sedge_gateway::router(gateway.clone()));
    let server = tokio::spawn(sedge_gateway::serve(listener, router, shutdown.clone().cancelled_owned()));
    let (stop_flushing, flush_stop) = tokio::sync::oneshot::channel::<()>();
    let flusher = tokio::spawn(sedge_gateway::counts::flush_loop(gateway.counts.clone(), store.clone(), async {
        let _ = flush_stop.await;
    }));
    let autoscaler = tokio::spawn(Autoscaler::new(provider.clone()).run(
        Arc::new(TokioClock::default()),
        autoscale_interval,
        shutdown.clone(),
    ));
    let restorer = {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            match sedge_gateway::restore(&gateway).await {
                Ok(n) => tracing::info!(functions = n, "stored functions started"),
                Err(e) => tracing::error!(error = %e, "could not restore functions"),
            }
        })
    };
    // Async invocation (issue #7): started once restore has begun (attempts wait for their function).
    let dispatcher = tokio::spawn(dispatcher.run(shutdown.clone()));

    let signal = wait_for_signal().await?;
    tracing::info!(signal, "shutting down: draining in-flight calls");
    shutdown.cancel();
    restorer.abort();
    let _ = autoscaler.await;
    match tokio::time::timeout(DRAIN_LIMIT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("in-flight calls still running after {DRAIN_LIMIT:?}; stopping anyway"),
    }
    // Async invocation (issue #7): attempts in flight finish (in parallel with the drain above) before
    // replicas stop; one cut off here runs again at the next start.
    if tokio::time::timeout(DRAIN_LIMIT, dispatcher).await.is_err() {
        tracing::warn!("async calls still running after {DRAIN_LIMIT:?}; they run again at the next start");
    }
    provider.shutdown().await;
    let _ = stop_flushing.send(());
    let _ = flusher.await;
    tracing::info!("stopped");
    Ok(())
}

/// A fresh API token for functions: 32 random bytes, hex.
fn random_token() -> String {
    rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect()
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) })
}

/// Logs to stderr and to `<state>/logs/sedge.log`, filtered by `RUST_LOG` (default `info`).
fn init_logging(state: &Path) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let file = std::fs::OpenOptions::new().create(true).append(true).open(state.join("logs").join("sedge.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::sync::Mutex::new(file)))
        .try_init()
        .context("logging was already set up")
}

/// Reads the admin credentials from `<state>/secrets/`, generating a password on first start (printed once).
fn credentials(state: &Path) -> anyhow::Result<Credentials> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = state.join("secrets");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let password_file = dir.join("basic-auth-password");
    let user_file = dir.join("basic-auth-user");
    if !user_file.exists() {
        std::fs::write(&user_file, "admin")?;
    }
    let password = match std::fs::read_to_string(&password_file) {
        Ok(p) => p.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng as _;
            let password: String =
                rand::rng().sample_iter(&rand::distr::Alphanumeric).take(32).map(char::from).collect();
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&password_file)?;
            std::io::Write::write_all(&mut f, password.as_bytes())?;
            f.sync_all()?;
            println!("Generated the admin password (user admin), shown only this once: {password}");
            println!("It is kept in {}", password_file.display());
            password
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", password_file.display())),
    };
    let user = std::fs::read_to_string(&user_file)?.trim().to_string();
    Ok(Credentials { user, password })
}
