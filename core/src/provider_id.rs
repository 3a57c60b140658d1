//! Parsing `spec.providerID` into the instance a node's routes point at. The formats are the
//! ones the AWS and GCE cloud providers (and kubeadm's `--provider-id`) write:
//! `aws:///us-east-1a/i-0abc…` (the zone may be empty: `aws:///i-…` is seen in the wild) and
//! `gce://project/zone/name`.

use std::fmt;

use serde::Serialize;

use crate::model::Cloud;

/// The cloud instance behind a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "cloud", rename_all = "lowercase")]
pub enum InstanceRef {
    Aws {
        zone: Option<String>,
        instance_id: String,
    },
    Gce {
        project: String,
        zone: String,
        name: String,
    },
}

impl InstanceRef {
    pub fn cloud(&self) -> Cloud {
        match self {
            InstanceRef::Aws { .. } => Cloud::Aws,
            InstanceRef::Gce { .. } => Cloud::Gce,
        }
    }

    /// The identity routes are compared on. AWS route listings name only the instance id, and
    /// GCE's `nextHopInstance` URL ends in `projects/p/zones/z/instances/n`, so these are the keys.
    pub fn key(&self) -> String {
        match self {
            InstanceRef::Aws { instance_id, .. } => instance_id.clone(),
            InstanceRef::Gce {
                project,
                zone,
                name,
            } => {
                format!("projects/{project}/zones/{zone}/instances/{name}")
            }
        }
    }
}

impl fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Why a providerID could not be used. Per node: it makes that node unroutable, never the pass.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderIdError {
    #[error(
        "node has no spec.providerID (is the kubelet started with --provider-id or a cloud provider?)"
    )]
    Missing,
    #[error(
        "providerID {0:?} has an unknown scheme: expected aws:///<zone>/<instance-id> or gce://<project>/<zone>/<name>"
    )]
    UnknownScheme(String),
    #[error("providerID {id:?} is malformed: {reason}")]
    Malformed { id: String, reason: &'static str },
}

impl ProviderIdError {
    /// Bounded label for metrics and event reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderIdError::Missing => "missing",
            ProviderIdError::UnknownScheme(_) => "unknown_scheme",
            ProviderIdError::Malformed { .. } => "malformed",
        }
    }
}

/// Parses a providerID.
///
/// # Errors
/// [`ProviderIdError`] saying what is wrong with it.
pub fn parse_provider_id(id: &str) -> Result<InstanceRef, ProviderIdError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(ProviderIdError::Missing);
    }
    if let Some(rest) = id.strip_prefix("aws://") {
        parse_aws(id, rest)
    } else if let Some(rest) = id.strip_prefix("gce://") {
        parse_gce(id, rest)
    } else {
        Err(ProviderIdError::UnknownScheme(id.to_string()))
    }
}

fn malformed(id: &str, reason: &'static str) -> ProviderIdError {
    ProviderIdError::Malformed {
        id: id.to_string(),
        reason,
    }
}

fn parse_aws(id: &str, rest: &str) -> Result<InstanceRef, ProviderIdError> {
    // `aws:///zone/i-…` leaves "/zone/i-…"; the host part is always empty.
    let path = rest
        .strip_prefix('/')
        .ok_or_else(|| malformed(id, "expected aws:///<zone>/<instance-id>"))?;
    let parts: Vec<&str> = path.split('/').collect();
    let (zone, instance) = match parts.as_slice() {
        [instance] => (None, *instance),
        ["", instance] => (None, *instance),
        [zone, instance] => (Some((*zone).to_string()), *instance),
        _ => return Err(malformed(id, "expected aws:///<zone>/<instance-id>")),
    };
    // EC2 ids are hex, but mocks and emulators use other lowercase names: accept those too.
    let valid = instance.strip_prefix("i-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !valid {
        return Err(malformed(id, "instance id must look like i-0123abcd"));
    }
    Ok(InstanceRef::Aws {
        zone,
        instance_id: instance.to_string(),
    })
}

fn parse_gce(id: &str, rest: &str) -> Result<InstanceRef, ProviderIdError> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [project, zone, name] if !project.is_empty() && !zone.is_empty() && !name.is_empty() => {
            Ok(InstanceRef::Gce {
                project: (*project).to_string(),
                zone: (*zone).to_string(),
                name: (*name).to_string(),
            })
        }
        _ => Err(malformed(
            id,
            "expected gce://<project>/<zone>/<instance-name>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_provider_id_formats_clouds_write() {
        let cases: &[(&str, InstanceRef)] = &[
            (
                "aws:///us-east-1a/i-0abc123",
                InstanceRef::Aws {
                    zone: Some("us-east-1a".into()),
                    instance_id: "i-0abc123".into(),
                },
            ),
            (
                "aws:///i-0abc123",
                InstanceRef::Aws {
                    zone: None,
                    instance_id: "i-0abc123".into(),
                },
            ),
            (
                "gce://my-proj/europe-west1-b/node-1",
                InstanceRef::Gce {
                    project: "my-proj".into(),
                    zone: "europe-west1-b".into(),
                    name: "node-1".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_provider_id(input).as_ref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_everything_else_with_a_named_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "missing"),
            ("azure:///subscriptions/x", "unknown_scheme"),
            ("kind://docker/kind/kind-worker", "unknown_scheme"),
            ("aws://us-east-1a/i-0abc", "malformed"),
            ("aws:///us-east-1a/vol-0abc", "malformed"),
            ("aws:///us-east-1a/i-", "malformed"),
            ("aws:///us-east-1a/i-0ABC", "malformed"),
            ("aws:///a/b/i-0abc", "malformed"),
            ("gce://proj/zone", "malformed"),
            ("gce://proj//name", "malformed"),
        ];
        for (input, kind) in cases {
            let err = parse_provider_id(input).expect_err(input);
            assert_eq!(err.kind(), *kind, "{input}: {err}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn keys_match_what_route_listings_report() {
        let aws = parse_provider_id("aws:///us-east-1a/i-0abc").unwrap();
        assert_eq!(aws.key(), "i-0abc");
        assert_eq!(aws.cloud(), Cloud::Aws);
        let gce = parse_provider_id("gce://p/z/n").unwrap();
        assert_eq!(gce.key(), "projects/p/zones/z/instances/n");
        assert_eq!(gce.cloud(), Cloud::Gce);
    }
}
