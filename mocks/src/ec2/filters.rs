//! EC2 `Filter.N` semantics for the Describe actions: filters are AND-ed, the values of one
//! filter are OR-ed, values may use `*` and `?` wildcards, and the tag filters (`tag:<key>`,
//! `tag-key`, `tag-value`) work the same on every resource. An unknown filter name is an
//! `InvalidParameterValue`, as on EC2.

use super::error::ApiError;
use super::query::Filter;
use super::world::Tags;

/// EC2's wildcard match: `*` any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Keeps the items that pass every filter. `known` lists the resource's filter names besides the
/// tag filters; `values` returns an item's values for one of them.
pub fn apply<T>(
    items: Vec<T>,
    filters: &[Filter],
    known: &[&str],
    tags: impl Fn(&T) -> &Tags,
    values: impl Fn(&T, &str) -> Vec<String>,
) -> Result<Vec<T>, ApiError> {
    for f in filters {
        let is_tag = f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value";
        if !is_tag && !known.contains(&f.name.as_str()) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The filter '{}' is invalid",
                f.name
            )));
        }
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            filters.iter().all(|f| {
                let have: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
                    tags(item).get(key).cloned().into_iter().collect()
                } else if f.name == "tag-key" {
                    tags(item).keys().cloned().collect()
                } else if f.name == "tag-value" {
                    tags(item).values().cloned().collect()
                } else {
                    values(item, &f.name)
                };
                f.values
                    .iter()
                    .any(|want| have.iter().any(|h| glob(want, h)))
            })
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_ec2() {
        assert!(glob(
            "kubernetes.io/cluster/*",
            "kubernetes.io/cluster/demo"
        ));
        assert!(glob("rtb-?", "rtb-1"));
        assert!(!glob("rtb-?", "rtb-12"));
        assert!(glob("*a*b", "xxaxxb"));
        assert!(!glob("abc", "abd"));
        assert!(glob("*", ""));
    }

    #[test]
    fn unknown_filter_names_are_rejected() {
        let f = [Filter {
            name: "colour".into(),
            values: vec!["red".into()],
        }];
        let err = apply(vec![Tags::new()], &f, &["vpc-id"], |t| t, |_, _| vec![]).unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
    }
}
