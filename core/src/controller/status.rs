//! What the controller tells Kubernetes: the `NetworkUnavailable` node condition (patched only
//! when it changes, so a steady cluster costs no API writes) and Events on Nodes. Both are
//! written by the leader only, each under a timeout; a failure here is logged and retried on a
//! later pass, never allowed to stall route programming.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tracing::warn;

use super::nodes::SeenCondition;

/// The condition a node should carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantCondition {
    /// true: the network is unavailable.
    pub unavailable: bool,
    pub reason: &'static str,
    pub message: String,
}

impl WantCondition {
    pub fn routed() -> Self {
        Self {
            unavailable: false,
            reason: "RouteCreated",
            message: "routeplane created the node's routes".into(),
        }
    }

    pub fn not_routed(reason: &'static str, message: String) -> Self {
        Self {
            unavailable: true,
            reason,
            message,
        }
    }

    pub fn status(&self) -> &'static str {
        if self.unavailable { "True" } else { "False" }
    }

    /// Whether the node already shows this condition (status and reason).
    pub fn matches(&self, seen: Option<&SeenCondition>) -> bool {
        seen.is_some_and(|s| s.status == self.status() && s.reason == self.reason)
    }

    pub fn as_seen(&self) -> SeenCondition {
        SeenCondition {
            status: self.status().into(),
            reason: self.reason.into(),
        }
    }
}

/// Normal or Warning, as Kubernetes Events want it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Writes conditions and events. Cheap to clone.
#[derive(Clone)]
pub struct StatusWriter {
    nodes: Api<Node>,
    events: Api<Event>,
    timeout: Duration,
    reporter: String,
}

impl StatusWriter {
    /// Events go to `event_namespace` ("default" is where node events usually live).
    pub fn new(
        client: kube::Client,
        event_namespace: &str,
        timeout: Duration,
        reporter: &str,
    ) -> Self {
        Self {
            nodes: Api::all(client.clone()),
            events: Api::namespaced(client, event_namespace),
            timeout,
            reporter: reporter.to_string(),
        }
    }

    /// Patches `NetworkUnavailable` with a strategic merge, so other conditions are untouched.
    /// `Ok(false)` when the Node is gone (deleted while the pass ran): nothing to mark.
    ///
    /// # Errors
    /// The API error or a timeout, as text for logging.
    pub async fn set_condition(&self, node: &str, want: &WantCondition) -> Result<bool, String> {
        let now = Time(Timestamp::now());
        let patch = serde_json::json!({
            "status": {"conditions": [{
                "type": "NetworkUnavailable",
                "status": want.status(),
                "reason": want.reason,
                "message": want.message,
                "lastTransitionTime": now,
                "lastHeartbeatTime": now,
            }]}
        });
        let (params, patch) = (PatchParams::default(), Patch::Strategic(patch));
        let call = self.nodes.patch_status(node, &params, &patch);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(kube::Error::Api(status))) if status.is_not_found() => Ok(false),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        }
    }

    /// Records an Event on a Node. Failures are logged only: events are best-effort.
    pub async fn event(
        &self,
        node: &str,
        uid: &str,
        kind: EventType,
        reason: &str,
        message: String,
    ) {
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{node}.{:x}", now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.into()),
                uid: (!uid.is_empty()).then(|| uid.to_string()),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(match kind {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            source: Some(EventSource {
                component: Some(self.reporter.clone()),
                host: None,
            }),
            reporting_component: Some(self.reporter.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            ..Event::default()
        };
        let params = PostParams::default();
        let call = self.events.create(&params, &event);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => warn!(%error, node, reason, "could not record event"),
            Err(_) => warn!(node, reason, "recording event timed out"),
        }
    }
}
