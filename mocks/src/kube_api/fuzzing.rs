//! Entry points for the fuzz targets in `fuzz/` (not part of the fake's API): the request
//! parsers a hostile or broken client reaches — path routing, query string (label and field
//! selectors, limits, resource versions), JSON/YAML bodies — and the four patch formats applied
//! to every resource type. Each returns whether the input was accepted; none may panic.

use axum::body::Bytes;
use serde_json::Value;

use super::patch::{self, PatchKind};
use super::resources::ALL;
use super::routes::{Query, parse_body, parse_path};
use super::selectors::{FieldSelector, LabelSelector};

/// Parses one request's path, query string and body the way the router does.
pub fn request(path: &str, query: &str, body: &[u8], yaml_allowed: bool) -> bool {
    let route = parse_path(path).is_ok();
    let query = Query::parse(Some(query)).is_ok_and(|q| q.watch_from().is_ok());
    let body = parse_body(&Bytes::copy_from_slice(body), yaml_allowed).is_ok();
    route && query && body
}

/// Parses `text` as a label and as a field selector and matches each against `object`.
pub fn selectors(text: &str, object: &Value) -> bool {
    let label = LabelSelector::parse(text).map(|s| s.matches(object));
    let field = FieldSelector::parse(text).map(|s| s.matches(object));
    label.is_ok() || field.is_ok()
}

/// Applies `patch` with the format named by `content_type` to a copy of `target`, once per
/// resource type (their list-merge rules differ). Returns the patched copies.
pub fn patch(content_type: &str, target: &Value, patch: &Value) -> Vec<Result<Value, String>> {
    let Some(kind) = PatchKind::from_content_type(content_type) else {
        return Vec::new();
    };
    ALL.iter()
        .map(|rt| {
            let mut copy = target.clone();
            patch::apply(rt, kind, &mut copy, patch).map(|()| copy)
        })
        .collect()
}
