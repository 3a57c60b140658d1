//! Errors of the mock EC2: [`ApiError`] is what goes on the wire (EC2's error codes, messages and
//! HTTP statuses, rendered by [`xml`](super::xml)); [`Error`] is what the library API returns to
//! Rust callers (start-up and world loading).

use http::StatusCode;

/// An EC2 API error as the service reports it: a code, a message and an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// EC2's error code, e.g. `RouteAlreadyExists`.
    pub code: &'static str,
    /// The human-readable message.
    pub message: String,
    /// The HTTP status EC2 sends with this code.
    pub status: StatusCode,
}

impl ApiError {
    /// A client error (HTTP 400) with the given code.
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// `MissingParameter`.
    pub fn missing_parameter(name: &str) -> Self {
        let mut chars = name.chars();
        // EC2 names the parameter in lowerCamelCase in this message.
        let camel: String = chars
            .next()
            .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default();
        Self::client(
            "MissingParameter",
            format!("The request must contain the parameter {camel}"),
        )
    }

    /// `InvalidParameterValue`.
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterValue", message)
    }

    /// `InvalidParameterCombination`.
    pub fn invalid_parameter_combination(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterCombination", message)
    }

    /// `InvalidAction`: the action is unknown to EC2 (or to this mock).
    pub fn invalid_action(action: &str) -> Self {
        Self::client(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// `RequestLimitExceeded`, HTTP 503, as EC2 throttles.
    pub fn request_limit_exceeded() -> Self {
        Self {
            code: "RequestLimitExceeded",
            message: "Request limit exceeded.".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `InternalError`, HTTP 500.
    pub fn internal_error() -> Self {
        Self {
            code: "InternalError",
            message: "An internal error has occurred".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Unavailable`, HTTP 503: the server is overloaded.
    pub fn unavailable() -> Self {
        Self {
            code: "Unavailable",
            message: "The server is overloaded and can't handle the request.".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `UnauthorizedOperation`, HTTP 403, naming the missing permission like IAM does, followed by
    /// an opaque "encoded authorization failure message".
    pub fn unauthorized(account: &str, action: &str) -> Self {
        let detail = format!(
            "{{\"allowed\":false,\"explicitDeny\":false,\"action\":\"ec2:{action}\",\"principal\":\"arn:aws:iam::{account}:user/routeplane-mock\"}}"
        );
        let encoded: String = detail.bytes().map(|b| format!("{b:02x}")).collect();
        Self {
            code: "UnauthorizedOperation",
            message: format!(
                "You are not authorized to perform this operation. User: arn:aws:iam::{account}:user/routeplane-mock \
                 is not authorized to perform: ec2:{action} because no identity-based policy allows the ec2:{action} \
                 action. Encoded authorization failure message: {encoded}"
            ),
            status: StatusCode::FORBIDDEN,
        }
    }

    /// `DryRunOperation`, HTTP 412: the request would have succeeded.
    pub fn dry_run_operation() -> Self {
        Self {
            code: "DryRunOperation",
            message: "Request would have succeeded, but DryRun flag is set.".into(),
            status: StatusCode::PRECONDITION_FAILED,
        }
    }
}

pub use crate::common::error::Error;
