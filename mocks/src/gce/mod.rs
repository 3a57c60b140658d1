//! A stateful, wire-compatible mock of the Compute Engine v1 JSON REST API, for tests and demos
//! without a Google Cloud project. It serves the paths `google-cloud-compute-v1` sends
//! (`/compute/v1/projects/{project}/…`): projects, networks, zones and instances (with
//! `canIpForward` and network interfaces), global routes with the list filter syntax and
//! pagination, and global operations that go PENDING → RUNNING → DONE after a configurable
//! delay and carry asynchronous errors inside. Errors are Google's JSON error documents.
//!
//! Layout: [`MockGceBuilder`]/[`MockGce`] here (server, request pipeline), [`world`] (state
//! and seeding), [`state`] (the live handle), [`api`] (routing and methods), [`links`]
//! (self-links), [`filter`] (list filters), [`operations`], [`render`] (JSON), [`throttle`]
//! (per-minute rate quotas), [`record`] (the call log); fault injection is shared with the mock
//! EC2 ([`crate::common::faults`]). Written from the Compute API reference; it shares no types
//! with any client.
//!
//! A request goes: classify → record → injected latency/fault → query check → rate quota →
//! (`wait`: sleep until DONE) → method under the state lock → JSON.

pub mod api;
pub mod auth;
pub mod clock;
pub mod error;
pub mod filter;
pub mod links;
pub mod operations;
pub mod record;
pub mod render;
pub mod state;
pub mod throttle;
pub mod world;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::header::{CONTENT_TYPE, SERVER};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::server::Running;

pub use crate::common::faults::{FaultSpec, Faults};
pub use error::{ApiError, Error};
pub use operations::OpFailure;
pub use record::{Call, CallLog, Outcome};
pub use state::GceWorldHandle;
pub use throttle::Throttle;
pub use world::{GceWorld, Instance, Network, NetworkInterface, NextHop, Route};

use crate::common::faults::{Fault, FaultState};
use throttle::Windows;

/// Largest request body accepted; Compute requests are small.
const MAX_BODY: usize = 1 << 20;

/// Configures and starts a [`MockGce`].
#[derive(Debug, Clone)]
pub struct MockGceBuilder {
    project: Option<String>,
    listen: SocketAddr,
    world: GceWorld,
    op_delay: Duration,
    route_quota: Option<usize>,
    throttle: Throttle,
    faults: Faults,
    throttle_both_forms: bool,
}

impl Default for MockGceBuilder {
    fn default() -> Self {
        Self {
            project: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world: GceWorld::new(),
            op_delay: Duration::ZERO,
            route_quota: None,
            throttle: Throttle::gce_defaults(),
            faults: Faults::none(),
            throttle_both_forms: false,
        }
    }
}

impl MockGceBuilder {
    /// The project id the mock serves; overrides the world's (default `demo-project`).
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }
    /// Where to listen; `127.0.0.1:0` (an ephemeral port) by default.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// The initial world; empty by default.
    pub fn world(mut self, world: GceWorld) -> Self {
        self.world = world;
        self
    }
    /// How long an operation takes from insert/delete to DONE (RUNNING after half of it);
    /// zero (the default) answers DONE at once.
    pub fn op_delay(mut self, delay: Duration) -> Self {
        self.op_delay = delay;
        self
    }
    /// Routes per network; overrides the world's `route_quota` (default 250).
    pub fn route_quota(mut self, quota: usize) -> Self {
        self.route_quota = Some(quota);
        self
    }
    /// Rate quotas; [`Throttle::gce_defaults`] unless set ([`Throttle::off`] disables them).
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }
    /// Fault injection, keyed by API method (`compute.routes.insert`); none by default.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Injected throttles alternate between 429 and the answer GCE gives for a spent rate
    /// quota (403 `rateLimitExceeded`), so a client meets both forms; 429 only by default.
    pub fn throttle_both_forms(mut self, both: bool) -> Self {
        self.throttle_both_forms = both;
        self
    }

    /// Binds the listener and starts serving in a background task.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound, [`Error::InvalidWorld`] if the world is
    /// inconsistent.
    pub async fn start(self) -> Result<MockGce, Error> {
        let mut world = self.world;
        if let Some(project) = self.project {
            world.project = project;
            world.project_number = 0;
        }
        if let Some(quota) = self.route_quota {
            world.route_quota = quota;
        }
        world.normalise()?;
        let started = Instant::now();
        let shared = Arc::new(Shared {
            world: GceWorldHandle::new(world, self.op_delay, started),
            calls: CallLog::default(),
            throttle: Mutex::new((self.throttle, Windows::default())),
            faults: Mutex::new(FaultState::new(self.faults)),
            started,
            throttle_both_forms: self.throttle_both_forms,
            throttles_injected: AtomicU64::new(0),
        });
        let handler_shared = shared.clone();
        let server = Running::start(self.listen, "GCE", move |req, kill| {
            handle(handler_shared.clone(), kill, req)
        })
        .await
        .map_err(|source| Error::Bind {
            addr: self.listen.to_string(),
            source,
        })?;
        Ok(MockGce { shared, server })
    }
}

/// A running mock GCE. Dropping it stops the server; [`MockGce::shutdown`] also waits for it.
#[derive(Debug)]
pub struct MockGce {
    shared: Arc<Shared>,
    server: Running,
}

impl MockGce {
    /// A builder with GCE's defaults.
    pub fn builder() -> MockGceBuilder {
        MockGceBuilder::default()
    }

    /// The URL to give a client as its endpoint (`--gce-endpoint`), e.g.
    /// `http://127.0.0.1:41234`; the client appends `/compute/v1/…`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The project the mock serves.
    pub fn project(&self) -> String {
        self.shared.world.read(|w| w.project.clone())
    }

    /// The full URL GCE uses for an instance, as `nextHopInstance` carries it.
    pub fn instance_url(&self, zone: &str, name: &str) -> String {
        links::url(&format!(
            "projects/{}/zones/{zone}/instances/{name}",
            self.project()
        ))
    }

    /// The full URL GCE uses for a network.
    pub fn network_url(&self, network: &str) -> String {
        links::url(&format!(
            "projects/{}/global/networks/{network}",
            self.project()
        ))
    }

    /// The live world, to read or edit while the server runs.
    pub fn world(&self) -> GceWorldHandle {
        self.shared.world.clone()
    }

    /// The call record.
    pub fn calls(&self) -> CallLog {
        self.shared.calls.clone()
    }

    /// The instant the server started: [`Call::at`] counts from it.
    pub fn started_at(&self) -> std::time::Instant {
        self.shared.started.into_std()
    }

    /// The rate quotas in force.
    pub fn throttle(&self) -> Throttle {
        self.shared.throttle.lock().0.clone()
    }

    /// Replaces the rate quotas; the current interval's counts start at zero.
    pub fn set_throttle(&self, throttle: Throttle) {
        *self.shared.throttle.lock() = (throttle, Windows::default());
    }

    /// Replaces the fault plan (its RNG restarts from the plan's seed).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock() = FaultState::new(faults);
    }

    /// Stops the server and waits for it.
    ///
    /// # Errors
    /// [`Error::Server`] if the server task panicked.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.server.stop().await.map_err(Error::Server)
    }
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    world: GceWorldHandle,
    calls: CallLog,
    throttle: Mutex<(Throttle, Windows)>,
    faults: Mutex<FaultState>,
    started: Instant,
    throttle_both_forms: bool,
    throttles_injected: AtomicU64,
}

async fn handle(
    shared: Arc<Shared>,
    kill: CancellationToken,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let at = shared.started.elapsed();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query().unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .collect();
    let classified = api::classify(parts.method.as_str(), &path);
    let method = classified.as_ref().map_or("unknown", |r| r.method);
    let mut call = Call {
        at,
        answered: at,
        method: method.to_string(),
        http_method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        outcome: Outcome::Ok,
        mutating: api::is_mutating(method),
        fault: None,
        operation: None,
        op_status: None,
        principal: auth::principal(&parts.headers),
        body: None,
    };
    let Some(request) = classified else {
        let e = ApiError::unknown_path(parts.method.as_str(), &path);
        return Ok(finish(&shared, call, Err(e)));
    };
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::invalid("The request body could not be read");
            return Ok(finish(&shared, call, Err(e)));
        }
    };
    if call.mutating {
        call.body = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    let _in_flight = shared.calls.begin(method);
    let _polling = matches!(
        method,
        "compute.globalOperations.get" | "compute.globalOperations.wait"
    )
    .then(|| shared.calls.begin(record::POLL));

    let (delay, fault) = shared.faults.lock().decide(method);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    call.fault = fault.map(Fault::name);
    call.answered = shared.started.elapsed();
    let result = match fault {
        Some(Fault::Drop) => {
            call.outcome = Outcome::Dropped;
            shared.calls.push(call);
            kill.cancel();
            return std::future::pending().await;
        }
        Some(Fault::Timeout(hang)) => {
            call.outcome = Outcome::Hung;
            shared.calls.push(call);
            tokio::time::sleep(hang).await;
            return Ok(render(Err(ApiError::backend_error())));
        }
        Some(Fault::InternalError) => Err(ApiError::backend_error()),
        Some(Fault::Unavailable) => Err(ApiError::unavailable()),
        Some(Fault::Throttle) => Err(injected_throttle(&shared, method)),
        None => process(&shared, &request, &query, &bytes).await,
    };
    call.answered = shared.started.elapsed();
    if let Ok(reply) = &result {
        call.operation.clone_from(&reply.operation);
        call.op_status = reply.op_status;
    }
    Ok(finish(&shared, call, result.map(|r| r.body)))
}

/// An injected throttle: 429, or every other one the 403 of a spent rate quota.
fn injected_throttle(shared: &Shared, method: &str) -> ApiError {
    let n = shared.throttles_injected.fetch_add(1, Ordering::Relaxed);
    if shared.throttle_both_forms && n % 2 == 1 {
        let group = Throttle::group_of(method).unwrap_or(throttle::QUERIES);
        ApiError::rate_limit_exceeded(
            group,
            &format!("{group} per minute"),
            &shared.world.read(|w| w.project_number.to_string()),
        )
    } else {
        ApiError::too_many_requests()
    }
}

/// The normal pipeline: query check, rate quota, `wait`'s sleep, then the method.
async fn process(
    shared: &Shared,
    request: &api::Request,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Result<api::Reply, ApiError> {
    api::check_params(request.method, query)?;
    {
        let at = shared.started.elapsed();
        let mut guard = shared.throttle.lock();
        let (throttle, windows) = &mut *guard;
        if let Some(group) = windows.take(throttle, request.method, at) {
            let limit = format!("{group} per minute");
            return Err(ApiError::rate_limit_exceeded(
                group,
                &limit,
                &shared.world.read(|w| w.project_number.to_string()),
            ));
        }
    }
    if request.method == "compute.globalOperations.wait"
        && let Some(name) = request.args.first()
    {
        let wait = shared
            .world
            .with_state(|s, now| api::wait_time(s, now, name));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    shared
        .world
        .with_state(|s, now| api::dispatch(s, now, request, query, body))
}

fn finish(shared: &Shared, mut call: Call, result: Result<Value, ApiError>) -> Response<Body> {
    call.outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Error {
            status: e.status.as_u16(),
            reason: e.reason.to_string(),
        },
    };
    if let Err(e) = &result {
        tracing::debug!(method = %call.method, reason = e.reason, "mock GCE answered with an error");
    }
    shared.calls.push(call);
    render(result)
}

fn render(result: Result<Value, ApiError>) -> Response<Body> {
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (e.status, e.body()),
    };
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    headers.insert(SERVER, HeaderValue::from_static("ESF"));
    resp
}
