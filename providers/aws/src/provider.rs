//! [`AwsProvider`]: routeplane's [`RouteProvider`] for EC2 VPC route tables. It wires the
//! pieces together: table discovery and listing ([`crate::tables`]), instance facts
//! ([`crate::instances`]), route writes ([`crate::routes`]) and source/dest check, all through
//! the budgeted, timed, retried call path ([`crate::call`]).
//!
//! Cost model (what the controller pays per pass): one paginated `DescribeRouteTables`; one
//! batched `DescribeInstances` only for instances never seen before; one write per route that
//! must change; one `ModifyNetworkInterfaceAttribute` per instance, ever, and only if its
//! source/dest check was on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ec2::config::SharedCredentialsProvider;
use aws_sdk_ec2::types::AttributeBooleanValue;
use routeplane_core::model::{
    Cloud, CloudRoute, DesiredRoute, RouteSnapshot, RouteState, RouteTarget, TableId, TableInfo,
};
use routeplane_core::provider::{ErrorKind, ProviderError, RouteProvider};
use routeplane_core::provider_id::InstanceRef;

use crate::action::Action;
use crate::call::Ec2;
use crate::config::{AwsConfig, TableSelector};
use crate::error::AwsError;
use crate::instances::{InstanceCache, InstanceFacts};
use crate::routes;
use crate::tables::{self, Selection};

/// The EC2 route provider. Share it behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct AwsProvider {
    cfg: AwsConfig,
    cluster_tag: String,
    ec2: Ec2,
    credentials: Option<SharedCredentialsProvider>,
    instances: InstanceCache,
    /// Instances whose source/dest check is known to be off. A cell per instance lets
    /// concurrent callers wait for the one request in flight.
    forwarding: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
    /// Tables managed on the last pass (subnet discovery keeps them while they exist).
    managed: Mutex<BTreeSet<String>>,
    /// Instances that were nodes at some pass of this process: their routes stay ours after
    /// the Node object is gone, even when the instance lacks the cluster tag.
    seen_nodes: Mutex<HashSet<String>>,
}

impl AwsProvider {
    /// Builds the provider from the standard credential chain. Makes no EC2 call.
    ///
    /// # Errors
    /// [`AwsError`] for an invalid configuration or when no region can be determined.
    pub async fn new(cfg: AwsConfig) -> Result<AwsProvider, AwsError> {
        cfg.validate()?;
        let (client, credentials) = cfg.client().await?;
        let ec2 = Ec2::new(client, cfg.budget.clone(), cfg.retry, cfg.call_timeout);
        let cluster_tag = cfg.cluster_tag();
        Ok(AwsProvider {
            instances: InstanceCache::new(cluster_tag.clone()),
            cluster_tag,
            ec2,
            credentials,
            forwarding: Mutex::new(HashMap::new()),
            managed: Mutex::new(BTreeSet::new()),
            seen_nodes: Mutex::new(HashSet::new()),
            cfg,
        })
    }

    /// Resolves credentials now, so a start-up without any fails with a clear message instead
    /// of at the first route. Makes no EC2 call (it may reach IMDS or STS).
    ///
    /// # Errors
    /// `Auth`, telling what to set.
    pub async fn check_credentials(&self) -> Result<(), ProviderError> {
        let hint = "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, \
                    a web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), or run with an instance profile";
        let auth = |detail: String| {
            ProviderError::new(ErrorKind::Auth, format!("{hint}: {detail}"))
                .with_code("NoCredentials")
        };
        let Some(provider) = &self.credentials else {
            return Err(auth("no credential provider configured".into()));
        };
        match tokio::time::timeout(self.cfg.call_timeout, provider.provide_credentials()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(auth(
                aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
            )),
            Err(_) => Err(auth(format!(
                "the credential chain did not answer within {:?}",
                self.cfg.call_timeout
            ))),
        }
    }

    /// EC2 requests made so far, by (action, outcome), where outcome is `ok` or an error class.
    /// Every HTTP attempt counts, retries included.
    pub fn calls(&self) -> BTreeMap<(String, String), u64> {
        self.ec2.counts().snapshot()
    }

    /// The configuration in use.
    pub fn config(&self) -> &AwsConfig {
        &self.cfg
    }

    /// The facts of an AWS instance, or a classified error for a node routes cannot use.
    async fn target(&self, instance_id: &str) -> Result<InstanceFacts, ProviderError> {
        match self.instances.facts(&self.ec2, instance_id).await? {
            Some(facts) => Ok(facts),
            None => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("instance {instance_id} does not exist in this Region (check the node's providerID and --aws-region)"),
            )
            .with_code("InvalidInstanceID.NotFound")),
        }
    }

    fn aws_instance(target: &InstanceRef) -> Result<&str, ProviderError> {
        match target {
            InstanceRef::Aws { instance_id, .. } => Ok(instance_id),
            other => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("{other} is not an AWS instance: the AWS provider can only route to EC2 instances"),
            )
            .with_code("NotAnAwsInstance")),
        }
    }
}

impl RouteProvider for AwsProvider {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    async fn list_routes(&self, nodes: &[InstanceRef]) -> Result<RouteSnapshot, ProviderError> {
        let ids: Vec<String> = nodes
            .iter()
            .filter_map(|n| match n {
                InstanceRef::Aws { instance_id, .. } => Some(instance_id.clone()),
                InstanceRef::Gce { .. } => None,
            })
            .collect();
        self.seen_nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(ids.iter().cloned());
        // Describe new nodes' instances now, in one batch, so the writes that follow find
        // their ENIs cached. Subnet discovery cannot do without them.
        if let Err(error) = self.instances.resolve(&self.ec2, &ids).await {
            if self.cfg.tables == TableSelector::Subnets {
                return Err(error);
            }
            tracing::warn!(%error, "could not describe the nodes' instances; writes will retry per node");
        }
        let node_facts: Vec<InstanceFacts> = ids
            .iter()
            .filter_map(|id| self.instances.get(id).flatten())
            .collect();
        let previous = self
            .managed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let selection = Selection {
            selector: &self.cfg.tables,
            cluster_tag: &self.cluster_tag,
            vpc_id: self.cfg.vpc_id.as_deref(),
            nodes: &node_facts,
            previous: &previous,
        };
        let tables = tables::list_tables(&self.ec2, &selection).await?;

        let mut routes: Vec<CloudRoute> = Vec::new();
        let mut infos = Vec::new();
        for table in &tables {
            let Some(id) = table.route_table_id() else {
                continue;
            };
            // EC2 counts the `local` route against the quota but we do not report it, so
            // the planner gets the slots left for everything else.
            let local = usize::from(
                table
                    .routes()
                    .iter()
                    .any(|r| r.gateway_id() == Some("local")),
            );
            let limit = self.cfg.route_limit.saturating_sub(local);
            infos.push(TableInfo {
                id: TableId(id.to_string()),
                route_limit: Some(limit),
            });
            routes.extend(
                table
                    .routes()
                    .iter()
                    .filter_map(|r| tables::cloud_route(id, r)),
            );
        }
        *self.managed.lock().unwrap_or_else(|p| p.into_inner()) =
            infos.iter().map(|t| t.id.0.clone()).collect();

        // Ownership of active routes to instances we have never seen: one batched lookup.
        let unknown: Vec<String> = routes
            .iter()
            .filter(|r| r.state == RouteState::Active)
            .filter_map(|r| match &r.target {
                RouteTarget::Instance(id) if self.instances.get(id).is_none() => Some(id.clone()),
                _ => None,
            })
            .collect();
        if let Err(error) = self.instances.resolve(&self.ec2, &unknown).await {
            // Unclaimed routes are left alone this pass, which is the safe direction.
            tracing::warn!(%error, "could not describe route targets; their routes count as foreign this pass");
        }
        let seen = self
            .seen_nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for route in &mut routes {
            let (facts, was_node) = match &route.target {
                RouteTarget::Instance(id) => (self.instances.get(id).flatten(), seen.contains(id)),
                RouteTarget::Other(_) => (None, false),
            };
            route.claimed = was_node || tables::claimed(route, facts.as_ref());
        }
        Ok(RouteSnapshot {
            tables: infos,
            routes,
        })
    }

    async fn create_route(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
        let target = self.target(&route.target).await?;
        routes::create(&self.ec2, &route.table.0, route.destination, &target).await
    }

    async fn replace_route(
        &self,
        existing: &CloudRoute,
        route: &DesiredRoute,
    ) -> Result<std::time::Duration, ProviderError> {
        let target = self.target(&route.target).await?;
        // ReplaceRoute swaps the target in place: the destination is never without a route.
        routes::replace(&self.ec2, &existing.table.0, existing.destination, &target).await?;
        Ok(std::time::Duration::ZERO)
    }

    async fn delete_route(&self, route: &CloudRoute) -> Result<(), ProviderError> {
        routes::delete(&self.ec2, &route.table.0, route.destination).await
    }

    async fn ensure_forwarding(&self, target: &InstanceRef) -> Result<(), ProviderError> {
        let id = Self::aws_instance(target)?;
        let cell = {
            let mut map = self.forwarding.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(id.to_string()).or_default())
        };
        cell.get_or_try_init(|| async {
            let facts = self.target(id).await?;
            let eni = facts
                .primary_eni
                .as_deref()
                .ok_or_else(|| routes::no_eni(id))?;
            if !facts.source_dest_check {
                return Ok(());
            }
            self.ec2
                .call(Action::ModifyNetworkInterfaceAttribute, eni, || {
                    self.ec2
                        .client
                        .modify_network_interface_attribute()
                        .network_interface_id(eni)
                        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
                        .send()
                })
                .await?;
            tracing::info!(instance = id, eni, "turned source/dest check off");
            Ok(())
        })
        .await
        .map(|_| ())
    }
}
