//! Parsing of the EC2 Query protocol request: a form-encoded body of `Action`, `Version` and
//! flattened list parameters (`InstanceId.1`, `Filter.1.Name`, `Filter.1.Value.1`, `Tag.1.Key`).
//!
//! The action modules ask this module for typed values; every malformed parameter becomes an
//! [`ApiError`](super::error::ApiError) with the code EC2 uses for it.

use std::collections::BTreeMap;

use super::error::ApiError;

/// One `Filter.N` entry: a name and the values that are OR-ed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The filter name as sent, e.g. `vpc-id` or `tag:Name`.
    pub name: String,
    /// The values; EC2 matches if any value matches.
    pub values: Vec<String>,
}

/// The decoded parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes a form body (or URL query string). Repeated keys keep the last value, like EC2.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            ApiError::invalid_parameter_value(format!("malformed request body: {e}"))
        })?;
        Ok(Self {
            map: pairs.into_iter().collect(),
        })
    }

    /// All parameters, for the call record.
    pub fn all(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// A parameter if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present: `MissingParameter` otherwise.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// A boolean parameter (`true`/`false`, case-insensitive).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_parameter_value(format!(
                "Value ({v}) for parameter {name} is invalid. Expected: 'true' or 'false'."
            ))),
        }
    }

    /// `DryRun=true` asks EC2 to check permissions only.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        Ok(self.bool("DryRun")?.unwrap_or(false))
    }

    /// A flattened list `Prefix.1`, `Prefix.2`, … in index order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                let idx: u32 = rest.parse().ok()?;
                Some((idx, v.clone()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// The indexes N present under `Prefix.N.<anything>`, sorted.
    fn struct_indexes(&self, prefix: &str) -> Vec<u32> {
        let mut idx: Vec<u32> = self
            .map
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                let (n, _) = rest.split_once('.')?;
                n.parse().ok()
            })
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    /// `Filter.N.Name` / `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>, ApiError> {
        self.struct_indexes("Filter")
            .into_iter()
            .map(|n| {
                let name = self
                    .get(&format!("Filter.{n}.Name"))
                    .ok_or_else(|| ApiError::missing_parameter(&format!("Filter.{n}.Name")))?
                    .to_string();
                let values = self.list(&format!("Filter.{n}.Value"));
                Ok(Filter { name, values })
            })
            .collect()
    }

    /// `Tag.N.Key` / `Tag.N.Value` as sent by CreateTags.
    pub fn tags(&self) -> Result<Vec<(String, String)>, ApiError> {
        self.struct_indexes("Tag")
            .into_iter()
            .map(|n| {
                let key = self
                    .get(&format!("Tag.{n}.Key"))
                    .ok_or_else(|| ApiError::missing_parameter(&format!("Tag.{n}.Key")))?;
                let value = self
                    .map
                    .get(&format!("Tag.{n}.Value"))
                    .cloned()
                    .unwrap_or_default();
                Ok((key.to_string(), value))
            })
            .collect()
    }

    /// `MaxResults` checked against the action's documented range.
    pub fn max_results(&self, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.get("MaxResults") else {
            return Ok(None);
        };
        let n: usize = raw.parse().map_err(|_| {
            ApiError::invalid_parameter_value(format!(
                "Value ({raw}) for parameter maxResults is invalid. Expecting a number."
            ))
        })?;
        if n < min || n > max {
            return Err(ApiError::invalid_parameter_value(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {min} and {max}."
            )));
        }
        Ok(Some(n))
    }

    /// Whether a Describe call narrows its result (a filter, explicit IDs or pagination). EC2
    /// charges unfiltered, unpaginated DescribeInstances/DescribeNetworkInterfaces to a smaller
    /// bucket.
    pub fn is_narrowed(&self) -> bool {
        self.map.keys().any(|k| {
            k.starts_with("Filter.")
                || k == "MaxResults"
                || k == "NextToken"
                || k.starts_with("InstanceId.")
                || k.starts_with("NetworkInterfaceId.")
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_filters_lists_and_tags_in_index_order() {
        let p = Params::parse(
            b"Action=DescribeRouteTables&Filter.2.Name=tag%3AName&Filter.2.Value.1=a&Filter.1.Name=vpc-id\
              &Filter.1.Value.2=vpc-2&Filter.1.Value.1=vpc-1&InstanceId.10=i-c&InstanceId.2=i-b&InstanceId.1=i-a\
              &Tag.1.Key=k&Tag.1.Value=v",
        )
        .unwrap();
        let f = p.filters().unwrap();
        assert_eq!(f[0].name, "vpc-id");
        assert_eq!(f[0].values, ["vpc-1", "vpc-2"]);
        assert_eq!(f[1].name, "tag:Name");
        assert_eq!(p.list("InstanceId"), ["i-a", "i-b", "i-c"]);
        assert_eq!(p.tags().unwrap(), [("k".to_string(), "v".to_string())]);
        assert!(p.is_narrowed());
    }

    #[test]
    fn rejects_max_results_outside_the_documented_range() {
        let p = Params::parse(b"MaxResults=2").unwrap();
        assert_eq!(
            p.max_results(5, 100).unwrap_err().code,
            "InvalidParameterValue"
        );
    }
}
