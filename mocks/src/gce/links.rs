//! Resource URLs. Compute Engine answers with full self-links under
//! `https://www.googleapis.com/compute/v1/` and accepts, in request bodies, the full URL (also
//! under `compute.googleapis.com` or any host), `projects/P/…` and, within the request's
//! project, `global/…`/`zones/…` partial URLs. The mock parses every accepted form into a
//! [`Link`] and always answers with the canonical full URL, like GCE.

use std::fmt;

use super::error::ApiError;

/// The prefix of every self-link GCE returns.
pub const BASE: &str = "https://www.googleapis.com/compute/v1/";

/// A parsed resource reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Link {
    /// `projects/P/global/networks/N`.
    Network {
        /// Project.
        project: String,
        /// Network name.
        name: String,
    },
    /// `projects/P/zones/Z/instances/N`.
    Instance {
        /// Project.
        project: String,
        /// Zone.
        zone: String,
        /// Instance name.
        name: String,
    },
    /// `projects/P/global/gateways/default-internet-gateway`.
    Gateway {
        /// Project.
        project: String,
        /// Gateway name (only `default-internet-gateway` exists).
        name: String,
    },
}

impl Link {
    /// Parses a full or partial URL; partial URLs without a project take `project`.
    /// `field` names the request field in the error, like GCE does.
    pub fn parse(value: &str, project: &str, field: &str) -> Result<Self, ApiError> {
        let malformed = || {
            ApiError::invalid(format!(
                "Invalid value for field '{field}': '{value}'. The URL is malformed."
            ))
        };
        let rel = relative(value);
        let parts: Vec<&str> = rel.split('/').collect();
        let (project, rest) = match parts.as_slice() {
            ["projects", p, rest @ ..] if !p.is_empty() => ((*p).to_string(), rest),
            rest @ (["global", ..] | ["zones", ..]) => (project.to_string(), rest),
            _ => return Err(malformed()),
        };
        let ok = |s: &&str| !s.is_empty();
        match rest {
            ["global", "networks", name] if ok(name) => Ok(Self::Network {
                project,
                name: (*name).to_string(),
            }),
            ["global", "gateways", name] if ok(name) => Ok(Self::Gateway {
                project,
                name: (*name).to_string(),
            }),
            ["zones", zone, "instances", name] if ok(zone) && ok(name) => Ok(Self::Instance {
                project,
                zone: (*zone).to_string(),
                name: (*name).to_string(),
            }),
            _ => Err(malformed()),
        }
    }

    /// The project path without the URL prefix, e.g. `projects/p/zones/z/instances/n`.
    pub fn path(&self) -> String {
        match self {
            Self::Network { project, name } => format!("projects/{project}/global/networks/{name}"),
            Self::Gateway { project, name } => format!("projects/{project}/global/gateways/{name}"),
            Self::Instance {
                project,
                zone,
                name,
            } => format!("projects/{project}/zones/{zone}/instances/{name}"),
        }
    }
}

impl fmt::Display for Link {
    /// The canonical full URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BASE}{}", self.path())
    }
}

/// Strips `scheme://host/compute/v1/` (any host, `v1` only), leaving the project path.
fn relative(value: &str) -> &str {
    let Some((_, after_scheme)) = value.split_once("://") else {
        return value;
    };
    match after_scheme.split_once("/compute/v1/") {
        Some((_, rel)) => rel,
        None => after_scheme,
    }
}

/// A full URL for a project-relative path such as `projects/p/global/routes/r`.
pub fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_form_normalises_to_the_full_url() {
        let full = "https://www.googleapis.com/compute/v1/projects/p/zones/z1/instances/n1";
        for form in [
            full,
            "https://compute.googleapis.com/compute/v1/projects/p/zones/z1/instances/n1",
            "http://127.0.0.1:9/compute/v1/projects/p/zones/z1/instances/n1",
            "projects/p/zones/z1/instances/n1",
            "zones/z1/instances/n1",
        ] {
            let link = Link::parse(form, "p", "resource.nextHopInstance").unwrap();
            assert_eq!(link.to_string(), full, "{form}");
        }
        let net = Link::parse("global/networks/default", "p", "resource.network").unwrap();
        assert_eq!(
            net.to_string(),
            "https://www.googleapis.com/compute/v1/projects/p/global/networks/default"
        );
    }

    #[test]
    fn bare_names_and_wrong_kinds_are_malformed() {
        for bad in [
            "default",
            "",
            "projects/p",
            "zones/z1/instances/",
            "global/routes/r",
        ] {
            let e = Link::parse(bad, "p", "resource.network").unwrap_err();
            assert_eq!(e.reason, "invalid", "{bad}");
            assert!(e.message.contains("resource.network"));
        }
    }
}
