//! Typed configuration of the GCE provider ([`GceConfig`]) and the checks that need no API call.
//! Project and network may be left to the metadata server (see [`crate::metadata`]).

use std::time::Duration;

use routeplane_core::budget::ApiBudget;
use routeplane_core::retry::RetryPolicy;

use crate::error::GceError;
use crate::method::gce_budget;

/// The Compute API's resource URL prefix: `nextHopInstance` and `network` are sent as full URLs
/// under it, the form GCE itself returns.
pub const COMPUTE_URL: &str = "https://www.googleapis.com/compute/v1/";

/// Everything the GCE provider needs.
#[derive(Clone, Debug)]
pub struct GceConfig {
    /// Scopes ownership: the route name prefix and the `routeplane:<cluster>` description.
    pub cluster_name: String,
    /// The project whose routes are managed; `None`: ask the metadata server.
    pub project: Option<String>,
    /// Network name or URL; `None`: the first NIC's network, from the metadata server.
    pub network: Option<String>,
    /// The Compute API root (e.g. the mock's URL) instead of `https://compute.googleapis.com`.
    pub endpoint: Option<String>,
    /// Route priority (0–65535; GCE's default is 1000, lower wins).
    pub priority: u32,
    /// Instance network tags the routes apply to; empty: every instance in the network.
    pub tags: Vec<String>,
    /// Operation polls (GET globalOperations) in flight at most, across all nodes.
    pub max_polls: usize,
    /// Token buckets per method class; see [`crate::method::GCE_DEFAULT_BUCKETS`].
    pub budget: ApiBudget,
    /// In-call retries of throttled and transient failures (and of operations failing so).
    pub retry: RetryPolicy,
    /// Deadline of each HTTP request.
    pub call_timeout: Duration,
    /// Longest wait for one operation to be DONE.
    pub operation_timeout: Duration,
    /// First poll of an operation after this, then growing by half up to `poll_max`, jittered.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Send no credentials (the mock, the demo). Without it, Application Default Credentials
    /// are required — except that with `endpoint` set and no key file, requests go anonymous
    /// (see [`crate::credentials`]).
    pub anonymous: bool,
}

impl GceConfig {
    pub fn new(cluster_name: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            project: None,
            network: None,
            endpoint: None,
            priority: 1000,
            tags: Vec::new(),
            max_polls: 20,
            budget: gce_budget(&[]),
            retry: RetryPolicy::default(),
            call_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(25),
            poll_initial: Duration::from_millis(500),
            poll_max: Duration::from_secs(4),
            anonymous: false,
        }
    }

    /// Checks every value that can be checked without calling GCP.
    ///
    /// # Errors
    /// [`GceError`] naming the bad value.
    pub fn validate(&self) -> Result<(), GceError> {
        if self.cluster_name.trim().is_empty() {
            return Err(GceError::NoClusterName);
        }
        if let Some(p) = &self.project {
            validate_project(p)?;
        }
        if let Some(n) = &self.network {
            parse_network(n)?;
        }
        if let Some(url) = &self.endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(GceError::BadEndpoint(url.clone()));
        }
        if let Some(bad) = self.tags.iter().find(|t| !crate::naming::is_valid_name(t)) {
            return Err(GceError::BadTag(bad.clone()));
        }
        if self.max_polls == 0 {
            return Err(GceError::BadMaxPolls);
        }
        Ok(())
    }
}

/// Project ids: 6–30 characters, lowercase letters, digits and hyphens, starting with a letter.
/// (Legacy domain-scoped ids `example.com:proj` are accepted too.)
pub fn validate_project(p: &str) -> Result<(), GceError> {
    let id = p.rsplit_once(':').map_or(p, |(_, id)| id);
    let ok = (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(GceError::BadProject(p.to_string()))
    }
}

/// A network given as a name or URL: `(project named in the URL, network name)`.
///
/// # Errors
/// [`GceError::BadNetwork`].
pub fn parse_network(s: &str) -> Result<(Option<String>, String), GceError> {
    let bad = || GceError::BadNetwork(s.to_string());
    if !s.contains('/') {
        return if crate::naming::is_valid_name(s) {
            Ok((None, s.to_string()))
        } else {
            Err(bad())
        };
    }
    let parts: Vec<&str> = s.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        [.., "projects", project, "global", "networks", name]
            if !project.is_empty() && crate::naming::is_valid_name(name) =>
        {
            Ok((Some((*project).to_string()), (*name).to_string()))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_names_or_urls() {
        assert_eq!(parse_network("default"), Ok((None, "default".into())));
        assert_eq!(
            parse_network(
                "https://www.googleapis.com/compute/v1/projects/host-proj/global/networks/shared"
            ),
            Ok((Some("host-proj".into()), "shared".into()))
        );
        assert_eq!(
            parse_network("projects/p1/global/networks/n1"),
            Ok((Some("p1".into()), "n1".into()))
        );
        for bad in [
            "Default",
            "projects/p/networks/n",
            "a b",
            "projects//global/networks/n",
        ] {
            assert!(parse_network(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_ids_follow_gcp_rules() {
        for ok in ["my-project", "proj-123456", "example.com:my-proj"] {
            assert_eq!(validate_project(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "short",
            "My-Project",
            "1project",
            "project-",
            &"p".repeat(31),
        ] {
            assert!(validate_project(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_names_the_bad_value() {
        let mut cfg = GceConfig::new("c1");
        cfg.tags = vec!["ok-tag".into(), "Bad_Tag".into()];
        assert_eq!(cfg.validate(), Err(GceError::BadTag("Bad_Tag".into())));
        let mut cfg = GceConfig::new("c1");
        cfg.endpoint = Some("localhost:8080".into());
        assert!(matches!(cfg.validate(), Err(GceError::BadEndpoint(_))));
        let mut cfg = GceConfig::new("c1");
        cfg.max_polls = 0;
        assert_eq!(cfg.validate(), Err(GceError::BadMaxPolls));
        assert_eq!(GceConfig::new("c1").validate(), Ok(()));
    }
}
