//! The GCE provider's command-line flags ([`GceArgs`]), for the binary to `#[command(flatten)]`
//! into its subcommands. Every flag has a `ROUTEPLANE_GCE_…` environment variable.
//! [`GceArgs::into_config`] validates them into [`GceConfig`].

use std::time::Duration;

use clap::Args;
use routeplane_core::budget::BucketSpec;

use crate::config::GceConfig;
use crate::error::GceError;
use crate::method::{Class, gce_budget};

/// Flags of the GCE provider.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct GceArgs {
    /// GCP project whose VPC routes are managed (default: the metadata server's project).
    #[arg(
        long = "gce-project",
        env = "ROUTEPLANE_GCE_PROJECT",
        value_name = "PROJECT"
    )]
    pub project: Option<String>,

    /// VPC network, as a name or a URL (projects/<host>/global/networks/<name> for Shared VPC).
    /// Default: the network of this instance's first NIC, from the metadata server.
    #[arg(
        long = "gce-network",
        env = "ROUTEPLANE_GCE_NETWORK",
        value_name = "NETWORK"
    )]
    pub network: Option<String>,

    /// Send Compute API requests to this URL instead of https://compute.googleapis.com (the
    /// mock GCE, or a Private Service Connect endpoint). Without Application Default
    /// Credentials, requests to it go unauthenticated.
    #[arg(
        long = "gce-endpoint",
        env = "ROUTEPLANE_GCE_ENDPOINT",
        value_name = "URL"
    )]
    pub endpoint: Option<String>,

    /// Priority of the routes routeplane creates (0-65535, lower wins).
    #[arg(long = "gce-route-priority", env = "ROUTEPLANE_GCE_ROUTE_PRIORITY", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=65535))]
    pub route_priority: u32,

    /// Network tags the routes apply to (comma-separated); default: all instances.
    #[arg(
        long = "gce-route-tags",
        env = "ROUTEPLANE_GCE_ROUTE_TAGS",
        value_name = "TAG",
        value_delimiter = ','
    )]
    pub route_tags: Vec<String>,

    /// Operation polls in flight at most, across all nodes. A write's operation is waited on
    /// without holding a node slot, so this, not --concurrency, bounds the polling.
    #[arg(long = "gce-max-polls", env = "ROUTEPLANE_GCE_MAX_POLLS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_polls: u32,

    /// Client-side budget for reads (instances.get, routes.get, networks.get): a token bucket
    /// CAPACITY/RATE (e.g. 100/20) or a window COUNT/PERIOD (e.g. 1500/60s, GCE's per-minute
    /// quota); see docs/gce.md.
    #[arg(long = "gce-read-budget", env = "ROUTEPLANE_GCE_READ_BUDGET", value_name = "CAPACITY/RATE|COUNT/PERIOD", value_parser = parse_bucket)]
    pub read_budget: Option<BucketSpec>,

    /// Client-side budget for routes.list: CAPACITY/RATE or COUNT/PERIOD (e.g. 1500/60s).
    #[arg(long = "gce-list-budget", env = "ROUTEPLANE_GCE_LIST_BUDGET", value_name = "CAPACITY/RATE|COUNT/PERIOD", value_parser = parse_bucket)]
    pub list_budget: Option<BucketSpec>,

    /// Client-side budget for routes.insert and routes.delete: a token bucket CAPACITY/RATE
    /// (default 100/20) or a window COUNT/PERIOD, e.g. 1500/60s to use GCE's whole per-minute
    /// write quota.
    #[arg(long = "gce-write-budget", env = "ROUTEPLANE_GCE_WRITE_BUDGET", value_name = "CAPACITY/RATE|COUNT/PERIOD", value_parser = parse_bucket)]
    pub write_budget: Option<BucketSpec>,

    /// Client-side budget for operation polls (globalOperations.get): CAPACITY/RATE or
    /// COUNT/PERIOD (e.g. 1500/60s).
    #[arg(long = "gce-operation-budget", env = "ROUTEPLANE_GCE_OPERATION_BUDGET", value_name = "CAPACITY/RATE|COUNT/PERIOD", value_parser = parse_bucket)]
    pub operation_budget: Option<BucketSpec>,

    /// Deadline of each Compute API request.
    #[arg(id = "gce_call_timeout", long = "gce-call-timeout", env = "ROUTEPLANE_GCE_CALL_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = parse_timeout)]
    pub call_timeout: Duration,

    /// Longest wait for a route operation to finish; keep it below --call-timeout.
    #[arg(long = "gce-operation-timeout", env = "ROUTEPLANE_GCE_OPERATION_TIMEOUT", default_value = "25s", value_name = "DURATION", value_parser = parse_timeout)]
    pub operation_timeout: Duration,
}

impl GceArgs {
    /// Validates the flags into a provider configuration for `cluster`.
    ///
    /// # Errors
    /// [`GceError`] naming the bad flag value.
    pub fn into_config(self, cluster: &str) -> Result<GceConfig, GceError> {
        let mut cfg = GceConfig::new(cluster);
        cfg.project = self.project;
        cfg.network = self.network;
        cfg.endpoint = self.endpoint;
        cfg.priority = self.route_priority;
        cfg.tags = self.route_tags;
        cfg.max_polls = usize::try_from(self.max_polls).unwrap_or(usize::MAX);
        cfg.budget = gce_budget(&[
            (Class::Read, self.read_budget),
            (Class::List, self.list_budget),
            (Class::Write, self.write_budget),
            (Class::Operation, self.operation_budget),
        ]);
        cfg.call_timeout = self.call_timeout;
        cfg.operation_timeout = self.operation_timeout;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_bucket(s: &str) -> Result<BucketSpec, String> {
    BucketSpec::parse(s)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match routeplane_core::duration::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("{s:?}: a timeout must be longer than zero")),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        gce: GceArgs,
    }

    fn parse(args: &[&str]) -> Result<GceArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("routeplane").chain(args.iter().copied()))
            .map(|c| c.gce)
    }

    #[test]
    fn defaults() {
        let cfg = parse(&[]).unwrap().into_config("c1").unwrap();
        assert_eq!(cfg.priority, 1000);
        assert_eq!(cfg.max_polls, 20);
        assert!(cfg.tags.is_empty() && cfg.project.is_none() && cfg.network.is_none());
        assert_eq!(cfg.call_timeout, Duration::from_secs(10));
    }

    #[test]
    fn flags_set_every_field() {
        let cfg = parse(&[
            "--gce-project",
            "my-project",
            "--gce-network",
            "vpc-1",
            "--gce-endpoint",
            "http://127.0.0.1:9",
            "--gce-route-priority",
            "900",
            "--gce-route-tags",
            "k8s-node,pool-a",
            "--gce-max-polls",
            "5",
            "--gce-write-budget",
            "10/2",
            "--gce-operation-timeout",
            "1m",
        ])
        .unwrap()
        .into_config("c1")
        .unwrap();
        assert_eq!(cfg.project.as_deref(), Some("my-project"));
        assert_eq!(cfg.network.as_deref(), Some("vpc-1"));
        assert_eq!(cfg.priority, 900);
        assert_eq!(cfg.tags, vec!["k8s-node", "pool-a"]);
        assert_eq!(cfg.max_polls, 5);
        assert_eq!(
            cfg.budget.spec("write"),
            Some(BucketSpec::new(10.0, 2.0).client_side())
        );
        assert_eq!(cfg.operation_timeout, Duration::from_secs(60));
    }

    #[test]
    fn a_budget_flag_takes_a_per_minute_window() {
        let cfg = parse(&[
            "--gce-write-budget",
            "1500/60s",
            "--gce-read-budget",
            "1500/1m",
        ])
        .unwrap()
        .into_config("c1")
        .unwrap();
        let minute = BucketSpec::window(1500, Duration::from_secs(60));
        assert_eq!(cfg.budget.spec("write"), Some(minute.client_side()));
        assert_eq!(cfg.budget.spec("read"), Some(minute.client_side()));
        assert_eq!(
            cfg.budget.spec("list"),
            Some(BucketSpec::new(20.0, 5.0).client_side()),
            "the other classes keep their buckets"
        );
        let err = parse(&["--gce-write-budget", "1500/60q"]).unwrap_err();
        assert!(err.to_string().contains("60q"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_with_the_value_named() {
        assert!(parse(&["--gce-route-priority", "70000"]).is_err());
        assert!(parse(&["--gce-max-polls", "0"]).is_err());
        assert!(parse(&["--gce-call-timeout", "0s"]).is_err());
        assert!(parse(&["--gce-read-budget", "lots"]).is_err());
        let err = parse(&["--gce-project", "Not_A_Project"])
            .unwrap()
            .into_config("c1")
            .unwrap_err();
        assert!(err.to_string().contains("Not_A_Project"), "{err}");
        let err = parse(&["--gce-network", "a/b"])
            .unwrap()
            .into_config("c1")
            .unwrap_err();
        assert!(err.to_string().contains("\"a/b\""), "{err}");
    }
}
