//! Contract tests: the real aws-sdk-ec2 client against the mock EC2 over HTTP, for every action
//! and error code routeplane relies on. If the SDK can parse what the mock says, and the mock
//! keeps the state EC2 would, providers tested against the mock behave the same on EC2.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, InstanceAttributeName, InstanceStateName, RouteOrigin,
    RouteState, Tag,
};
use routeplane_mocks::ec2::{FaultSpec, Faults, MockEc2, Outcome, Target, Throttle, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VPC: &str = "vpc-0a1";
const SUBNET_A: &str = "subnet-0a1";
const SUBNET_B: &str = "subnet-0b1";
const MAIN: &str = "rtb-0main";
const RTB_A: &str = "rtb-0a1";
const RTB_B: &str = "rtb-0b1";
const I_A: &str = "i-0aaaa";
const I_B: &str = "i-0bbbb";
const I_MULTI: &str = "i-0cccc";
const CLUSTER_TAG: &str = "kubernetes.io/cluster/demo";

/// One VPC (IPv4 + IPv6), two subnets, a main table and one tagged table per subnet with a
/// foreign route each, and three instances (one with a secondary ENI).
fn world() -> World {
    let mut w = World::new();
    w.add_vpc(VPC, "10.0.0.0/16").unwrap();
    w.set_vpc_ipv6(VPC, "2600:1f18:1:100::/56").unwrap();
    w.add_subnet(SUBNET_A, VPC, "10.0.1.0/24", "us-east-1a")
        .unwrap();
    w.add_subnet(SUBNET_B, VPC, "10.0.2.0/24", "us-east-1b")
        .unwrap();
    w.add_route_table(MAIN, VPC, true, &[]).unwrap();
    w.add_route_table(RTB_A, VPC, false, &[SUBNET_A]).unwrap();
    w.add_route_table(RTB_B, VPC, false, &[SUBNET_B]).unwrap();
    w.tag(RTB_A, CLUSTER_TAG, "owned").unwrap();
    w.tag(RTB_B, CLUSTER_TAG, "shared").unwrap();
    w.add_route(RTB_A, "0.0.0.0/0", Target::Gateway("igw-0a1".into()))
        .unwrap();
    w.add_route(RTB_B, "0.0.0.0/0", Target::NatGateway("nat-0b1".into()))
        .unwrap();
    w.add_route(
        RTB_B,
        "172.16.0.0/16",
        Target::VpcPeeringConnection("pcx-0b1".into()),
    )
    .unwrap();
    w.add_instance(I_A, SUBNET_A).unwrap();
    w.add_instance(I_B, SUBNET_B).unwrap();
    w.add_instance(I_MULTI, SUBNET_A).unwrap();
    w.tag(I_A, "Name", "node-a").unwrap();
    w.tag(I_B, "Name", "node-b").unwrap();
    w.add_secondary_eni(I_MULTI).unwrap();
    w
}

async fn start() -> MockEc2 {
    MockEc2::builder().world(world()).start().await.unwrap()
}

fn config(mock: &MockEc2) -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::Config::builder()
        .endpoint_url(mock.endpoint_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .behavior_version(BehaviorVersion::latest())
}

fn client(mock: &MockEc2) -> Client {
    Client::from_conf(config(mock).build())
}

fn client_without_retries(mock: &MockEc2) -> Client {
    Client::from_conf(config(mock).retry_config(RetryConfig::disabled()).build())
}

/// `CreateRoute` of `cidr` in `table` to `instance`.
async fn create_route(
    c: &Client,
    table: &str,
    cidr: &str,
    instance: &str,
) -> Result<
    aws_sdk_ec2::operation::create_route::CreateRouteOutput,
    SdkError<aws_sdk_ec2::operation::create_route::CreateRouteError, HttpResponse>,
> {
    c.create_route()
        .route_table_id(table)
        .destination_cidr_block(cidr)
        .instance_id(instance)
        .send()
        .await
}

/// `DescribeInstances` of one instance ID.
async fn describe_instance(
    c: &Client,
    id: &str,
) -> Result<
    aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
    SdkError<aws_sdk_ec2::operation::describe_instances::DescribeInstancesError, HttpResponse>,
> {
    c.describe_instances().instance_ids(id).send().await
}

fn filter(name: &str, values: &[&str]) -> Filter {
    let mut b = Filter::builder().name(name);
    for v in values {
        b = b.values(*v);
    }
    b.build()
}

/// The EC2 error code, message and HTTP status the SDK parsed from a failed call.
fn failure<E, R>(err: SdkError<E, R>) -> (String, String, u16)
where
    E: ProvideErrorMetadata,
    R: HasStatus,
{
    let status = err
        .raw_response()
        .map(HasStatus::status)
        .unwrap_or_default();
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
        status,
    )
}

trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

async fn table_routes(c: &Client, table: &str) -> Vec<aws_sdk_ec2::types::Route> {
    let out = c
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .unwrap();
    out.route_tables()[0].routes().to_vec()
}

fn route_to<'a>(
    routes: &'a [aws_sdk_ec2::types::Route],
    cidr: &str,
) -> &'a aws_sdk_ec2::types::Route {
    routes
        .iter()
        .find(|r| {
            r.destination_cidr_block() == Some(cidr)
                || r.destination_ipv6_cidr_block() == Some(cidr)
        })
        .unwrap_or_else(|| panic!("no route to {cidr} in {routes:?}"))
}

/// A hand-written POST, to see the raw wire format and to send what the SDK cannot.
async fn raw_post(mock: &MockEc2, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        mock.addr(),
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn describe_vpcs_and_subnets_are_parsed_by_the_sdk() {
    let mock = start().await;
    let c = client(&mock);
    let vpcs = c.describe_vpcs().vpc_ids(VPC).send().await.unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.vpc_id(), Some(VPC));
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    assert_eq!(
        vpc.ipv6_cidr_block_association_set()[0].ipv6_cidr_block(),
        Some("2600:1f18:1:100::/56")
    );
    assert!(
        vpcs.request_id().is_some(),
        "the SDK reads the request ID header"
    );

    let subnets = c
        .describe_subnets()
        .filters(filter("vpc-id", &[VPC]))
        .filters(filter("availability-zone", &["us-east-1b"]))
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 1);
    let s = &subnets.subnets()[0];
    assert_eq!(s.subnet_id(), Some(SUBNET_B));
    assert_eq!(s.availability_zone(), Some("us-east-1b"));
    assert_eq!(s.cidr_block(), Some("10.0.2.0/24"));
}

#[tokio::test]
async fn describe_route_tables_reports_local_gateway_nat_and_peering_routes() {
    let mock = start().await;
    let c = client(&mock);
    let out = c
        .describe_route_tables()
        .route_table_ids(RTB_B)
        .send()
        .await
        .unwrap();
    let t = &out.route_tables()[0];
    assert_eq!(t.vpc_id(), Some(VPC));
    assert_eq!(t.owner_id(), Some("123456789012"));
    let routes = t.routes();
    let local = route_to(routes, "10.0.0.0/16");
    assert_eq!(local.gateway_id(), Some("local"));
    assert_eq!(local.origin(), Some(&RouteOrigin::CreateRouteTable));
    assert_eq!(local.state(), Some(&RouteState::Active));
    assert_eq!(
        route_to(routes, "2600:1f18:1:100::/56").gateway_id(),
        Some("local")
    );
    assert_eq!(
        route_to(routes, "0.0.0.0/0").nat_gateway_id(),
        Some("nat-0b1")
    );
    let pcx = route_to(routes, "172.16.0.0/16");
    assert_eq!(pcx.vpc_peering_connection_id(), Some("pcx-0b1"));
    assert_eq!(pcx.origin(), Some(&RouteOrigin::CreateRoute));
    let assoc = &t.associations()[0];
    assert_eq!(assoc.subnet_id(), Some(SUBNET_B));
    assert_eq!(assoc.main(), Some(false));
    assert!(
        assoc
            .route_table_association_id()
            .unwrap()
            .starts_with("rtbassoc-")
    );
    assert_eq!(t.tags()[0].key(), Some(CLUSTER_TAG));
    assert_eq!(t.tags()[0].value(), Some("shared"));

    let main = c
        .describe_route_tables()
        .route_table_ids(MAIN)
        .send()
        .await
        .unwrap();
    let assoc = &main.route_tables()[0].associations()[0];
    assert_eq!(assoc.main(), Some(true));
    assert_eq!(assoc.subnet_id(), None);
}

#[tokio::test]
async fn describe_route_tables_filters_by_vpc_tags_association_and_main() {
    let mock = start().await;
    let c = client(&mock);
    let ids = |out: aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput| {
        let mut v: Vec<String> = out
            .route_tables()
            .iter()
            .map(|t| t.route_table_id().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let q = |f: Filter| c.describe_route_tables().filters(f).send();
    assert_eq!(ids(q(filter("vpc-id", &[VPC])).await.unwrap()).len(), 3);
    assert_eq!(
        ids(q(filter("tag-key", &[CLUSTER_TAG])).await.unwrap()),
        [RTB_A, RTB_B]
    );
    assert_eq!(
        ids(q(filter(&format!("tag:{CLUSTER_TAG}"), &["owned"]))
            .await
            .unwrap()),
        [RTB_A]
    );
    assert_eq!(
        ids(q(filter("tag-value", &["shared"])).await.unwrap()),
        [RTB_B]
    );
    assert_eq!(
        ids(q(filter("tag-key", &["kubernetes.io/cluster/*"]))
            .await
            .unwrap()),
        [RTB_A, RTB_B]
    );
    assert_eq!(
        ids(q(filter("association.subnet-id", &[SUBNET_A]))
            .await
            .unwrap()),
        [RTB_A]
    );
    assert_eq!(
        ids(q(filter("association.main", &["true"])).await.unwrap()),
        [MAIN]
    );
    assert_eq!(
        ids(q(filter("route-table-id", &[MAIN, RTB_B])).await.unwrap()),
        [RTB_B, MAIN]
    );
    // Filters are AND-ed.
    let both = c
        .describe_route_tables()
        .filters(filter("tag-key", &[CLUSTER_TAG]))
        .filters(filter("association.subnet-id", &[SUBNET_B]))
        .send()
        .await
        .unwrap();
    assert_eq!(ids(both), [RTB_B]);

    let err = q(filter("colour", &["red"])).await.unwrap_err();
    assert_eq!(failure(err).0, "InvalidParameterValue");
}

#[tokio::test]
async fn describe_route_tables_paginates_with_next_token() {
    let mock = start().await;
    mock.world().edit(|w| {
        for i in 0..9 {
            w.add_route_table(&format!("rtb-0extra{i}"), VPC, false, &[])
                .unwrap();
        }
    });
    let c = client(&mock);
    let first = c
        .describe_route_tables()
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(first.route_tables().len(), 5);
    let token = first
        .next_token()
        .expect("a next token while tables remain");
    let second = c
        .describe_route_tables()
        .max_results(5)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.route_tables().len(), 5);
    let third = c
        .describe_route_tables()
        .max_results(5)
        .next_token(second.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(third.route_tables().len(), 2);
    assert_eq!(third.next_token(), None);

    // The SDK's own paginator walks the same pages.
    let mut pages = c
        .describe_route_tables()
        .max_results(5)
        .into_paginator()
        .send();
    let mut seen = 0;
    while let Some(page) = pages.next().await {
        seen += page.unwrap().route_tables().len();
    }
    assert_eq!(seen, 12);

    let err = c
        .describe_route_tables()
        .max_results(500)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidParameterValue");
    let err = c
        .describe_route_tables()
        .max_results(5)
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidParameterValue");
}

#[tokio::test]
async fn an_unknown_route_table_id_is_invalid_route_table_id_not_found() {
    let mock = start().await;
    let c = client(&mock);
    let err = c
        .describe_route_tables()
        .route_table_ids("rtb-0nope")
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert_eq!(service.meta().code(), Some("InvalidRouteTableID.NotFound"));
    assert_eq!(
        service.meta().message(),
        Some("The routeTable ID 'rtb-0nope' does not exist")
    );
}

#[tokio::test]
async fn describe_instances_returns_enis_placement_addresses_and_source_dest_check() {
    let mock = start().await;
    let c = client(&mock);
    let out = c
        .describe_instances()
        .instance_ids(I_A)
        .instance_ids(I_MULTI)
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 2);
    let a = instances
        .iter()
        .find(|i| i.instance_id() == Some(I_A))
        .unwrap();
    assert_eq!(
        a.state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );
    assert_eq!(
        a.placement().and_then(|p| p.availability_zone()),
        Some("us-east-1a")
    );
    assert_eq!(a.subnet_id(), Some(SUBNET_A));
    assert_eq!(a.vpc_id(), Some(VPC));
    assert_eq!(a.private_ip_address(), Some("10.0.1.10"));
    assert_eq!(a.source_dest_check(), Some(true));
    assert_eq!(a.tags()[0].value(), Some("node-a"));
    let eni = &a.network_interfaces()[0];
    assert!(eni.network_interface_id().unwrap().starts_with("eni-"));
    assert_eq!(eni.attachment().and_then(|at| at.device_index()), Some(0));
    assert_eq!(eni.source_dest_check(), Some(true));
    assert_eq!(eni.private_ip_address(), Some("10.0.1.10"));

    let multi = instances
        .iter()
        .find(|i| i.instance_id() == Some(I_MULTI))
        .unwrap();
    let mut indexes: Vec<i32> = multi
        .network_interfaces()
        .iter()
        .filter_map(|e| e.attachment().and_then(|a| a.device_index()))
        .collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1]);
}

#[tokio::test]
async fn describe_instances_filters_and_paginates() {
    let mock = start().await;
    mock.world().edit(|w| {
        for i in 0..6 {
            w.add_instance(&format!("i-0extra{i}"), SUBNET_B).unwrap();
        }
    });
    let c = client(&mock);
    let by_tag = c
        .describe_instances()
        .filters(filter("tag:Name", &["node-*"]))
        .filters(filter("instance-state-name", &["running"]))
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = by_tag
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id())
        .collect();
    assert_eq!(ids, [I_A, I_B]);

    let in_b = c
        .describe_instances()
        .filters(filter("subnet-id", &[SUBNET_B]))
        .send()
        .await
        .unwrap();
    assert_eq!(in_b.reservations().len(), 7);

    let mut pages = c
        .describe_instances()
        .filters(filter("vpc-id", &[VPC]))
        .max_results(5)
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    while let Some(page) = pages.next().await {
        sizes.push(page.unwrap().reservations().len());
    }
    assert_eq!(sizes, [5, 4]);
}

#[tokio::test]
async fn describe_instances_rejects_unknown_and_malformed_ids_with_ec2_codes() {
    let mock = start().await;
    let c = client(&mock);
    let err = describe_instance(&c, "i-0ffff").await.unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!(code, "InvalidInstanceID.NotFound");
    assert_eq!(message, "The instance ID 'i-0ffff' does not exist");
    assert_eq!(status, 400);
    let err = describe_instance(&c, "node-1").await.unwrap_err();
    assert_eq!(failure(err).0, "InvalidInstanceID.Malformed");
    let err = c
        .describe_instances()
        .instance_ids(I_A)
        .max_results(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidParameterCombination");
}

#[tokio::test]
async fn describe_network_interfaces_lists_attached_enis() {
    let mock = start().await;
    let c = client(&mock);
    let out = c
        .describe_network_interfaces()
        .filters(filter("attachment.instance-id", &[I_MULTI]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.network_interfaces().len(), 2);
    for eni in out.network_interfaces() {
        assert_eq!(
            eni.attachment().and_then(|a| a.instance_id()),
            Some(I_MULTI)
        );
        assert_eq!(eni.vpc_id(), Some(VPC));
        assert_eq!(eni.source_dest_check(), Some(true));
    }
    let err = c
        .describe_network_interfaces()
        .network_interface_ids("eni-0nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidNetworkInterfaceID.NotFound");
}

#[tokio::test]
async fn a_route_to_an_instance_is_stored_as_its_eni_and_reported_with_both_ids() {
    let mock = start().await;
    let c = client(&mock);
    let out = create_route(&c, RTB_A, "10.244.1.0/24", I_A).await.unwrap();
    assert_eq!(out.r#return(), Some(true));
    let primary = mock
        .world()
        .read(|w| w.instance(I_A).unwrap().network_interfaces[0].id.clone());
    let routes = table_routes(&c, RTB_A).await;
    let r = route_to(&routes, "10.244.1.0/24");
    assert_eq!(r.instance_id(), Some(I_A));
    assert_eq!(r.network_interface_id(), Some(primary.as_str()));
    assert_eq!(r.instance_owner_id(), Some("123456789012"));
    assert_eq!(r.state(), Some(&RouteState::Active));
    assert_eq!(r.origin(), Some(&RouteOrigin::CreateRoute));
}

#[tokio::test]
async fn create_route_accepts_eni_gateway_nat_and_peering_targets() {
    let mock = start().await;
    let c = client(&mock);
    let eni = mock
        .world()
        .read(|w| w.instance(I_B).unwrap().network_interfaces[0].id.clone());
    let create = |cidr: &str| {
        c.create_route()
            .route_table_id(MAIN)
            .destination_cidr_block(cidr)
    };
    create("10.244.2.0/24")
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    create("0.0.0.0/0")
        .gateway_id("igw-0main")
        .send()
        .await
        .unwrap();
    create("192.168.0.0/16")
        .nat_gateway_id("nat-0main")
        .send()
        .await
        .unwrap();
    create("172.20.0.0/16")
        .vpc_peering_connection_id("pcx-0main")
        .send()
        .await
        .unwrap();
    let routes = table_routes(&c, MAIN).await;
    let r = route_to(&routes, "10.244.2.0/24");
    assert_eq!(r.network_interface_id(), Some(eni.as_str()));
    assert_eq!(
        r.instance_id(),
        Some(I_B),
        "EC2 names the instance behind an ENI"
    );
    assert_eq!(
        route_to(&routes, "0.0.0.0/0").gateway_id(),
        Some("igw-0main")
    );
    assert_eq!(
        route_to(&routes, "192.168.0.0/16").nat_gateway_id(),
        Some("nat-0main")
    );
    assert_eq!(
        route_to(&routes, "172.20.0.0/16").vpc_peering_connection_id(),
        Some("pcx-0main")
    );
}

#[tokio::test]
async fn create_route_rejects_bad_requests_with_ec2_codes() {
    let mock = start().await;
    let c = client(&mock);
    let create = || c.create_route().route_table_id(RTB_A);
    let code = |e| failure(e).0;

    create()
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(I_A)
        .send()
        .await
        .unwrap();
    let err = create()
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(I_B)
        .send()
        .await
        .unwrap_err();
    let (c1, m1, _) = failure(err);
    assert_eq!(c1, "RouteAlreadyExists");
    assert!(m1.contains("10.244.1.0/24"), "{m1}");

    let to = |cidr: &str| create().destination_cidr_block(cidr);
    let nine = "10.244.9.0/24";
    for (request, want) in [
        (
            to(nine).instance_id(I_A).gateway_id("igw-0a1"),
            "InvalidParameterCombination",
        ),
        (
            to("10.244.300.0/24").instance_id(I_A),
            "InvalidParameterValue",
        ),
        (
            to(nine).network_interface_id("eni-0nope"),
            "InvalidNetworkInterfaceID.NotFound",
        ),
        (
            to(nine).instance_id("i-0ffff"),
            "InvalidInstanceID.NotFound",
        ),
        (to(nine).instance_id("bogus"), "InvalidInstanceID.Malformed"),
        (to(nine).instance_id(I_MULTI), "InvalidInstanceID"),
        (
            to(nine).route_table_id("rtb-0nope").instance_id(I_A),
            "InvalidRouteTableID.NotFound",
        ),
    ] {
        assert_eq!(code(request.send().await.unwrap_err()), want);
    }
}

#[tokio::test]
async fn ipv6_routes_use_destination_ipv6_cidr_block() {
    let mock = start().await;
    let c = client(&mock);
    let v6 = "2600:1f18:1:1ff::/64";
    c.create_route()
        .route_table_id(RTB_A)
        .destination_ipv6_cidr_block(v6)
        .instance_id(I_A)
        .send()
        .await
        .unwrap();
    let routes = table_routes(&c, RTB_A).await;
    let r = route_to(&routes, v6);
    assert_eq!(r.destination_cidr_block(), None);
    assert_eq!(r.instance_id(), Some(I_A));
    let eni_b = mock
        .world()
        .read(|w| w.instance(I_B).unwrap().network_interfaces[0].id.clone());
    c.replace_route()
        .route_table_id(RTB_A)
        .destination_ipv6_cidr_block(v6)
        .network_interface_id(&eni_b)
        .send()
        .await
        .unwrap();
    let routes = table_routes(&c, RTB_A).await;
    assert_eq!(
        route_to(&routes, v6).network_interface_id(),
        Some(eni_b.as_str())
    );
    c.delete_route()
        .route_table_id(RTB_A)
        .destination_ipv6_cidr_block(v6)
        .send()
        .await
        .unwrap();
    let err = create_route(&c, RTB_A, v6, I_A).await.unwrap_err();
    assert_eq!(
        failure(err).0,
        "InvalidParameterValue",
        "an IPv6 block is not a DestinationCidrBlock"
    );
}

#[tokio::test]
async fn replace_route_changes_the_target_and_needs_an_existing_route() {
    let mock = start().await;
    let c = client(&mock);
    create_route(&c, RTB_A, "10.244.1.0/24", I_A).await.unwrap();
    c.replace_route()
        .route_table_id(RTB_A)
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(I_B)
        .send()
        .await
        .unwrap();
    let routes = table_routes(&c, RTB_A).await;
    assert_eq!(route_to(&routes, "10.244.1.0/24").instance_id(), Some(I_B));

    let err = c
        .replace_route()
        .route_table_id(RTB_A)
        .destination_cidr_block("10.244.7.0/24")
        .instance_id(I_B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidRoute.NotFound");
    let local = c
        .replace_route()
        .route_table_id(RTB_A)
        .destination_cidr_block("10.0.0.0/16")
        .instance_id(I_B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(local).0, "InvalidParameterValue");
}

#[tokio::test]
async fn delete_route_removes_it_once_and_never_the_local_route() {
    let mock = start().await;
    let c = client(&mock);
    let delete = |cidr: &str| {
        c.delete_route()
            .route_table_id(RTB_A)
            .destination_cidr_block(cidr)
            .send()
    };
    delete("0.0.0.0/0").await.unwrap();
    assert_eq!(
        table_routes(&c, RTB_A).await.len(),
        2,
        "the two local routes remain"
    );
    let (code, message, _) = failure(delete("0.0.0.0/0").await.unwrap_err());
    assert_eq!(code, "InvalidRoute.NotFound");
    assert!(message.contains(RTB_A), "{message}");
    assert_eq!(
        failure(delete("10.0.0.0/16").await.unwrap_err()).0,
        "InvalidParameterValue"
    );
}

#[tokio::test]
async fn terminating_an_instance_turns_its_routes_into_blackholes() {
    let mock = start().await;
    let c = client(&mock);
    for (cidr, inst) in [("10.244.1.0/24", I_A), ("10.244.2.0/24", I_B)] {
        create_route(&c, RTB_A, cidr, inst).await.unwrap();
    }
    let out = c
        .terminate_instances()
        .instance_ids(I_A)
        .send()
        .await
        .unwrap();
    let change = &out.terminating_instances()[0];
    assert_eq!(change.instance_id(), Some(I_A));
    assert_eq!(
        change.previous_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );
    assert_eq!(
        change.current_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Terminated)
    );
    // The same through the library, as a test harness would do it.
    mock.world().terminate_instance(I_B).unwrap();

    let routes = table_routes(&c, RTB_A).await;
    for (cidr, inst) in [("10.244.1.0/24", I_A), ("10.244.2.0/24", I_B)] {
        let r = route_to(&routes, cidr);
        assert_eq!(r.state(), Some(&RouteState::Blackhole), "{cidr}");
        assert_eq!(
            r.instance_id(),
            Some(inst),
            "EC2 keeps naming the gone instance"
        );
    }
    let blackholes = c
        .describe_route_tables()
        .filters(filter("route.state", &["blackhole"]))
        .send()
        .await
        .unwrap();
    assert_eq!(blackholes.route_tables().len(), 1);
    let desc = describe_instance(&c, I_A).await.unwrap();
    let i = &desc.reservations()[0].instances()[0];
    assert_eq!(
        i.state().and_then(|s| s.name()),
        Some(&InstanceStateName::Terminated)
    );
    assert!(i.network_interfaces().is_empty());
    // A blackhole is repaired with ReplaceRoute to a live target.
    let live = mock.world().read(|w| {
        w.instance(I_MULTI).unwrap().network_interfaces[0]
            .id
            .clone()
    });
    c.replace_route()
        .route_table_id(RTB_A)
        .destination_cidr_block("10.244.1.0/24")
        .network_interface_id(&live)
        .send()
        .await
        .unwrap();
    let routes = table_routes(&c, RTB_A).await;
    assert_eq!(
        route_to(&routes, "10.244.1.0/24").state(),
        Some(&RouteState::Active)
    );
    let err = c
        .terminate_instances()
        .instance_ids("i-0ffff")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidInstanceID.NotFound");
}

#[tokio::test]
async fn the_route_limit_is_enforced_per_table_and_family() {
    let mock = MockEc2::builder()
        .world(world())
        .route_limit(5)
        .start()
        .await
        .unwrap();
    let c = client(&mock);
    // RTB_A holds the IPv4 local route and a default route: 3 more fit under a limit of 5.
    for i in 0..3 {
        c.create_route()
            .route_table_id(RTB_A)
            .destination_cidr_block(format!("10.244.{i}.0/24"))
            .instance_id(I_A)
            .send()
            .await
            .unwrap();
    }
    let err = create_route(&c, RTB_A, "10.244.9.0/24", I_A)
        .await
        .unwrap_err();
    let (code, _, status) = failure(err);
    assert_eq!((code.as_str(), status), ("RouteLimitExceeded", 400));
    // IPv6 routes have their own quota, and other tables are unaffected.
    c.create_route()
        .route_table_id(RTB_A)
        .destination_ipv6_cidr_block("2600:1f18:1:1ff::/64")
        .instance_id(I_A)
        .send()
        .await
        .unwrap();
    create_route(&c, RTB_B, "10.244.9.0/24", I_A).await.unwrap();
    // Raising the limit at run time lets the write through.
    mock.world().set_route_limit(6);
    create_route(&c, RTB_A, "10.244.9.0/24", I_A).await.unwrap();
}

#[tokio::test]
async fn source_dest_check_is_read_and_turned_off_on_instances_and_enis() {
    let mock = start().await;
    let c = client(&mock);
    let read = || {
        c.describe_instance_attribute()
            .instance_id(I_A)
            .attribute(InstanceAttributeName::SourceDestCheck)
            .send()
    };
    let before = read().await.unwrap();
    assert_eq!(
        before.source_dest_check().and_then(|v| v.value()),
        Some(true)
    );
    c.modify_instance_attribute()
        .instance_id(I_A)
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    let after = read().await.unwrap();
    assert_eq!(after.instance_id(), Some(I_A));
    assert_eq!(
        after.source_dest_check().and_then(|v| v.value()),
        Some(false)
    );
    let desc = describe_instance(&c, I_A).await.unwrap();
    let i = &desc.reservations()[0].instances()[0];
    assert_eq!(i.source_dest_check(), Some(false));
    assert_eq!(
        i.network_interfaces()[0].source_dest_check(),
        Some(false),
        "the primary ENI carries it"
    );

    let secondary = mock.world().read(|w| {
        let inst = w.instance(I_MULTI).unwrap();
        inst.network_interfaces
            .iter()
            .find(|e| e.device_index == 1)
            .unwrap()
            .id
            .clone()
    });
    c.modify_network_interface_attribute()
        .network_interface_id(&secondary)
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    let enis = c
        .describe_network_interfaces()
        .network_interface_ids(&secondary)
        .send()
        .await
        .unwrap();
    assert_eq!(
        enis.network_interfaces()[0].source_dest_check(),
        Some(false)
    );
    let multi = describe_instance(&c, I_MULTI).await.unwrap();
    assert_eq!(
        multi.reservations()[0].instances()[0].source_dest_check(),
        Some(true)
    );

    let err = c
        .modify_network_interface_attribute()
        .network_interface_id("eni-0nope")
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidNetworkInterfaceID.NotFound");
    let err = c
        .modify_instance_attribute()
        .instance_id("i-0ffff")
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidInstanceID.NotFound");
}

#[tokio::test]
async fn create_tags_makes_a_table_findable_by_tag() {
    let mock = start().await;
    let c = client(&mock);
    c.create_tags()
        .resources(MAIN)
        .tags(Tag::builder().key(CLUSTER_TAG).value("owned").build())
        .send()
        .await
        .unwrap();
    let out = c
        .describe_route_tables()
        .filters(filter(&format!("tag:{CLUSTER_TAG}"), &["owned"]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.route_tables().len(), 2);
    let err = c
        .create_tags()
        .resources("rtb-0nope")
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidRouteTableID.NotFound");
}

#[tokio::test]
async fn a_denied_action_is_unauthorized_operation_naming_the_permission() {
    let mock = start().await;
    mock.world().set_denied("CreateRoute", true);
    let c = client(&mock);
    let err = create_route(&c, RTB_A, "10.244.1.0/24", I_A)
        .await
        .unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!((code.as_str(), status), ("UnauthorizedOperation", 403));
    assert!(message.contains("ec2:CreateRoute"), "{message}");
    assert!(
        message.contains("Encoded authorization failure message: "),
        "{message}"
    );
    // Reads are still allowed.
    c.describe_route_tables().send().await.unwrap();
}

#[tokio::test]
async fn dry_run_answers_dry_run_operation_and_changes_nothing() {
    let mock = start().await;
    let c = client(&mock);
    let err = c
        .create_route()
        .dry_run(true)
        .route_table_id(RTB_A)
        .destination_cidr_block("10.244.1.0/24")
        .instance_id(I_A)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(err),
        (
            "DryRunOperation".into(),
            "Request would have succeeded, but DryRun flag is set.".into(),
            412
        )
    );
    assert_eq!(table_routes(&c, RTB_A).await.len(), 3);
}

#[tokio::test]
async fn an_empty_bucket_answers_request_limit_exceeded() {
    let mock = MockEc2::builder()
        .world(world())
        .throttle(Throttle::ec2_defaults().with_bucket("CreateRoute", 3.0, 0.001))
        .start()
        .await
        .unwrap();
    let c = client_without_retries(&mock);
    let mut codes = Vec::new();
    for i in 0..4 {
        let r = c
            .create_route()
            .route_table_id(RTB_A)
            .destination_cidr_block(format!("10.244.{i}.0/24"))
            .instance_id(I_A)
            .send()
            .await;
        codes.push(r.map_err(failure).err());
    }
    assert_eq!(codes[..3], [None, None, None]);
    let (code, message, status) = codes[3].clone().unwrap();
    assert_eq!(
        (code.as_str(), message.as_str(), status),
        ("RequestLimitExceeded", "Request limit exceeded.", 503)
    );
    // Other actions have their own buckets.
    c.describe_route_tables().send().await.unwrap();
    assert_eq!(mock.calls().with_code("RequestLimitExceeded").len(), 1);
}

#[tokio::test]
async fn ec2_default_buckets_allow_a_burst_of_fifty_create_routes_then_throttle() {
    let mock = MockEc2::builder()
        .world(world())
        .route_limit(1000)
        .throttle(Throttle::ec2_defaults())
        .start()
        .await
        .unwrap();
    let c = client_without_retries(&mock);
    let started = std::time::Instant::now();
    let (mut ok, mut throttled) = (0u32, 0u32);
    for i in 0..60 {
        let r = c
            .create_route()
            .route_table_id(RTB_A)
            .destination_cidr_block(format!("10.100.{i}.0/24"))
            .instance_id(I_A)
            .send()
            .await;
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(failure(e).0, "RequestLimitExceeded");
                throttled += 1;
            }
        }
    }
    // 50 tokens at once, then 5 per second.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as u32;
    assert!(
        ok >= 50 && ok <= 50 + refilled,
        "ok {ok}, refilled at most {refilled}"
    );
    assert_eq!(ok + throttled, 60);
    let violations = mock.calls().budget_violations(&Throttle::ec2_defaults());
    assert_eq!(
        violations.len() as u32,
        throttled,
        "the replay sees the same overrun"
    );
}

#[tokio::test]
async fn injected_5xx_errors_are_parsed_and_retried_by_the_sdk() {
    let mock = start().await;
    mock.set_faults(Faults::seeded(1).action("DescribeVpcs", FaultSpec::new().internal_error(1.0)));
    let err = client_without_retries(&mock)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failure(err),
        (
            "InternalError".into(),
            "An internal error has occurred".into(),
            500
        )
    );
    // With its standard retry policy the SDK tries three times before giving up.
    mock.calls().clear();
    client(&mock).describe_vpcs().send().await.unwrap_err();
    assert_eq!(mock.calls().count("DescribeVpcs"), 3);

    mock.set_faults(Faults::seeded(1).action("DescribeVpcs", FaultSpec::new().unavailable(1.0)));
    let err = client_without_retries(&mock)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "Unavailable");
    mock.set_faults(Faults::seeded(1).action("DescribeVpcs", FaultSpec::new().throttle(1.0, 1)));
    let err = client_without_retries(&mock)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "RequestLimitExceeded");
    // Faults are per action.
    client_without_retries(&mock)
        .describe_subnets()
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn injected_timeouts_and_dropped_connections_fail_the_sdk_call() {
    let mock = start().await;
    let c = Client::from_conf(
        config(&mock)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(300))
                    .build(),
            )
            .build(),
    );
    mock.set_faults(Faults::seeded(1).action(
        "DescribeVpcs",
        FaultSpec::new().timeout(1.0, Duration::from_secs(5)),
    ));
    let err = c.describe_vpcs().send().await.unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");

    mock.set_faults(
        Faults::seeded(1).action("DescribeVpcs", FaultSpec::new().drop_connection(1.0)),
    );
    let err = c.describe_vpcs().send().await.unwrap_err();
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{err:?}"
    );

    mock.set_faults(
        Faults::seeded(1).all(FaultSpec::new().latency(Duration::from_millis(120), Duration::ZERO)),
    );
    let started = std::time::Instant::now();
    c.describe_subnets().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(120));
    let outcomes: Vec<Outcome> = mock.calls().all().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes[..2], [Outcome::Hung, Outcome::Dropped]);
}

#[tokio::test]
async fn the_wire_format_is_ec2s_and_unknown_actions_are_invalid_action() {
    let mock = start().await;
    let (status, body) = raw_post(
        &mock,
        "Action=DescribeRouteTables&Version=2016-11-15&RouteTableId.1=rtb-0a1",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains(
            "<DescribeRouteTablesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
        ),
        "{body}"
    );
    assert!(body.contains("<requestId>"), "{body}");
    assert!(
        body.contains("<routeTableSet><item><routeTableId>rtb-0a1</routeTableId>"),
        "{body}"
    );

    let (status, body) = raw_post(&mock, "Action=LaunchRockets&Version=2016-11-15").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("<Response><Errors><Error><Code>InvalidAction</Code>"),
        "{body}"
    );
    assert!(body.contains("<RequestID>"), "{body}");
}

#[tokio::test]
async fn the_call_record_counts_actions_and_checks_the_budget() {
    let mock = start().await;
    let c = client(&mock);
    c.describe_route_tables().send().await.unwrap();
    c.describe_route_tables().send().await.unwrap();
    create_route(&c, RTB_A, "10.244.1.0/24", I_A).await.unwrap();
    c.delete_route()
        .route_table_id(RTB_A)
        .destination_cidr_block("10.244.99.0/24")
        .send()
        .await
        .unwrap_err();
    let log = mock.calls();
    let counts = log.counts_by_action();
    assert_eq!(counts["DescribeRouteTables"], 2);
    assert_eq!(counts["CreateRoute"], 1);
    let mutating = log.mutating();
    assert_eq!(mutating.len(), 2);
    assert_eq!(mutating[0].params["DestinationCidrBlock"], "10.244.1.0/24");
    assert_eq!(mutating[0].params["InstanceId"], I_A);
    assert_eq!(mutating[0].outcome, Outcome::Ok);
    assert_eq!(mutating[1].outcome.code(), Some("InvalidRoute.NotFound"));
    assert!(log.budget_violations(&mock.throttle()).is_empty());
    assert_eq!(
        log.max_in_window("DescribeRouteTables", Duration::from_secs(60)),
        2
    );
    // Replaying against a stricter budget finds the overrun.
    let strict = Throttle::ec2_defaults().with_bucket("DescribeRouteTables", 1.0, 0.001);
    assert_eq!(log.budget_violations(&strict).len(), 1);
}

#[tokio::test]
async fn a_world_seeded_from_yaml_is_served() {
    let world = World::from_yaml(
        r#"
route_limit: 100
vpcs:
  - {id: vpc-0y, cidr: 10.1.0.0/16}
subnets:
  - {id: subnet-0y, vpc_id: vpc-0y, cidr: 10.1.1.0/24, az: eu-west-1a}
instances:
  - id: i-0y1
    subnet_id: subnet-0y
    private_ip: 10.1.1.50
    tags: {Name: yaml-node}
route_tables:
  - id: rtb-0y
    vpc_id: vpc-0y
    main: true
    tags: {kubernetes.io/cluster/yaml: owned}
    routes:
      - {destination: 0.0.0.0/0, target: {gateway: igw-0y}}
      - {destination: 10.244.0.0/24, target: {instance: i-0y1}}
      - {destination: 10.244.1.0/24, target: {network_interface: eni-0gone}}
"#,
    )
    .unwrap();
    let mock = MockEc2::builder()
        .region("eu-west-1")
        .world(world)
        .start()
        .await
        .unwrap();
    let c = client(&mock);
    let routes = table_routes(&c, "rtb-0y").await;
    assert_eq!(routes.len(), 4);
    assert_eq!(
        route_to(&routes, "10.244.0.0/24").instance_id(),
        Some("i-0y1")
    );
    assert_eq!(
        route_to(&routes, "10.244.1.0/24").state(),
        Some(&RouteState::Blackhole)
    );
    let desc = describe_instance(&c, "i-0y1").await.unwrap();
    assert_eq!(
        desc.reservations()[0].instances()[0].private_ip_address(),
        Some("10.1.1.50")
    );
    mock.shutdown().await.unwrap();
}
