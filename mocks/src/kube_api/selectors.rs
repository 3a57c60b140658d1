//! Label and field selectors, parsed from the `labelSelector` / `fieldSelector` query parameters.
//!
//! Used by list and watch (see `store` and `watch`). Label selectors follow the Kubernetes
//! grammar: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated.
//! Field selectors accept `path=v`, `path==v` and `path!=v` on any dotted path; the real API
//! server only allows a few fields per resource, the fake is more lenient.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

/// Splits on commas outside parentheses, so `k in (a,b),x=y` is two terms.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Result<Vec<String>, String> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, got {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let req = if let Some(key) = term.strip_prefix('!') {
                LabelReq::NotExists(key.trim().to_string())
            } else if let Some((key, set)) = term.split_once(" notin ") {
                LabelReq::NotIn(key.trim().to_string(), parse_set(set)?)
            } else if let Some((key, set)) = term.split_once(" in ") {
                LabelReq::In(key.trim().to_string(), parse_set(set)?)
            } else if let Some((key, value)) = term.split_once("!=") {
                LabelReq::NotEq(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = term.split_once("==") {
                LabelReq::Eq(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) = term.split_once('=') {
                LabelReq::Eq(key.trim().to_string(), value.trim().to_string())
            } else if term.contains(|c: char| c.is_whitespace() || "()<>".contains(c)) {
                return Err(format!("unable to parse requirement {term:?}"));
            } else {
                LabelReq::Exists(term.to_string())
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            // As in Kubernetes, `!=` and `notin` also match objects without the label.
            LabelReq::NotEq(k, v) => label(k) != Some(v.as_str()),
            LabelReq::In(k, set) => label(k).is_some_and(|l| set.iter().any(|v| v == l)),
            LabelReq::NotIn(k, set) => !label(k).is_some_and(|l| set.iter().any(|v| v == l)),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldReq {
    path: Vec<String>,
    equal: bool,
    value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<FieldReq>);

impl FieldSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!("invalid field selector term {term:?}"));
            };
            reqs.push(FieldReq {
                path: path.trim().split('.').map(str::to_string).collect(),
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(Self(reqs))
    }

    /// Whether `object` satisfies every term.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|req| {
            let mut node = Some(object);
            for segment in &req.path {
                node = node.and_then(|n| n.get(segment));
            }
            // Missing fields compare as the empty string, as they do in the API server.
            let actual = match node {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (actual == req.value) == req.equal
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_handles_every_operator() {
        let node = json!({"metadata": {"labels": {"zone": "a", "role": "worker"}}});
        let cases = [
            ("", true),
            ("zone=a", true),
            ("zone==b", false),
            ("zone!=b", true),
            ("zone,role", true),
            ("!gpu", true),
            ("!zone", false),
            ("zone in (a,b),role=worker", true),
            ("zone notin (a)", false),
            ("gpu notin (x)", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&node), expected, "{selector}");
        }
    }

    #[test]
    fn field_selector_compares_dotted_paths_as_strings() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        let cases = [
            ("metadata.name=n1", true),
            ("metadata.name!=n1", false),
            ("spec.unschedulable==true", true),
            ("metadata.namespace=", true),
        ];
        for (selector, expected) in cases {
            let parsed = FieldSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&node), expected, "{selector}");
        }
    }
}
