//! A stateful, wire-compatible mock of the Amazon EC2 API, for tests and demos without an AWS
//! account. It speaks the EC2 Query protocol the official SDKs and the AWS CLI send (form POST
//! to `/`, `Action=…&Version=2016-11-15`) and answers with EC2's XML and error documents.
//!
//! Layout: [`MockEc2Builder`]/[`MockEc2`] here (server, request pipeline), [`world`] (state and
//! seeding), [`query`] (request parsing), [`actions`] (the API), [`filters`], [`xml`]
//! (rendering), [`throttle`] (EC2 token buckets), [`faults`] (injected failures) and [`record`]
//! (the call log). Written from the EC2 API reference; it shares no types with any client.
//!
//! A request goes: parse → record → injected latency/fault → token bucket → IAM deny list →
//! `DryRun` → action under the world lock → XML.

pub mod actions;
pub mod error;
pub mod faults;
pub mod filters;
pub mod query;
pub mod record;
pub mod throttle;
pub mod world;
pub mod xml;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use http::header::{CONTENT_TYPE, SERVER};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::server::Running;

pub use error::{ApiError, Error};
pub use faults::{FaultSpec, Faults};
pub use record::{BudgetViolation, Call, CallLog, Outcome};
pub use throttle::{Bucket, Throttle};
pub use world::{
    Instance, InstanceState, NetworkInterface, Route, RouteOrigin, RouteState, RouteTable,
    RouteView, Subnet, Target, Vpc, World, WorldHandle,
};

use faults::{Fault, FaultState};
use query::Params;
use throttle::Buckets;

/// Largest request body accepted; EC2 Query requests are small.
const MAX_BODY: usize = 1 << 20;

/// Configures and starts a [`MockEc2`].
#[derive(Debug, Clone)]
pub struct MockEc2Builder {
    region: String,
    listen: SocketAddr,
    world: World,
    route_limit: Option<usize>,
    throttle: Throttle,
    faults: Faults,
}

impl Default for MockEc2Builder {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world: World::new(),
            route_limit: None,
            throttle: Throttle::ec2_defaults(),
            faults: Faults::none(),
        }
    }
}

impl MockEc2Builder {
    /// The region the mock claims to be (used in ARNs); `us-east-1` by default.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }
    /// Where to listen; `127.0.0.1:0` (an ephemeral port) by default.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// The initial world; empty by default.
    pub fn world(mut self, world: World) -> Self {
        self.world = world;
        self
    }
    /// Routes per table and family; overrides the world's `route_limit` (default 50).
    pub fn route_limit(mut self, limit: usize) -> Self {
        self.route_limit = Some(limit);
        self
    }
    /// Throttling; [`Throttle::ec2_defaults`] unless set ([`Throttle::off`] disables it).
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }
    /// Fault injection; none by default.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Binds the listener and starts serving in a background task.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound, [`Error::InvalidWorld`] if the world is
    /// inconsistent.
    pub async fn start(self) -> Result<MockEc2, Error> {
        let mut world = self.world;
        if let Some(limit) = self.route_limit {
            world.route_limit = limit;
        }
        world.normalise()?;
        let shared = Arc::new(Shared {
            world: WorldHandle::new(world),
            calls: CallLog::default(),
            throttle: Mutex::new((self.throttle, Buckets::default())),
            faults: Mutex::new(FaultState::new(self.faults)),
            started: Instant::now(),
            requests: AtomicU64::new(0),
        });
        let handler_shared = shared.clone();
        let server = Running::start(self.listen, "EC2", move |req, kill| {
            handle(handler_shared.clone(), kill, req)
        })
        .await
        .map_err(|source| Error::Bind {
            addr: self.listen.to_string(),
            source,
        })?;
        Ok(MockEc2 {
            region: self.region,
            shared,
            server,
        })
    }
}

/// A running mock EC2. Dropping it stops the server; [`MockEc2::shutdown`] also waits for it.
#[derive(Debug)]
pub struct MockEc2 {
    region: String,
    shared: Arc<Shared>,
    server: Running,
}

impl MockEc2 {
    /// A builder with EC2's defaults.
    pub fn builder() -> MockEc2Builder {
        MockEc2Builder::default()
    }

    /// The URL to give an SDK or the AWS CLI as its endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The region the mock was started for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The live world, to read or edit while the server runs.
    pub fn world(&self) -> WorldHandle {
        self.shared.world.clone()
    }

    /// The instant the server started: [`Call::at`] and [`Call::answered`] count from it, so
    /// tests can line calls up with other clocks (e.g. the fake API's lease history).
    pub fn started_at(&self) -> std::time::Instant {
        self.shared.started.into_std()
    }

    /// The call record.
    pub fn calls(&self) -> CallLog {
        self.shared.calls.clone()
    }

    /// The throttling in force (e.g. to replay the call record with it).
    pub fn throttle(&self) -> Throttle {
        self.shared.throttle.lock().0.clone()
    }

    /// Replaces the throttling; buckets start full.
    pub fn set_throttle(&self, throttle: Throttle) {
        *self.shared.throttle.lock() = (throttle, Buckets::default());
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
    world: WorldHandle,
    calls: CallLog,
    throttle: Mutex<(Throttle, Buckets)>,
    faults: Mutex<FaultState>,
    started: Instant,
    requests: AtomicU64,
}

impl Shared {
    /// A UUID-shaped request ID, unique per server.
    fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            n,
            0x7270,
            n & 0xfff,
            (n >> 12) & 0xfff,
            n
        )
    }
}

async fn handle(
    shared: Arc<Shared>,
    kill: CancellationToken,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let request_id = shared.request_id();
    let at = shared.started.elapsed();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::invalid_parameter_value("The request body could not be read");
            return Ok(render(Err(e), "", &request_id));
        }
    };
    // The SDKs and the CLI POST a form; a GET with a query string is accepted too.
    let raw: &[u8] = if bytes.is_empty() {
        parts.uri.query().unwrap_or_default().as_bytes()
    } else {
        &bytes
    };
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(e) => return Ok(render(Err(e), "", &request_id)),
    };
    let action = params.get("Action").unwrap_or_default().to_string();
    let mut call = Call {
        at,
        action: action.clone(),
        params: params
            .all()
            .iter()
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        outcome: Outcome::Ok,
        mutating: actions::is_known(&action) && actions::is_mutating(&action),
        narrowed: params.is_narrowed(),
        fault: None,
        access_key: access_key(&parts.headers),
        answered: at,
    };
    if !actions::is_known(&action) {
        return Ok(finish(
            &shared,
            call,
            Err(ApiError::invalid_action(&action)),
            &action,
            &request_id,
        ));
    }

    let (delay, fault) = shared.faults.lock().decide(&action);
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
            return Ok(render(
                Err(ApiError::internal_error()),
                &action,
                &request_id,
            ));
        }
        Some(Fault::InternalError) => Err(ApiError::internal_error()),
        Some(Fault::Unavailable) => Err(ApiError::unavailable()),
        Some(Fault::Throttle) => Err(ApiError::request_limit_exceeded()),
        None => process(&shared, &action, &params, at),
    };
    Ok(finish(&shared, call, result, &action, &request_id))
}

/// The access key ID of a SigV4-signed request: `Authorization: AWS4-HMAC-SHA256
/// Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=…, Signature=…`.
fn access_key(headers: &http::HeaderMap) -> Option<String> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth.split_once("Credential=")?.1;
    let key = credential.split(['/', ',']).next()?.trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The normal pipeline: bucket, IAM deny list, DryRun, then the action under the world lock.
fn process(
    shared: &Shared,
    action: &str,
    params: &Params,
    at: std::time::Duration,
) -> Result<String, ApiError> {
    {
        let mut guard = shared.throttle.lock();
        let (throttle, buckets) = &mut *guard;
        if let Some((key, bucket)) = throttle.bucket_for(action, params.is_narrowed())
            && !buckets.take(&key, bucket, at)
        {
            return Err(ApiError::request_limit_exceeded());
        }
    }
    shared.world.edit(|w| {
        if w.denied_actions.contains(action) {
            return Err(ApiError::unauthorized(&w.account_id, action));
        }
        if params.dry_run()? {
            return Err(ApiError::dry_run_operation());
        }
        actions::dispatch(action, params, w)
    })
}

fn finish(
    shared: &Shared,
    mut call: Call,
    result: Result<String, ApiError>,
    action: &str,
    request_id: &str,
) -> Response<Body> {
    call.outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Error {
            code: e.code.to_string(),
            status: e.status.as_u16(),
        },
    };
    if let Err(e) = &result {
        tracing::debug!(action, code = e.code, "mock EC2 answered with an error");
    }
    shared.calls.push(call);
    render(result, action, request_id)
}

fn render(result: Result<String, ApiError>, action: &str, request_id: &str) -> Response<Body> {
    let (status, body) = match result {
        Ok(inner) => (StatusCode::OK, xml::response(action, request_id, &inner)),
        Err(e) => (e.status, xml::error(&e, request_id)),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    headers.insert(SERVER, HeaderValue::from_static("AmazonEC2"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        // aws-sdk-ec2 reads the request ID from this header, not from the body.
        headers.insert("x-amzn-requestid", v);
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_access_key_comes_from_the_sigv4_credential() {
        let mut h = http::HeaderMap::new();
        assert_eq!(access_key(&h), None);
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIAREPLICA1/20260101/us-east-1/ec2/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(access_key(&h).as_deref(), Some("AKIAREPLICA1"));
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        assert_eq!(access_key(&h), None);
    }
}
