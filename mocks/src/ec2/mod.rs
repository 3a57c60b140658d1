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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use http::header::{CONTENT_TYPE, SERVER};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::mock::{Cloud, Mock, MockBuilder};

pub use error::{ApiError, Error};
pub use faults::{FaultSpec, Faults};
pub use record::{BudgetViolation, Call, CallLog, Outcome};
pub use throttle::{Bucket, Throttle};
pub use world::{
    Instance, InstanceState, NetworkInterface, Route, RouteOrigin, RouteState, RouteTable,
    RouteView, Subnet, Target, Vpc, World, WorldHandle,
};

use faults::Fault;
use query::Params;
use throttle::Buckets;

/// Largest request body accepted; EC2 Query requests are small.
const MAX_BODY: usize = 1 << 20;

/// The mock EC2's types in the builder and server handle the mock clouds share.
#[derive(Debug, Clone, Copy)]
pub enum Ec2 {}

impl Cloud for Ec2 {
    const NAME: &'static str = "EC2";
    type World = World;
    type WorldHandle = WorldHandle;
    type Calls = CallLog;
    type Throttle = Throttle;
    type Usage = Buckets;
    type Settings = Ec2Settings;
    type State = Ec2State;
}

/// Configures and starts a [`MockEc2`]; the setters it shares with the mock GCE are on
/// [`MockBuilder`].
pub type MockEc2Builder = MockBuilder<Ec2>;

/// A running mock EC2. Dropping it stops the server; [`Mock::shutdown`] also waits for it.
pub type MockEc2 = Mock<Ec2>;

/// What only a [`MockEc2Builder`] sets: the region and the route limit.
#[derive(Debug, Clone)]
pub struct Ec2Settings {
    region: String,
    route_limit: Option<usize>,
}

/// What only a running [`MockEc2`] keeps: its region and the request ID counter.
#[derive(Debug)]
pub struct Ec2State {
    region: String,
    requests: AtomicU64,
}

impl Ec2State {
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

impl Default for MockEc2Builder {
    fn default() -> Self {
        MockBuilder::new(
            World::new(),
            Throttle::ec2_defaults(),
            Ec2Settings {
                region: "us-east-1".into(),
                route_limit: None,
            },
        )
    }
}

impl MockEc2Builder {
    /// The region the mock claims to be (used in ARNs); `us-east-1` by default.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.settings.region = region.into();
        self
    }
    /// Routes per table and family; overrides the world's `route_limit` (default 50).
    pub fn route_limit(mut self, limit: usize) -> Self {
        self.settings.route_limit = Some(limit);
        self
    }

    /// Binds the listener and starts serving in a background task.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound, [`Error::InvalidWorld`] if the world is
    /// inconsistent.
    pub async fn start(self) -> Result<MockEc2, Error> {
        let mut world = self.world;
        if let Some(limit) = self.settings.route_limit {
            world.route_limit = limit;
        }
        world.normalise()?;
        let state = Ec2State {
            region: self.settings.region,
            requests: AtomicU64::new(0),
        };
        let shared = Shared::new(
            WorldHandle::new(world),
            self.throttle,
            self.faults,
            Instant::now(),
            state,
        );
        Mock::serve(self.listen, shared, handle).await
    }
}

impl MockEc2 {
    /// A builder with EC2's defaults.
    pub fn builder() -> MockEc2Builder {
        MockEc2Builder::default()
    }

    /// The region the mock was started for.
    pub fn region(&self) -> &str {
        &self.shared.state.region
    }
}

type Shared = crate::common::mock::Shared<Ec2>;

async fn handle(
    shared: Arc<Shared>,
    kill: CancellationToken,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let request_id = shared.state.request_id();
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

    let fault = shared.injected(&action).await;
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
