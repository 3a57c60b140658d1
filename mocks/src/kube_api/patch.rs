//! The four PATCH bodies the API server accepts, applied to `serde_json::Value` objects.
//!
//! - `application/merge-patch+json`: RFC 7386 JSON merge patch.
//! - `application/strategic-merge-patch+json`: merge patch, except that lists named in the
//!   resource's [`ListRule`]s merge by key (`status.conditions` by `type`) or as sets, and the
//!   `$patch`, `$deleteFromPrimitiveList` and `$setElementOrder` directives are understood.
//! - `application/apply-patch+yaml`: server-side apply, treated as a strategic merge. Field
//!   ownership is not tracked, so an apply never removes fields another manager set.
//! - `application/json-patch+json`: RFC 6902 operations.
//!
//! The store decides what a patch may touch (main resource vs `/status`); this module only merges.

use serde_json::{Map, Value};

use super::resources::{ListRule, ResourceType};

/// Which patch format a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Strategic,
    Apply,
    Json,
}

impl PatchKind {
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            "application/json-patch+json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The label used in the request log.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Strategic => "strategic",
            Self::Apply => "apply",
            Self::Json => "json",
        }
    }
}

/// Applies `patch` of `kind` to `target`. On error `target` may be partly modified, so callers
/// patch a copy.
pub(crate) fn apply(
    rt: &ResourceType,
    kind: PatchKind,
    target: &mut Value,
    patch: &Value,
) -> Result<(), String> {
    match kind {
        PatchKind::Merge => {
            merge_patch(target, patch);
            Ok(())
        }
        PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err("a strategic merge patch must be a JSON object".into());
            }
            strategic_merge(rt, "", target, patch);
            Ok(())
        }
        PatchKind::Json => json_patch(target, patch),
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn strategic_merge(rt: &ResourceType, path: &str, target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        replacement.remove("$patch");
        *target = Value::Object(Map::new());
        strategic_merge(rt, path, target, &Value::Object(replacement));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if key.starts_with("$setElementOrder/") || key == "$retainKeys" || key == "$patch" {
            // Ordering hints and key retention only matter to a real field-by-field merge.
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(remove)) =
                (target.get_mut(field), value)
            {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        let child_path = join(path, key);
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Array(items) => {
                let existing = target.entry(key.clone()).or_insert(Value::Null);
                merge_list(rt, &child_path, existing, items);
            }
            Value::Object(map) if map.get("$patch").and_then(Value::as_str) == Some("delete") => {
                target.remove(key);
            }
            _ => strategic_merge(
                rt,
                &child_path,
                target.entry(key.clone()).or_insert(Value::Null),
                value,
            ),
        }
    }
}

fn merge_list(rt: &ResourceType, path: &str, target: &mut Value, patch: &[Value]) {
    let replace_all = patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"));
    let rule = rt.list_rule(path);
    let existing = match target {
        Value::Array(items) if !replace_all && rule.is_some() => std::mem::take(items),
        _ => Vec::new(),
    };
    let merged = match rule {
        Some(ListRule::Key(key)) if !replace_all => merge_keyed(rt, path, key, existing, patch),
        Some(ListRule::Set) if !replace_all => {
            let mut items = existing;
            for item in patch {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
            items
        }
        _ => patch
            .iter()
            .filter(|item| item.get("$patch").is_none())
            .cloned()
            .collect(),
    };
    *target = Value::Array(merged);
}

fn merge_keyed(
    rt: &ResourceType,
    path: &str,
    key: &str,
    mut items: Vec<Value>,
    patch: &[Value],
) -> Vec<Value> {
    for item in patch {
        let Some(id) = item.get(key) else {
            // An item without its merge key cannot be matched; keep it, as a list append.
            items.push(item.clone());
            continue;
        };
        let position = items
            .iter()
            .position(|existing| existing.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                items.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(rt, path, &mut items[i], item),
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(rt, path, &mut fresh, item);
                items.push(fresh);
            }
        }
    }
    items
}

/// Splits an RFC 6901 pointer into unescaped tokens.
fn pointer_tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_of<'a>(target: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut node = target;
    for token in tokens {
        node = match node {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path segment {token:?} does not exist"))?;
    }
    Ok(node)
}

fn split_last(pointer: &str) -> Result<(Vec<String>, String), String> {
    let mut tokens = pointer_tokens(pointer)?;
    let last = tokens
        .pop()
        .ok_or_else(|| "cannot operate on the whole document".to_string())?;
    Ok((tokens, last))
}

fn add(target: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let (parent, last) = split_last(pointer)?;
    match parent_of(target, &parent)? {
        Value::Object(map) => {
            map.insert(last, value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| format!("array index {last:?} out of range"))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add to {pointer:?}: parent is not a container"
        )),
    }
}

fn remove(target: &mut Value, pointer: &str) -> Result<Value, String> {
    let (parent, last) = split_last(pointer)?;
    match parent_of(target, &parent)? {
        Value::Object(map) => map.remove(&last),
        Value::Array(items) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    }
    .ok_or_else(|| format!("path {pointer:?} does not exist"))
}

/// RFC 6902 add/remove/replace/move/copy/test.
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or_else(|| "a JSON patch must be an array of operations".to_string())?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("operation {name:?} has no path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {name:?} has no value"))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("operation {name:?} has no from"))
        };
        match name {
            "add" => add(target, path, value()?)?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value()?)?;
            }
            "move" => {
                let moved = remove(target, from()?)?;
                add(target, path, moved)?;
            }
            "copy" => {
                let copied = target
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| format!("path {:?} does not exist", from().unwrap_or("")))?;
                add(target, path, copied)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value()?) {
                    return Err(format!("test operation failed at {path:?}"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kube_api::resources::NODES;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_nulls_and_replaces_lists() {
        let mut node = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut node, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(node, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn strategic_merge_merges_conditions_by_type_and_pod_cidrs_as_a_set() {
        let mut node = json!({
            "spec": {"podCIDRs": ["10.0.0.0/24"]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated"}
            ]}
        });
        let patch = json!({
            "spec": {"podCIDRs": ["fd00::/64"]},
            "status": {"conditions": [
                {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"},
                {"type": "MemoryPressure", "status": "False"}
            ]}
        });
        strategic_merge(&NODES, "", &mut node, &patch);
        assert_eq!(
            node["spec"]["podCIDRs"],
            json!(["10.0.0.0/24", "fd00::/64"])
        );
        assert_eq!(
            node["status"]["conditions"],
            json!([
                {"type": "Ready", "status": "True"},
                {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"},
                {"type": "MemoryPressure", "status": "False"}
            ])
        );
    }

    #[test]
    fn strategic_merge_understands_delete_and_replace_directives() {
        let mut node = json!({"status": {"conditions": [{"type": "A"}, {"type": "B"}]}});
        let patch = json!({"status": {"conditions": [{"type": "A", "$patch": "delete"}]}});
        strategic_merge(&NODES, "", &mut node, &patch);
        assert_eq!(node["status"]["conditions"], json!([{"type": "B"}]));

        let patch = json!({"status": {"conditions": [{"$patch": "replace"}, {"type": "C"}]}});
        strategic_merge(&NODES, "", &mut node, &patch);
        assert_eq!(node["status"]["conditions"], json!([{"type": "C"}]));
    }

    #[test]
    fn json_patch_runs_every_operation_in_order() {
        let mut doc = json!({"metadata": {"labels": {"a/b": "1"}}, "l": [1, 2]});
        let ops = json!([
            {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
            {"op": "add", "path": "/l/-", "value": 3},
            {"op": "remove", "path": "/l/0"},
            {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
            {"op": "copy", "from": "/l", "path": "/m"},
            {"op": "move", "from": "/m", "path": "/n"}
        ]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a/b": "2"}}, "l": [2, 3], "n": [2, 3]})
        );
        let failing = json!([{"op": "test", "path": "/l/0", "value": 9}]);
        assert!(json_patch(&mut doc, &failing).is_err());
    }
}
