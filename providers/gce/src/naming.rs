//! How routeplane names and marks its GCE routes, and how it finds them again.
//!
//! A route is named `rp-<cluster>-<h8>-<c16>`:
//! - `<cluster>`: the cluster name made GCE-safe (lowercase, `[a-z0-9-]`) and cut to 34
//!   characters, so a person reading the route list sees whose it is;
//! - `<h8>`: 8 hex digits of SHA-256 of the *full* cluster name. Two clusters whose names share
//!   a long prefix (or differ only in case or in `_` vs `-`) therefore never share a prefix;
//! - `<c16>`: 16 hex digits of SHA-256 of the destination CIDR: one name per CIDR, so a
//!   dual-stack node's two Pod CIDRs get two routes.
//!
//! The longest name is 3 + 34 + 1 + 8 + 1 + 16 = 63 characters, GCE's limit, and it matches
//! `[a-z]([-a-z0-9]*[a-z0-9])?`. The description carries `routeplane:<cluster>` (the exact
//! name): a route is claimed only when both its name and its description match.

use ipnet::IpNet;
use sha2::{Digest, Sha256};

/// Longest part of the readable cluster name kept in a route name.
const READABLE_MAX: usize = 34;

/// The naming scheme of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteNaming {
    cluster: String,
    prefix: String,
}

impl RouteNaming {
    pub fn new(cluster: &str) -> Self {
        let mut readable = String::new();
        for c in cluster.chars() {
            let c = c.to_ascii_lowercase();
            let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            };
            // No runs of '-': they are legal, but only make names harder to read.
            if !(c == '-' && readable.ends_with('-')) {
                readable.push(c);
            }
        }
        let readable: String = readable.chars().take(READABLE_MAX).collect();
        let readable = readable.trim_matches('-');
        let hash = short_hash(cluster, 8);
        let prefix = if readable.is_empty() {
            format!("rp-{hash}-")
        } else {
            format!("rp-{readable}-{hash}-")
        };
        Self {
            cluster: cluster.to_string(),
            prefix,
        }
    }

    /// `rp-<cluster>-<h8>-`: every route of this cluster starts with it, no other cluster's does.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The route name for `cidr`.
    pub fn name(&self, cidr: &IpNet) -> String {
        format!(
            "{}{}",
            self.prefix,
            short_hash(&cidr.trunc().to_string(), 16)
        )
    }

    /// `routeplane:<cluster>`.
    pub fn description(&self) -> String {
        format!("routeplane:{}", self.cluster)
    }

    /// Whether a listed route carries this cluster's mark: our name pattern (exactly: prefix
    /// plus 16 hex digits) and our description.
    pub fn is_ours(&self, name: &str, description: Option<&str>) -> bool {
        let suffix_ok = name.strip_prefix(&self.prefix).is_some_and(|rest| {
            rest.len() == 16
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        suffix_ok && description == Some(self.description().as_str())
    }

    /// The `routes.list` filter: every route of the managed network, ours or not. GCE allows
    /// several routes with one `destRange`, so a foreign route at a node's Pod CIDR can only
    /// be reported (never touched) if it is listed too; ownership is then decided per route by
    /// [`RouteNaming::is_ours`]. GCE reads an `eq` literal as an RE2 regular expression that
    /// must match the whole field, hence the escaping.
    pub fn list_filter(network_url: &str) -> String {
        format!("network eq \"{}\"", regex_escape(network_url))
    }
}

fn short_hash(s: &str, hex_digits: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = hex::encode(digest);
    out.truncate(hex_digits);
    out
}

/// Escapes RE2 metacharacters, so a URL matches only itself.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `name` is a valid GCE resource name: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.last().is_some_and(|c| *c != b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn names_are_valid_for_gce_even_for_awkward_cluster_names() {
        let long = "A".repeat(63);
        for cluster in [
            "prod",
            "Prod_EU.west-1",
            &long,
            "x",
            "9lives",
            "--",
            "a__b..c",
        ] {
            let n = RouteNaming::new(cluster);
            for cidr in ["10.244.1.0/24", "fd00:10:244:1::/64", "0.0.0.0/0"] {
                let name = n.name(&net(cidr));
                assert!(is_valid_name(&name), "{cluster} {cidr}: {name}");
                assert!(n.is_ours(&name, Some(&n.description())), "{name}");
            }
        }
    }

    #[test]
    fn one_name_per_cidr_so_dual_stack_gets_two_routes() {
        let n = RouteNaming::new("c1");
        let v4 = n.name(&net("10.244.1.0/24"));
        let v6 = n.name(&net("fd00:10:244:1::/64"));
        assert_ne!(v4, v6);
        assert_ne!(v4, n.name(&net("10.244.2.0/24")));
        // Host bits do not change the route a CIDR gets.
        assert_eq!(v4, n.name(&net("10.244.1.7/24")));
    }

    #[test]
    fn clusters_with_a_long_shared_prefix_never_share_names_or_claims() {
        let base = "production-europe-west1-cluster-number";
        let a = RouteNaming::new(&format!("{base}-a"));
        let b = RouteNaming::new(&format!("{base}-b"));
        assert_ne!(a.prefix(), b.prefix());
        assert!(!a.prefix().starts_with(b.prefix()) && !b.prefix().starts_with(a.prefix()));
        let cidr = net("10.244.1.0/24");
        let bs = b.name(&cidr);
        assert!(!a.is_ours(&bs, Some(&b.description())));
        assert!(!a.is_ours(&bs, Some(&a.description())));
        // Case and separators alone also give distinct clusters.
        assert_ne!(
            RouteNaming::new("Prod").prefix(),
            RouteNaming::new("prod").prefix()
        );
        assert_ne!(
            RouteNaming::new("a_b").prefix(),
            RouteNaming::new("a-b").prefix()
        );
    }

    #[test]
    fn claims_need_both_the_name_and_the_description() {
        let n = RouteNaming::new("c1");
        let name = n.name(&net("10.244.1.0/24"));
        assert!(n.is_ours(&name, Some("routeplane:c1")));
        assert!(!n.is_ours(&name, Some("routeplane:c2")));
        assert!(!n.is_ours(&name, None));
        assert!(!n.is_ours(&format!("{name}0"), Some("routeplane:c1")));
        assert!(!n.is_ours("default-route-abc", Some("routeplane:c1")));
    }

    #[test]
    fn the_list_filter_names_the_escaped_network_only() {
        let f = RouteNaming::list_filter(
            "https://www.googleapis.com/compute/v1/projects/p/global/networks/n",
        );
        assert_eq!(
            f,
            "network eq \"https://www\\.googleapis\\.com/compute/v1/projects/p/global/networks/n\""
        );
    }

    #[test]
    fn gce_name_rules() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("a-1"));
        for bad in ["", "1a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
