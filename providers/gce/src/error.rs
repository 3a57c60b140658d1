//! Configuration and start-up errors of the GCE provider, each naming the bad value and what
//! to set instead. Failures of Compute calls are [`routeplane_core::ProviderError`]s (see
//! [`crate::classify`]).

/// A problem that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GceError {
    #[error(
        "no GCP project: set --gce-project (ROUTEPLANE_GCE_PROJECT), or run on GCE where the metadata server names it ({0})"
    )]
    NoProject(String),
    #[error(
        "no VPC network: set --gce-network (ROUTEPLANE_GCE_NETWORK), or run on GCE where the metadata server names the first NIC's network ({0})"
    )]
    NoNetwork(String),
    #[error("GCP project id {0:?} is malformed: expected 6-30 lowercase letters, digits or '-'")]
    BadProject(String),
    #[error(
        "--gce-network {0:?} is malformed: expected a network name or a URL ending in projects/<project>/global/networks/<name>"
    )]
    BadNetwork(String),
    #[error("--gce-endpoint {0:?} must be an http:// or https:// URL")]
    BadEndpoint(String),
    #[error(
        "--gce-route-tags: {0:?} is not a valid network tag (lowercase letters, digits, '-', at most 63)"
    )]
    BadTag(String),
    #[error("--gce-max-polls must be at least 1")]
    BadMaxPolls,
    #[error("cluster name must not be empty: it scopes the route names and descriptions")]
    NoClusterName,
    #[error(
        "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run on GCE with a service account attached ({0})"
    )]
    NoCredentials(String),
    #[error(
        "credentials file {path} (from {origin}) is unusable: {why}; point GOOGLE_APPLICATION_CREDENTIALS at a valid service account key file, or unset it"
    )]
    CredentialsFile {
        path: String,
        origin: &'static str,
        why: String,
    },
    #[error("cannot set up the Compute client: {0}")]
    Client(String),
}

impl GceError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            GceError::NoProject(_) => "no_project",
            GceError::NoNetwork(_) => "no_network",
            GceError::BadProject(_) => "bad_project",
            GceError::BadNetwork(_) => "bad_network",
            GceError::BadEndpoint(_) => "bad_endpoint",
            GceError::BadTag(_) => "bad_tag",
            GceError::BadMaxPolls => "bad_max_polls",
            GceError::NoClusterName => "no_cluster_name",
            GceError::NoCredentials(_) => "no_credentials",
            GceError::CredentialsFile { .. } => "credentials_file",
            GceError::Client(_) => "client",
        }
    }
}
