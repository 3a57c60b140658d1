//! The builder and the running handle every mock cloud shares. A cloud names its types once
//! ([`Cloud`]) and adds only what is its own in inherent impls (`impl MockBuilder<Ec2>`:
//! `region`, `start`), so `MockEc2Builder`/`MockEc2` and `MockGceBuilder`/`MockGce` are these
//! two types and the setters and accessors they have in common are written here, once.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::faults::{Fault, FaultState, Faults};
use super::server::Running;

/// One mock cloud's types, as the shared builder and server handle use them.
pub trait Cloud: fmt::Debug + Clone + Send + Sync + 'static {
    /// The cloud's name in logs, e.g. `EC2`.
    const NAME: &'static str;
    /// What the server starts from.
    type World: fmt::Debug + Clone;
    /// The live world, which tests read and edit while the server runs.
    type WorldHandle: fmt::Debug + Clone + Send + Sync;
    /// The call record.
    type Calls: fmt::Debug + Clone + Default + Send + Sync;
    /// The throttling in force.
    type Throttle: fmt::Debug + Clone + Send;
    /// What the throttling has used up; its default is nothing used.
    type Usage: fmt::Debug + Default + Send;
    /// The cloud's own builder settings.
    type Settings: fmt::Debug + Clone;
    /// The cloud's own server state.
    type State: fmt::Debug + Send + Sync;
}

/// Configures and starts a mock cloud: where it listens, the world it starts from, its
/// throttling and fault plan, plus the cloud's own settings.
#[derive(Debug, Clone)]
pub struct MockBuilder<C: Cloud> {
    pub(crate) listen: SocketAddr,
    pub(crate) world: C::World,
    pub(crate) throttle: C::Throttle,
    pub(crate) faults: Faults,
    pub(crate) settings: C::Settings,
}

impl<C: Cloud> MockBuilder<C> {
    /// A builder on `127.0.0.1:0` with no faults.
    pub(crate) fn new(world: C::World, throttle: C::Throttle, settings: C::Settings) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world,
            throttle,
            faults: Faults::none(),
            settings,
        }
    }

    /// Where to listen; `127.0.0.1:0` (an ephemeral port) by default.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The initial world; empty by default.
    pub fn world(mut self, world: C::World) -> Self {
        self.world = world;
        self
    }

    /// Throttling; the cloud's documented limits unless set (`Throttle::off` disables it).
    pub fn throttle(mut self, throttle: C::Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Fault injection, keyed by the cloud's operation name (`CreateRoute`,
    /// `compute.routes.insert`); none by default.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

/// What every connection of a running mock shares.
#[derive(Debug)]
pub(crate) struct Shared<C: Cloud> {
    pub(crate) world: C::WorldHandle,
    pub(crate) calls: C::Calls,
    pub(crate) throttle: Mutex<(C::Throttle, C::Usage)>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) started: Instant,
    pub(crate) state: C::State,
}

impl<C: Cloud> Shared<C> {
    /// The state a server starts with: an empty call record and nothing used up.
    pub(crate) fn new(
        world: C::WorldHandle,
        throttle: C::Throttle,
        faults: Faults,
        started: Instant,
        state: C::State,
    ) -> Self {
        Self {
            world,
            calls: C::Calls::default(),
            throttle: Mutex::new((throttle, C::Usage::default())),
            faults: Mutex::new(FaultState::new(faults)),
            started,
            state,
        }
    }

    /// Applies the fault plan to one request for `operation`: waits out the injected latency
    /// and returns the fault to answer with, if any.
    pub(crate) async fn injected(&self, operation: &str) -> Option<Fault> {
        let (delay, fault) = self.faults.lock().decide(operation);
        if delay > Duration::ZERO {
            tokio::time::sleep(delay).await;
        }
        fault
    }
}

/// A running mock cloud. Dropping it stops the server; [`Mock::shutdown`] also waits for it.
#[derive(Debug)]
pub struct Mock<C: Cloud> {
    pub(crate) shared: Arc<Shared<C>>,
    server: Running,
}

impl<C: Cloud> Mock<C> {
    /// Binds `listen` and answers every request with `handle`.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound.
    pub(crate) async fn serve<H, F>(
        listen: SocketAddr,
        shared: Shared<C>,
        handle: H,
    ) -> Result<Self, Error>
    where
        H: Fn(Arc<Shared<C>>, CancellationToken, Request<Incoming>) -> F
            + Clone
            + Send
            + Sync
            + 'static,
        F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
    {
        let shared = Arc::new(shared);
        let handler_shared = shared.clone();
        let server = Running::start(listen, C::NAME, move |req, kill| {
            handle(handler_shared.clone(), kill, req)
        })
        .await
        .map_err(|source| Error::Bind {
            addr: listen.to_string(),
            source,
        })?;
        Ok(Self { shared, server })
    }

    /// The URL to give a client as its endpoint (an SDK, the AWS CLI, routeplane's
    /// `--gce-endpoint`), e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The live world, to read or edit while the server runs.
    pub fn world(&self) -> C::WorldHandle {
        self.shared.world.clone()
    }

    /// The call record.
    pub fn calls(&self) -> C::Calls {
        self.shared.calls.clone()
    }

    /// The instant the server started: the call record's times count from it, so tests can
    /// line calls up with other clocks (e.g. the fake API's lease history).
    pub fn started_at(&self) -> std::time::Instant {
        self.shared.started.into_std()
    }

    /// The throttling in force (e.g. to replay the call record with it).
    pub fn throttle(&self) -> C::Throttle {
        self.shared.throttle.lock().0.clone()
    }

    /// Replaces the throttling; nothing is used up yet (EC2's buckets start full, GCE's
    /// per-minute counts at zero).
    pub fn set_throttle(&self, throttle: C::Throttle) {
        *self.shared.throttle.lock() = (throttle, C::Usage::default());
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
