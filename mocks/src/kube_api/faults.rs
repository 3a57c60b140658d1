//! Fault injection for reliability tests: an unreachable API server, latency on every request,
//! and injected error responses.
//!
//! Unreachability works on connections, not requests, so clients see what they would see if the
//! API server went away: the server cuts every open connection (watches included) and drops new
//! ones on accept (`server`). Each way in (the main listener, and every named door a test opens
//! for one client) has its own [`Gate`], so one client can be partitioned from the API server
//! while the others still reach it. Latency and errors are an axum middleware in front of every
//! route.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{routes::Shared, status::ApiError};

/// One listener's connections: whether it is closed, and the token every live connection it
/// accepted is cut by. Kept under one lock so a connection accepted while the flag flips is
/// either refused or cut.
pub(crate) struct Gate {
    connections: Mutex<(bool, CancellationToken)>,
    shutdown: CancellationToken,
}

impl Gate {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            connections: Mutex::new((false, shutdown.child_token())),
            shutdown,
        }
    }

    /// The token a newly accepted connection lives under, or `None` to drop it at once.
    pub(crate) fn admit_connection(&self) -> Option<CancellationToken> {
        let connections = self.connections.lock();
        (!connections.0).then(|| connections.1.clone())
    }

    fn set_closed(&self, closed: bool) {
        let mut connections = self.connections.lock();
        connections.0 = closed;
        if closed {
            let cut = std::mem::replace(&mut connections.1, self.shutdown.child_token());
            cut.cancel();
        }
    }
}

pub(crate) struct Faults {
    /// The main listener's gate.
    pub(crate) main: Arc<Gate>,
    /// Extra listeners opened for one client each, by name.
    doors: Mutex<BTreeMap<String, Arc<Gate>>>,
    latency: Mutex<Duration>,
    failing: Mutex<Option<u16>>,
    shutdown: CancellationToken,
}

impl Faults {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            main: Arc::new(Gate::new(shutdown.clone())),
            doors: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(Duration::ZERO),
            failing: Mutex::new(None),
            shutdown,
        }
    }

    /// The gate of the door `name`, created open; `None` if the name is taken.
    pub(crate) fn new_door(&self, name: &str) -> Option<Arc<Gate>> {
        let mut doors = self.doors.lock();
        if doors.contains_key(name) {
            return None;
        }
        let gate = Arc::new(Gate::new(self.shutdown.clone()));
        doors.insert(name.to_string(), Arc::clone(&gate));
        Some(gate)
    }

    /// Closes or opens every way in.
    pub(crate) fn set_unreachable(&self, unreachable: bool) {
        self.main.set_closed(unreachable);
        for gate in self.doors.lock().values() {
            gate.set_closed(unreachable);
        }
    }

    /// Closes or opens one door; `false` when there is no such door.
    pub(crate) fn set_door_unreachable(&self, name: &str, unreachable: bool) -> bool {
        match self.doors.lock().get(name) {
            Some(gate) => {
                gate.set_closed(unreachable);
                true
            }
            None => false,
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
