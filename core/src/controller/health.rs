//! `/metrics`, `/healthz` and `/readyz` over HTTP. Ready means the first full Node list has
//! arrived, so a Deployment's rollout waits for a replica that can actually plan.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ControllerError;
use super::metrics::Metrics;
use super::nodes::NodeStore;

#[derive(Clone)]
struct HealthState {
    metrics: Metrics,
    store: NodeStore,
}

/// The router, separate from binding so tests can drive it in-process.
fn app(metrics: Metrics, store: NodeStore) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready_handler))
        .with_state(HealthState { metrics, store })
}

async fn metrics_handler(State(s): State<HealthState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn ready_handler(State(s): State<HealthState>) -> impl IntoResponse {
    if s.store.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first Node list",
        )
    }
}

/// Binds `addr` and serves until `shutdown`. Returns once bound, so a port in use is a start-up
/// error rather than a background log line.
///
/// # Errors
/// [`ControllerError::Bind`] when the address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    store: NodeStore,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, ControllerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ControllerError::Bind { addr, source })?;
    let router = app(metrics, store);
    Ok(tokio::spawn(async move {
        let server =
            axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::warn!(%error, "metrics server stopped");
        }
    }))
}
