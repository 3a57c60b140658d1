//! Turning Compute API failures into the provider error classes the controller acts on.
//!
//! Two sources, one table ([`classify_reason`]): an HTTP error's `error.errors[].reason`
//! (`rateLimitExceeded`, `quotaExceeded`, `alreadyExists`…) and an Operation's
//! `error.errors[].code` (`QUOTA_EXCEEDED`, `RESOURCE_ALREADY_EXISTS`, `INTERNAL_ERROR`…), with the
//! HTTP status as the fallback. The reason always travels in [`ProviderError::code`]. Nothing
//! from the SDK leaves this module.

use std::time::Duration;

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::StatusDetails;
use routeplane_core::error::causes;
use routeplane_core::provider::{ErrorKind, ProviderError};

use crate::method::Method;

const CREDENTIALS_HINT: &str = "no usable Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a \
     service account key file, or run on GCE with a service account that has the compute scope";

fn on(resource: &str) -> String {
    if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    }
}

/// Classifies a Compute error reason or operation error code. `status` is the HTTP status when
/// known.
pub fn classify_reason(
    method: Method,
    resource: &str,
    reason: &str,
    message: &str,
    status: Option<u16>,
) -> ProviderError {
    let on = on(resource);
    let (kind, text) = match reason {
        "rateLimitExceeded"
        | "userRateLimitExceeded"
        | "RATE_LIMIT_EXCEEDED"
        | "RESOURCE_OPERATION_RATE_EXCEEDED"
        | "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED" => (
            ErrorKind::Throttled,
            format!("GCE throttled {method}{on}: {message}"),
        ),
        "quotaExceeded" | "QUOTA_EXCEEDED" | "limitExceeded" => (
            ErrorKind::Quota,
            format!(
                "route quota exhausted{on} ({reason}: {message}); raise the project's ROUTES quota or delete unused routes"
            ),
        ),
        "alreadyExists" | "RESOURCE_ALREADY_EXISTS" | "conflict" => (
            ErrorKind::Conflict,
            format!("{method}{on}: already exists: {message}"),
        ),
        "notFound" | "RESOURCE_NOT_FOUND" => (
            ErrorKind::NotFound,
            format!("{method}{on}: not found: {message}"),
        ),
        "forbidden" | "insufficientPermissions" | "accessNotConfigured" | "PERMISSION_DENIED" => (
            ErrorKind::Auth,
            format!(
                "permission denied for {method}{on} ({reason}: {message}); grant {}",
                method.permission()
            ),
        ),
        "authError" | "required" | "unauthorized" | "UNAUTHENTICATED" => (
            ErrorKind::Auth,
            format!("GCE rejected the credentials for {method} ({reason}: {message})"),
        ),
        "backendError" | "internalError" | "INTERNAL_ERROR" | "serviceUnavailable"
        | "RESOURCE_NOT_READY" | "TIMEOUT" => (
            ErrorKind::Transient,
            format!("GCE failed {method}{on}: {reason}: {message}"),
        ),
        "invalid"
        | "badRequest"
        | "invalidParameter"
        | "INVALID_FIELD_VALUE"
        | "INVALID_USAGE"
        | "resourceInUseByAnotherResource"
        | "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"
        | "wrongNetwork" => (
            ErrorKind::Invalid,
            format!("GCE rejected {method}{on}: {reason}: {message}"),
        ),
        _ => {
            let kind = match status {
                Some(429) => ErrorKind::Throttled,
                Some(s) if s >= 500 => ErrorKind::Transient,
                Some(401 | 403) => ErrorKind::Auth,
                Some(404) => ErrorKind::NotFound,
                Some(409) => ErrorKind::Conflict,
                None if reason.is_empty() => ErrorKind::Transient,
                _ => ErrorKind::Invalid,
            };
            let shown = if reason.is_empty() { "error" } else { reason };
            (kind, format!("{method}{on} failed: {shown}: {message}"))
        }
    };
    let code = if reason.is_empty() {
        status.map_or_else(|| "Unknown".to_string(), |s| format!("HTTP{s}"))
    } else {
        reason.to_string()
    };
    ProviderError::new(kind, text).with_code(code)
}

/// Classifies a failed Compute request.
pub fn classify_gax(method: Method, resource: &str, err: &GaxError) -> ProviderError {
    if err.is_authentication() {
        return ProviderError::new(
            ErrorKind::Auth,
            format!("{method}: {CREDENTIALS_HINT} ({})", causes(err)),
        )
        .with_code("NoCredentials");
    }
    let status = err.http_status_code();
    if let Some(s) = err.status() {
        let reason = s
            .details
            .iter()
            .find_map(|d| match d {
                StatusDetails::ErrorInfo(info) if !info.reason.is_empty() => {
                    Some(info.reason.clone())
                }
                _ => None,
            })
            .unwrap_or_default();
        let mut e = classify_reason(method, resource, &reason, &s.message, status);
        e.retry_after = retry_after(err);
        return e;
    }
    if let Some(code) = status {
        // An answer without a Google error body: a proxy, a load balancer, or a garbled reply.
        let mut e = classify_reason(
            method,
            resource,
            "",
            &format!("HTTP {code} without a Compute error body"),
            Some(code),
        );
        e.retry_after = retry_after(err);
        return e;
    }
    let on = on(resource);
    if err.is_timeout() {
        return ProviderError::new(ErrorKind::Transient, format!("{method}{on} timed out"))
            .with_code("Timeout");
    }
    if err.is_connect() || err.is_io() || err.is_transport() {
        return ProviderError::new(
            ErrorKind::Transient,
            format!(
                "{method}{on}: could not reach the Compute API: {}",
                causes(err)
            ),
        )
        .with_code("Dispatch");
    }
    if err.is_deserialization() {
        return ProviderError::new(
            ErrorKind::Transient,
            format!("{method}{on}: unreadable Compute answer: {}", causes(err)),
        )
        .with_code("MalformedResponse");
    }
    if err.is_binding() || err.is_serialization() {
        return ProviderError::new(
            ErrorKind::Invalid,
            format!("{method}{on}: could not build the request: {}", causes(err)),
        )
        .with_code("Construction");
    }
    ProviderError::new(
        ErrorKind::Transient,
        format!("{method}{on}: {}", causes(err)),
    )
    .with_code("Unknown")
}

/// A `Retry-After` in seconds, when the server sent one with a throttling answer.
fn retry_after(err: &GaxError) -> Option<Duration> {
    let value = err.http_headers()?.get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The timeout every request runs under, as a provider error.
pub fn call_timeout(method: Method, resource: &str, after: Duration) -> ProviderError {
    ProviderError::new(
        ErrorKind::Transient,
        format!("{method}{} timed out after {after:?}", on(resource)),
    )
    .with_code("Timeout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_reason_lands_in_its_class() {
        let cases: &[(&str, ErrorKind)] = &[
            ("rateLimitExceeded", ErrorKind::Throttled),
            ("userRateLimitExceeded", ErrorKind::Throttled),
            ("RATE_LIMIT_EXCEEDED", ErrorKind::Throttled),
            ("QUOTA_EXCEEDED", ErrorKind::Quota),
            ("quotaExceeded", ErrorKind::Quota),
            ("alreadyExists", ErrorKind::Conflict),
            ("RESOURCE_ALREADY_EXISTS", ErrorKind::Conflict),
            ("notFound", ErrorKind::NotFound),
            ("RESOURCE_NOT_FOUND", ErrorKind::NotFound),
            ("forbidden", ErrorKind::Auth),
            ("insufficientPermissions", ErrorKind::Auth),
            ("backendError", ErrorKind::Transient),
            ("INTERNAL_ERROR", ErrorKind::Transient),
            ("invalid", ErrorKind::Invalid),
            ("INVALID_FIELD_VALUE", ErrorKind::Invalid),
        ];
        for (reason, kind) in cases {
            let e = classify_reason(Method::RoutesInsert, "r1", reason, "msg", Some(400));
            assert_eq!(e.kind, *kind, "{reason}");
            assert_eq!(e.code.as_deref(), Some(*reason));
        }
    }

    #[test]
    fn unknown_reasons_fall_back_on_the_http_status() {
        let cases: &[(u16, ErrorKind)] = &[
            (429, ErrorKind::Throttled),
            (503, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (403, ErrorKind::Auth),
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (400, ErrorKind::Invalid),
        ];
        for (status, kind) in cases {
            let e = classify_reason(Method::RoutesDelete, "", "weird", "", Some(*status));
            assert_eq!(e.kind, *kind, "{status}");
        }
        let bare = classify_reason(Method::RoutesDelete, "", "", "x", Some(503));
        assert_eq!(bare.code.as_deref(), Some("HTTP503"));
    }

    #[test]
    fn permission_errors_name_the_iam_permission() {
        let e = classify_reason(
            Method::RoutesInsert,
            "rp-x",
            "forbidden",
            "denied",
            Some(403),
        );
        assert!(e.message.contains("compute.routes.create"), "{}", e.message);
        assert!(e.message.contains("on rp-x"), "{}", e.message);
    }
}
