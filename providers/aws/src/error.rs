//! Configuration errors of the AWS provider: raised at start-up, each naming the bad value and
//! what to set instead. Failures of EC2 calls are [`routeplane_core::ProviderError`]s instead
//! (see [`crate::classify`]).

/// A configuration problem that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error(
        "no AWS region: set --aws-region (ROUTEPLANE_AWS_REGION), AWS_REGION, or a region in the AWS profile"
    )]
    NoRegion,
    #[error("AWS region {0:?} is not a region name (expected e.g. us-east-1, eu-west-3)")]
    BadRegion(String),
    #[error("--aws-endpoint-url {0:?} must be an http:// or https:// URL")]
    BadEndpoint(String),
    #[error("route table id {0:?} is malformed: expected rtb-<hex>")]
    BadRouteTableId(String),
    #[error("VPC id {0:?} is malformed: expected vpc-<hex>")]
    BadVpcId(String),
    #[error(
        "--route-table-id and --route-tables={0} exclude each other: list tables or pick a discovery mode"
    )]
    ConflictingTables(String),
    #[error(
        "--route-limit {0} is out of range: EC2 allows 1 to 1000 routes per table (default quota 50)"
    )]
    BadRouteLimit(usize),
    #[error("bad API budget: {0}")]
    BadBudget(String),
    #[error("--aws-call-timeout {0:?}: expected a duration such as 10s, 1500ms or 2m")]
    BadTimeout(String),
    #[error("cluster name must not be empty: it scopes the kubernetes.io/cluster/<name> tag")]
    NoClusterName,
}

impl AwsError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::NoRegion => "no_region",
            AwsError::BadRegion(_) => "bad_region",
            AwsError::BadEndpoint(_) => "bad_endpoint",
            AwsError::BadRouteTableId(_) => "bad_route_table_id",
            AwsError::BadVpcId(_) => "bad_vpc_id",
            AwsError::ConflictingTables(_) => "conflicting_tables",
            AwsError::BadRouteLimit(_) => "bad_route_limit",
            AwsError::BadBudget(_) => "bad_budget",
            AwsError::BadTimeout(_) => "bad_timeout",
            AwsError::NoClusterName => "no_cluster_name",
        }
    }
}
