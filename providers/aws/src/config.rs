//! Typed configuration of the AWS provider ([`AwsConfig`]) and how it becomes an SDK client:
//! the standard aws-config chain (env, profile, web identity/IRSA, IMDSv2) with optional region
//! and endpoint overrides, and with the SDK's own retries off so that [`crate::call`] alone
//! decides when to retry and every attempt is paid for from the budget.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::config::{Credentials, Region, SharedCredentialsProvider};
use routeplane_core::budget::ApiBudget;
use routeplane_core::retry::RetryPolicy;

use crate::action::ec2_default_budget;
use crate::error::AwsError;

/// Which route tables routeplane manages. Every managed table gets every node's route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableSelector {
    /// These tables, by id; a missing one is an error naming it.
    Explicit(Vec<String>),
    /// Every table tagged `kubernetes.io/cluster/<cluster>` = `owned` or `shared` (optionally
    /// only in `vpc_id`).
    Tagged,
    /// The tables associated with the nodes' subnets, or the VPC's main table for a subnet
    /// without an explicit association (per-AZ tables).
    Subnets,
}

/// Static credentials, for the mock EC2 and demos; real deployments use the standard chain.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Everything the AWS provider needs, validated.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    /// Scopes ownership: the `kubernetes.io/cluster/<cluster_name>` tag on tables and instances.
    pub cluster_name: String,
    /// Overrides the chain's region (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// Sends every request here instead of the Region's EC2 endpoint (the mock, a VPC endpoint).
    pub endpoint_url: Option<String>,
    pub tables: TableSelector,
    /// Limits `Tagged` discovery to one VPC, and names the VPC for `Subnets`.
    pub vpc_id: Option<String>,
    /// Routes per table EC2 allows here (the "Routes per route table" quota: default 50).
    pub route_limit: usize,
    /// Token buckets per EC2 action; see [`crate::ec2_default_budget`].
    pub budget: ApiBudget,
    /// In-call retries of throttled and transient failures.
    pub retry: RetryPolicy,
    /// Each request's deadline; an expired one is a transient failure.
    pub call_timeout: Duration,
    /// Fixed credentials instead of the chain (mock and demo only).
    pub credentials: Option<StaticCredentials>,
    /// Accept a `route_limit` above EC2's hard maximum of 1,000: only for a mock whose limit was
    /// raised past it (`routeplane bench` stress-testing the controller). Real EC2 stops at 1,000.
    pub beyond_ec2_max: bool,
}

impl AwsConfig {
    /// Defaults for `cluster_name`: tagged tables, EC2's budget, 50 routes, 10 s per call.
    pub fn new(cluster_name: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            region: None,
            endpoint_url: None,
            tables: TableSelector::Tagged,
            vpc_id: None,
            route_limit: 50,
            budget: ec2_default_budget(),
            retry: RetryPolicy::default(),
            call_timeout: Duration::from_secs(10),
            credentials: None,
            beyond_ec2_max: false,
        }
    }

    /// Checks every value that can be checked without calling AWS.
    ///
    /// # Errors
    /// [`AwsError`] naming the bad value.
    pub fn validate(&self) -> Result<(), AwsError> {
        if self.cluster_name.trim().is_empty() {
            return Err(AwsError::NoClusterName);
        }
        if let Some(region) = &self.region {
            validate_region(region)?;
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(AwsError::BadEndpoint(url.clone()));
        }
        if let TableSelector::Explicit(ids) = &self.tables {
            for id in ids {
                if !is_aws_id(id, "rtb-") {
                    return Err(AwsError::BadRouteTableId(id.clone()));
                }
            }
        }
        if let Some(vpc) = &self.vpc_id
            && !is_aws_id(vpc, "vpc-")
        {
            return Err(AwsError::BadVpcId(vpc.clone()));
        }
        if self.route_limit == 0 || (self.route_limit > 1000 && !self.beyond_ec2_max) {
            return Err(AwsError::BadRouteLimit(self.route_limit));
        }
        Ok(())
    }

    /// The tag key that marks this cluster's tables and instances.
    pub fn cluster_tag(&self) -> String {
        format!("kubernetes.io/cluster/{}", self.cluster_name)
    }

    /// Loads the SDK configuration and builds the EC2 client.
    ///
    /// # Errors
    /// [`AwsError::NoRegion`] when neither the flags nor the chain name a region.
    pub(crate) async fn client(
        &self,
    ) -> Result<(aws_sdk_ec2::Client, Option<SharedCredentialsProvider>), AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            // One attempt per call: `crate::call` retries under the budget.
            .retry_config(RetryConfig::disabled());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(creds) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                None,
                None,
                "routeplane-static",
            ));
        }
        let sdk = loader.load().await;
        match sdk.region() {
            None => return Err(AwsError::NoRegion),
            Some(r) => validate_region(r.as_ref())?,
        }
        Ok((aws_sdk_ec2::Client::new(&sdk), sdk.credentials_provider()))
    }
}

/// Region names look like `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`.
fn validate_region(region: &str) -> Result<(), AwsError> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(AwsError::BadRegion(region.to_string()))
    }
}

/// `rtb-0123abcd`, `vpc-0abc`: a prefix and lowercase hex.
fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_region_names_and_rejects_typos() {
        for ok in [
            "us-east-1",
            "eu-west-3",
            "us-gov-west-1",
            "ap-southeast-4",
            "cn-north-1",
        ] {
            assert_eq!(validate_region(ok), Ok(()), "{ok}");
        }
        for bad in ["", "us-east", "useast1", "US-EAST-1", "us-east-1a", "mars"] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_names_the_bad_value() {
        let mut cfg = AwsConfig::new("c1");
        cfg.tables = TableSelector::Explicit(vec!["rtb-0abc".into(), "subnet-1".into()]);
        assert_eq!(
            cfg.validate(),
            Err(AwsError::BadRouteTableId("subnet-1".into()))
        );
        let mut cfg = AwsConfig::new("c1");
        cfg.route_limit = 0;
        assert_eq!(cfg.validate(), Err(AwsError::BadRouteLimit(0)));
        let mut cfg = AwsConfig::new("c1");
        cfg.endpoint_url = Some("localhost:4566".into());
        assert!(matches!(cfg.validate(), Err(AwsError::BadEndpoint(_))));
        assert_eq!(AwsConfig::new("c1").validate(), Ok(()));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let creds = StaticCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s3cr3t".into(),
        };
        assert!(!format!("{creds:?}").contains("s3cr3t"));
    }
}
