//! The HTTP surface: discovery documents and the REST verbs on every resource in `resources`.
//!
//! Paths follow the API conventions (`/api/v1/nodes/{name}/status`,
//! `/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}`). One handler parses the path and the
//! query, records the request, and dispatches to the `store` (get, list, create, update, patch,
//! delete) or to `watch`. Errors leave as `Status` objects (`status`).

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    faults::{self, Faults},
    patch::PatchKind,
    requests::{RequestLog, RequestRecord},
    resources::{self, ResourceType},
    selectors::{FieldSelector, LabelSelector},
    status::ApiError,
    store::{ListQuery, Store, Target, WatchFrom},
    watch::{WatchRequest, watch_body},
};

/// The real API server's default for watches without `timeoutSeconds` is 30-60 minutes.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// State shared by every handler and the `FakeKube` handle.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub faults: Faults,
    pub requests: RequestLog,
    pub bookmark_interval: Duration,
    pub shutdown: CancellationToken,
    pub server_address: String,
}

/// The app factory: the whole API as an axum router, testable in-process or behind `server`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(resources::version()) }))
        .route("/api", get(core_versions))
        .route("/apis", get(|| async { Json(resources::group_list()) }))
        .route("/api/{*rest}", any(resource_request))
        .route("/apis/{*rest}", any(resource_request))
        .fallback(|uri: Uri| async move { ApiError::path_not_found(uri.path()) })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            faults::inject,
        ))
        .with_state(shared)
}

async fn core_versions(State(app): State<Arc<Shared>>) -> Json<Value> {
    Json(resources::core_versions(&app.server_address))
}

/// What a path names.
pub(super) enum Route {
    Discovery {
        group: String,
        version: String,
    },
    Collection {
        rt: &'static ResourceType,
        namespace: Option<String>,
    },
    Object {
        rt: &'static ResourceType,
        namespace: Option<String>,
        name: String,
        target: Target,
    },
}

pub(super) fn parse_path(path: &str) -> Result<Route, ApiError> {
    let not_found = || ApiError::path_not_found(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_string()), rest),
        _ => (None, rest),
    };
    let Some((plural, rest)) = rest.split_first() else {
        return Ok(Route::Discovery {
            group: group.to_string(),
            version: version.to_string(),
        });
    };
    let rt = resources::find(group, version, plural).ok_or_else(not_found)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    match rest {
        [] => Ok(Route::Collection { rt, namespace }),
        [name] => Ok(Route::Object {
            rt,
            namespace,
            name: (*name).to_string(),
            target: Target::Main,
        }),
        [name, "status"] if rt.status_subresource => Ok(Route::Object {
            rt,
            namespace,
            name: (*name).to_string(),
            target: Target::Status,
        }),
        _ => Err(not_found()),
    }
}

/// The query parameters the fake understands; the rest are accepted and ignored.
#[derive(Default)]
pub(super) struct Query {
    watch: bool,
    resource_version: Option<String>,
    label_selector: LabelSelector,
    field_selector: FieldSelector,
    limit: Option<usize>,
    continue_token: Option<String>,
    timeout: Option<Duration>,
    bookmarks: bool,
    send_initial_events: bool,
    dry_run: bool,
}

impl Query {
    pub(super) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        let mut query = Self::default();
        for (key, value) in pairs {
            let flag = value == "true" || value == "1";
            match key.as_str() {
                "watch" => query.watch = flag,
                "resourceVersion" => query.resource_version = Some(value),
                "labelSelector" => {
                    query.label_selector =
                        LabelSelector::parse(&value).map_err(ApiError::bad_request)?;
                }
                "fieldSelector" => {
                    query.field_selector =
                        FieldSelector::parse(&value).map_err(ApiError::bad_request)?;
                }
                "limit" => {
                    query.limit = Some(value.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit: invalid value {value:?}"))
                    })?);
                }
                "continue" if !value.is_empty() => query.continue_token = Some(value),
                "timeoutSeconds" => {
                    let seconds: u64 = value.parse().map_err(|_| {
                        ApiError::bad_request(format!("timeoutSeconds: invalid value {value:?}"))
                    })?;
                    query.timeout = Some(Duration::from_secs(seconds));
                }
                "allowWatchBookmarks" => query.bookmarks = flag,
                "sendInitialEvents" => query.send_initial_events = flag,
                "dryRun" => query.dry_run = !value.is_empty(),
                // fieldManager, force, fieldValidation, resourceVersionMatch, pretty, …
                _ => {}
            }
        }
        Ok(query)
    }

    pub(super) fn watch_from(&self) -> Result<WatchFrom, ApiError> {
        match self.resource_version.as_deref() {
            None | Some("" | "0") => Ok(WatchFrom::Now),
            Some(rv) => rv.parse().map(WatchFrom::After).map_err(|_| {
                ApiError::bad_request(format!("resourceVersion: invalid value {rv:?}"))
            }),
        }
    }
}

fn verb_of(method: &Method, route: &Route, query: &Query) -> &'static str {
    match (method, route) {
        (_, Route::Discovery { .. }) => "discovery",
        (&Method::GET, Route::Collection { .. }) if query.watch => "watch",
        (&Method::GET, Route::Collection { .. }) => "list",
        (&Method::GET, Route::Object { .. }) => "get",
        (&Method::POST, Route::Collection { .. }) => "create",
        (&Method::PUT, Route::Object { .. }) => "update",
        (&Method::PATCH, Route::Object { .. }) => "patch",
        (&Method::DELETE, Route::Object { .. }) => "delete",
        (&Method::DELETE, Route::Collection { .. }) => "deletecollection",
        _ => "unknown",
    }
}

pub(super) fn parse_body(body: &Bytes, yaml_allowed: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) if yaml_allowed => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}"))),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
    }
}

async fn resource_request(
    State(app): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = match parse_path(uri.path()) {
        Ok(route) => route,
        Err(error) => {
            app.requests.record(RequestRecord {
                verb: "unknown",
                resource: String::new(),
                namespace: None,
                name: None,
                user_agent,
                patch_type: None,
            });
            return error.into_response();
        }
    };
    let query = match Query::parse(uri.query()) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    let patch_kind = PatchKind::from_content_type(content_type);
    let verb = verb_of(&method, &route, &query);
    let (resource, namespace, name) = match &route {
        Route::Discovery { .. } => (String::new(), None, None),
        Route::Collection { rt, namespace } => (rt.plural.to_string(), namespace.clone(), None),
        Route::Object {
            rt,
            namespace,
            name,
            target,
        } => {
            let resource = match target {
                Target::Main | Target::Whole => rt.plural.to_string(),
                Target::Status => format!("{}/status", rt.plural),
            };
            (resource, namespace.clone(), Some(name.clone()))
        }
    };
    app.requests.record(RequestRecord {
        verb,
        resource,
        namespace,
        name,
        user_agent,
        patch_type: (verb == "patch").then_some(patch_kind.map_or("unknown", PatchKind::as_str)),
    });
    match serve(
        &app,
        &method,
        route,
        &query,
        patch_kind,
        content_type,
        &body,
    ) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn serve(
    app: &Arc<Shared>,
    method: &Method,
    route: Route,
    query: &Query,
    patch_kind: Option<PatchKind>,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    if query.dry_run && *method != Method::GET {
        return Err(ApiError::bad_request(
            "dryRun is not supported by the fake API server",
        ));
    }
    let store = &app.store;
    match route {
        Route::Discovery { group, version } => resources::resource_list(&group, &version)
            .map(|list| Json(list).into_response())
            .ok_or_else(|| ApiError::path_not_found(&format!("/{group}/{version}"))),
        Route::Collection { rt, namespace } => match *method {
            Method::GET if query.watch => {
                let request = WatchRequest {
                    resource: rt,
                    namespace,
                    labels: query.label_selector.clone(),
                    fields: query.field_selector.clone(),
                    from: query.watch_from()?,
                    bookmarks: query.bookmarks,
                    send_initial_events: query.send_initial_events,
                    timeout: query.timeout.unwrap_or(DEFAULT_WATCH_TIMEOUT),
                };
                let body = watch_body(store, request, app.bookmark_interval, app.shutdown.clone());
                Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
            }
            Method::GET => {
                let list = store.list(
                    rt,
                    &ListQuery {
                        namespace: namespace.as_deref(),
                        labels: &query.label_selector,
                        fields: &query.field_selector,
                        limit: query.limit,
                        continue_token: query.continue_token.as_deref(),
                    },
                )?;
                let mut metadata = json!({"resourceVersion": list.resource_version.to_string()});
                if let Some(token) = list.continue_token {
                    metadata["continue"] = Value::String(token);
                }
                Ok(Json(json!({
                    "kind": rt.list_kind(),
                    "apiVersion": rt.api_version(),
                    "metadata": metadata,
                    "items": list.items,
                }))
                .into_response())
            }
            Method::POST => {
                let ns = match (rt.namespaced, namespace) {
                    (true, Some(ns)) => ns,
                    (true, None) => {
                        return Err(ApiError::method_not_allowed(
                            "create a namespaced object under /namespaces/{namespace}/",
                        ));
                    }
                    (false, _) => String::new(),
                };
                let created = store.create(rt, &ns, parse_body(body, false)?)?;
                Ok((StatusCode::CREATED, Json(created)).into_response())
            }
            _ => Err(ApiError::method_not_allowed(format!(
                "{method} is not supported on a collection"
            ))),
        },
        Route::Object {
            rt,
            namespace,
            name,
            target,
        } => {
            let ns = namespace.unwrap_or_default();
            match *method {
                Method::GET => store
                    .get(rt, &ns, &name)
                    .map(|object| Json(object).into_response())
                    .ok_or_else(|| ApiError::not_found(rt.plural, &name)),
                Method::PUT => {
                    let updated = store.update(rt, &ns, &name, parse_body(body, false)?, target)?;
                    Ok(Json(updated).into_response())
                }
                Method::PATCH => {
                    let kind =
                        patch_kind.ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
                    let patch = parse_body(body, kind == PatchKind::Apply)?;
                    let (object, created) = store.patch(rt, &ns, &name, kind, &patch, target)?;
                    let code = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    Ok((code, Json(object)).into_response())
                }
                Method::DELETE => {
                    // DeleteOptions are optional; only their preconditions matter here.
                    let options = if body.is_empty() {
                        Value::Null
                    } else {
                        parse_body(body, false)?
                    };
                    let precondition = |field: &str| {
                        options
                            .get("preconditions")
                            .and_then(|p| p.get(field))
                            .and_then(Value::as_str)
                    };
                    let deleted = store.delete(
                        rt,
                        &ns,
                        &name,
                        precondition("resourceVersion"),
                        precondition("uid"),
                    )?;
                    Ok(Json(deleted).into_response())
                }
                _ => Err(ApiError::method_not_allowed(format!(
                    "{method} is not supported on an object"
                ))),
            }
        }
    }
}
