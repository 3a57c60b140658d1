//! Watch streams: newline-delimited `{"type": …, "object": …}` JSON over a chunked response.
//!
//! A watch starts from a `store::Subscription` (synthetic ADDED events, or the history after the
//! client's resourceVersion), then follows the store's broadcast. It filters by namespace and
//! selectors the way the API server does: an object that starts matching arrives as ADDED, one
//! that stops matching as DELETED. It sends BOOKMARKs when asked, ends at `timeoutSeconds` or
//! shutdown, and ends with an `ERROR` event carrying a 410 Status when the client's
//! resourceVersion is too old or the watch falls too far behind.

use std::{collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::body::{Body, Bytes};
use futures::stream;
use serde_json::{Value, json};
use tokio::{sync::broadcast, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{
    resources::ResourceType,
    selectors::{FieldSelector, LabelSelector},
    status::ApiError,
    store::{Broadcast, Change, ChangeKind, Store, WatchFrom},
};

/// What a watch request asked for, parsed from its query string.
pub(crate) struct WatchRequest {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub from: WatchFrom,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: the initial state ends with a bookmark annotated
    /// `k8s.io/initial-events-end`, which kube-rs's streaming-list watcher waits for.
    pub send_initial_events: bool,
    pub timeout: Duration,
}

impl WatchRequest {
    fn matches(&self, object: &Value) -> bool {
        let namespace_ok = self.namespace.as_deref().is_none_or(|want| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(want)
        });
        namespace_ok && self.labels.matches(object) && self.fields.matches(object)
    }

    fn same_resource(&self, rt: &ResourceType) -> bool {
        rt.group == self.resource.group
            && rt.version == self.resource.version
            && rt.plural == self.resource.plural
    }

    /// The event this watch sees for `change`, if any.
    fn render(&self, change: &Change) -> Option<Bytes> {
        if !self.same_resource(change.resource) {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_ref().is_some_and(|p| self.matches(p));
        let kind = match (change.kind, before, now) {
            (ChangeKind::Added, _, true) | (ChangeKind::Modified, false, true) => "ADDED",
            (ChangeKind::Modified, true, true) => "MODIFIED",
            (ChangeKind::Modified, true, false) | (ChangeKind::Deleted, _, true) => "DELETED",
            _ => return None,
        };
        Some(line(kind, &change.object))
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.resource.kind,
            "apiVersion": self.resource.api_version(),
            "metadata": metadata,
        });
        line("BOOKMARK", &object)
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

fn gone_line(message: String) -> Bytes {
    line("ERROR", &ApiError::gone(message).to_status())
}

struct WatchState {
    request: WatchRequest,
    pending: VecDeque<Bytes>,
    rx: broadcast::Receiver<Broadcast>,
    /// Bookmarks carry the last resourceVersion this stream has passed, never the store's
    /// current one: changes still queued in `rx` would otherwise be skipped on resume.
    last_rv: u64,
    skip_through: u64,
    deadline: Instant,
    bookmark_timer: tokio::time::Interval,
    shutdown: CancellationToken,
    finished: bool,
}

/// The response body for a watch request. Starting too far back yields a single 410 `ERROR`
/// event in a 200 response, as the API server does, so kube-rs's watcher relists.
pub(crate) fn watch_body(
    store: &Arc<Store>,
    request: WatchRequest,
    bookmark_interval: Duration,
    shutdown: CancellationToken,
) -> Body {
    let subscription =
        match store.subscribe(request.resource, request.namespace.as_deref(), request.from) {
            Ok(subscription) => subscription,
            Err(gone) => return Body::from(line("ERROR", &gone.to_status())),
        };
    let mut pending: VecDeque<Bytes> = subscription
        .initial_objects
        .iter()
        .filter(|object| request.matches(object))
        .map(|object| line("ADDED", object))
        .collect();
    pending.extend(subscription.replay.iter().filter_map(|c| request.render(c)));
    if request.send_initial_events {
        pending.push_back(request.bookmark(subscription.current_rv, true));
    }
    let period = bookmark_interval.max(Duration::from_millis(10));
    let state = WatchState {
        deadline: Instant::now() + request.timeout,
        request,
        pending,
        rx: subscription.rx,
        last_rv: subscription.current_rv,
        skip_through: subscription.skip_through,
        bookmark_timer: tokio::time::interval_at(Instant::now() + period, period),
        shutdown,
        finished: false,
    };
    Body::from_stream(stream::unfold(state, next_chunk))
}

async fn next_chunk(mut s: WatchState) -> Option<(Result<Bytes, Infallible>, WatchState)> {
    loop {
        if let Some(chunk) = s.pending.pop_front() {
            return Some((Ok(chunk), s));
        }
        if s.finished {
            return None;
        }
        tokio::select! {
            biased;
            () = s.shutdown.cancelled() => return None,
            () = tokio::time::sleep_until(s.deadline) => return None,
            received = s.rx.recv() => match received {
                Ok(Broadcast::Change(change)) => {
                    if change.rv > s.skip_through {
                        s.last_rv = change.rv;
                        s.pending.extend(s.request.render(&change));
                    }
                }
                Ok(Broadcast::Expire) => {
                    s.pending.push_back(gone_line(format!("watch expired at resource version {}", s.last_rv)));
                    s.finished = true;
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    s.pending.push_back(gone_line(format!("watch fell {missed} events behind")));
                    s.finished = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = s.bookmark_timer.tick(), if s.request.bookmarks => {
                s.pending.push_back(s.request.bookmark(s.last_rv, false));
            }
        }
    }
}
