//! The read actions: DescribeVpcs, DescribeSubnets, DescribeRouteTables, DescribeInstances and
//! DescribeNetworkInterfaces, with their explicit-ID parameters, filters and pagination, rendered
//! in the element names aws-sdk-ec2's deserializers read (`routeTableSet`, `reservationSet`,
//! `instancesSet`, `networkInterfaceSet`, `nextToken`, …).

use super::super::error::ApiError;
use super::super::filters;
use super::super::query::Params;
use super::super::world::{Instance, NetworkInterface, RouteTable, Target, World, derived_id};
use super::super::xml::Xml;
use super::{
    check_instance_id, eni_not_found, instances_not_found, paginate, route_table_not_found,
};

pub fn vpcs(p: &Params, w: &World) -> Result<String, ApiError> {
    let ids = p.list("VpcId");
    let mut items: Vec<_> = w.vpcs.iter().collect();
    if !ids.is_empty() {
        if let Some(missing) = ids.iter().find(|id| !w.vpcs.iter().any(|v| &v.id == *id)) {
            return Err(ApiError::client(
                "InvalidVpcID.NotFound",
                format!("The vpc ID '{missing}' does not exist"),
            ));
        }
        items.retain(|v| ids.contains(&v.id));
    }
    let items = filters::apply(
        items,
        &p.filters()?,
        &[
            "vpc-id",
            "cidr",
            "cidr-block-association.cidr-block",
            "state",
            "owner-id",
            "is-default",
        ],
        |v| &v.tags,
        |v, name| match name {
            "vpc-id" => vec![v.id.clone()],
            "cidr" | "cidr-block-association.cidr-block" => vec![v.cidr.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![w.account_id.clone()],
            "is-default" => vec!["false".into()],
            _ => vec![],
        },
    )?;
    let (page, next) = paginate(items, p, 5, 1000)?;
    let mut x = Xml::new();
    x.set("vpcSet", page, |x, v| {
        x.leaf("vpcId", &v.id)
            .leaf("ownerId", &w.account_id)
            .leaf("state", "available")
            .leaf("cidrBlock", v.cidr)
            .set("cidrBlockAssociationSet", [v.cidr], |x, c| {
                x.leaf(
                    "associationId",
                    derived_id("vpc-cidr-assoc", &[&v.id, &c.to_string()]),
                )
                .leaf("cidrBlock", c)
                .node("cidrBlockState", |x| {
                    x.leaf("state", "associated");
                });
            });
        if let Some(v6) = v.ipv6_cidr {
            x.set("ipv6CidrBlockAssociationSet", [v6], |x, c| {
                x.leaf(
                    "associationId",
                    derived_id("vpc-cidr-assoc", &[&v.id, &c.to_string()]),
                )
                .leaf("ipv6CidrBlock", c)
                .node("ipv6CidrBlockState", |x| {
                    x.leaf("state", "associated");
                });
            });
        }
        x.leaf("dhcpOptionsId", "dopt-00000000000000001")
            .leaf("instanceTenancy", "default")
            .leaf("isDefault", "false")
            .tag_set(&v.tags);
    });
    x.leaf_opt("nextToken", next);
    Ok(x.into_string())
}

pub fn subnets(p: &Params, w: &World) -> Result<String, ApiError> {
    let ids = p.list("SubnetId");
    let mut items: Vec<_> = w.subnets.iter().collect();
    if !ids.is_empty() {
        if let Some(missing) = ids.iter().find(|id| w.subnet(id).is_none()) {
            return Err(ApiError::client(
                "InvalidSubnetID.NotFound",
                format!("The subnet ID '{missing}' does not exist"),
            ));
        }
        items.retain(|s| ids.contains(&s.id));
    }
    let items = filters::apply(
        items,
        &p.filters()?,
        &[
            "subnet-id",
            "vpc-id",
            "availability-zone",
            "cidr-block",
            "state",
            "owner-id",
        ],
        |s| &s.tags,
        |s, name| match name {
            "subnet-id" => vec![s.id.clone()],
            "vpc-id" => vec![s.vpc_id.clone()],
            "availability-zone" => vec![s.az.clone()],
            "cidr-block" => vec![s.cidr.to_string()],
            "state" => vec!["available".into()],
            "owner-id" => vec![w.account_id.clone()],
            _ => vec![],
        },
    )?;
    let (page, next) = paginate(items, p, 5, 1000)?;
    let mut x = Xml::new();
    x.set("subnetSet", page, |x, s| {
        let used = w
            .instances
            .iter()
            .flat_map(|i| {
                i.network_interfaces
                    .iter()
                    .map(move |e| e.subnet_id.as_ref().unwrap_or(&i.subnet_id))
            })
            .filter(|sid| **sid == s.id)
            .count();
        let size = 1u64 << (u32::from(s.cidr.max_prefix_len() - s.cidr.prefix_len())).min(32);
        x.leaf("subnetId", &s.id)
            .leaf(
                "subnetArn",
                format!(
                    "arn:aws:ec2:{}:{}:subnet/{}",
                    region_of(&s.az),
                    w.account_id,
                    s.id
                ),
            )
            .leaf("state", "available")
            .leaf("ownerId", &w.account_id)
            .leaf("vpcId", &s.vpc_id)
            .leaf("cidrBlock", s.cidr)
            .leaf(
                "availableIpAddressCount",
                size.saturating_sub(5 + used as u64),
            )
            .leaf("availabilityZone", &s.az)
            .leaf("availabilityZoneId", az_id(&s.az))
            .leaf("defaultForAz", "false")
            .leaf("mapPublicIpOnLaunch", "false")
            .tag_set(&s.tags);
    });
    x.leaf_opt("nextToken", next);
    Ok(x.into_string())
}

/// `us-east-1a` → `us-east-1`.
fn region_of(az: &str) -> &str {
    az.trim_end_matches(|c: char| c.is_ascii_lowercase())
}

/// A stable, made-up zone ID (`use1-az1` style).
fn az_id(az: &str) -> String {
    let letter = az
        .chars()
        .last()
        .map_or(1, |c| u32::from(c).saturating_sub(u32::from('a')) + 1);
    let region: String = region_of(az)
        .split('-')
        .filter(|p| p.chars().all(|c| c.is_ascii_alphabetic()))
        .filter_map(|p| p.chars().next())
        .collect();
    let digit: String = region_of(az).chars().filter(char::is_ascii_digit).collect();
    format!("{region}{digit}-az{letter}")
}

fn table_values(w: &World, t: &RouteTable, name: &str) -> Vec<String> {
    let route_targets = |f: fn(&Target) -> Option<&String>| -> Vec<String> {
        t.routes
            .iter()
            .filter_map(|r| f(&r.target).cloned())
            .collect()
    };
    match name {
        "route-table-id" => vec![t.id.clone()],
        "vpc-id" => vec![t.vpc_id.clone()],
        "owner-id" => vec![w.account_id.clone()],
        "association.subnet-id" => t.subnets.clone(),
        "association.main" => {
            let mut v: Vec<String> = t.subnets.iter().map(|_| "false".to_string()).collect();
            if t.main {
                v.push("true".into());
            }
            v
        }
        "association.route-table-association-id" => {
            associations(t).into_iter().map(|(id, _)| id).collect()
        }
        "route.destination-cidr-block" => t
            .routes
            .iter()
            .filter(|r| r.destination.addr().is_ipv4())
            .map(|r| r.destination.to_string())
            .collect(),
        "route.destination-ipv6-cidr-block" => t
            .routes
            .iter()
            .filter(|r| r.destination.addr().is_ipv6())
            .map(|r| r.destination.to_string())
            .collect(),
        "route.gateway-id" => route_targets(|t| match t {
            Target::Gateway(g) => Some(g),
            _ => None,
        }),
        "route.nat-gateway-id" => route_targets(|t| match t {
            Target::NatGateway(g) => Some(g),
            _ => None,
        }),
        "route.vpc-peering-connection-id" => route_targets(|t| match t {
            Target::VpcPeeringConnection(g) => Some(g),
            _ => None,
        }),
        "route.instance-id" => t
            .routes
            .iter()
            .filter_map(|r| r.instance_id.clone())
            .collect(),
        "route.state" => t
            .routes
            .iter()
            .map(|r| w.route_state(r).as_str().to_string())
            .collect(),
        "route.origin" => t
            .routes
            .iter()
            .map(|r| r.origin.as_str().to_string())
            .collect(),
        _ => vec![],
    }
}

const ROUTE_TABLE_FILTERS: &[&str] = &[
    "route-table-id",
    "vpc-id",
    "owner-id",
    "association.subnet-id",
    "association.main",
    "association.route-table-association-id",
    "route.destination-cidr-block",
    "route.destination-ipv6-cidr-block",
    "route.gateway-id",
    "route.nat-gateway-id",
    "route.vpc-peering-connection-id",
    "route.instance-id",
    "route.state",
    "route.origin",
];

/// A table's associations: `(association id, Some(subnet) | None for main)`.
fn associations(t: &RouteTable) -> Vec<(String, Option<&String>)> {
    let mut out: Vec<(String, Option<&String>)> = Vec::new();
    if t.main {
        out.push((derived_id("rtbassoc", &[&t.id, "main"]), None));
    }
    for s in &t.subnets {
        out.push((derived_id("rtbassoc", &[&t.id, s]), Some(s)));
    }
    out
}

pub fn route_tables(p: &Params, w: &World) -> Result<String, ApiError> {
    let ids = p.list("RouteTableId");
    let mut items: Vec<_> = w.route_tables.iter().collect();
    if !ids.is_empty() {
        if let Some(missing) = ids.iter().find(|id| w.route_table(id).is_none()) {
            return Err(route_table_not_found(missing));
        }
        items.retain(|t| ids.contains(&t.id));
    }
    let items = filters::apply(
        items,
        &p.filters()?,
        ROUTE_TABLE_FILTERS,
        |t| &t.tags,
        |t, n| table_values(w, t, n),
    )?;
    let (page, next) = paginate(items, p, 5, 100)?;
    let mut x = Xml::new();
    x.set("routeTableSet", page, |x, t| {
        x.leaf("routeTableId", &t.id)
            .leaf("vpcId", &t.vpc_id)
            .leaf("ownerId", &w.account_id);
        x.set("routeSet", &t.routes, |x, r| {
            if r.destination.addr().is_ipv4() {
                x.leaf("destinationCidrBlock", r.destination);
            } else {
                x.leaf("destinationIpv6CidrBlock", r.destination);
            }
            match &r.target {
                Target::Local => {
                    x.leaf("gatewayId", "local");
                }
                Target::Gateway(g) => {
                    x.leaf("gatewayId", g);
                }
                Target::NatGateway(g) => {
                    x.leaf("natGatewayId", g);
                }
                Target::VpcPeeringConnection(g) => {
                    x.leaf("vpcPeeringConnectionId", g);
                }
                Target::NetworkInterface(eni) => {
                    if let Some(i) = &r.instance_id {
                        x.leaf("instanceId", i)
                            .leaf("instanceOwnerId", &w.account_id);
                    }
                    x.leaf("networkInterfaceId", eni);
                }
                Target::Instance(i) => {
                    x.leaf("instanceId", i)
                        .leaf("instanceOwnerId", &w.account_id);
                }
            }
            x.leaf("state", w.route_state(r).as_str())
                .leaf("origin", r.origin.as_str());
        });
        x.set("associationSet", associations(t), |x, (id, subnet)| {
            x.leaf("routeTableAssociationId", id)
                .leaf("routeTableId", &t.id);
            x.leaf_opt("subnetId", subnet);
            x.leaf("main", subnet.is_none())
                .node("associationState", |x| {
                    x.leaf("state", "associated");
                });
        });
        x.node("propagatingVgwSet", |_| {}).tag_set(&t.tags);
    });
    x.leaf_opt("nextToken", next);
    Ok(x.into_string())
}

const INSTANCE_FILTERS: &[&str] = &[
    "instance-id",
    "vpc-id",
    "subnet-id",
    "availability-zone",
    "instance-state-name",
    "instance-state-code",
    "private-ip-address",
    "network-interface.network-interface-id",
];

pub fn instances(p: &Params, w: &World) -> Result<String, ApiError> {
    let ids = p.list("InstanceId");
    if !ids.is_empty() && p.get("MaxResults").is_some() {
        return Err(ApiError::invalid_parameter_combination(
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    for id in &ids {
        check_instance_id(id)?;
    }
    let mut items: Vec<&Instance> = w.instances.iter().collect();
    if !ids.is_empty() {
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| w.instance(id).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(instances_not_found(&missing));
        }
        items.retain(|i| ids.contains(&i.id));
    }
    let items = filters::apply(
        items,
        &p.filters()?,
        INSTANCE_FILTERS,
        |i| &i.tags,
        |i, name| {
            let subnet = w.subnet(&i.subnet_id);
            match name {
                "instance-id" => vec![i.id.clone()],
                "vpc-id" => subnet.map(|s| s.vpc_id.clone()).into_iter().collect(),
                "subnet-id" => vec![i.subnet_id.clone()],
                "availability-zone" => subnet.map(|s| s.az.clone()).into_iter().collect(),
                "instance-state-name" => vec![i.state.name().into()],
                "instance-state-code" => vec![i.state.code().to_string()],
                "private-ip-address" => i
                    .network_interfaces
                    .iter()
                    .filter_map(|e| e.private_ip.map(|ip| ip.to_string()))
                    .collect(),
                "network-interface.network-interface-id" => {
                    i.network_interfaces.iter().map(|e| e.id.clone()).collect()
                }
                _ => vec![],
            }
        },
    )?;
    let (page, next) = paginate(items, p, 5, 1000)?;
    let mut x = Xml::new();
    x.set("reservationSet", page, |x, i| {
        x.leaf("reservationId", derived_id("r", &[&i.id]))
            .leaf("ownerId", &w.account_id)
            .node("groupSet", |_| {})
            .set("instancesSet", [i], |x, i| render_instance(x, w, i));
    });
    x.leaf_opt("nextToken", next);
    Ok(x.into_string())
}

fn private_dns(ip: std::net::IpAddr) -> String {
    format!("ip-{}.ec2.internal", ip.to_string().replace('.', "-"))
}

fn render_instance(x: &mut Xml, w: &World, i: &Instance) {
    let subnet = w.subnet(&i.subnet_id);
    let primary_ip = i.primary_eni().and_then(|e| e.private_ip);
    x.leaf("instanceId", &i.id)
        .leaf("imageId", "ami-0routeplanemock0001")
        .node("instanceState", |x| {
            x.leaf("code", i.state.code()).leaf("name", i.state.name());
        })
        .leaf(
            "privateDnsName",
            primary_ip.map(private_dns).unwrap_or_default(),
        )
        .leaf("dnsName", "")
        .leaf("amiLaunchIndex", 0)
        .leaf("instanceType", "m5.large")
        .leaf("launchTime", "2024-01-01T00:00:00.000Z")
        .node("placement", |x| {
            x.leaf_opt("availabilityZone", subnet.map(|s| &s.az))
                .leaf("groupName", "")
                .leaf("tenancy", "default");
        })
        .node("monitoring", |x| {
            x.leaf("state", "disabled");
        })
        .leaf("subnetId", &i.subnet_id)
        .leaf_opt("vpcId", subnet.map(|s| &s.vpc_id))
        .leaf_opt("privateIpAddress", primary_ip)
        .leaf("sourceDestCheck", i.source_dest_check())
        .node("groupSet", |_| {})
        .leaf("architecture", "x86_64")
        .leaf("rootDeviceType", "ebs")
        .leaf("rootDeviceName", "/dev/xvda")
        .leaf("virtualizationType", "hvm")
        .tag_set(&i.tags)
        .leaf("hypervisor", "xen")
        .set("networkInterfaceSet", &i.network_interfaces, |x, e| {
            render_instance_eni(x, w, i, e)
        });
}

fn render_instance_eni(x: &mut Xml, w: &World, i: &Instance, e: &NetworkInterface) {
    let subnet_id = e.subnet_id.as_ref().unwrap_or(&i.subnet_id);
    x.leaf("networkInterfaceId", &e.id)
        .leaf("subnetId", subnet_id)
        .leaf_opt("vpcId", w.subnet(subnet_id).map(|s| &s.vpc_id))
        .leaf("description", "")
        .leaf("ownerId", &w.account_id)
        .leaf("status", "in-use")
        .leaf("macAddress", mac(&e.id))
        .leaf_opt("privateIpAddress", e.private_ip)
        .leaf_opt("privateDnsName", e.private_ip.map(private_dns))
        .leaf("sourceDestCheck", e.source_dest_check)
        .node("groupSet", |_| {})
        .node("attachment", |x| {
            x.leaf("attachmentId", derived_id("eni-attach", &[&e.id]))
                .leaf("deviceIndex", e.device_index)
                .leaf("status", "attached")
                .leaf("attachTime", "2024-01-01T00:00:00.000Z")
                .leaf("deleteOnTermination", e.device_index == 0)
                .leaf("networkCardIndex", 0);
        })
        .set("privateIpAddressesSet", e.private_ip, |x, ip| {
            x.leaf("privateIpAddress", ip)
                .leaf("privateDnsName", private_dns(ip))
                .leaf("primary", true);
        })
        .node("ipv6AddressesSet", |_| {})
        .leaf("interfaceType", "interface");
}

/// A stable, locally administered MAC derived from the ENI ID.
fn mac(id: &str) -> String {
    let d = derived_id("m", &[id]);
    let hex: Vec<char> = d.chars().skip(2).collect();
    let mut out = String::from("02");
    for pair in hex.chunks(2).take(5) {
        out.push(':');
        out.extend(pair);
    }
    out
}

pub fn network_interfaces(p: &Params, w: &World) -> Result<String, ApiError> {
    let ids = p.list("NetworkInterfaceId");
    let mut items: Vec<(&Instance, &NetworkInterface)> = w
        .instances
        .iter()
        .flat_map(|i| i.network_interfaces.iter().map(move |e| (i, e)))
        .collect();
    if !ids.is_empty() {
        if let Some(missing) = ids.iter().find(|id| w.eni(id).is_none()) {
            return Err(eni_not_found(missing));
        }
        items.retain(|(_, e)| ids.contains(&e.id));
    }
    let no_tags = Default::default();
    let items = filters::apply(
        items,
        &p.filters()?,
        &[
            "network-interface-id",
            "subnet-id",
            "vpc-id",
            "attachment.instance-id",
            "availability-zone",
            "private-ip-address",
        ],
        |_| &no_tags,
        |(i, e), name| {
            let subnet_id = e.subnet_id.as_ref().unwrap_or(&i.subnet_id);
            let subnet = w.subnet(subnet_id);
            match name {
                "network-interface-id" => vec![e.id.clone()],
                "subnet-id" => vec![subnet_id.clone()],
                "vpc-id" => subnet.map(|s| s.vpc_id.clone()).into_iter().collect(),
                "attachment.instance-id" => vec![i.id.clone()],
                "availability-zone" => subnet.map(|s| s.az.clone()).into_iter().collect(),
                "private-ip-address" => e.private_ip.map(|ip| ip.to_string()).into_iter().collect(),
                _ => vec![],
            }
        },
    )?;
    let (page, next) = paginate(items, p, 5, 1000)?;
    let mut x = Xml::new();
    x.set("networkInterfaceSet", page, |x, (i, e)| {
        let subnet_id = e.subnet_id.as_ref().unwrap_or(&i.subnet_id);
        let subnet = w.subnet(subnet_id);
        x.leaf("networkInterfaceId", &e.id)
            .leaf("subnetId", subnet_id)
            .leaf_opt("vpcId", subnet.map(|s| &s.vpc_id))
            .leaf_opt("availabilityZone", subnet.map(|s| &s.az))
            .leaf("description", "")
            .leaf("ownerId", &w.account_id)
            .leaf("requesterManaged", false)
            .leaf("status", "in-use")
            .leaf("macAddress", mac(&e.id))
            .leaf_opt("privateIpAddress", e.private_ip)
            .leaf_opt("privateDnsName", e.private_ip.map(private_dns))
            .leaf("sourceDestCheck", e.source_dest_check)
            .node("groupSet", |_| {})
            .node("attachment", |x| {
                x.leaf("attachmentId", derived_id("eni-attach", &[&e.id]))
                    .leaf("instanceId", &i.id)
                    .leaf("instanceOwnerId", &w.account_id)
                    .leaf("deviceIndex", e.device_index)
                    .leaf("status", "attached")
                    .leaf("attachTime", "2024-01-01T00:00:00.000Z")
                    .leaf("deleteOnTermination", e.device_index == 0)
                    .leaf("networkCardIndex", 0);
            })
            .node("tagSet", |_| {})
            .set("privateIpAddressesSet", e.private_ip, |x, ip| {
                x.leaf("privateIpAddress", ip)
                    .leaf("privateDnsName", private_dns(ip))
                    .leaf("primary", true);
            })
            .node("ipv6AddressesSet", |_| {})
            .leaf("interfaceType", "interface");
    });
    x.leaf_opt("nextToken", next);
    Ok(x.into_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_and_regions_are_derived_from_the_zone_name() {
        assert_eq!(region_of("us-east-1a"), "us-east-1");
        assert_eq!(az_id("us-east-1b"), "ue1-az2");
    }
}
