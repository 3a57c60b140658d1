//! The EC2 actions the mock implements, dispatched by name. Each action reads its
//! [`Params`](super::query::Params), reads or changes the [`World`](super::world::World) under
//! the server's lock, and returns the inner XML of its response (the envelope is added by
//! [`xml::response`](super::xml::response)) or an [`ApiError`].
//!
//! Neighbours: `describe` (read actions), `routes` (Create/Replace/DeleteRoute), `instances`
//! (attributes, tags, termination).

mod describe;
mod instances;
mod routes;

use super::error::ApiError;
use super::query::Params;
use super::world::World;

/// Every action the mock answers, with whether it changes state.
pub const ACTIONS: &[(&str, bool)] = &[
    ("DescribeVpcs", false),
    ("DescribeSubnets", false),
    ("DescribeRouteTables", false),
    ("DescribeInstances", false),
    ("DescribeNetworkInterfaces", false),
    ("DescribeInstanceAttribute", false),
    ("CreateRoute", true),
    ("ReplaceRoute", true),
    ("DeleteRoute", true),
    ("ModifyInstanceAttribute", true),
    ("ModifyNetworkInterfaceAttribute", true),
    ("CreateTags", true),
    ("TerminateInstances", true),
];

/// Whether the mock implements `action`.
pub fn is_known(action: &str) -> bool {
    ACTIONS.iter().any(|(a, _)| *a == action)
}

/// Whether `action` is mutating in EC2's throttling sense (everything but Describe/Get/List/Search).
pub fn is_mutating(action: &str) -> bool {
    !["Describe", "Get", "List", "Search"]
        .iter()
        .any(|p| action.starts_with(p))
}

/// Runs one action against the world.
pub fn dispatch(action: &str, p: &Params, w: &mut World) -> Result<String, ApiError> {
    match action {
        "DescribeVpcs" => describe::vpcs(p, w),
        "DescribeSubnets" => describe::subnets(p, w),
        "DescribeRouteTables" => describe::route_tables(p, w),
        "DescribeInstances" => describe::instances(p, w),
        "DescribeNetworkInterfaces" => describe::network_interfaces(p, w),
        "DescribeInstanceAttribute" => instances::describe_attribute(p, w),
        "CreateRoute" => routes::create(p, w),
        "ReplaceRoute" => routes::replace(p, w),
        "DeleteRoute" => routes::delete(p, w),
        "ModifyInstanceAttribute" => instances::modify_attribute(p, w),
        "ModifyNetworkInterfaceAttribute" => instances::modify_eni_attribute(p, w),
        "CreateTags" => instances::create_tags(p, w),
        "TerminateInstances" => instances::terminate(p, w),
        other => Err(ApiError::invalid_action(other)),
    }
}

/// `<return>true</return>`: the answer of EC2's boolean actions.
fn returned_true() -> String {
    "<return>true</return>".to_string()
}

/// Pagination token prefix: opaque to clients, but readable in logs.
const TOKEN_PREFIX: &str = "rpmock1.";

/// Cuts one page out of `items` by `MaxResults` and `NextToken`; returns the page and the next
/// token when more remain.
fn paginate<T>(
    items: Vec<T>,
    p: &Params,
    min: usize,
    max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = p.max_results(min, max)?;
    let start = match p.get("NextToken") {
        None => 0,
        Some(tok) => tok
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| {
                ApiError::invalid_parameter_value(format!("The token '{tok}' is invalid."))
            })?,
    };
    let Some(limit) = limit else {
        return Ok((items.into_iter().skip(start).collect(), None));
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + limit < total).then(|| format!("{TOKEN_PREFIX}{}", start + limit));
    Ok((page, next))
}

/// EC2's instance ID syntax: `i-` then lowercase hex/alphanumerics. Anything else is
/// `InvalidInstanceID.Malformed` before any lookup.
fn check_instance_id(id: &str) -> Result<(), ApiError> {
    let ok = id.strip_prefix("i-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::client(
            "InvalidInstanceID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"i-...\")"),
        ))
    }
}

/// `InvalidInstanceID.NotFound` with EC2's singular/plural wording.
fn instances_not_found(ids: &[&str]) -> ApiError {
    if ids.len() == 1 {
        ApiError::client(
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{}' does not exist", ids[0]),
        )
    } else {
        ApiError::client(
            "InvalidInstanceID.NotFound",
            format!("The instance IDs '{}' do not exist", ids.join(", ")),
        )
    }
}

fn route_table_not_found(id: &str) -> ApiError {
    ApiError::client(
        "InvalidRouteTableID.NotFound",
        format!("The routeTable ID '{id}' does not exist"),
    )
}

fn eni_not_found(id: &str) -> ApiError {
    ApiError::client(
        "InvalidNetworkInterfaceID.NotFound",
        format!("The networkInterface ID '{id}' does not exist"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_a_token_until_the_last() {
        let p = Params::parse(b"MaxResults=5").unwrap();
        let (page, next) = paginate((0..12).collect(), &p, 5, 100).unwrap();
        assert_eq!(page, [0, 1, 2, 3, 4]);
        let q = format!("MaxResults=5&NextToken={}", next.unwrap());
        let p = Params::parse(q.as_bytes()).unwrap();
        let (page, next) = paginate((0..12).collect(), &p, 5, 100).unwrap();
        assert_eq!(page, [5, 6, 7, 8, 9]);
        let q = format!("MaxResults=5&NextToken={}", next.unwrap());
        let (page, next) = paginate(
            (0..12).collect(),
            &Params::parse(q.as_bytes()).unwrap(),
            5,
            100,
        )
        .unwrap();
        assert_eq!(page, [10, 11]);
        assert!(next.is_none());
    }

    #[test]
    fn malformed_instance_ids_are_rejected() {
        assert!(check_instance_id("i-0abc123").is_ok());
        assert_eq!(
            check_instance_id("node-1").unwrap_err().code,
            "InvalidInstanceID.Malformed"
        );
        assert_eq!(
            check_instance_id("i-").unwrap_err().code,
            "InvalidInstanceID.Malformed"
        );
    }
}
