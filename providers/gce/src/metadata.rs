//! The GCE metadata server, for the defaults of `--gce-project` and `--gce-network` when
//! routeplane runs on a GCE instance. `GCE_METADATA_HOST` overrides the host, as in Google's
//! own client libraries.

use std::time::Duration;

const DEFAULT_HOST: &str = "metadata.google.internal";

/// The instance's project id.
///
/// # Errors
/// Why the metadata server could not tell (not on GCE, unreachable, odd answer).
pub async fn project(timeout: Duration) -> Result<String, String> {
    get("project/project-id", timeout).await
}

/// The name of the network of the instance's first NIC. The server answers
/// `projects/<number>/networks/<name>`; only the name is used, with the configured project.
///
/// # Errors
/// As for [`project`].
pub async fn network(timeout: Duration) -> Result<String, String> {
    let full = get("instance/network-interfaces/0/network", timeout).await?;
    full.rsplit('/')
        .next()
        .filter(|n| crate::naming::is_valid_name(n))
        .map(str::to_string)
        .ok_or_else(|| format!("the metadata server named network {full:?}"))
}

/// One GET under a hard deadline: reqwest's own timeout does not cover every stall (a system
/// resolver blocking in getaddrinfo), and start-up must never wait on an absent server.
async fn get(path: &str, timeout: Duration) -> Result<String, String> {
    tokio::time::timeout(timeout, fetch(path, timeout))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the metadata server gave no answer within {timeout:?} (not on GCE?)"
            ))
        })
}

async fn fetch(path: &str, timeout: Duration) -> Result<String, String> {
    let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| DEFAULT_HOST.into());
    let url = format!("http://{host}/computeMetadata/v1/{path}");
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| routeplane_core::error::causes(&e))?;
    let answer = client
        .get(&url)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .map_err(|e| {
            format!(
                "metadata server {url} unreachable: {}",
                routeplane_core::error::causes(&e)
            )
        })?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|e| routeplane_core::error::causes(&e))?;
    if !status.is_success() {
        return Err(format!("metadata server {url} answered {status}"));
    }
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(format!("metadata server {url} answered nothing"));
    }
    Ok(text)
}
