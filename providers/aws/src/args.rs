//! The AWS provider's command-line flags ([`AwsArgs`]), for the binary to `#[command(flatten)]`
//! into its subcommands. Every flag has a `ROUTEPLANE_AWS_…` environment variable, so Helm
//! values and manifests can set them. [`AwsArgs::into_config`] validates them into
//! [`AwsConfig`].

use std::time::Duration;

use clap::{Args, ValueEnum};
use routeplane_core::budget::BucketSpec;

use crate::action::ec2_budget;
use crate::config::{AwsConfig, TableSelector};
use crate::error::AwsError;

/// How route tables are discovered when none are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableDiscovery {
    /// Every table tagged kubernetes.io/cluster/<cluster> (owned or shared).
    Tagged,
    /// The tables associated with the nodes' subnets (the VPC's main table when none).
    Subnets,
}

impl std::fmt::Display for TableDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableDiscovery::Tagged => "tagged",
            TableDiscovery::Subnets => "subnets",
        })
    }
}

/// Flags of the AWS provider.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct AwsArgs {
    /// AWS Region of the VPC (defaults to the credential chain's: AWS_REGION, the profile, or
    /// the instance metadata).
    #[arg(
        long = "aws-region",
        env = "ROUTEPLANE_AWS_REGION",
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// Send EC2 requests to this URL instead of the Region's endpoint: the mock EC2
    /// (`routeplane-mock-ec2`), LocalStack, or a VPC interface endpoint.
    #[arg(
        long = "aws-endpoint-url",
        env = "ROUTEPLANE_AWS_ENDPOINT_URL",
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,

    /// Manage exactly this route table (repeat the flag, or comma-separate in the env var).
    /// Each table must exist; overrides discovery by --route-tables.
    #[arg(
        long = "route-table-id",
        env = "ROUTEPLANE_AWS_ROUTE_TABLE_ID",
        value_name = "RTB_ID",
        value_delimiter = ','
    )]
    pub route_table_ids: Vec<String>,

    /// Without --route-table-id, which tables to manage: `tagged` = every table tagged
    /// kubernetes.io/cluster/<cluster> (owned|shared); `subnets` = the tables associated with
    /// the nodes' subnets, falling back to the VPC's main table.
    #[arg(
        long = "route-tables",
        env = "ROUTEPLANE_AWS_ROUTE_TABLES",
        value_name = "MODE"
    )]
    pub route_tables: Option<TableDiscovery>,

    /// Only consider route tables in this VPC (tagged discovery), or the VPC whose tables hold
    /// the nodes' subnets (subnets discovery).
    #[arg(long = "vpc-id", env = "ROUTEPLANE_AWS_VPC_ID", value_name = "VPC_ID")]
    pub vpc_id: Option<String>,

    /// Routes one route table may hold: EC2's "Routes per route table" quota (50 unless you
    /// had it raised, at most 1000). Nodes beyond it are reported as quota-blocked.
    #[arg(
        long = "route-limit",
        env = "ROUTEPLANE_AWS_ROUTE_LIMIT",
        default_value_t = 50,
        value_name = "N"
    )]
    pub route_limit: usize,

    /// Client-side budget for each Describe* action as CAPACITY/RATE (burst, then per second).
    /// Defaults to EC2's documented bucket, 100/20; lower it when other tools share the account.
    /// (A window COUNT/PERIOD, e.g. 600/60s, is accepted too, but EC2 meters with buckets.)
    #[arg(long = "aws-describe-budget", env = "ROUTEPLANE_AWS_DESCRIBE_BUDGET", value_name = "CAPACITY/RATE", value_parser = parse_bucket)]
    pub describe_budget: Option<BucketSpec>,

    /// Client-side budget for each mutating action (CreateRoute, ReplaceRoute, DeleteRoute,
    /// ModifyNetworkInterfaceAttribute) as CAPACITY/RATE. Defaults to EC2's documented buckets
    /// (50/5 for the route actions, 100/5 for ModifyNetworkInterfaceAttribute).
    #[arg(long = "aws-mutate-budget", env = "ROUTEPLANE_AWS_MUTATE_BUDGET", value_name = "CAPACITY/RATE", value_parser = parse_bucket)]
    pub mutate_budget: Option<BucketSpec>,

    /// Deadline of each EC2 request (e.g. 10s, 1500ms); an expired request counts as a
    /// transient failure and is retried.
    #[arg(long = "aws-call-timeout", env = "ROUTEPLANE_AWS_CALL_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub call_timeout: Duration,
}

impl AwsArgs {
    /// Validates the flags into a provider configuration for `cluster`.
    ///
    /// # Errors
    /// [`AwsError`] naming the bad flag value.
    pub fn into_config(self, cluster: &str) -> Result<AwsConfig, AwsError> {
        let tables = match (self.route_table_ids.is_empty(), self.route_tables) {
            (false, Some(mode)) => return Err(AwsError::ConflictingTables(mode.to_string())),
            (false, None) => TableSelector::Explicit(self.route_table_ids),
            (true, None | Some(TableDiscovery::Tagged)) => TableSelector::Tagged,
            (true, Some(TableDiscovery::Subnets)) => TableSelector::Subnets,
        };
        let mut cfg = AwsConfig::new(cluster);
        cfg.region = self.region;
        cfg.endpoint_url = self.endpoint_url;
        cfg.tables = tables;
        cfg.vpc_id = self.vpc_id;
        cfg.route_limit = self.route_limit;
        cfg.budget = ec2_budget(self.describe_budget, self.mutate_budget);
        cfg.call_timeout = self.call_timeout;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_bucket(s: &str) -> Result<BucketSpec, String> {
    BucketSpec::parse(s)
}

/// A call timeout: a duration as core parses it (`10s`, `1500ms`, `2m`), and not zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match routeplane_core::duration::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(AwsError::BadTimeout(s.trim().to_string()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        aws: AwsArgs,
    }

    fn parse(args: &[&str]) -> Result<AwsArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("routeplane").chain(args.iter().copied()))
            .map(|c| c.aws)
    }

    #[test]
    fn defaults_to_tagged_tables_and_ec2_budgets() {
        let cfg = parse(&[]).unwrap().into_config("c1").unwrap();
        assert_eq!(cfg.tables, TableSelector::Tagged);
        assert_eq!(cfg.route_limit, 50);
        assert_eq!(cfg.call_timeout, Duration::from_secs(10));
        assert_eq!(
            cfg.budget.spec("CreateRoute"),
            Some(BucketSpec::new(50.0, 5.0).client_side())
        );
    }

    #[test]
    fn repeated_table_ids_select_explicit_tables() {
        let cfg = parse(&["--route-table-id", "rtb-1", "--route-table-id", "rtb-2"])
            .unwrap()
            .into_config("c1")
            .unwrap();
        assert_eq!(
            cfg.tables,
            TableSelector::Explicit(vec!["rtb-1".into(), "rtb-2".into()])
        );
    }

    #[test]
    fn table_ids_and_a_discovery_mode_conflict() {
        let err = parse(&["--route-table-id", "rtb-1", "--route-tables", "subnets"])
            .unwrap()
            .into_config("c1")
            .unwrap_err();
        assert_eq!(err, AwsError::ConflictingTables("subnets".into()));
    }

    #[test]
    fn budgets_and_timeouts_parse_or_fail_with_the_value() {
        let args = parse(&[
            "--aws-mutate-budget",
            "10/1",
            "--aws-call-timeout",
            "1500ms",
        ])
        .unwrap();
        assert_eq!(args.mutate_budget, Some(BucketSpec::new(10.0, 1.0)));
        assert_eq!(args.call_timeout, Duration::from_millis(1500));
        let cfg = args.into_config("c1").unwrap();
        assert_eq!(
            cfg.budget.spec("ReplaceRoute"),
            Some(BucketSpec::new(10.0, 1.0).client_side())
        );
        assert_eq!(
            cfg.budget.spec("DescribeRouteTables"),
            Some(BucketSpec::new(100.0, 20.0).client_side())
        );
        assert!(parse(&["--aws-describe-budget", "lots"]).is_err());
        assert!(parse(&["--aws-call-timeout", "soon"]).is_err());
        assert!(parse(&["--route-tables", "all"]).is_err());
    }

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").is_err());
    }
}
