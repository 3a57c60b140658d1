//! CreateRoute, ReplaceRoute and DeleteRoute, with EC2's checks and error codes: the table must
//! exist, exactly one destination and one target, the route limit per table and family
//! (`RouteLimitExceeded`), `RouteAlreadyExists`, `InvalidRoute.NotFound`, and the rule that the
//! `local` route can be neither replaced nor deleted.
//!
//! An instance target is stored as the instance's only ENI (EC2 refuses an instance with several
//! ENIs and asks for the interface instead).

use ipnet::IpNet;

use super::super::error::ApiError;
use super::super::query::Params;
use super::super::world::{InstanceState, Route, RouteOrigin, Target, World};
use super::{
    check_instance_id, eni_not_found, instances_not_found, returned_true, route_table_not_found,
};

/// The destination of a route request: exactly one of the two CIDR parameters.
fn destination(p: &Params) -> Result<IpNet, ApiError> {
    let v4 = p.get("DestinationCidrBlock");
    let v6 = p.get("DestinationIpv6CidrBlock");
    if p.get("DestinationPrefixListId").is_some() {
        return Err(ApiError::invalid_parameter_value(
            "DestinationPrefixListId is not supported by this mock",
        ));
    }
    let (raw, param, want_v4) = match (v4, v6) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_parameter_combination(
                "The parameter destinationCidrBlock cannot be used with the parameter destinationIpv6CidrBlock",
            ));
        }
        (None, None) => {
            return Err(ApiError::client(
                "MissingParameter",
                "The request must contain exactly one of destinationCidrBlock, destinationIpv6CidrBlock or destinationPrefixListId",
            ));
        }
        (Some(c), None) => (c, "destinationCidrBlock", true),
        (None, Some(c)) => (c, "destinationIpv6CidrBlock", false),
    };
    let net: IpNet = raw.parse().map_err(|_| {
        ApiError::invalid_parameter_value(format!(
            "Value ({raw}) for parameter {param} is invalid. This is not a valid CIDR block."
        ))
    })?;
    if net.addr().is_ipv4() != want_v4 {
        return Err(ApiError::invalid_parameter_value(format!(
            "Value ({raw}) for parameter {param} is invalid. This is not a valid CIDR block."
        )));
    }
    // EC2 stores the network address of the block.
    Ok(net.trunc())
}

/// The target of a route request, resolved and checked against the world.
fn target(p: &Params, w: &World) -> Result<(Target, Option<String>), ApiError> {
    const TARGETS: &[&str] = &[
        "InstanceId",
        "NetworkInterfaceId",
        "GatewayId",
        "NatGatewayId",
        "VpcPeeringConnectionId",
        "TransitGatewayId",
        "EgressOnlyInternetGatewayId",
        "LocalGatewayId",
        "CarrierGatewayId",
        "VpcEndpointId",
        "CoreNetworkArn",
    ];
    let given: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| p.get(t).is_some())
        .collect();
    let name = match given.as_slice() {
        [] => {
            return Err(ApiError::client(
                "MissingParameter",
                "The request must contain a route target (gatewayId, instanceId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, …)",
            ));
        }
        [one] => *one,
        [a, b, ..] => {
            return Err(ApiError::invalid_parameter_combination(format!(
                "The parameter {a} cannot be used with the parameter {b}"
            )));
        }
    };
    let value = p.require(name)?.to_string();
    let expect_prefix = |prefixes: &[&str], t: Target| {
        if prefixes.iter().any(|pre| value.starts_with(pre)) {
            Ok((t, None))
        } else {
            Err(ApiError::invalid_parameter_value(format!(
                "Value ({value}) for parameter {name} is invalid."
            )))
        }
    };
    match name {
        "InstanceId" => {
            check_instance_id(&value)?;
            let inst = w
                .instance(&value)
                .ok_or_else(|| instances_not_found(&[&value]))?;
            if inst.state == InstanceState::Terminated {
                return Err(ApiError::client(
                    "IncorrectInstanceState",
                    format!(
                        "The instance '{value}' is not in a state from which it can be used as a route target."
                    ),
                ));
            }
            match inst.network_interfaces.as_slice() {
                [eni] => Ok((
                    Target::NetworkInterface(eni.id.clone()),
                    Some(value.clone()),
                )),
                _ => Err(ApiError::client(
                    "InvalidInstanceID",
                    format!(
                        "There are multiple interfaces attached to instance '{value}'. Please specify an interface ID for the operation instead."
                    ),
                )),
            }
        }
        "NetworkInterfaceId" => {
            let (inst, _) = w.eni(&value).ok_or_else(|| eni_not_found(&value))?;
            Ok((
                Target::NetworkInterface(value.clone()),
                Some(inst.id.clone()),
            ))
        }
        "GatewayId" => {
            if value == "local" {
                return Err(ApiError::invalid_parameter_value(
                    "Value (local) for parameter gatewayId is invalid. A local route is managed by EC2.",
                ));
            }
            expect_prefix(&["igw-", "vgw-"], Target::Gateway(value.clone()))
        }
        "NatGatewayId" => expect_prefix(&["nat-"], Target::NatGateway(value.clone())),
        "VpcPeeringConnectionId" => {
            expect_prefix(&["pcx-"], Target::VpcPeeringConnection(value.clone()))
        }
        other => Err(ApiError::invalid_parameter_value(format!(
            "Route targets of type {other} are not supported by this mock"
        ))),
    }
}

fn table_index(w: &World, p: &Params) -> Result<usize, ApiError> {
    let id = p.require("RouteTableId")?;
    w.route_tables
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| route_table_not_found(id))
}

/// The routes of `family` that count toward the table's limit.
fn counted_routes(w: &World, routes: &[Route], v4: bool) -> usize {
    routes
        .iter()
        .filter(|r| r.destination.addr().is_ipv4() == v4)
        .filter(|r| w.local_route_counts || r.target != Target::Local)
        .count()
}

pub fn create(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let ti = table_index(w, p)?;
    let dest = destination(p)?;
    let (target, instance_id) = target(p, w)?;
    let table = &w.route_tables[ti];
    if table.routes.iter().any(|r| r.destination == dest) {
        return Err(ApiError::client(
            "RouteAlreadyExists",
            format!("The route identified by {dest} already exists."),
        ));
    }
    if counted_routes(w, &table.routes, dest.addr().is_ipv4()) >= w.route_limit {
        return Err(ApiError::client(
            "RouteLimitExceeded",
            format!(
                "The maximum number of routes has been reached for route table {} ({} routes).",
                table.id, w.route_limit
            ),
        ));
    }
    w.route_tables[ti].routes.push(Route {
        destination: dest,
        target,
        origin: RouteOrigin::CreateRoute,
        instance_id,
    });
    Ok(returned_true())
}

fn no_route(dest: IpNet, table: &str) -> ApiError {
    let param = if dest.addr().is_ipv4() {
        "destination-cidr-block"
    } else {
        "destination-ipv6-cidr-block"
    };
    ApiError::client(
        "InvalidRoute.NotFound",
        format!("no route with {param} {dest} in route table {table}"),
    )
}

pub fn replace(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let ti = table_index(w, p)?;
    let dest = destination(p)?;
    let (target, instance_id) = target(p, w)?;
    let table = &mut w.route_tables[ti];
    let Some(route) = table.routes.iter_mut().find(|r| r.destination == dest) else {
        return Err(ApiError::client(
            "InvalidRoute.NotFound",
            format!(
                "There is no route defined for '{dest}' in the route table. Use CreateRoute instead."
            ),
        ));
    };
    if route.target == Target::Local {
        return Err(ApiError::invalid_parameter_value(format!(
            "cannot replace local route {dest} in route table {}",
            table.id
        )));
    }
    route.target = target;
    route.instance_id = instance_id;
    route.origin = RouteOrigin::CreateRoute;
    Ok(returned_true())
}

pub fn delete(p: &Params, w: &mut World) -> Result<String, ApiError> {
    let ti = table_index(w, p)?;
    let dest = destination(p)?;
    let table = &mut w.route_tables[ti];
    let Some(pos) = table.routes.iter().position(|r| r.destination == dest) else {
        return Err(no_route(dest, &table.id));
    };
    if table.routes[pos].target == Target::Local {
        return Err(ApiError::invalid_parameter_value(format!(
            "cannot remove local route {dest} in route table {}",
            table.id
        )));
    }
    table.routes.remove(pos);
    Ok(returned_true())
}
