//! The three route writes, each one EC2 request in the common case: `CreateRoute`,
//! `ReplaceRoute` and `DeleteRoute`, pointed at the node's primary ENI (`NetworkInterfaceId`),
//! with `DestinationIpv6CidrBlock` for IPv6 Pod CIDRs.
//!
//! Idempotency (the trait's promise): a create that finds the route already there reads the
//! route back and succeeds when it already points at our ENI or instance (for example after a
//! retried request that EC2 had applied); a delete of a route that is gone succeeds; a replace
//! of a route that vanished creates it.

use aws_sdk_ec2::types::{Filter, Route};
use ipnet::IpNet;
use routeplane_core::provider::{ErrorKind, ProviderError};

use crate::action::Action;
use crate::call::Ec2;
use crate::instances::InstanceFacts;
use crate::tables::other_target;

/// Creates `destination` → `target`'s primary ENI in `table`.
///
/// # Errors
/// `Quota` when the table is full, `Conflict` when the destination points elsewhere.
pub async fn create(
    ec2: &Ec2,
    table: &str,
    destination: IpNet,
    target: &InstanceFacts,
) -> Result<(), ProviderError> {
    let eni = primary_eni(target)?;
    let result = ec2
        .call(Action::CreateRoute, table, || {
            let req = ec2
                .client
                .create_route()
                .route_table_id(table)
                .network_interface_id(eni);
            let req = match destination {
                IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
                IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
            };
            req.send()
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::Conflict => {
            match current_route(ec2, table, destination).await? {
                Some(r)
                    if r.instance_id() == Some(target.instance_id.as_str())
                        || r.network_interface_id() == Some(eni) =>
                {
                    Ok(())
                }
                Some(r) => {
                    let now = r
                        .instance_id()
                        .map_or_else(|| other_target(&r), str::to_string);
                    Err(ProviderError {
                        message: format!(
                            "{table}: {destination} already points at {now}, not {}",
                            target.instance_id
                        ),
                        ..e
                    })
                }
                // Gone again between the two calls: the next pass creates it.
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Points the existing `destination` in `table` at `target`'s primary ENI.
///
/// # Errors
/// As for [`create`].
pub async fn replace(
    ec2: &Ec2,
    table: &str,
    destination: IpNet,
    target: &InstanceFacts,
) -> Result<(), ProviderError> {
    let eni = primary_eni(target)?;
    let result = ec2
        .call(Action::ReplaceRoute, table, || {
            let req = ec2
                .client
                .replace_route()
                .route_table_id(table)
                .network_interface_id(eni);
            let req = match destination {
                IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
                IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
            };
            req.send()
        })
        .await;
    match result {
        Err(e) if e.code.as_deref() == Some("InvalidRoute.NotFound") => {
            create(ec2, table, destination, target).await
        }
        other => other.map(|_| ()),
    }
}

/// Deletes `destination` from `table`; a route that is already gone is success.
///
/// # Errors
/// A classified failure other than the route being gone.
pub async fn delete(ec2: &Ec2, table: &str, destination: IpNet) -> Result<(), ProviderError> {
    let result = ec2
        .call(Action::DeleteRoute, table, || {
            let req = ec2.client.delete_route().route_table_id(table);
            let req = match destination {
                IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
                IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
            };
            req.send()
        })
        .await;
    match result {
        Err(e) if e.code.as_deref() == Some("InvalidRoute.NotFound") => Ok(()),
        other => other.map(|_| ()),
    }
}

fn primary_eni(target: &InstanceFacts) -> Result<&str, ProviderError> {
    target
        .primary_eni
        .as_deref()
        .ok_or_else(|| no_eni(&target.instance_id))
}

/// The error for an instance routes cannot point at.
pub fn no_eni(instance: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!("instance {instance} has no network interface at device index 0 (terminated, or not a VPC instance?): routes cannot point at it"),
    )
    .with_code("NoNetworkInterface")
}

/// The route at `destination` in `table`, read with one filtered `DescribeRouteTables`;
/// `None` when it is absent.
async fn current_route(
    ec2: &Ec2,
    table: &str,
    destination: IpNet,
) -> Result<Option<Route>, ProviderError> {
    let dest_filter = match destination {
        IpNet::V4(_) => "route.destination-cidr-block",
        IpNet::V6(_) => "route.destination-ipv6-cidr-block",
    };
    let out = ec2
        .call(Action::DescribeRouteTables, table, || {
            ec2.client
                .describe_route_tables()
                .filters(
                    Filter::builder()
                        .name("route-table-id")
                        .values(table)
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name(dest_filter)
                        .values(destination.to_string())
                        .build(),
                )
                .send()
        })
        .await?;
    let dest = destination.to_string();
    Ok(out
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .find(|r| {
            r.destination_cidr_block() == Some(&dest)
                || r.destination_ipv6_cidr_block() == Some(&dest)
        })
        .cloned())
}
