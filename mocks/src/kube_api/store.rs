//! The object store: every object as `serde_json::Value`, one global resourceVersion, and the
//! change history that watches replay from.
//!
//! All writes go through one mutex and bump the resourceVersion by one, like etcd's revision.
//! Each write is appended to a bounded history (older entries are compacted away; a watch from
//! before the compaction point gets 410 Gone) and broadcast to live watches (`watch`) while the
//! lock is held, so a watch that subscribes under the same lock sees every change exactly once.
//! The REST semantics live here too: optimistic concurrency on resourceVersion, the status
//! subresource split, immutable identity fields, and no-op writes that change nothing.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    ops::Bound,
    sync::Arc,
};

use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::{
    lease_log::LeaseRecord,
    patch::{self, PatchKind},
    resources::{LEASES, ResourceType},
    selectors::{FieldSelector, LabelSelector},
    status::ApiError,
};

/// How many changes a slow watch may fall behind before it is ended with 410 Gone.
const BROADCAST_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed write. `object` carries the new resourceVersion (for a delete: the last state
/// with the deletion's resourceVersion); `previous` lets a selector-filtered watch turn a change
/// that leaves or enters its selection into DELETED or ADDED.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub kind: ChangeKind,
    pub resource: &'static ResourceType,
    pub object: Value,
    pub previous: Option<Value>,
}

/// What live watches receive.
#[derive(Debug, Clone)]
pub(crate) enum Broadcast {
    Change(Arc<Change>),
    /// Ends every live watch with 410 Gone, as an API server does when its watch cache resets.
    Expire,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The main resource: everything but `status` when there is a status subresource.
    Main,
    /// The `/status` subresource: only `status`.
    Status,
    /// Spec and status at once; only the test helpers write like this, no API client can.
    Whole,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchFrom {
    /// resourceVersion unset or "0": synthetic ADDED events for the current state, then changes.
    Now,
    /// Every change after this resourceVersion.
    After(u64),
}

/// A watch's starting point: the objects or changes to send first, and the live feed after them.
pub(crate) struct Subscription {
    pub initial_objects: Vec<Value>,
    pub replay: Vec<Arc<Change>>,
    pub rx: broadcast::Receiver<Broadcast>,
    /// The resourceVersion the watch is current to once `initial_objects`/`replay` are sent.
    pub current_rv: u64,
    /// Live changes at or before this are already covered and must be skipped.
    pub skip_through: u64,
}

pub(crate) struct ListQuery<'a> {
    pub namespace: Option<&'a str>,
    pub labels: &'a LabelSelector,
    pub fields: &'a FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<&'a str>,
}

pub(crate) struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

type ResourceKey = (&'static str, &'static str);
type ObjectKey = (String, String);

struct Inner {
    rv: u64,
    /// Every change with rv <= this has been dropped from `history`.
    compacted_rv: u64,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    objects: HashMap<ResourceKey, BTreeMap<ObjectKey, Value>>,
    /// Every committed Lease write, oldest first (never compacted: tests replay all of it).
    lease_log: Vec<LeaseRecord>,
}

pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Broadcast>,
}

fn resource_key(rt: &ResourceType) -> ResourceKey {
    (rt.group, rt.plural)
}

/// The object's `metadata`, created if missing so writes can always set fields on it.
fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(map) = object else {
        unreachable!("just replaced with an object")
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        unreachable!("just replaced with an object")
    };
    meta
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_uid() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// Sets `apiVersion` and `kind`, rejecting a body written for another type.
fn check_type(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Value::Object(map) = object else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let api_version = rt.api_version();
    for (field, expected) in [("apiVersion", api_version.as_str()), ("kind", rt.kind)] {
        match map.get(field).and_then(Value::as_str) {
            Some(actual) if !actual.is_empty() && actual != expected => {
                return Err(ApiError::bad_request(format!(
                    "{field} {actual:?} does not match the expected {expected:?}"
                )));
            }
            _ => {
                map.insert(field.to_string(), Value::String(expected.to_string()));
            }
        }
    }
    Ok(())
}

impl Store {
    pub(crate) fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Mutex::new(Inner {
                rv: 0,
                compacted_rv: 0,
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                objects: HashMap::new(),
                lease_log: Vec::new(),
            }),
            tx,
        }
    }

    /// The latest resourceVersion handed out.
    pub(crate) fn resource_version(&self) -> u64 {
        self.inner.lock().rv
    }

    pub(crate) fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock();
        inner
            .objects
            .get(&resource_key(rt))
            .and_then(|objects| objects.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// Every object of a type, sorted by namespace then name.
    pub(crate) fn all(&self, rt: &ResourceType) -> Vec<Value> {
        let inner = self.inner.lock();
        inner
            .objects
            .get(&resource_key(rt))
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn list(
        &self,
        rt: &ResourceType,
        query: &ListQuery,
    ) -> Result<ListResult, ApiError> {
        let inner = self.inner.lock();
        // A continue token is `{rv}/{namespace}/{name}`: the list's resourceVersion and the key of
        // the last item returned. Later pages report the first page's resourceVersion, so a watch
        // started from it replays whatever changed while the client paged.
        let (resource_version, after) = match query.continue_token {
            Some(token) => {
                let mut parts = token.splitn(3, '/');
                let parsed = match (parts.next(), parts.next(), parts.next()) {
                    (Some(rv), Some(ns), Some(name)) => rv
                        .parse::<u64>()
                        .ok()
                        .map(|rv| (rv, (ns.to_string(), name.to_string()))),
                    _ => None,
                };
                let (rv, key) =
                    parsed.ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                if rv < inner.compacted_rv {
                    return Err(ApiError::gone(
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter.",
                    ));
                }
                (rv, Bound::Excluded(key))
            }
            None => (inner.rv, Bound::Unbounded),
        };
        let limit = query.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut continue_token = None;
        if let Some(objects) = inner.objects.get(&resource_key(rt)) {
            let matching = objects
                .range((after, Bound::Unbounded))
                .filter(|((ns, _), _)| query.namespace.is_none_or(|want| want == ns))
                .filter(|(_, obj)| query.labels.matches(obj) && query.fields.matches(obj));
            let mut last_key: Option<&ObjectKey> = None;
            for (key, object) in matching {
                if items.len() == limit {
                    // There is at least one more match, so the client needs another page.
                    if let Some((ns, name)) = last_key {
                        continue_token = Some(format!("{resource_version}/{ns}/{name}"));
                    }
                    break;
                }
                items.push(object.clone());
                last_key = Some(key);
            }
        }
        Ok(ListResult {
            items,
            resource_version,
            continue_token,
        })
    }

    pub(crate) fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        check_type(rt, &mut object)?;
        let meta = metadata_mut(&mut object);
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_string(),
            None => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
                _ => {
                    return Err(ApiError::invalid(
                        rt.plural,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        meta.insert("name".into(), Value::String(name.clone()));
        if rt.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), Value::String(new_uid()));
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        meta.remove("resourceVersion");

        let mut inner = self.inner.lock();
        let key = (ns.to_string(), name.clone());
        let exists = inner
            .objects
            .get(&resource_key(rt))
            .is_some_and(|objects| objects.contains_key(&key));
        if exists {
            return Err(ApiError::already_exists(rt.plural, &name));
        }
        Ok(self.commit(&mut inner, rt, key, ChangeKind::Added, object, None))
    }

    /// PUT: replaces the object (or only its status), failing with 409 when the body's
    /// resourceVersion is set and stale.
    pub(crate) fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        mut body: Value,
        target: Target,
    ) -> Result<Value, ApiError> {
        check_type(rt, &mut body)?;
        if let Some(body_name) = meta_str(&body, "name")
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut inner = self.inner.lock();
        let key = (ns.to_string(), name.to_string());
        let old = Self::current(&inner, rt, &key)?;
        let new = build_update(rt, &old, body, target)?;
        Ok(self.commit_update(&mut inner, rt, key, old, new))
    }

    /// PATCH. Returns the object and whether it was created (server-side apply upserts).
    pub(crate) fn patch(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        target: Target,
    ) -> Result<(Value, bool), ApiError> {
        let mut inner = self.inner.lock();
        let key = (ns.to_string(), name.to_string());
        let old = match Self::current(&inner, rt, &key) {
            Ok(old) => old,
            Err(_) if kind == PatchKind::Apply && target == Target::Main => {
                drop(inner);
                let mut fresh = body.clone();
                let meta = metadata_mut(&mut fresh);
                meta.insert("name".into(), Value::String(name.to_string()));
                return Ok((self.create(rt, ns, fresh)?, true));
            }
            Err(e) => return Err(e),
        };
        let mut candidate = old.clone();
        patch::apply(rt, kind, &mut candidate, body)
            .map_err(|message| ApiError::invalid(rt.plural, name, message))?;
        if meta_str(&candidate, "name") != Some(name) {
            return Err(ApiError::invalid(
                rt.plural,
                name,
                "metadata.name: Invalid value: field is immutable",
            ));
        }
        let new = build_update(rt, &old, candidate, target)?;
        Ok((self.commit_update(&mut inner, rt, key, old, new), false))
    }

    /// DELETE with optional resourceVersion/uid preconditions. Returns the object as deleted.
    pub(crate) fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        precondition_rv: Option<&str>,
        precondition_uid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.inner.lock();
        let key = (ns.to_string(), name.to_string());
        let old = Self::current(&inner, rt, &key)?;
        let stale = |field: &str, want: Option<&str>| {
            want.filter(|w| !w.is_empty())
                .is_some_and(|w| meta_str(&old, field) != Some(w))
        };
        if stale("resourceVersion", precondition_rv) || stale("uid", precondition_uid) {
            return Err(ApiError::conflict(rt.plural, name));
        }
        let last = old.clone();
        Ok(self.commit(&mut inner, rt, key, ChangeKind::Deleted, last, Some(old)))
    }

    /// Starts a watch: the backlog to send and a live receiver, taken under one lock.
    pub(crate) fn subscribe(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        from: WatchFrom,
    ) -> Result<Subscription, ApiError> {
        let inner = self.inner.lock();
        let rx = self.tx.subscribe();
        match from {
            WatchFrom::Now => {
                let initial_objects = inner
                    .objects
                    .get(&resource_key(rt))
                    .map(|objects| {
                        objects
                            .iter()
                            .filter(|((obj_ns, _), _)| ns.is_none_or(|want| want == obj_ns))
                            .map(|(_, obj)| obj.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Subscription {
                    initial_objects,
                    replay: Vec::new(),
                    rx,
                    current_rv: inner.rv,
                    skip_through: inner.rv,
                })
            }
            WatchFrom::After(rv) => {
                if rv < inner.compacted_rv {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        inner.compacted_rv
                    )));
                }
                let replay = inner
                    .history
                    .iter()
                    .filter(|change| change.rv > rv)
                    .cloned()
                    .collect();
                Ok(Subscription {
                    initial_objects: Vec::new(),
                    replay,
                    rx,
                    current_rv: inner.rv.max(rv),
                    skip_through: inner.rv.max(rv),
                })
            }
        }
    }

    /// Every committed Lease write so far, oldest first.
    pub(crate) fn lease_log(&self) -> Vec<LeaseRecord> {
        self.inner.lock().lease_log.clone()
    }

    /// Drops the whole change history: any watch or continue token from before now gets 410.
    pub(crate) fn compact(&self) {
        let mut inner = self.inner.lock();
        inner.history.clear();
        inner.compacted_rv = inner.rv;
    }

    /// Ends every live watch with a 410 Gone event.
    pub(crate) fn expire_watches(&self) {
        let _inner = self.inner.lock();
        // An error only means nobody is watching.
        let _ = self.tx.send(Broadcast::Expire);
    }

    fn current(inner: &Inner, rt: &ResourceType, key: &ObjectKey) -> Result<Value, ApiError> {
        inner
            .objects
            .get(&resource_key(rt))
            .and_then(|objects| objects.get(key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt.plural, &key.1))
    }

    /// Commits `new` unless it equals `old`: like the API server, a no-op write keeps the
    /// resourceVersion and wakes no watch.
    fn commit_update(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        key: ObjectKey,
        old: Value,
        new: Value,
    ) -> Value {
        if new == old {
            return old;
        }
        self.commit(inner, rt, key, ChangeKind::Modified, new, Some(old))
    }

    fn commit(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        key: ObjectKey,
        kind: ChangeKind,
        mut object: Value,
        previous: Option<Value>,
    ) -> Value {
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut object).insert("resourceVersion".into(), Value::String(rv.to_string()));
        if resource_key(rt) == resource_key(&LEASES) {
            // Recorded under the store lock, so the order is the commit order.
            let record = LeaseRecord::of(&object, kind == ChangeKind::Deleted);
            inner.lease_log.push(record);
        }
        let objects = inner.objects.entry(resource_key(rt)).or_default();
        match kind {
            ChangeKind::Deleted => {
                objects.remove(&key);
            }
            ChangeKind::Added | ChangeKind::Modified => {
                objects.insert(key, object.clone());
            }
        }
        let change = Arc::new(Change {
            rv,
            kind,
            resource: rt,
            object: object.clone(),
            previous,
        });
        inner.history.push_back(Arc::clone(&change));
        while inner.history.len() > inner.history_limit {
            if let Some(dropped) = inner.history.pop_front() {
                inner.compacted_rv = dropped.rv;
            }
        }
        // An error only means nobody is watching.
        let _ = self.tx.send(Broadcast::Change(change));
        object
    }
}

/// The object a PUT or PATCH produces from the stored `old` and the caller's full `candidate`:
/// checks the preconditions, then keeps what the target may not change.
fn build_update(
    rt: &ResourceType,
    old: &Value,
    mut candidate: Value,
    target: Target,
) -> Result<Value, ApiError> {
    let name = meta_str(old, "name").unwrap_or_default();
    if let Some(rv) = meta_str(&candidate, "resourceVersion")
        && Some(rv) != meta_str(old, "resourceVersion")
    {
        return Err(ApiError::conflict(rt.plural, name));
    }
    if let Some(uid) = meta_str(&candidate, "uid")
        && Some(uid) != meta_str(old, "uid")
    {
        return Err(ApiError::conflict(rt.plural, name));
    }
    let mut new = match target {
        Target::Status => {
            let mut new = old.clone();
            let status = candidate.get_mut("status").map(Value::take);
            if let Value::Object(map) = &mut new {
                match status {
                    Some(status) if !status.is_null() => {
                        map.insert("status".into(), status);
                    }
                    _ => {
                        map.remove("status");
                    }
                }
            }
            new
        }
        Target::Whole => candidate,
        Target::Main => {
            if rt.status_subresource
                && let Value::Object(map) = &mut candidate
            {
                match old.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            candidate
        }
    };
    check_type(rt, &mut new)?;
    let old_meta = old.get("metadata").and_then(Value::as_object);
    let meta = metadata_mut(&mut new);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "resourceVersion",
    ] {
        match old_meta.and_then(|m| m.get(field)) {
            Some(value) => meta.insert(field.to_string(), value.clone()),
            None => meta.remove(field),
        };
    }
    Ok(new)
}
