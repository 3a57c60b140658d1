//! Errors of the core crate. Configuration errors stop start-up with a message that names the
//! bad value; everything per node or per route is reported (Event, metric) and never stops a pass.

use ipnet::IpNet;

/// A configuration value that cannot be used. Raised at start-up only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown mode {0:?}: expected one of cloud, host, hybrid")]
    UnknownMode(String),
    #[error("at least one --cluster-cidr is required")]
    NoClusterCidr,
    #[error("cluster CIDRs {0} and {1} overlap")]
    OverlappingClusterCidrs(IpNet, IpNet),
    #[error(
        "invalid cluster name {0:?}: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    BadClusterName(String),
    #[error("invalid CIDR {0:?}: {1}")]
    BadCidr(String, String),
    #[error("node CIDR mask /{mask} does not fit cluster CIDR {cidr}")]
    BadNodeMask { cidr: IpNet, mask: u8 },
    #[error("{0}")]
    Invalid(String),
}
