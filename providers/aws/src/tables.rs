//! Finding the managed route tables and reading their routes, in one paginated
//! `DescribeRouteTables` per pass with server-side filters:
//! - explicit ids: `route-table-id` = the ids; an id EC2 does not return is an error naming it;
//! - tagged: `tag-key` = `kubernetes.io/cluster/<cluster>` (and `vpc-id` when given), values
//!   checked to be `owned` or `shared`; none found is an error;
//! - subnets: `vpc-id` = the nodes' VPCs, then the table associated with each node subnet, or
//!   the VPC's main table for a subnet without one. Tables found this way stay managed while
//!   they exist, so routes in a table whose last node left are still cleaned up.
//!
//! The conversion of EC2 routes into [`CloudRoute`]s lives here too ([`cloud_route`]).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use aws_sdk_ec2::types::{Filter, Route, RouteTable};
use ipnet::IpNet;
use routeplane_core::model::{CloudRoute, RouteState, RouteTarget, TableId};
use routeplane_core::provider::{ErrorKind, ProviderError};

use crate::action::Action;
use crate::call::Ec2;
use crate::config::TableSelector;
use crate::instances::InstanceFacts;

/// `MaxResults` for DescribeRouteTables is 5–100.
const PAGE_SIZE: i32 = 100;

/// What one listing needs to know to pick tables.
pub struct Selection<'a> {
    pub selector: &'a TableSelector,
    pub cluster_tag: &'a str,
    pub vpc_id: Option<&'a str>,
    /// The facts of the current nodes' instances (subnet discovery uses their subnets).
    pub nodes: &'a [InstanceFacts],
    /// Tables managed on the previous pass (subnet discovery keeps them while they exist).
    pub previous: &'a BTreeSet<String>,
}

impl Selection<'_> {
    /// The server-side filters for this selection; `None` when there is nothing to ask about.
    fn filters(&self) -> Option<Vec<Filter>> {
        let mut filters = Vec::new();
        match self.selector {
            TableSelector::Explicit(ids) => {
                filters.push(filter("route-table-id", ids.iter().cloned()))
            }
            TableSelector::Tagged => {
                filters.push(filter("tag-key", [self.cluster_tag.to_string()]));
                if let Some(vpc) = self.vpc_id {
                    filters.push(filter("vpc-id", [vpc.to_string()]));
                }
            }
            TableSelector::Subnets => {
                let vpcs: BTreeSet<String> = match self.vpc_id {
                    Some(vpc) => [vpc.to_string()].into(),
                    None => self.nodes.iter().filter_map(|n| n.vpc_id.clone()).collect(),
                };
                if vpcs.is_empty() {
                    return None;
                }
                filters.push(filter("vpc-id", vpcs));
            }
        }
        Some(filters)
    }

    /// Picks the managed tables out of the listing.
    ///
    /// # Errors
    /// `NotFound` naming a missing explicit table, or when tag discovery finds no table.
    fn select(&self, tables: Vec<RouteTable>) -> Result<Vec<RouteTable>, ProviderError> {
        match self.selector {
            TableSelector::Explicit(ids) => {
                let found: BTreeSet<&str> =
                    tables.iter().filter_map(|t| t.route_table_id()).collect();
                let missing: Vec<&str> = ids
                    .iter()
                    .map(String::as_str)
                    .filter(|id| !found.contains(id))
                    .collect();
                if !missing.is_empty() {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!(
                            "route table {} does not exist (or is not visible to these credentials in this Region); check --route-table-id",
                            missing.join(", ")
                        ),
                    )
                    .with_code("InvalidRouteTableID.NotFound"));
                }
                Ok(tables)
            }
            TableSelector::Tagged => {
                let tagged: Vec<RouteTable> = tables
                    .into_iter()
                    .filter(|t| {
                        t.tags().iter().any(|tag| {
                            tag.key() == Some(self.cluster_tag)
                                && matches!(tag.value(), Some("owned" | "shared"))
                        })
                    })
                    .collect();
                if tagged.is_empty() {
                    let scope = self.vpc_id.map(|v| format!(" in {v}")).unwrap_or_default();
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!(
                            "no route table{scope} is tagged {}=owned|shared: tag the tables routeplane should manage, or use --route-table-id or --route-tables=subnets",
                            self.cluster_tag
                        ),
                    )
                    .with_code("NoTaggedRouteTables"));
                }
                Ok(tagged)
            }
            TableSelector::Subnets => Ok(select_by_subnets(tables, self.nodes, self.previous)),
        }
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

/// The table of each node subnet (explicit association, else the main table of its VPC), plus
/// previously managed tables that still exist.
fn select_by_subnets(
    tables: Vec<RouteTable>,
    nodes: &[InstanceFacts],
    previous: &BTreeSet<String>,
) -> Vec<RouteTable> {
    let mut by_subnet: BTreeMap<&str, &str> = BTreeMap::new();
    let mut main_of_vpc: BTreeMap<&str, &str> = BTreeMap::new();
    for t in &tables {
        let (Some(id), Some(vpc)) = (t.route_table_id(), t.vpc_id()) else {
            continue;
        };
        for assoc in t.associations() {
            if let Some(subnet) = assoc.subnet_id() {
                by_subnet.insert(subnet, id);
            }
            if assoc.main() == Some(true) {
                main_of_vpc.insert(vpc, id);
            }
        }
    }
    let mut wanted: BTreeSet<String> = previous.clone();
    for node in nodes {
        let Some(subnet) = node.subnet_id.as_deref() else {
            continue;
        };
        let table = by_subnet
            .get(subnet)
            .or_else(|| node.vpc_id.as_deref().and_then(|vpc| main_of_vpc.get(vpc)));
        match table {
            Some(id) => {
                wanted.insert((*id).to_string());
            }
            None => {
                tracing::warn!(instance = %node.instance_id, subnet, "no route table for the node's subnet and no main table in its VPC")
            }
        }
    }
    tables
        .into_iter()
        .filter(|t| t.route_table_id().is_some_and(|id| wanted.contains(id)))
        .collect()
}

/// Lists the managed tables, every page of one filtered `DescribeRouteTables`.
///
/// # Errors
/// A classified call failure, or a selection error (see [`Selection::select`]).
pub async fn list_tables(
    ec2: &Ec2,
    selection: &Selection<'_>,
) -> Result<Vec<RouteTable>, ProviderError> {
    let Some(filters) = selection.filters() else {
        return Ok(Vec::new());
    };
    let resource = match selection.selector {
        TableSelector::Explicit(ids) => ids.join(","),
        _ => selection.vpc_id.unwrap_or_default().to_string(),
    };
    let mut tables = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ec2
            .call(Action::DescribeRouteTables, &resource, || {
                ec2.client
                    .describe_route_tables()
                    .set_filters(Some(filters.clone()))
                    .max_results(PAGE_SIZE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        tables.extend(page.route_tables().iter().cloned());
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut selected = selection.select(tables)?;
    selected.sort_by(|a, b| a.route_table_id().cmp(&b.route_table_id()));
    Ok(selected)
}

/// A route as routeplane sees it, before ownership (`claimed` is filled in by the caller).
/// `None` for routes routeplane never considers: the `local` route and prefix-list routes.
pub fn cloud_route(table: &str, route: &Route) -> Option<CloudRoute> {
    if route.gateway_id() == Some("local") {
        return None;
    }
    let cidr = route
        .destination_cidr_block()
        .or(route.destination_ipv6_cidr_block())?;
    let destination = match IpNet::from_str(cidr) {
        Ok(net) => net.trunc(),
        Err(error) => {
            tracing::warn!(table, cidr, %error, "skipping a route with an unparseable destination");
            return None;
        }
    };
    let target = match route.instance_id() {
        Some(id) => RouteTarget::Instance(id.to_string()),
        None => RouteTarget::Other(other_target(route)),
    };
    let state = match route.state().map(|s| s.as_str()) {
        Some("blackhole") => RouteState::Blackhole,
        _ => RouteState::Active,
    };
    Some(CloudRoute {
        table: TableId(table.to_string()),
        destination,
        target,
        state,
        name: None,
        claimed: false,
    })
}

/// The id of a non-instance target, for display and conflict reports.
pub(crate) fn other_target(route: &Route) -> String {
    [
        route.network_interface_id(),
        route.nat_gateway_id(),
        route.transit_gateway_id(),
        route.vpc_peering_connection_id(),
        route.egress_only_internet_gateway_id(),
        route.local_gateway_id(),
        route.carrier_gateway_id(),
        route.gateway_id(),
        route.core_network_arn(),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or("unknown")
    .to_string()
}

/// Whether a listed route belongs to this cluster: a blackhole (its target is gone, so the
/// cluster-CIDR check in `plan` decides), or an instance tagged for the cluster.
pub fn claimed(route: &CloudRoute, facts: Option<&InstanceFacts>) -> bool {
    route.state == RouteState::Blackhole || facts.is_some_and(|f| f.cluster_tagged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{RouteState as Ec2State, RouteTableAssociation, Tag};

    fn route() -> aws_sdk_ec2::types::builders::RouteBuilder {
        Route::builder().state(Ec2State::Active)
    }

    #[test]
    fn converts_instance_gateway_ipv6_and_blackhole_routes() {
        let r = cloud_route(
            "rtb-1",
            &route()
                .destination_cidr_block("10.1.0.0/24")
                .instance_id("i-1")
                .network_interface_id("eni-1")
                .build(),
        )
        .unwrap();
        assert_eq!(r.target, RouteTarget::Instance("i-1".into()));
        assert_eq!(r.destination, "10.1.0.0/24".parse::<IpNet>().unwrap());
        let r = cloud_route(
            "rtb-1",
            &route()
                .destination_ipv6_cidr_block("fd00:1::/64")
                .network_interface_id("eni-9")
                .build(),
        )
        .unwrap();
        assert_eq!(r.target, RouteTarget::Other("eni-9".into()));
        let r = cloud_route(
            "rtb-1",
            &route()
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id("igw-1")
                .build(),
        )
        .unwrap();
        assert_eq!(r.target, RouteTarget::Other("igw-1".into()));
        let r = cloud_route(
            "rtb-1",
            &Route::builder()
                .destination_cidr_block("10.1.1.0/24")
                .instance_id("i-2")
                .state(Ec2State::Blackhole)
                .build(),
        )
        .unwrap();
        assert_eq!(r.state, RouteState::Blackhole);
        assert!(claimed(&r, None));
    }

    #[test]
    fn skips_local_and_prefix_list_routes() {
        assert!(
            cloud_route(
                "rtb-1",
                &route()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .build()
            )
            .is_none()
        );
        assert!(
            cloud_route(
                "rtb-1",
                &route()
                    .destination_prefix_list_id("pl-1")
                    .gateway_id("vpce-1")
                    .build()
            )
            .is_none()
        );
    }

    fn table(id: &str, vpc: &str, subnets: &[&str], main: bool) -> RouteTable {
        let mut b = RouteTable::builder().route_table_id(id).vpc_id(vpc);
        for s in subnets {
            b = b.associations(
                RouteTableAssociation::builder()
                    .subnet_id(*s)
                    .main(false)
                    .build(),
            );
        }
        if main {
            b = b.associations(RouteTableAssociation::builder().main(true).build());
        }
        b.build()
    }

    fn node(id: &str, subnet: &str) -> InstanceFacts {
        InstanceFacts {
            instance_id: id.into(),
            primary_eni: Some(format!("eni-{id}")),
            source_dest_check: true,
            subnet_id: Some(subnet.into()),
            vpc_id: Some("vpc-1".into()),
            cluster_tagged: true,
        }
    }

    #[test]
    fn subnet_discovery_uses_associations_then_the_main_table() {
        let tables = vec![
            table("rtb-a", "vpc-1", &["subnet-a"], false),
            table("rtb-main", "vpc-1", &[], true),
            table("rtb-unused", "vpc-1", &["subnet-z"], false),
        ];
        let nodes = [node("i-1", "subnet-a"), node("i-2", "subnet-b")];
        let picked: Vec<String> = select_by_subnets(tables, &nodes, &BTreeSet::new())
            .iter()
            .filter_map(|t| t.route_table_id().map(str::to_string))
            .collect();
        assert_eq!(picked, ["rtb-a", "rtb-main"]);
    }

    #[test]
    fn tag_discovery_requires_owned_or_shared() {
        let tagged = |v: &str| {
            RouteTable::builder()
                .route_table_id(format!("rtb-{v}"))
                .tags(
                    Tag::builder()
                        .key("kubernetes.io/cluster/c1")
                        .value(v)
                        .build(),
                )
                .build()
        };
        let sel = Selection {
            selector: &TableSelector::Tagged,
            cluster_tag: "kubernetes.io/cluster/c1",
            vpc_id: None,
            nodes: &[],
            previous: &BTreeSet::new(),
        };
        let out = sel
            .select(vec![tagged("owned"), tagged("shared"), tagged("other")])
            .unwrap();
        assert_eq!(out.len(), 2);
        let err = sel.select(vec![tagged("nope")]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(
            err.message.contains("kubernetes.io/cluster/c1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_missing_explicit_table_is_named() {
        let ids = TableSelector::Explicit(vec!["rtb-1".into(), "rtb-2".into()]);
        let sel = Selection {
            selector: &ids,
            cluster_tag: "k",
            vpc_id: None,
            nodes: &[],
            previous: &BTreeSet::new(),
        };
        let err = sel
            .select(vec![RouteTable::builder().route_table_id("rtb-1").build()])
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(
            err.message.contains("rtb-2") && !err.message.contains("rtb-1,"),
            "{}",
            err.message
        );
    }
}
