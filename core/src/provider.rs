//! The provider contract (`RouteProvider`): the only way the controller touches a cloud. Each
//! cloud crate (`routeplane-aws`, `routeplane-gce`) implements it on its official SDK; the
//! in-memory provider in [`crate::testing`] implements it for tests. Nothing from an SDK crosses
//! this trait: errors arrive classified, so the controller can decide retry versus report.

use std::future::Future;
use std::time::Duration;

use crate::model::{Cloud, CloudRoute, DesiredRoute, RouteSnapshot, RouteState};
use crate::provider_id::InstanceRef;

/// The classes of provider failure the controller acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The cloud asked us to slow down (EC2 `RequestLimitExceeded`, GCE `rateLimitExceeded`).
    Throttled,
    /// A route quota is exhausted (EC2 `RouteLimitExceeded`, GCE `QUOTA_EXCEEDED`).
    Quota,
    /// The route exists with something else in it (EC2 `RouteAlreadyExists`, GCE 409).
    Conflict,
    /// The table, route or instance is gone.
    NotFound,
    /// Credentials missing or a permission denied.
    Auth,
    /// 5xx, timeouts, dropped connections: worth retrying.
    Transient,
    /// The request itself is wrong; retrying will not help.
    Invalid,
}

impl ErrorKind {
    /// Bounded metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::Quota => "quota",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Auth => "auth",
            ErrorKind::Transient => "transient",
            ErrorKind::Invalid => "invalid",
        }
    }

    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Conflict
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified provider failure, with the cloud's own words in `message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    /// The cloud's error code (`RouteLimitExceeded`, `QUOTA_EXCEEDED`…), when it gave one.
    pub code: Option<String>,
    /// A hint to wait this long before the next attempt (throttling).
    pub retry_after: Option<Duration>,
    /// The `NetworkUnavailable` reason (and Event reason) to show for the node instead of the
    /// generic one, when the failure has a name users look for (`IpForwardingDisabled`).
    pub condition_reason: Option<&'static str>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
            retry_after: None,
            condition_reason: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Names the node condition this failure should show (see [`Self::condition_reason`]).
    pub fn with_condition_reason(mut self, reason: &'static str) -> Self {
        self.condition_reason = Some(reason);
        self
    }

    pub fn kind(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// Operations on cloud routes. Implementations must keep every call under a timeout (the
/// controller adds its own as a backstop) and never block the executor.
///
/// # Idempotency
/// `create_route` of a route that already exists with the same target, and `delete_route` of a
/// route that is already gone, succeed.
///
/// # Cancellation
/// Every method is cancel-safe: dropping the future leaves the cloud either unchanged or with the
/// call fully applied; the next pass's list shows which.
pub trait RouteProvider: Send + Sync + 'static {
    /// The cloud this provider programs; nodes of another cloud are unroutable.
    fn cloud(&self) -> Cloud;

    /// The managed tables and every route in them, one list per table (or per network).
    /// `nodes` lets providers that derive tables from the nodes' subnets find them.
    ///
    /// # Errors
    /// A classified [`ProviderError`]; the pass is retried after backoff.
    fn list_routes(
        &self,
        nodes: &[InstanceRef],
    ) -> impl Future<Output = Result<RouteSnapshot, ProviderError>> + Send;

    /// Creates `route` (absent from the cloud at listing time).
    ///
    /// # Errors
    /// `Quota` when the table is full, `Conflict` when another route took the destination.
    fn create_route(
        &self,
        route: &DesiredRoute,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Points `existing` (a wrong target or a blackhole) at `route`'s target. Returns how long
    /// the destination had no route at all: zero where the cloud replaces in place (AWS), the
    /// time between delete and insert where routes are immutable (GCE).
    ///
    /// # Errors
    /// As for `create_route`.
    fn replace_route(
        &self,
        existing: &CloudRoute,
        route: &DesiredRoute,
    ) -> impl Future<Output = Result<Duration, ProviderError>> + Send;

    /// Deletes a stale route.
    ///
    /// # Errors
    /// A classified [`ProviderError`]; `NotFound` is treated as success by callers.
    fn delete_route(
        &self,
        route: &CloudRoute,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Whether a pass woken by a Node event may plan from the last listing plus this process's
    /// own successful writes instead of listing again (the resync still lists, and so does any
    /// pass after a failed write or in a new lease term). Worth it where a list is costly and
    /// tells nothing a write did not: on GCE it pages through the whole network, 11 calls at
    /// 5,000 routes. Default `false`: list on every pass (AWS, whose list also discovers the
    /// tables of new nodes' subnets and describes their instances).
    fn reuses_listing(&self) -> bool {
        false
    }

    /// The route as [`Self::list_routes`] would show it right after `create_route(route)` (or a
    /// replace to `route`) succeeded. Only called when [`Self::reuses_listing`] is true.
    fn route_as_listed(&self, route: &DesiredRoute) -> CloudRoute {
        CloudRoute {
            table: route.table.clone(),
            destination: route.destination.trunc(),
            target: route.route_target(),
            state: RouteState::Active,
            name: None,
            claimed: true,
        }
    }

    /// Makes sure the instance may forward packets that are not addressed to it (AWS: source/dest
    /// check off on the ENI; GCE: canIpForward must be on). Called before the first route to an
    /// instance; implementations cache the answer.
    ///
    /// # Errors
    /// `Invalid` with a clear message when the instance cannot forward and we cannot fix it.
    fn ensure_forwarding(
        &self,
        target: &InstanceRef,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
