//! [`GceProvider`]: routeplane's [`RouteProvider`] for GCE VPC routes. It wires the pieces
//! together: names and ownership ([`crate::naming`]), the route calls ([`crate::routes`]),
//! operation waits ([`crate::operations`]) and instance facts ([`crate::instances`]), all through
//! the budgeted, timed, retried call path ([`crate::call`]).
//!
//! Cost model: one paginated `routes.list` per listing pass (the resync; Node events plan from
//! the last listing, see [`RouteProvider::reuses_listing`]), filtered on the network (so foreign
//! routes at a node's Pod CIDR are seen and reported; one page per 500 routes in the network);
//! one `instances.get` per instance, ever (it may forward, so the answer is kept); per route
//! that must change, one write plus the polls of its operation (a few, spaced out; at most
//! `--gce-max-polls` in flight). A wrong route costs a delete and an insert: GCE routes cannot be
//! updated.

use std::collections::BTreeMap;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use google_cloud_compute_v1::client::{Instances, Networks, Routes};
use google_cloud_compute_v1::model::Route;
use google_cloud_gax::retry_policy::NeverRetry;
use ipnet::IpNet;
use routeplane_core::call::Caller;
use routeplane_core::error::causes;
use routeplane_core::model::{
    Cloud, CloudRoute, DesiredRoute, RouteSnapshot, RouteState, RouteTarget, TableId, TableInfo,
};
use routeplane_core::provider::{ErrorKind, ProviderError, RouteProvider};
use routeplane_core::provider_id::InstanceRef;
use tokio::time::Instant;

use crate::call::Compute;
use crate::config::{GceConfig, parse_network};
use crate::error::GceError;
use crate::instances::InstanceCache;
use crate::metadata;
use crate::method::Method;
use crate::naming::RouteNaming;
use crate::operations::{PollPolicy, Waiter};
use crate::routes::{RouteCalls, describe_next_hop};
use crate::urls::{full, key_of, network_key};

/// The condition reason of a node whose instance cannot forward packets.
pub const IP_FORWARDING_DISABLED: &str = "IpForwardingDisabled";

/// The GCE route provider. Share it behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct GceProvider {
    cfg: GceConfig,
    /// The project that owns the network, and so the routes (the host project of a Shared VPC).
    project: String,
    network: String,
    network_key: String,
    naming: RouteNaming,
    filter: String,
    compute: Compute,
    waiter: Waiter,
    instances: InstanceCache,
    anonymous: bool,
}

impl GceProvider {
    /// Resolves credentials, project and network (asking the metadata server for what the
    /// configuration leaves open) and builds the clients. Makes no Compute call.
    ///
    /// # Errors
    /// [`GceError`] naming what is missing or wrong.
    pub async fn new(cfg: GceConfig) -> Result<GceProvider, GceError> {
        cfg.validate()?;
        // kube and the AWS SDK bring aws-lc-rs too; whoever is first installs it, once.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (credentials, anonymous) = crate::credentials::resolve(&cfg).await?;
        let (network_project, network) = match &cfg.network {
            Some(n) => parse_network(n)?,
            None => (
                None,
                metadata::network(cfg.call_timeout)
                    .await
                    .map_err(GceError::NoNetwork)?,
            ),
        };
        let project = match (network_project, &cfg.project) {
            (Some(p), _) => p,
            (None, Some(p)) => p.clone(),
            (None, None) => metadata::project(cfg.call_timeout)
                .await
                .map_err(GceError::NoProject)?,
        };
        crate::config::validate_project(&project)?;
        let compute = Compute::new(
            configure(Routes::builder(), &cfg, &credentials)
                .build()
                .await
                .map_err(client_error)?,
            configure(Instances::builder(), &cfg, &credentials)
                .build()
                .await
                .map_err(client_error)?,
            configure(Networks::builder(), &cfg, &credentials)
                .build()
                .await
                .map_err(client_error)?,
            Caller::new(cfg.budget.clone(), cfg.retry, cfg.call_timeout),
        );
        let waiter = Waiter::new(
            project.clone(),
            PollPolicy {
                initial: cfg.poll_initial,
                max: cfg.poll_max,
                timeout: cfg.operation_timeout,
            },
            cfg.max_polls,
        );
        let naming = RouteNaming::new(&cfg.cluster_name);
        let network_key = network_key(&project, &network);
        Ok(GceProvider {
            filter: RouteNaming::list_filter(&full(&network_key)),
            naming,
            network_key,
            network,
            project,
            compute,
            waiter,
            instances: InstanceCache::default(),
            anonymous,
            cfg,
        })
    }

    /// Checks, with one `networks.get`, that the project and the network exist and are visible
    /// to these credentials, so a typo is a start-up error and not an empty route list.
    ///
    /// # Errors
    /// `NotFound` naming the project or the network, `Auth` naming the permission.
    pub async fn check(&self) -> Result<(), ProviderError> {
        let got = self
            .compute
            .call(Method::NetworksGet, &self.network_key, || {
                self.compute
                    .networks
                    .get()
                    .set_project(&self.project)
                    .set_network(&self.network)
                    .send()
            })
            .await;
        match got {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => {
                // GCE names the first missing resource: 'projects/<p>' for the project itself.
                let project_missing = e.message.contains(&format!("'projects/{}'", self.project));
                let message = if project_missing {
                    format!(
                        "project {} does not exist or is not visible to these credentials; check --gce-project ({})",
                        self.project, e.message
                    )
                } else {
                    format!(
                        "network {} not found in project {}; check --gce-network and --gce-project ({})",
                        self.network, self.project, e.message
                    )
                };
                Err(ProviderError { message, ..e })
            }
            Err(e) => Err(e),
        }
    }

    /// Compute requests made so far, by (method, outcome); every HTTP attempt counts.
    pub fn calls(&self) -> BTreeMap<(String, String), u64> {
        self.compute.counts().snapshot()
    }

    /// The most operation polls in flight at once so far.
    pub fn peak_polls(&self) -> usize {
        self.waiter.peak_polls()
    }

    /// `projects/<p>/global/networks/<n>`: the one "table" this provider manages.
    pub fn network_key(&self) -> &str {
        &self.network_key
    }

    pub fn naming(&self) -> &RouteNaming {
        &self.naming
    }

    pub fn config(&self) -> &GceConfig {
        &self.cfg
    }

    /// Whether requests go without credentials (mock endpoints only).
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    fn calls_ctx(&self) -> RouteCalls<'_> {
        RouteCalls {
            compute: &self.compute,
            waiter: &self.waiter,
            project: &self.project,
        }
    }

    fn body(&self, route: &DesiredRoute) -> Route {
        Route::new()
            .set_name(self.naming.name(&route.destination))
            .set_description(self.naming.description())
            .set_network(full(&self.network_key))
            .set_dest_range(route.destination.trunc().to_string())
            .set_priority(self.cfg.priority)
            .set_tags(self.cfg.tags.clone())
            .set_next_hop_instance(full(&route.target))
    }

    fn cloud_route(&self, r: &Route) -> Option<CloudRoute> {
        let name = r.name.clone()?;
        let destination: IpNet = match r.dest_range.as_deref().map(str::parse) {
            Some(Ok(d)) => d,
            _ => {
                tracing::warn!(route = %name, dest = ?r.dest_range, "ignoring a route with an unreadable destRange");
                return None;
            }
        };
        let in_network = r.network.as_deref().and_then(key_of) == Some(self.network_key.as_str());
        let claimed = in_network && self.naming.is_ours(&name, r.description.as_deref());
        let target = match r.next_hop_instance.as_deref().and_then(key_of) {
            Some(key) if claimed => RouteTarget::Instance(key.to_string()),
            // On GCE a route is ours by its name and description only. A foreign route shows
            // as `Other`, so core's fallback for nameless EC2 routes (a target that is a known
            // node's instance makes a route ours) can never adopt, replace or delete it.
            _ => RouteTarget::Other(format!(
                "{} (route {name}, priority {}, not routeplane's)",
                describe_next_hop(r),
                r.priority.unwrap_or_default()
            )),
        };
        Some(CloudRoute {
            table: TableId(self.network_key.clone()),
            destination,
            target,
            state: RouteState::Active,
            claimed,
            name: Some(name),
        })
    }
}

impl RouteProvider for GceProvider {
    fn cloud(&self) -> Cloud {
        Cloud::Gce
    }

    async fn list_routes(&self, _nodes: &[InstanceRef]) -> Result<RouteSnapshot, ProviderError> {
        let listed = self.calls_ctx().list(&self.filter).await?;
        Ok(RouteSnapshot {
            tables: vec![TableInfo {
                id: TableId(self.network_key.clone()),
                // GCE's route quota is per project and shared with other users of it.
                route_limit: None,
            }],
            routes: listed.iter().filter_map(|r| self.cloud_route(r)).collect(),
        })
    }

    /// The list pages through the whole network (one call per 500 routes) to see foreign
    /// routes too. Between resyncs, planning assumes our own writes are the only changes; a
    /// hand edit or a new foreign route made meanwhile is seen at the next resync.
    fn reuses_listing(&self) -> bool {
        true
    }

    fn route_as_listed(&self, route: &DesiredRoute) -> CloudRoute {
        CloudRoute {
            table: TableId(self.network_key.clone()),
            destination: route.destination.trunc(),
            target: route.route_target(),
            state: RouteState::Active,
            name: Some(self.naming.name(&route.destination)),
            claimed: true,
        }
    }

    async fn create_route(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
        self.calls_ctx().insert(&self.body(route)).await
    }

    async fn replace_route(
        &self,
        existing: &CloudRoute,
        route: &DesiredRoute,
    ) -> Result<Duration, ProviderError> {
        // Routes are immutable: delete, then insert. The destination has no route in between.
        let old = existing
            .name
            .clone()
            .unwrap_or_else(|| self.naming.name(&existing.destination));
        let calls = self.calls_ctx();
        calls.delete(&old).await?;
        let gone = Instant::now();
        calls.insert(&self.body(route)).await?;
        let gap = gone.elapsed();
        tracing::info!(route = %old, destination = %route.destination, gap_ms = gap.as_millis(), "replaced a route (delete, then insert)");
        Ok(gap)
    }

    async fn delete_route(&self, route: &CloudRoute) -> Result<(), ProviderError> {
        let name = route
            .name
            .clone()
            .unwrap_or_else(|| self.naming.name(&route.destination));
        self.calls_ctx().delete(&name).await
    }

    async fn ensure_forwarding(&self, target: &InstanceRef) -> Result<(), ProviderError> {
        let InstanceRef::Gce {
            project,
            zone,
            name,
        } = target
        else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("{target} is not a GCE instance: the GCE provider can only route to GCE instances"),
            )
            .with_code("NotAGceInstance"));
        };
        let facts = self
            .instances
            .facts(&self.compute, project, zone, name)
            .await?;
        if !facts.can_ip_forward {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "instance {target} has canIpForward=false: GCE drops the pod traffic it would forward, so routeplane adds no route to it; recreate the instance (or stop it and update it) with canIpForward=true"
                ),
            )
            .with_code(IP_FORWARDING_DISABLED)
            .with_condition_reason(IP_FORWARDING_DISABLED));
        }
        if !facts.networks.contains(&self.network_key) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "instance {target} has no network interface in {} (its networks: {}); a route cannot point at it",
                    self.network_key,
                    facts.networks.join(", ")
                ),
            )
            .with_code("InstanceNotInNetwork"));
        }
        Ok(())
    }
}

/// A Compute client builder with routeplane's settings: our endpoint and credentials, and no
/// SDK retries (the call path retries under the budget).
fn configure<F>(
    builder: google_cloud_gax::client_builder::ClientBuilder<F, Credentials>,
    cfg: &GceConfig,
    credentials: &Credentials,
) -> google_cloud_gax::client_builder::ClientBuilder<F, Credentials> {
    let builder = builder
        .with_credentials(credentials.clone())
        .with_retry_policy(NeverRetry);
    match &cfg.endpoint {
        Some(url) => builder.with_endpoint(url.trim_end_matches('/')),
        None => builder,
    }
}

fn client_error(e: google_cloud_gax::client_builder::Error) -> GceError {
    GceError::Client(causes(&e))
}
