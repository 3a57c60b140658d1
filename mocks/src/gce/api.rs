//! The Compute Engine v1 REST surface the mock serves, as `google-cloud-compute-v1` sends it:
//! paths under `/compute/v1/projects/{project}/…`, query parameters, JSON bodies. [`classify`]
//! names the API method of a request (for the call log, faults and rate quotas) and
//! [`dispatch`] runs it against the settled state.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::filter::Filter;
use super::links::{self, Link};
use super::operations::{Effect, Status};
use super::render;
use super::state::State;
use super::world::{DEFAULT_PRIORITY, NextHop, Route, valid_name};

/// Largest `maxResults` GCE accepts, and its default.
pub const MAX_RESULTS: usize = 500;
/// How long `globalOperations.wait` waits at most before answering with the current status.
pub const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// One classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The API method, e.g. `compute.routes.insert`.
    pub method: &'static str,
    /// The project in the path.
    pub project: String,
    /// The path parameters after the project (zone, instance, route, operation, network).
    pub args: Vec<String>,
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The JSON body.
    pub body: Value,
    /// The operation created or polled.
    pub operation: Option<String>,
    /// For polls, the status answered.
    pub op_status: Option<&'static str>,
}

impl Reply {
    fn plain(body: Value) -> Self {
        Self {
            body,
            operation: None,
            op_status: None,
        }
    }
}

/// Whether a method changes state.
pub fn is_mutating(method: &str) -> bool {
    matches!(
        method,
        "compute.routes.insert" | "compute.routes.delete" | "compute.globalOperations.delete"
    )
}

/// Names the API method of `http_method path`, or `None` for paths the mock does not serve.
pub fn classify(http_method: &str, path: &str) -> Option<Request> {
    let rest = path.strip_prefix("/compute/v1/projects/")?;
    let segs: Vec<String> = rest.split('/').map(percent_decode).collect();
    let project = segs.first().filter(|p| !p.is_empty())?.clone();
    let tail: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
    let (method, args): (&'static str, Vec<&str>) = match (http_method, tail.as_slice()) {
        ("GET", []) => ("compute.projects.get", vec![]),
        ("GET", ["global", "networks"]) => ("compute.networks.list", vec![]),
        ("GET", ["global", "networks", n]) => ("compute.networks.get", vec![n]),
        ("GET", ["zones"]) => ("compute.zones.list", vec![]),
        ("GET", ["zones", z]) => ("compute.zones.get", vec![z]),
        ("GET", ["zones", z, "instances"]) => ("compute.instances.list", vec![z]),
        ("GET", ["zones", z, "instances", i]) => ("compute.instances.get", vec![z, i]),
        ("GET", ["global", "routes"]) => ("compute.routes.list", vec![]),
        ("POST", ["global", "routes"]) => ("compute.routes.insert", vec![]),
        ("GET", ["global", "routes", r]) => ("compute.routes.get", vec![r]),
        ("DELETE", ["global", "routes", r]) => ("compute.routes.delete", vec![r]),
        ("GET", ["global", "operations"]) => ("compute.globalOperations.list", vec![]),
        ("GET", ["global", "operations", o]) => ("compute.globalOperations.get", vec![o]),
        ("DELETE", ["global", "operations", o]) => ("compute.globalOperations.delete", vec![o]),
        ("POST", ["global", "operations", o, "wait"]) => ("compute.globalOperations.wait", vec![o]),
        _ => return None,
    };
    if args.iter().any(|a| a.is_empty()) {
        return None;
    }
    Some(Request {
        method,
        project,
        args: args.into_iter().map(str::to_string).collect(),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters Google's front end accepts on every method.
const SYSTEM_PARAMS: &[&str] = &[
    "$alt",
    "alt",
    "$apiVersion",
    "prettyPrint",
    "$prettyPrint",
    "fields",
    "$fields",
    "key",
    "quotaUser",
    "userProject",
    "$userProject",
];

/// The method's own query parameters.
fn method_params(method: &str) -> &'static [&'static str] {
    match method {
        "compute.routes.list"
        | "compute.zones.list"
        | "compute.networks.list"
        | "compute.instances.list"
        | "compute.globalOperations.list" => &[
            "filter",
            "maxResults",
            "pageToken",
            "orderBy",
            "returnPartialSuccess",
        ],
        "compute.routes.insert" | "compute.routes.delete" => &["requestId"],
        _ => &[],
    }
}

/// Refuses query parameters the method does not take, as Google's front end does.
pub fn check_params(method: &str, query: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for k in query.keys() {
        if !SYSTEM_PARAMS.contains(&k.as_str()) && !method_params(method).contains(&k.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query parameter. \
                 Field '{k}' could not be found in request message."
            )));
        }
    }
    Ok(())
}

/// The IAM permission a method needs.
pub fn permission(method: &str) -> String {
    method.replace(".insert", ".create")
}

/// Runs a request against the settled state at `now`.
pub(crate) fn dispatch(
    state: &mut State,
    now: Duration,
    req: &Request,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let project = state.world.project.clone();
    if req.project != project {
        return Err(ApiError::not_found(&format!("projects/{}", req.project)));
    }
    if state.world.denied_methods.contains(req.method) {
        return Err(ApiError::forbidden(
            &permission(req.method),
            &format!("projects/{project}"),
        ));
    }
    let arg = |i: usize| req.args.get(i).map_or("", String::as_str);
    let w = &state.world;
    match req.method {
        "compute.projects.get" => Ok(Reply::plain(render::project(w))),
        "compute.networks.get" => w
            .find_network(arg(0))
            .map(|n| Reply::plain(render::network(w, n)))
            .ok_or_else(|| {
                ApiError::not_found(&format!("projects/{project}/global/networks/{}", arg(0)))
            }),
        "compute.networks.list" => {
            let items: Vec<Value> = w.networks.iter().map(|n| render::network(w, n)).collect();
            list(
                items,
                query,
                "compute#networkList",
                &format!("projects/{project}/global/networks"),
            )
        }
        "compute.zones.get" => w
            .all_zones()
            .iter()
            .position(|z| z == arg(0))
            .map(|i| Reply::plain(render::zone(w, arg(0), 2_000 + i as u64)))
            .ok_or_else(|| ApiError::not_found(&format!("projects/{project}/zones/{}", arg(0)))),
        "compute.zones.list" => {
            let items: Vec<Value> = w
                .all_zones()
                .iter()
                .enumerate()
                .map(|(i, z)| render::zone(w, z, 2_000 + i as u64))
                .collect();
            list(
                items,
                query,
                "compute#zoneList",
                &format!("projects/{project}/zones"),
            )
        }
        "compute.instances.get" => w
            .find_instance(arg(0), arg(1))
            .map(|i| Reply::plain(render::instance(w, i)))
            .ok_or_else(|| {
                ApiError::not_found(&format!(
                    "projects/{project}/zones/{}/instances/{}",
                    arg(0),
                    arg(1)
                ))
            }),
        "compute.instances.list" => {
            if !w.all_zones().iter().any(|z| z == arg(0)) {
                return Err(ApiError::not_found(&format!(
                    "projects/{project}/zones/{}",
                    arg(0)
                )));
            }
            let items: Vec<Value> = w
                .instances
                .iter()
                .filter(|i| i.zone == arg(0))
                .map(|i| render::instance(w, i))
                .collect();
            list(
                items,
                query,
                "compute#instanceList",
                &format!("projects/{project}/zones/{}/instances", arg(0)),
            )
        }
        "compute.routes.list" => {
            let items = render::routes(w);
            list(
                items,
                query,
                "compute#routeList",
                &format!("projects/{project}/global/routes"),
            )
        }
        "compute.routes.get" => w
            .find_route(arg(0))
            .map(|r| Reply::plain(render::route(w, r)))
            .ok_or_else(|| {
                ApiError::not_found(&format!("projects/{project}/global/routes/{}", arg(0)))
            }),
        "compute.routes.insert" => insert_route(state, now, query, body),
        "compute.routes.delete" => delete_route(state, now, query, arg(0)),
        "compute.globalOperations.get" | "compute.globalOperations.wait" => {
            let op = state.ops.get(arg(0)).ok_or_else(|| {
                ApiError::not_found(&format!("projects/{project}/global/operations/{}", arg(0)))
            })?;
            let status = op.status(now);
            Ok(Reply {
                body: op.render(&project, now),
                operation: Some(op.name.clone()),
                op_status: Some(status.as_str()),
            })
        }
        "compute.globalOperations.list" => {
            let items: Vec<Value> = state
                .ops
                .all()
                .iter()
                .map(|o| o.render(&project, now))
                .collect();
            list(
                items,
                query,
                "compute#operationList",
                &format!("projects/{project}/global/operations"),
            )
        }
        "compute.globalOperations.delete" => {
            if state.ops.get(arg(0)).is_none() {
                return Err(ApiError::not_found(&format!(
                    "projects/{project}/global/operations/{}",
                    arg(0)
                )));
            }
            // GCE answers an empty body; the record of the operation stays here (harmless).
            Ok(Reply::plain(json!({})))
        }
        other => Err(ApiError::unknown_path(other, "")),
    }
}

/// How long a `wait` on `name` should sleep before answering: until DONE, at most
/// [`WAIT_LIMIT`]; zero when it is DONE already or unknown (the answer then says which).
pub(crate) fn wait_time(state: &State, now: Duration, name: &str) -> Duration {
    match state.ops.get(name) {
        Some(op) if op.status(now) != Status::Done => {
            op.deadline.saturating_sub(now).min(WAIT_LIMIT)
        }
        _ => Duration::ZERO,
    }
}

/// Filters, orders and pages `items` (each carries `name`).
fn list(
    mut items: Vec<Value>,
    query: &BTreeMap<String, String>,
    kind: &str,
    path: &str,
) -> Result<Reply, ApiError> {
    let max = match query.get("maxResults") {
        None => MAX_RESULTS,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= MAX_RESULTS => n,
            Ok(_) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid value for field 'maxResults': '{s}'. Must be less than or equal to {MAX_RESULTS}"
                )));
            }
            Err(_) => {
                return Err(ApiError::invalid_parameter(format!(
                    "Invalid value for field 'maxResults': '{s}'. Must be a non-negative integer."
                )));
            }
        },
    };
    // maxResults=0 means the default on GCE.
    let max = if max == 0 { MAX_RESULTS } else { max };
    if let Some(b) = query.get("returnPartialSuccess")
        && b != "true"
        && b != "false"
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid value for field 'returnPartialSuccess': '{b}'"
        )));
    }
    if let Some(f) = query.get("filter").map(String::as_str)
        && let Some(filter) = Filter::parse(f)?
    {
        items.retain(|i| filter.matches(i));
    }
    let name = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match query.get("orderBy").map(String::as_str) {
        // Cached: a 5,000-route network is listed 11 times a pass, one page each.
        None | Some("name") => items.sort_by_cached_key(|v| name(v)),
        Some("creationTimestamp desc") => items.sort_by(|a, b| {
            let ts = |v: &Value| {
                v.get("creationTimestamp")
                    .or_else(|| v.get("insertTime"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            ts(b).cmp(&ts(a)).then_with(|| name(a).cmp(&name(b)))
        }),
        Some(o) => {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid value for field 'orderBy': '{o}'. Only 'name' and 'creationTimestamp desc' are supported."
            )));
        }
    }
    let start = match query.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => decode_token(t)
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!("Invalid value for field 'pageToken': '{t}'"))
            })?
            .min(items.len()),
    };
    let end = (start + max).min(items.len());
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind));
    out.insert("id".into(), json!(path));
    if end > start {
        out.insert("items".into(), Value::Array(items[start..end].to_vec()));
    }
    if end < items.len() {
        out.insert("nextPageToken".into(), json!(encode_token(end)));
    }
    out.insert("selfLink".into(), json!(links::url(path)));
    Ok(Reply::plain(Value::Object(out)))
}

/// Page tokens are opaque on GCE; here an offset into the filtered, ordered list.
fn encode_token(offset: usize) -> String {
    format!("Cg{offset:x}")
}

fn decode_token(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("Cg")?, 16).ok()
}

/// Fields of the Route resource GCE accepts in a body (output-only ones are ignored).
const ROUTE_FIELDS: &[&str] = &[
    "kind",
    "id",
    "creationTimestamp",
    "name",
    "description",
    "network",
    "tags",
    "destRange",
    "priority",
    "nextHopInstance",
    "nextHopIp",
    "nextHopNetwork",
    "nextHopGateway",
    "nextHopPeering",
    "nextHopIlb",
    "nextHopVpnTunnel",
    "nextHopHub",
    "selfLink",
    "warnings",
    "routeType",
    "routeStatus",
    "asPaths",
    "params",
];

fn checked_request_id(query: &BTreeMap<String, String>) -> Result<Option<&str>, ApiError> {
    let Some(id) = query.get("requestId").map(String::as_str) else {
        return Ok(None);
    };
    let hex = id.replace('-', "");
    let uuid = id.len() == 36
        && hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && hex != "0".repeat(32);
    if !uuid {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'requestId': '{id}'. The request ID must be a valid UUID \
             with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000)."
        )));
    }
    Ok(Some(id))
}

fn insert_route(
    state: &mut State,
    now: Duration,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let project = state.world.project.clone();
    let request_id = checked_request_id(query)?;
    if let Some(op) = request_id.and_then(|r| state.ops.by_request_id(r)) {
        return Ok(op_reply(op, &project, now));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("Invalid JSON payload received. Expected an object."))?;
    if let Some(k) = obj.keys().find(|k| !ROUTE_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at 'resource': Cannot find field."
        )));
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let name = text("name").ok_or_else(|| ApiError::required("resource.name"))?;
    if !valid_name(name) {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
        )));
    }
    let dest = text("destRange").ok_or_else(|| ApiError::required("resource.destRange"))?;
    match dest.parse::<IpNet>() {
        Ok(n) if n.trunc() == n => {}
        _ => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.destRange': '{dest}'. Must be a valid IPv4 or IPv6 CIDR range."
            )));
        }
    }
    let network_url = text("network").ok_or_else(|| ApiError::required("resource.network"))?;
    let network = match Link::parse(network_url, &project, "resource.network")? {
        Link::Network { project: p, name } if p == project => name,
        Link::Network { project: p, name } => {
            return Err(ApiError::not_found(&format!(
                "projects/{p}/global/networks/{name}"
            )));
        }
        _ => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.network': '{network_url}'. The URL is malformed."
            )));
        }
    };
    if state.world.find_network(&network).is_none() {
        return Err(ApiError::not_found(&format!(
            "projects/{project}/global/networks/{network}"
        )));
    }
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => DEFAULT_PRIORITY,
        Some(p) => p
            .as_u64()
            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            .filter(|p| *p <= 65_535)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid value for field 'resource.priority': '{p}'. Must be between 0 and 65535."
                ))
            })?,
    };
    let tags: Vec<String> = match obj.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid("Invalid value for field 'resource.tags'"))?,
        Some(_) => return Err(ApiError::invalid("Invalid value for field 'resource.tags'")),
    };
    let hops: Vec<&str> = [
        "nextHopInstance",
        "nextHopIp",
        "nextHopGateway",
        "nextHopIlb",
        "nextHopVpnTunnel",
        "nextHopNetwork",
        "nextHopPeering",
        "nextHopHub",
    ]
    .into_iter()
    .filter(|k| text(k).is_some())
    .collect();
    if hops.len() != 1 {
        return Err(ApiError::invalid(
            "Exactly one of nextHopGateway, nextHopInstance, nextHopIp, nextHopVpnTunnel or \
             nextHopIlb must be specified.",
        ));
    }
    let hop_value = text(hops[0]).unwrap_or_default();
    let next_hop = match hops[0] {
        "nextHopInstance" => {
            let field = "resource.nextHopInstance";
            let Link::Instance {
                project: p,
                zone,
                name: inst,
            } = Link::parse(hop_value, &project, field)?
            else {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field '{field}': '{hop_value}'. The URL is malformed."
                )));
            };
            let path = format!("projects/{p}/zones/{zone}/instances/{inst}");
            let Some(instance) = state
                .world
                .find_instance(&zone, &inst)
                .filter(|_| p == project)
            else {
                return Err(ApiError::not_found(&path));
            };
            if !instance
                .network_interfaces
                .iter()
                .any(|n| n.network == network)
            {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field '{field}': '{hop_value}'. The instance has no network \
                     interface in network '{network}'."
                )));
            }
            NextHop::Instance { zone, name: inst }
        }
        "nextHopIp" => {
            if hop_value.parse::<std::net::IpAddr>().is_err() {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.nextHopIp': '{hop_value}'. Must be an IP address."
                )));
            }
            NextHop::Ip(hop_value.to_string())
        }
        "nextHopGateway" => match Link::parse(hop_value, &project, "resource.nextHopGateway")? {
            Link::Gateway { name, .. } if name == "default-internet-gateway" => {
                NextHop::Gateway(name)
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.nextHopGateway': '{hop_value}'. Only the \
                     default internet gateway is supported."
                )));
            }
        },
        "nextHopIlb" => NextHop::Ilb(hop_value.to_string()),
        "nextHopVpnTunnel" => NextHop::VpnTunnel(hop_value.to_string()),
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.{other}': '{hop_value}'. It is output only."
            )));
        }
    };
    if state.world.find_route(name).is_some() {
        return Err(ApiError::already_exists(&format!(
            "projects/{project}/global/routes/{name}"
        )));
    }
    let mut route = Route::new(name, dest, next_hop)
        .network(&network)
        .priority(priority)
        .description(text("description").unwrap_or_default());
    route.tags = tags;
    route.id = state.world.next_id();
    route.creation_timestamp = super::clock::rfc3339_now();
    let target_id = route.id;
    let delay = state.op_delay;
    let op = state.ops.start(
        &mut state.world,
        Effect::InsertRoute(route),
        target_id,
        now,
        delay,
        request_id,
    );
    state.ops.settle(&mut state.world, now);
    let op = state.ops.get(&op).ok_or_else(ApiError::backend_error)?;
    Ok(op_reply(op, &project, now))
}

fn delete_route(
    state: &mut State,
    now: Duration,
    query: &BTreeMap<String, String>,
    name: &str,
) -> Result<Reply, ApiError> {
    let project = state.world.project.clone();
    let request_id = checked_request_id(query)?;
    if let Some(op) = request_id.and_then(|r| state.ops.by_request_id(r)) {
        return Ok(op_reply(op, &project, now));
    }
    let Some(route) = state.world.find_route(name) else {
        return Err(ApiError::not_found(&format!(
            "projects/{project}/global/routes/{name}"
        )));
    };
    let target_id = route.id;
    let delay = state.op_delay;
    let op = state.ops.start(
        &mut state.world,
        Effect::DeleteRoute(name.to_string()),
        target_id,
        now,
        delay,
        request_id,
    );
    state.ops.settle(&mut state.world, now);
    let op = state.ops.get(&op).ok_or_else(ApiError::backend_error)?;
    Ok(op_reply(op, &project, now))
}

fn op_reply(op: &super::operations::Operation, project: &str, now: Duration) -> Reply {
    Reply {
        body: op.render(project, now),
        operation: Some(op.name.clone()),
        op_status: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_the_client_sends_are_classified() {
        let c = |m, p| classify(m, p).map(|r| (r.method, r.project, r.args));
        assert_eq!(
            c("GET", "/compute/v1/projects/p/global/routes"),
            Some(("compute.routes.list", "p".into(), vec![]))
        );
        assert_eq!(
            c(
                "POST",
                "/compute/v1/projects/p/global/operations/operation-1/wait"
            ),
            Some((
                "compute.globalOperations.wait",
                "p".into(),
                vec!["operation-1".into()]
            ))
        );
        assert_eq!(
            c("GET", "/compute/v1/projects/p/zones/z/instances/n%2Dx"),
            Some((
                "compute.instances.get",
                "p".into(),
                vec!["z".into(), "n-x".into()]
            ))
        );
        assert_eq!(c("PUT", "/compute/v1/projects/p/global/routes/r"), None);
        assert_eq!(c("GET", "/compute/beta/projects/p/global/routes"), None);
        assert_eq!(c("GET", "/compute/v1/projects/p/global/routes/"), None);
    }

    #[test]
    fn unknown_query_parameters_are_refused() {
        let q: BTreeMap<String, String> = [
            ("$alt".to_string(), "json".to_string()),
            ("maxResults".into(), "5".into()),
        ]
        .into();
        assert!(check_params("compute.routes.list", &q).is_ok());
        let e = check_params("compute.routes.get", &q).unwrap_err();
        assert!(e.message.contains("maxResults"));
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(1234)), Some(1234));
        assert_eq!(decode_token("garbage"), None);
    }
}
