//! The JSON resources the mock answers with, in Compute Engine v1's shapes: `kind`, string
//! ids, full self-links under `https://www.googleapis.com/compute/v1/`, and optional fields left
//! out when empty, as GCE does.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::links::{self, Link};
use super::world::{GceWorld, Instance, Network, NextHop, Route, region_of};

/// A route, with the warnings GCE attaches when its next hop cannot carry traffic.
pub fn route(w: &GceWorld, r: &Route) -> Value {
    route_with(w, r, |zone, name| w.find_instance(zone, name))
}

/// Every route of the world, its instances looked up in an index: a list renders every route
/// per page, and a linear search per route made a 5,000-route list quadratic.
pub fn routes(w: &GceWorld) -> Vec<Value> {
    let by_key: HashMap<(&str, &str), &Instance> = w
        .instances
        .iter()
        .map(|i| ((i.zone.as_str(), i.name.as_str()), i))
        .collect();
    w.routes
        .iter()
        .map(|r| route_with(w, r, |zone, name| by_key.get(&(zone, name)).copied()))
        .collect()
}

fn route_with<'w>(
    w: &GceWorld,
    r: &Route,
    find_instance: impl Fn(&str, &str) -> Option<&'w Instance>,
) -> Value {
    let p = &w.project;
    let mut v = json!({
        "kind": "compute#route",
        "id": r.id.to_string(),
        "creationTimestamp": r.creation_timestamp,
        "name": r.name,
        "network": links::url(&format!("projects/{p}/global/networks/{}", r.network)),
        "destRange": r.dest_range,
        "priority": r.priority,
        "selfLink": links::url(&format!("projects/{p}/global/routes/{}", r.name)),
        "routeType": "STATIC",
        "routeStatus": "ACTIVE",
    });
    if !r.description.is_empty() {
        v["description"] = json!(r.description);
    }
    if !r.tags.is_empty() {
        v["tags"] = json!(r.tags);
    }
    match &r.next_hop {
        NextHop::Instance { .. } | NextHop::Gateway(_) => {
            let key = if matches!(r.next_hop, NextHop::Instance { .. }) {
                "nextHopInstance"
            } else {
                "nextHopGateway"
            };
            if let Some(link) = w.next_hop_link(&r.next_hop) {
                v[key] = json!(link.to_string());
            }
        }
        NextHop::Ip(ip) => v["nextHopIp"] = json!(ip),
        NextHop::Ilb(ilb) => v["nextHopIlb"] = json!(ilb),
        NextHop::VpnTunnel(t) => v["nextHopVpnTunnel"] = json!(t),
    }
    let warnings = warnings(w, r, find_instance);
    if !warnings.is_empty() {
        v["warnings"] = Value::Array(warnings);
    }
    v
}

/// GCE's route warnings for an instance next hop that is gone, stopped, not forwarding, or
/// has no IPv6 address for an IPv6 destination.
fn warnings<'w>(
    w: &GceWorld,
    r: &Route,
    find_instance: impl Fn(&str, &str) -> Option<&'w Instance>,
) -> Vec<Value> {
    let NextHop::Instance { zone, name } = &r.next_hop else {
        return Vec::new();
    };
    let url = Link::Instance {
        project: w.project.clone(),
        zone: zone.clone(),
        name: name.clone(),
    }
    .to_string();
    let warn = |code: &str, message: String| json!({"code": code, "message": message, "data": [{"key": "instance", "value": url}]});
    let Some(i) = find_instance(zone, name) else {
        return vec![warn(
            "NEXT_HOP_INSTANCE_NOT_FOUND",
            format!("Next hop instance '{url}' does not exist."),
        )];
    };
    let mut out = Vec::new();
    if i.status != "RUNNING" {
        out.push(warn(
            "NEXT_HOP_NOT_RUNNING",
            format!("Next hop instance '{url}' is not running."),
        ));
    }
    if !i.can_ip_forward {
        out.push(warn(
            "NEXT_HOP_CANNOT_IP_FORWARD",
            format!("Next hop instance '{url}' cannot ip forward."),
        ));
    }
    if r.dest_range.contains(':')
        && !i
            .network_interfaces
            .iter()
            .any(|n| n.network == r.network && n.ipv6_address.is_some())
    {
        out.push(warn(
            "NEXT_HOP_INSTANCE_HAS_NO_IPV6_INTERFACE",
            format!("Next hop instance '{url}' has no IPv6 interface in the route's network."),
        ));
    }
    out
}

/// An instance.
pub fn instance(w: &GceWorld, i: &Instance) -> Value {
    let p = &w.project;
    let region = region_of(&i.zone);
    let nics: Vec<Value> = i
        .network_interfaces
        .iter()
        .map(|n| {
            let mut nic = json!({
                "kind": "compute#networkInterface",
                "name": n.name,
                "network": links::url(&format!("projects/{p}/global/networks/{}", n.network)),
                "subnetwork": links::url(&format!("projects/{p}/regions/{region}/subnetworks/{}", n.network)),
                "networkIP": n.network_ip,
                "stackType": if n.ipv6_address.is_some() { "IPV4_IPV6" } else { "IPV4_ONLY" },
                "fingerprint": "bW9jay1nY2U=",
            });
            if let Some(v6) = &n.ipv6_address {
                nic["ipv6Address"] = json!(v6);
                nic["ipv6AccessType"] = json!("INTERNAL");
            }
            nic
        })
        .collect();
    json!({
        "kind": "compute#instance",
        "id": i.id.to_string(),
        "creationTimestamp": i.creation_timestamp,
        "name": i.name,
        "machineType": links::url(&format!("projects/{p}/zones/{}/machineTypes/{}", i.zone, i.machine_type)),
        "status": i.status,
        "zone": links::url(&format!("projects/{p}/zones/{}", i.zone)),
        "canIpForward": i.can_ip_forward,
        "networkInterfaces": nics,
        "selfLink": links::url(&format!("projects/{p}/zones/{}/instances/{}", i.zone, i.name)),
    })
}

/// A network.
pub fn network(w: &GceWorld, n: &Network) -> Value {
    let link = links::url(&format!(
        "projects/{}/global/networks/{}",
        w.project, n.name
    ));
    json!({
        "kind": "compute#network",
        "id": n.id.to_string(),
        "creationTimestamp": n.creation_timestamp,
        "name": n.name,
        "selfLink": link,
        "selfLinkWithId": links::url(&format!("projects/{}/global/networks/{}", w.project, n.id)),
        "autoCreateSubnetworks": n.auto_create_subnetworks,
        "routingConfig": {"routingMode": "REGIONAL"},
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
    })
}

/// A zone.
pub fn zone(w: &GceWorld, zone: &str, id: u64) -> Value {
    let p = &w.project;
    json!({
        "kind": "compute#zone",
        "id": id.to_string(),
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": links::url(&format!("projects/{p}/regions/{}", region_of(zone))),
        "selfLink": links::url(&format!("projects/{p}/zones/{zone}")),
    })
}

/// The project, with its `ROUTES` quota: the per-network limit and the fullest network's use.
pub fn project(w: &GceWorld) -> Value {
    let usage = w
        .networks
        .iter()
        .map(|n| w.routes_in(&n.name))
        .max()
        .unwrap_or(0);
    json!({
        "kind": "compute#project",
        "id": w.project_number.to_string(),
        "name": w.project,
        "selfLink": links::url(&format!("projects/{}", w.project)),
        "defaultNetworkTier": "PREMIUM",
        "quotas": [
            {"metric": "ROUTES", "limit": w.route_quota as f64, "usage": usage as f64},
            {"metric": "NETWORKS", "limit": 15.0, "usage": w.networks.len() as f64},
        ],
    })
}
