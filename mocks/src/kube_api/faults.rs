//! Fault injection for reliability tests: an unreachable API server, latency on every request,
//! and injected error responses.
//!
//! Unreachability works on connections, not requests, so clients see what they would see if the
//! API server went away: the server cuts every open connection (watches included) and drops new
//! ones on accept (`server`). Latency and errors are an axum middleware in front of every route.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{routes::Shared, status::ApiError};

pub(crate) struct Faults {
    /// Whether the server is unreachable, and the token every live connection is cut by. Kept
    /// under one lock so a connection accepted while the flag flips is either refused or cut.
    connections: Mutex<(bool, CancellationToken)>,
    latency: Mutex<Duration>,
    failing: Mutex<Option<u16>>,
    shutdown: CancellationToken,
}

impl Faults {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            connections: Mutex::new((false, shutdown.child_token())),
            latency: Mutex::new(Duration::ZERO),
            failing: Mutex::new(None),
            shutdown,
        }
    }

    /// The token a newly accepted connection lives under, or `None` to drop it at once.
    pub(crate) fn admit_connection(&self) -> Option<CancellationToken> {
        let connections = self.connections.lock();
        (!connections.0).then(|| connections.1.clone())
    }

    pub(crate) fn set_unreachable(&self, unreachable: bool) {
        let mut connections = self.connections.lock();
        connections.0 = unreachable;
        if unreachable {
            let cut = std::mem::replace(&mut connections.1, self.shutdown.child_token());
            cut.cancel();
        }
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        *self.latency.lock() = latency;
    }

    pub(crate) fn set_failing(&self, code: Option<u16>) {
        *self.failing.lock() = code;
    }
}

/// Middleware: delays each request by the configured latency, then answers with the injected
/// error if one is set.
pub(crate) async fn inject(
    State(app): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let latency = *app.faults.latency.lock();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let failing = *app.faults.failing.lock();
    if let Some(code) = failing {
        return ApiError::injected(code).into_response();
    }
    next.run(request).await
}
