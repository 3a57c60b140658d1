//! The resource types the fake API server knows, and the discovery documents built from them.
//!
//! Everything else in the fake is generic over [`ResourceType`]: the router looks a path up here,
//! the store keys objects by it, and the strategic-merge rules hang off it. Adding a resource is
//! one constant in [`ALL`].

use serde_json::{Value, json};

/// How a list field merges under strategic-merge patch and server-side apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListRule {
    /// A list of objects merged item by item on this key (`patchMergeKey`).
    Key(&'static str),
    /// A list of scalars merged as a set (`patchStrategy: merge` on a primitive list).
    Set,
}

/// One REST resource: where it lives and how it behaves.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceType {
    /// API group, empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// With a status subresource, writes to the main resource cannot change `status` and writes
    /// to `/status` can change nothing else.
    pub status_subresource: bool,
    /// Strategic-merge list rules by dotted path from the object root.
    pub list_rules: &'static [(&'static str, ListRule)],
}

impl ResourceType {
    /// `v1` for the core group, `group/version` otherwise.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub(crate) fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The strategic-merge rule for a list at `path`, falling back to the rules every object
    /// shares through its metadata.
    pub(crate) fn list_rule(&self, path: &str) -> Option<ListRule> {
        self.list_rules
            .iter()
            .chain(METADATA_RULES)
            .find(|(p, _)| *p == path)
            .map(|(_, rule)| *rule)
    }
}

const METADATA_RULES: &[(&str, ListRule)] = &[
    ("metadata.finalizers", ListRule::Set),
    ("metadata.ownerReferences", ListRule::Key("uid")),
];

/// Nodes, with the merge rules from the Kubernetes Go types (`patchMergeKey` / `patchStrategy`).
pub(crate) const NODES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    status_subresource: true,
    list_rules: &[
        ("spec.podCIDRs", ListRule::Set),
        ("status.conditions", ListRule::Key("type")),
        ("status.addresses", ListRule::Key("type")),
    ],
};

pub(crate) const LEASES: ResourceType = ResourceType {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    singular: "lease",
    kind: "Lease",
    namespaced: true,
    status_subresource: false,
    list_rules: &[],
};

pub(crate) const CORE_EVENTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    status_subresource: false,
    list_rules: &[],
};

pub(crate) const EVENTS_V1: ResourceType = ResourceType {
    group: "events.k8s.io",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    status_subresource: false,
    list_rules: &[],
};

/// Every resource served, in discovery order.
pub(crate) const ALL: &[&ResourceType] = &[&NODES, &CORE_EVENTS, &LEASES, &EVENTS_V1];

/// The resource served at `group/version/plural`, if any.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .copied()
        .find(|rt| rt.group == group && rt.version == version && rt.plural == plural)
}

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// `GET /version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-routeplane-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// `GET /apis`: every non-core group with at least one resource.
pub(crate) fn group_list() -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for rt in ALL.iter().filter(|rt| !rt.group.is_empty()) {
        if groups.iter().any(|g| g["name"] == rt.group) {
            continue;
        }
        let gv = json!({"groupVersion": rt.api_version(), "version": rt.version});
        groups.push(json!({"name": rt.group, "versions": [gv.clone()], "preferredVersion": gv}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`; `None` when nothing is served there.
pub(crate) fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for rt in ALL
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
    {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
        }));
        if rt.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
