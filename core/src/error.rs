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

/// An error and its sources as one line (`a: b: c`), each message once, without an SDK's Debug
/// dump, so logs, Events and start-up errors stay readable. Providers use it on SDK errors.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        // Wrappers often repeat their source's text; keep each message once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner failed")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapper")]
    struct Wrapper(#[source] Outer);

    #[test]
    fn causes_joins_the_chain_and_drops_repeats() {
        assert_eq!(
            causes(&Wrapper(Outer(Inner))),
            "wrapper: outer: inner failed"
        );
    }
}
