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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::header::{CONTENT_TYPE, SERVER};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::mock::{Cloud, Mock, MockBuilder};

pub use crate::common::faults::{FaultSpec, Faults};
pub use error::{ApiError, Error};
pub use operations::OpFailure;
pub use record::{Call, CallLog, Outcome};
pub use state::GceWorldHandle;
pub use throttle::Throttle;
pub use world::{GceWorld, Instance, Network, NetworkInterface, NextHop, Route};

use crate::common::faults::Fault;
use throttle::Windows;

/// Largest request body accepted; Compute requests are small.
const MAX_BODY: usize = 1 << 20;

/// The mock GCE's types in the builder and server handle the mock clouds share.
#[derive(Debug, Clone, Copy)]
pub enum Gce {}

impl Cloud for Gce {
    const NAME: &'static str = "GCE";
    type World = GceWorld;
    type WorldHandle = GceWorldHandle;
    type Calls = CallLog;
    type Throttle = Throttle;
    type Usage = Windows;
    type Settings = GceSettings;
    type State = GceState;
}

/// Configures and starts a [`MockGce`]; the setters it shares with the mock EC2 are on
/// [`MockBuilder`].
pub type MockGceBuilder = MockBuilder<Gce>;

/// A running mock GCE. Dropping it stops the server; [`Mock::shutdown`] also waits for it.
pub type MockGce = Mock<Gce>;

/// What only a [`MockGceBuilder`] sets: the project, the operation delay, the route quota and
/// the form of injected throttles.
#[derive(Debug, Clone)]
pub struct GceSettings {
    project: Option<String>,
    op_delay: Duration,
    route_quota: Option<usize>,
    throttle_both_forms: bool,
}

/// What only a running [`MockGce`] keeps: how injected throttles answer.
#[derive(Debug)]
pub struct GceState {
    throttle_both_forms: bool,
    throttles_injected: AtomicU64,
}

impl Default for MockGceBuilder {
    fn default() -> Self {
        MockBuilder::new(
            GceWorld::new(),
            Throttle::gce_defaults(),
            GceSettings {
                project: None,
                op_delay: Duration::ZERO,
                route_quota: None,
                throttle_both_forms: false,
            },
        )
    }
}

impl MockGceBuilder {
    /// The project id the mock serves; overrides the world's (default `demo-project`).
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.settings.project = Some(project.into());
        self
    }
    /// How long an operation takes from insert/delete to DONE (RUNNING after half of it);
    /// zero (the default) answers DONE at once.
    pub fn op_delay(mut self, delay: Duration) -> Self {
        self.settings.op_delay = delay;
        self
    }
    /// Routes per network; overrides the world's `route_quota` (default 250).
    pub fn route_quota(mut self, quota: usize) -> Self {
        self.settings.route_quota = Some(quota);
        self
    }

    /// Injected throttles alternate between 429 and the answer GCE gives for a spent rate
    /// quota (403 `rateLimitExceeded`), so a client meets both forms; 429 only by default.
    pub fn throttle_both_forms(mut self, both: bool) -> Self {
        self.settings.throttle_both_forms = both;
        self
    }

    /// Binds the listener and starts serving in a background task.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound, [`Error::InvalidWorld`] if the world is
    /// inconsistent.
    pub async fn start(self) -> Result<MockGce, Error> {
        let mut world = self.world;
        if let Some(project) = self.settings.project {
            world.project = project;
            world.project_number = 0;
        }
        if let Some(quota) = self.settings.route_quota {
            world.route_quota = quota;
        }
        world.normalise()?;
        let started = Instant::now();
        let world = GceWorldHandle::new(world, self.settings.op_delay, started);
        let state = GceState {
            throttle_both_forms: self.settings.throttle_both_forms,
            throttles_injected: AtomicU64::new(0),
        };
        let shared = Shared::new(world, self.throttle, self.faults, started, state);
        Mock::serve(self.listen, shared, handle).await
    }
}

impl MockGce {
    /// A builder with GCE's defaults.
    pub fn builder() -> MockGceBuilder {
        MockGceBuilder::default()
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
}

type Shared = crate::common::mock::Shared<Gce>;

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

    let fault = shared.injected(method).await;
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
    let n = shared
        .state
        .throttles_injected
        .fetch_add(1, Ordering::Relaxed);
    if shared.state.throttle_both_forms && n % 2 == 1 {
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
