//! A builder for Node objects, so tests and the demo write `node("n1").pod_cidr("10.1.1.0/24")`
//! instead of JSON. It builds plain `serde_json::Value`s for `FakeKube::add_node`.

use serde_json::{Value, json};

/// Starts a Node named `name`, Ready, with no podCIDR and no providerID.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder {
        object: json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                    "lastTransitionTime": "2025-01-01T00:00:00Z"
                }],
                "addresses": [{"type": "Hostname", "address": name}]
            }
        }),
    }
}

/// Chainable Node fixture; finish with [`NodeBuilder::build`].
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    object: Value,
}

impl NodeBuilder {
    /// Adds a podCIDR; the first one also becomes `spec.podCIDR`, as the API server requires.
    pub fn pod_cidr(mut self, cidr: &str) -> Self {
        let spec = &mut self.object["spec"];
        if spec.get("podCIDR").is_none() {
            spec["podCIDR"] = json!(cidr);
        }
        match spec.get_mut("podCIDRs").and_then(Value::as_array_mut) {
            Some(cidrs) => cidrs.push(json!(cidr)),
            None => spec["podCIDRs"] = json!([cidr]),
        }
        self
    }

    /// Sets `spec.providerID`, e.g. `aws:///us-east-1a/i-0abc` or `gce://project/zone/name`.
    pub fn provider_id(mut self, provider_id: &str) -> Self {
        self.object["spec"]["providerID"] = json!(provider_id);
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.object["metadata"]["labels"][key] = json!(value);
        self
    }

    /// Adds an `InternalIP` address.
    pub fn internal_ip(mut self, ip: &str) -> Self {
        if let Some(addresses) = self.object["status"]["addresses"].as_array_mut() {
            addresses.insert(0, json!({"type": "InternalIP", "address": ip}));
        }
        self
    }

    /// Sets the Ready condition's status.
    pub fn ready(mut self, ready: bool) -> Self {
        self.object["status"]["conditions"][0]["status"] =
            json!(if ready { "True" } else { "False" });
        self
    }

    pub fn build(self) -> Value {
        self.object
    }
}
