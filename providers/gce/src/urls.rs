//! Compute resource URLs and the keys routes are compared on. GCE returns full URLs
//! (`https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/n`) and accepts full or
//! partial ones; comparisons use the part from `projects/` on, which is also
//! [`routeplane_core::InstanceRef::key`] for a GCE instance.

use crate::config::COMPUTE_URL;

/// `projects/…` from a full or partial resource URL; `None` if it names no project.
pub fn key_of(url: &str) -> Option<&str> {
    if url.starts_with("projects/") {
        return Some(url);
    }
    url.find("/projects/").map(|i| &url[i + 1..])
}

/// The full URL of a resource key.
pub fn full(key: &str) -> String {
    format!("{COMPUTE_URL}{key}")
}

/// `projects/<p>/global/networks/<n>`.
pub fn network_key(project: &str, network: &str) -> String {
    format!("projects/{project}/global/networks/{network}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_the_host_and_version() {
        let k = "projects/p/zones/z/instances/n";
        assert_eq!(key_of(&full(k)), Some(k));
        assert_eq!(key_of(k), Some(k));
        assert_eq!(
            key_of("https://compute.googleapis.com/compute/beta/projects/p/zones/z/instances/n"),
            Some(k)
        );
        assert_eq!(key_of("global/gateways/default-internet-gateway"), None);
        assert_eq!(
            network_key("p", "n"),
            "projects/p/global/networks/n".to_string()
        );
    }
}
