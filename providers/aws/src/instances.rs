//! What routeplane needs to know about instances, from batched `DescribeInstances`, cached per
//! instance id: the primary ENI routes point at, whether source/dest check is on, the subnet
//! and VPC (for subnet-based table discovery), and whether the instance carries the cluster tag
//! (route ownership). These facts do not change for the life of an instance, so a steady pass
//! makes no calls here; only instances never seen before are described, many per request.
//!
//! An instance that EC2 does not return is remembered as absent for a short while only: a just
//! launched instance can take a moment to become visible.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Instance};
use routeplane_core::provider::ProviderError;
use tokio::time::Instant;

use crate::action::Action;
use crate::call::Ec2;

/// EC2 accepts up to 200 values per filter; `MaxResults` for DescribeInstances is 5–1000.
const IDS_PER_REQUEST: usize = 200;
const PAGE_SIZE: i32 = 1000;
/// How long "EC2 does not know this instance" is believed.
const ABSENT_TTL: Duration = Duration::from_secs(60);

/// The facts about one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceFacts {
    pub instance_id: String,
    /// The ENI at device index 0: where the node's routes point.
    pub primary_eni: Option<String>,
    /// Source/dest check as DescribeInstances reported it (on the primary ENI when known).
    pub source_dest_check: bool,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    /// Carries `kubernetes.io/cluster/<cluster>` (any value).
    pub cluster_tagged: bool,
}

#[derive(Clone, Debug)]
enum Entry {
    Known(InstanceFacts),
    Absent(Instant),
}

/// Instance facts by id, filled by batched lookups.
#[derive(Debug)]
pub struct InstanceCache {
    cluster_tag: String,
    entries: Mutex<HashMap<String, Entry>>,
    /// Serialises lookups so concurrent callers asking for the same new instance wait for one
    /// request instead of each sending their own.
    lookup: tokio::sync::Mutex<()>,
}

impl InstanceCache {
    pub fn new(cluster_tag: String) -> Self {
        Self {
            cluster_tag,
            entries: Mutex::new(HashMap::new()),
            lookup: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached facts of `id`: `Some(None)` when EC2 recently said it does not exist, `None`
    /// when we have not asked.
    pub fn get(&self, id: &str) -> Option<Option<InstanceFacts>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(id)? {
            Entry::Known(f) => Some(Some(f.clone())),
            Entry::Absent(at) if at.elapsed() < ABSENT_TTL => Some(None),
            Entry::Absent(_) => None,
        }
    }

    /// Makes sure every id in `ids` has been described, asking EC2 only about unknown ones.
    ///
    /// # Errors
    /// The classified failure of a `DescribeInstances` call.
    pub async fn resolve(&self, ec2: &Ec2, ids: &[String]) -> Result<(), ProviderError> {
        if self.missing(ids).is_empty() {
            return Ok(());
        }
        let _guard = self.lookup.lock().await;
        // Another caller may have described them while we waited.
        let missing = self.missing(ids);
        for chunk in missing.chunks(IDS_PER_REQUEST) {
            let found = describe(ec2, chunk).await?;
            let now = Instant::now();
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            for id in chunk {
                entries.insert(id.clone(), Entry::Absent(now));
            }
            for inst in found {
                if let Some(facts) = facts_of(&inst, &self.cluster_tag) {
                    entries.insert(facts.instance_id.clone(), Entry::Known(facts));
                }
            }
        }
        Ok(())
    }

    /// Resolves one instance (from the cache when possible).
    ///
    /// # Errors
    /// As for [`Self::resolve`].
    pub async fn facts(&self, ec2: &Ec2, id: &str) -> Result<Option<InstanceFacts>, ProviderError> {
        if let Some(known) = self.get(id) {
            return Ok(known);
        }
        self.resolve(ec2, &[id.to_string()]).await?;
        Ok(self.get(id).flatten())
    }

    fn missing(&self, ids: &[String]) -> Vec<String> {
        let unique: BTreeSet<&String> = ids.iter().collect();
        unique
            .into_iter()
            .filter(|id| self.get(id).is_none())
            .cloned()
            .collect()
    }
}

/// One `DescribeInstances` per page, filtered by id and paginated, which keeps it in EC2's
/// larger non-mutating bucket. Ids EC2 does not know are simply absent (a filter, unlike
/// `InstanceIds`, does not fail the whole request for one stale id).
async fn describe(ec2: &Ec2, ids: &[String]) -> Result<Vec<Instance>, ProviderError> {
    let resource = ids.first().cloned().unwrap_or_default();
    let filter = Filter::builder()
        .name("instance-id")
        .set_values(Some(ids.to_vec()))
        .build();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ec2
            .call(Action::DescribeInstances, &resource, || {
                ec2.client
                    .describe_instances()
                    .filters(filter.clone())
                    .max_results(PAGE_SIZE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for reservation in page.reservations() {
            out.extend(reservation.instances().iter().cloned());
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Extracts the facts; `None` for an instance without an id (never sent by EC2).
fn facts_of(inst: &Instance, cluster_tag: &str) -> Option<InstanceFacts> {
    let instance_id = inst.instance_id()?.to_string();
    let primary = inst
        .network_interfaces()
        .iter()
        .find(|eni| eni.attachment().and_then(|a| a.device_index()) == Some(0))
        .or_else(|| inst.network_interfaces().first());
    let source_dest_check = primary
        .and_then(|eni| eni.source_dest_check())
        .or(inst.source_dest_check())
        .unwrap_or(true);
    Some(InstanceFacts {
        instance_id,
        primary_eni: primary
            .and_then(|eni| eni.network_interface_id())
            .map(str::to_string),
        source_dest_check,
        subnet_id: inst.subnet_id().map(str::to_string),
        vpc_id: inst.vpc_id().map(str::to_string),
        cluster_tagged: inst.tags().iter().any(|t| t.key() == Some(cluster_tag)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{InstanceNetworkInterface, InstanceNetworkInterfaceAttachment, Tag};

    fn eni(id: &str, index: i32, check: bool) -> InstanceNetworkInterface {
        InstanceNetworkInterface::builder()
            .network_interface_id(id)
            .source_dest_check(check)
            .attachment(
                InstanceNetworkInterfaceAttachment::builder()
                    .device_index(index)
                    .build(),
            )
            .build()
    }

    #[test]
    fn the_primary_eni_is_the_one_at_device_index_zero() {
        let inst = Instance::builder()
            .instance_id("i-1")
            .subnet_id("subnet-1")
            .vpc_id("vpc-1")
            .network_interfaces(eni("eni-secondary", 1, true))
            .network_interfaces(eni("eni-primary", 0, false))
            .tags(
                Tag::builder()
                    .key("kubernetes.io/cluster/c1")
                    .value("owned")
                    .build(),
            )
            .build();
        let facts = facts_of(&inst, "kubernetes.io/cluster/c1").unwrap();
        assert_eq!(facts.primary_eni.as_deref(), Some("eni-primary"));
        assert!(!facts.source_dest_check);
        assert!(facts.cluster_tagged);
        assert_eq!(facts.subnet_id.as_deref(), Some("subnet-1"));
    }

    #[test]
    fn an_instance_without_enis_has_no_primary_eni_and_is_not_ours() {
        let inst = Instance::builder().instance_id("i-2").build();
        let facts = facts_of(&inst, "kubernetes.io/cluster/c1").unwrap();
        assert_eq!(facts.primary_eni, None);
        assert!(!facts.cluster_tagged);
    }
}
