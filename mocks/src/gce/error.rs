//! Errors of the mock GCE: [`ApiError`] is what goes on the wire (Google's JSON error document
//! with the HTTP code, the canonical `status` and the legacy `errors[]` items carrying
//! `reason`/`domain`/`message`, as Compute Engine v1 answers); [`Error`] is what the library API
//! returns to Rust callers (start-up and world loading).

use http::StatusCode;
use serde_json::{Value, json};

/// A Compute Engine API error as the service reports it synchronously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The legacy reason in `errors[].reason`, e.g. `alreadyExists`, `notFound`.
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
    /// The `errors[].domain`: `global` for resource errors, `usageLimits` for rate limits.
    pub domain: &'static str,
}

impl ApiError {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
            domain: "global",
        }
    }

    /// 404 `notFound`: `The resource '<path>' was not found`.
    pub fn not_found(resource: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The resource '{resource}' was not found"),
        )
    }

    /// 409 `alreadyExists`: `The resource '<path>' already exists`.
    pub fn already_exists(resource: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "alreadyExists",
            format!("The resource '{resource}' already exists"),
        )
    }

    /// 400 `invalid`: a field has a bad value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 400 `required`: a required field is missing.
    pub fn required(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "required",
            format!("Required field '{field}' not specified"),
        )
    }

    /// 400 `invalidParameter`: a bad query parameter (e.g. `maxResults`, `pageToken`).
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalidParameter", message)
    }

    /// 400 `invalidFilterExpression` style: the list filter could not be parsed.
    pub fn invalid_filter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 404 for a path the mock does not serve (GCE answers an HTML 404; the mock keeps JSON).
    pub fn unknown_path(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The requested URL {path} ({method}) was not found on this server."),
        )
    }

    /// 403 `forbidden`: the caller lacks the IAM permission.
    pub fn forbidden(permission: &str, resource: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("Required '{permission}' permission for '{resource}'"),
        )
    }

    /// 403 `rateLimitExceeded` in domain `usageLimits`: a per-minute rate quota is used up, as
    /// the Compute Engine rate-quota page documents.
    pub fn rate_limit_exceeded(metric: &str, limit: &str, project: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            reason: "rateLimitExceeded",
            message: format!(
                "Quota exceeded for quota metric '{metric}' and limit '{limit}' of service \
                 'compute.googleapis.com' for consumer 'project_number:{project}'."
            ),
            domain: "usageLimits",
        }
    }

    /// 429 `rateLimitExceeded` (`RESOURCE_EXHAUSTED`): an injected throttle burst.
    pub fn too_many_requests() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            reason: "rateLimitExceeded",
            message: "Rate Limit Exceeded".into(),
            domain: "usageLimits",
        }
    }

    /// 500 `backendError`.
    pub fn backend_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "backendError",
            "Internal error. Please try again or contact Google Support.",
        )
    }

    /// 503 `backendError`: the service is unavailable.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "The service is currently unavailable.",
        )
    }

    /// The canonical status name Google sends next to the HTTP code.
    pub fn canonical_status(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ALREADY_EXISTS",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
    }

    /// The JSON error document.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.status.as_u16(),
                "message": self.message,
                "errors": [{
                    "message": self.message,
                    "domain": self.domain,
                    "reason": self.reason,
                }],
                "status": self.canonical_status(),
            }
        })
    }
}

pub use crate::common::error::Error;
