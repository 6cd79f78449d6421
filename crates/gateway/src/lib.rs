//! sedge's HTTP front: the OpenFaaS-compatible control API (`/system/*`), function invocation
//! (`/function/{name}`), the inference protocol for model functions (`/v2`), health and metrics, all on one port.
//!
//! The gateway owns no processes and no tables: it validates input into `sedge_core` types, commits state
//! through the [`Store`], and asks the [`Provider`] to make it so. Acknowledged writes are committed before the
//! answer is sent.
//!
//! # Layout
//! - [`Gateway`]: shared state; [`router`] builds the axum routes; [`serve`] runs them until shutdown.
//! - [`api`]: `/system/*` handlers (functions, scaling, secrets, logs, info).
//! - [`invoke`]: `/function/{name}[/path]`: reading the body, deadlines, headers, metrics.
//! - [`v2`]: the Open Inference Protocol v2 routes of model functions.
//! - [`registry`]: the model registry under `/system/models` (metadata in the store, files in artifacts).
//! - [`calls`]: asynchronous invocation (`/async-function/{name}`) and the dispatcher of the durable queue.
//! - [`auth`], [`error`], [`metrics`], [`counts`]: basic auth, the one error-to-HTTP mapping, Prometheus
//!   metrics, invocation counters.

pub mod api;
pub mod auth;
pub mod calls;
pub mod counts;
pub mod error;
pub mod invoke;
pub mod metrics;
pub mod registry;
pub mod v2;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};
use sedge_core::FunctionSpec;
use sedge_core::api::VersionInfo;
use sedge_runtime::Provider;
use sedge_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::Credentials;
pub use error::ApiError;

/// Settings of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Who may use `/system/*`.
    pub credentials: Credentials,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// The gateway's bound on any call.
    pub upstream_timeout: Duration,
    /// sedge's version, for `/system/info`.
    pub version: VersionInfo,
    /// The bearer token process functions get as `SEDGE_API_TOKEN`, accepted on `/system/models` only.
    pub function_token: Option<String>,
}

/// Everything the handlers share.
pub struct Gateway {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Where functions run.
    pub provider: Arc<dyn Provider>,
    /// Model versions (rows in the store, files in the artifact store).
    pub registry: Arc<registry::Registry>,
    /// Metric families.
    pub metrics: metrics::Metrics,
    /// Invocation counts not yet in the store.
    pub counts: Arc<counts::PendingCounts>,
    /// Settings.
    pub config: GatewayConfig,
    /// Cancelled when the server starts shutting down (ends log follows).
    pub shutdown: CancellationToken,
    /// Cancelled once stored functions have been handed to the provider at start-up; until then a call to a
    /// function the provider does not know yet waits for it instead of answering 404.
    pub restored: CancellationToken,
}

impl Gateway {
    /// Shared state for the handlers.
    pub fn new(
        store: Arc<dyn Store>,
        provider: Arc<dyn Provider>,
        registry: Arc<registry::Registry>,
        config: GatewayConfig,
    ) -> Arc<Self> {
        let metrics = metrics::Metrics::new(provider.as_ref());
        Arc::new(Self {
            store,
            provider,
            registry,
            metrics,
            counts: Arc::default(),
            config,
            shutdown: CancellationToken::new(),
            restored: CancellationToken::new(),
        })
    }
}

/// All routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let system = Router::new()
        .route(
            "/system/functions",
            get(api::functions::list)
                .post(api::functions::create)
                .put(api::functions::update)
                .delete(api::functions::delete),
        )
        .route("/system/function/{name}", get(api::functions::get_one))
        .route("/system/scale-function/{name}", post(api::functions::scale))
        .route(
            "/system/secrets",
            get(api::secrets::list).post(api::secrets::create).put(api::secrets::update).delete(api::secrets::delete),
        )
        .route("/system/logs", get(api::logs::logs))
        .route("/system/info", get(api::info::info))
        .route("/system/namespaces", get(api::info::namespaces))
        .merge(calls::system_routes())
        .route("/apis/serving.knative.dev/v1/namespaces/{namespace}/services", post(api::knative::create))
        .route(
            "/apis/serving.knative.dev/v1/namespaces/{namespace}/services/{name}",
            get(api::knative::get_one).put(api::knative::replace).delete(api::knative::delete),
        )
        .route_layer(axum::middleware::from_fn_with_state(gateway.config.credentials.clone(), auth::require));
    // Functions push models with their API token (`SEDGE_API_TOKEN`); it opens nothing else.
    let access =
        auth::Access { credentials: gateway.config.credentials.clone(), token: gateway.config.function_token.clone() };
    let models =
        registry::system_routes().route_layer(axum::middleware::from_fn_with_state(access, auth::require_or_token));
    Router::new()
        .merge(system)
        .merge(models)
        .merge(registry::public_routes())
        .merge(calls::public_routes())
        .route("/function/{name}", any(invoke::invoke_root))
        .route("/function/{name}/", any(invoke::invoke_root))
        .route("/function/{name}/{*path}", any(invoke::invoke_path))
        .route("/v2", get(v2::server))
        .route("/v2/health/live", get(v2::live))
        .route("/v2/health/ready", get(v2::ready))
        .route("/v2/models/{model}", get(v2::metadata))
        .route("/v2/models/{model}/ready", get(v2::model_ready))
        .route("/v2/models/{model}/infer", post(v2::infer))
        .route("/v2/models/{model}/versions/{version}", get(v2::metadata_version))
        .route("/v2/models/{model}/versions/{version}/ready", get(v2::model_version_ready))
        .route("/v2/models/{model}/versions/{version}/infer", post(v2::infer_version))
        .route("/healthz", get(|| async { "OK" }))
        .route("/metrics", get(api::info::metrics))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(gateway)
}

/// Serves `router` on `listener` (TCP_NODELAY on every connection) until `shutdown` resolves, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts every stored function on the provider (at its stored replica count). Functions that can no longer
/// run (executable gone) are logged and left in the store, so that fixing the machine and restarting brings
/// them back.
pub async fn restore(gateway: &Gateway) -> Result<usize, ApiError> {
    let _done = gateway.restored.clone().drop_guard();
    let records = gateway.store.list_functions(None).await?;
    let mut started = 0;
    for record in records {
        let name = format!("{}.{}", record.deployment.service, record.deployment.namespace.as_deref().unwrap_or(""));
        let spec = match FunctionSpec::try_from(record.deployment) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(function = %name, error = %e, "stored function is invalid; not started");
                continue;
            }
        };
        let secrets = match api::functions::secret_values(gateway, &spec).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(function = %name, error = %e, "secrets unavailable; not started");
                continue;
            }
        };
        match gateway.provider.apply(spec, record.replicas, secrets).await {
            Ok(()) => started += 1,
            Err(e) => tracing::error!(function = %name, error = %e, "could not start stored function"),
        }
    }
    Ok(started)
}
