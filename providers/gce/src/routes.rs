//! The route calls: one paginated, filtered `routes.list` per listing pass, and the writes
//! `routes.insert` / `routes.delete`, each answered with an Operation that is waited on
//! ([`crate::operations`]).
//!
//! - Every write carries a fresh `requestId` (GCE's idempotency key): a request retried after a
//!   timeout is applied once. An operation that fails *asynchronously* with a retryable error
//!   (`INTERNAL_ERROR`, rate exceeded) is re-sent with a new id, with jittered backoff.
//! - Insert is idempotent: a 409 (or `RESOURCE_ALREADY_EXISTS` in the operation) is resolved by
//!   reading the route back. Ours with the same target is success; anything else a conflict.
//! - Delete of a route that is already gone is success.

use google_cloud_compute_v1::model::{Operation, Route};
use ipnet::IpNet;
use rand::Rng;
use routeplane_core::provider::{ErrorKind, ProviderError};

use crate::call::Compute;
use crate::method::Method;
use crate::operations::Waiter;
use crate::urls::key_of;

/// Page size of `routes.list` (GCE allows up to 500).
const PAGE_SIZE: u32 = 500;

/// What the route calls share: the clients, the operation waiter and the routes' project.
pub struct RouteCalls<'a> {
    pub compute: &'a Compute,
    pub waiter: &'a Waiter,
    pub project: &'a str,
}

impl RouteCalls<'_> {
    /// Every route matching `filter`, over all pages.
    ///
    /// # Errors
    /// The classified failure of a page.
    pub async fn list(&self, filter: &str) -> Result<Vec<Route>, ProviderError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .compute
                .call(Method::RoutesList, self.project, || {
                    self.compute
                        .routes
                        .list()
                        .set_project(self.project)
                        .set_filter(filter)
                        .set_max_results(PAGE_SIZE)
                        .set_or_clear_page_token(token.clone())
                        .send()
                })
                .await?;
            out.extend(page.items);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The route called `name`, or `None`.
    ///
    /// # Errors
    /// A classified failure other than the route being absent.
    pub async fn get(&self, name: &str) -> Result<Option<Route>, ProviderError> {
        let got = self
            .compute
            .call(Method::RoutesGet, name, || {
                self.compute
                    .routes
                    .get()
                    .set_project(self.project)
                    .set_route(name)
                    .send()
            })
            .await;
        match got {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Inserts `route` and waits for it; an existing identical route is success.
    ///
    /// # Errors
    /// `Quota`, `Conflict` (the name is taken by a different route), or another classified
    /// failure.
    pub async fn insert(&self, route: &Route) -> Result<(), ProviderError> {
        let name = route.name.clone().unwrap_or_default();
        let sent = self
            .mutate(Method::RoutesInsert, &name, |request_id| {
                self.compute
                    .routes
                    .insert()
                    .set_project(self.project)
                    .set_request_id(request_id)
                    .set_body(route.clone())
                    .send()
            })
            .await;
        match sent {
            Err(e) if e.kind == ErrorKind::Conflict => match self.get(&name).await? {
                Some(now) if same_route(&now, route) => Ok(()),
                Some(now) => Err(ProviderError {
                    message: format!(
                        "route {name} already exists as {} → {} ({}), not {} → {}",
                        now.dest_range.as_deref().unwrap_or("?"),
                        describe_next_hop(&now),
                        now.description.as_deref().unwrap_or("no description"),
                        route.dest_range.as_deref().unwrap_or("?"),
                        describe_next_hop(route),
                    ),
                    ..e
                }),
                // Gone again between the two calls: the next pass creates it.
                None => Err(e),
            },
            other => other,
        }
    }

    /// Deletes the route called `name` and waits; already gone is success.
    ///
    /// # Errors
    /// A classified failure other than the route being gone.
    pub async fn delete(&self, name: &str) -> Result<(), ProviderError> {
        let sent = self
            .mutate(Method::RoutesDelete, name, |request_id| {
                self.compute
                    .routes
                    .delete()
                    .set_project(self.project)
                    .set_route(name)
                    .set_request_id(request_id)
                    .send()
            })
            .await;
        match sent {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Sends a write (retried per request by the call path) and waits for its operation. An
    /// operation that ends in a retryable error is sent again under a new request id; one that
    /// is still running at the deadline is not (the next pass's list shows its result).
    async fn mutate<F, Fut>(
        &self,
        method: Method,
        resource: &str,
        send: F,
    ) -> Result<(), ProviderError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = google_cloud_compute_v1::Result<Operation>>,
    {
        let policy = self.compute.caller().retry_policy();
        let mut attempt = 0;
        loop {
            let request_id = new_request_id();
            let op = self
                .compute
                .call(method, resource, || send(request_id.clone()))
                .await?;
            match self.waiter.wait(self.compute, method, resource, op).await {
                Ok(()) => return Ok(()),
                Err(e)
                    if matches!(e.kind, ErrorKind::Transient | ErrorKind::Throttled)
                        && e.code.as_deref() != Some("OperationTimeout")
                        && attempt + 1 < policy.max_attempts =>
                {
                    tracing::debug!(%method, resource, error = %e, "operation failed; sending the write again");
                    let wait = e.retry_after.unwrap_or_default().max(policy.delay(attempt));
                    routeplane_core::slot::idle(tokio::time::sleep(wait)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether two routes have the same destination, next hop, network and description.
fn same_route(a: &Route, b: &Route) -> bool {
    let dest = |r: &Route| {
        r.dest_range
            .as_deref()
            .and_then(|d| d.parse::<IpNet>().ok())
    };
    let hop = |r: &Route| {
        r.next_hop_instance
            .as_deref()
            .and_then(key_of)
            .map(str::to_string)
    };
    let net = |r: &Route| r.network.as_deref().and_then(key_of).map(str::to_string);
    dest(a).is_some()
        && dest(a) == dest(b)
        && hop(a).is_some()
        && hop(a) == hop(b)
        && net(a) == net(b)
        && a.description == b.description
}

/// The next hop of a route, for messages and for foreign targets.
pub fn describe_next_hop(r: &Route) -> String {
    let hops = [
        ("instance", &r.next_hop_instance),
        ("ip", &r.next_hop_ip),
        ("gateway", &r.next_hop_gateway),
        ("vpn-tunnel", &r.next_hop_vpn_tunnel),
        ("ilb", &r.next_hop_ilb),
        ("peering", &r.next_hop_peering),
        ("network", &r.next_hop_network),
    ];
    hops.iter()
        .find_map(|(kind, v)| {
            v.as_deref()
                .map(|v| format!("{kind}:{}", key_of(v).unwrap_or(v)))
        })
        .unwrap_or_else(|| "no next hop".into())
}

/// A random (version 4) UUID: GCE's `requestId` format.
fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dest: &str, hop: &str) -> Route {
        Route::new()
            .set_dest_range(dest)
            .set_next_hop_instance(hop)
            .set_network("https://www.googleapis.com/compute/v1/projects/p/global/networks/n")
            .set_description("routeplane:c1")
    }

    #[test]
    fn read_back_compares_keys_not_url_spelling() {
        let a = route(
            "10.244.1.0/24",
            "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/n1",
        );
        let b = route("10.244.1.0/24", "projects/p/zones/z/instances/n1");
        assert!(same_route(&a, &b));
        assert!(!same_route(
            &a,
            &route("10.244.1.0/24", "projects/p/zones/z/instances/n2")
        ));
        assert!(!same_route(
            &a,
            &route("10.244.2.0/24", "projects/p/zones/z/instances/n1")
        ));
        let foreign = b.clone().set_description("someone else");
        assert!(!same_route(&a, &foreign));
    }

    #[test]
    fn next_hops_are_described_by_kind() {
        let r = Route::new().set_next_hop_gateway(
            "https://www.googleapis.com/compute/v1/projects/p/global/gateways/default-internet-gateway",
        );
        assert_eq!(
            describe_next_hop(&r),
            "gateway:projects/p/global/gateways/default-internet-gateway"
        );
        assert_eq!(
            describe_next_hop(&Route::new().set_next_hop_ip("10.0.0.5")),
            "ip:10.0.0.5"
        );
    }

    #[test]
    fn request_ids_are_v4_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }
}
