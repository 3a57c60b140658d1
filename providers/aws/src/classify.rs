//! Turning EC2 failures into the provider error classes the controller acts on.
//!
//! One function decides per EC2 error code ([`classify_code`]); [`classify_sdk`] unwraps an SDK
//! error (service error, timeout, connection failure, missing credentials) and hands service
//! errors to it. The EC2 code always travels in [`ProviderError::code`], so events and `plan`
//! can show the cloud's own word. Nothing from the SDK leaves this module.

use std::error::Error as StdError;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use routeplane_core::error::causes;
use routeplane_core::provider::{ErrorKind, ProviderError};

use crate::action::Action;

/// What the user should set when no credentials could be found.
const CREDENTIALS_HINT: &str = "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
     AWS_PROFILE, a web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), or run on an \
     instance with an instance profile (IMDSv2)";

/// Classifies an EC2 error code. `resource` names what the call was about (`rtb-…`, `i-…`) so
/// permission errors can say exactly what is missing; `status` is the HTTP status when known.
pub fn classify_code(
    action: Action,
    resource: &str,
    code: &str,
    message: &str,
    status: Option<u16>,
) -> ProviderError {
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    };
    let (kind, text) = match code {
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException" => (
            ErrorKind::Throttled,
            format!("EC2 throttled {action}: {message}"),
        ),
        "RouteLimitExceeded" => (
            ErrorKind::Quota,
            format!(
                "route table{on} is full (EC2 RouteLimitExceeded: {message}); raise the \
                 'Routes per route table' quota and --route-limit"
            ),
        ),
        "RouteAlreadyExists" => (
            ErrorKind::Conflict,
            format!("{action}{on}: a route to this destination already exists: {message}"),
        ),
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => (
            ErrorKind::Auth,
            format!("missing permission ec2:{action}{on}: {message}"),
        ),
        "AuthFailure"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "RequestExpired"
        | "OptInRequired"
        | "Blocked"
        | "PendingVerification" => (
            ErrorKind::Auth,
            format!(
                "EC2 rejected the credentials for {action} ({code}: {message}); check the \
                 credential chain (AWS_* env, profile, IRSA, instance profile) and the clock"
            ),
        ),
        "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "InsufficientInstanceCapacity" => (
            ErrorKind::Transient,
            format!("EC2 failed {action}{on}: {code}: {message}"),
        ),
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameter"
        | "MissingParameter"
        | "UnknownParameter"
        | "InvalidQueryParameter"
        | "MalformedQueryString"
        | "InvalidInstanceID"
        | "IncorrectState"
        | "IncorrectInstanceState" => (
            ErrorKind::Invalid,
            format!("EC2 rejected {action}{on}: {code}: {message}"),
        ),
        c if c.ends_with(".NotFound") => (
            ErrorKind::NotFound,
            format!("{action}{on}: {code}: {message}"),
        ),
        c if c.ends_with(".Malformed") => (
            ErrorKind::Invalid,
            format!("EC2 rejected {action}{on}: {code}: {message}"),
        ),
        c if c.ends_with("LimitExceeded") => (
            ErrorKind::Quota,
            format!("{action}{on}: quota reached: {code}: {message}"),
        ),
        _ => {
            let kind = match status {
                Some(s) if s >= 500 => ErrorKind::Transient,
                Some(429) => ErrorKind::Throttled,
                Some(401 | 403) => ErrorKind::Auth,
                _ => ErrorKind::Invalid,
            };
            (kind, format!("{action}{on} failed: {code}: {message}"))
        }
    };
    ProviderError::new(kind, text).with_code(code)
}

/// Classifies a failed SDK call.
pub fn classify_sdk<E>(action: Action, resource: &str, err: &SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    };
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let service = ctx.err();
            match service.code() {
                Some(code) => classify_code(
                    action,
                    resource,
                    code,
                    service.message().unwrap_or(""),
                    Some(status),
                ),
                None => {
                    // No EC2 error document: a proxy or load balancer answered, or the
                    // answer was garbled on the way (worth another try, like a 5xx).
                    let kind = match status {
                        429 => ErrorKind::Throttled,
                        401 | 403 => ErrorKind::Auth,
                        400..=499 => ErrorKind::Invalid,
                        _ => ErrorKind::Transient,
                    };
                    let code = if status < 400 {
                        "MalformedResponse".to_string()
                    } else {
                        format!("HTTP{status}")
                    };
                    ProviderError::new(
                        kind,
                        format!("{action}{on}: unreadable answer (HTTP {status}) without an EC2 error code"),
                    )
                    .with_code(code)
                }
            }
        }
        _ if mentions_credentials(err) => ProviderError::new(
            ErrorKind::Auth,
            format!("{action}: {CREDENTIALS_HINT} ({})", causes(err)),
        )
        .with_code("NoCredentials"),
        SdkError::TimeoutError(_) => {
            ProviderError::new(ErrorKind::Transient, format!("{action}{on} timed out"))
                .with_code("Timeout")
        }
        SdkError::DispatchFailure(_) => ProviderError::new(
            ErrorKind::Transient,
            format!("{action}{on}: could not reach EC2: {}", causes(err)),
        )
        .with_code("Dispatch"),
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            ProviderError::new(
                ErrorKind::Transient,
                format!(
                    "{action}{on}: unreadable EC2 answer (HTTP {status}): {}",
                    causes(err)
                ),
            )
            .with_code("MalformedResponse")
        }
        SdkError::ConstructionFailure(_) => ProviderError::new(
            ErrorKind::Invalid,
            format!("{action}{on}: could not build the request: {}", causes(err)),
        )
        .with_code("Construction"),
        _ => ProviderError::new(
            ErrorKind::Transient,
            format!("{action}{on}: {}", causes(err)),
        )
        .with_code("Unknown"),
    }
}

/// Whether a non-service failure comes from the credential chain (nothing to sign with).
fn mentions_credentials(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cur = e.source();
    }
    let text = DisplayErrorContext(err).to_string().to_ascii_lowercase();
    text.contains("credential")
        || text.contains("no identity")
        || text.contains("identity resolver")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_lands_in_its_class() {
        let cases: &[(&str, ErrorKind)] = &[
            ("RequestLimitExceeded", ErrorKind::Throttled),
            ("Throttling", ErrorKind::Throttled),
            ("RouteLimitExceeded", ErrorKind::Quota),
            ("RouteAlreadyExists", ErrorKind::Conflict),
            ("InvalidRouteTableID.NotFound", ErrorKind::NotFound),
            ("InvalidInstanceID.NotFound", ErrorKind::NotFound),
            ("InvalidRoute.NotFound", ErrorKind::NotFound),
            ("InvalidNetworkInterfaceID.NotFound", ErrorKind::NotFound),
            ("UnauthorizedOperation", ErrorKind::Auth),
            ("AuthFailure", ErrorKind::Auth),
            ("InvalidParameterValue", ErrorKind::Invalid),
            ("InvalidParameterCombination", ErrorKind::Invalid),
            ("InvalidRouteTableID.Malformed", ErrorKind::Invalid),
            ("InternalError", ErrorKind::Transient),
            ("ServiceUnavailable", ErrorKind::Transient),
        ];
        for (code, kind) in cases {
            let e = classify_code(Action::CreateRoute, "rtb-1", code, "msg", Some(400));
            assert_eq!(e.kind, *kind, "{code}");
            assert_eq!(e.code.as_deref(), Some(*code));
        }
    }

    #[test]
    fn permission_errors_name_the_action_and_resource() {
        let e = classify_code(
            Action::CreateRoute,
            "rtb-0abc",
            "UnauthorizedOperation",
            "denied",
            Some(403),
        );
        assert!(
            e.message.contains("ec2:CreateRoute on rtb-0abc"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_codes_fall_back_on_the_http_status() {
        let five = classify_code(Action::DeleteRoute, "", "Weird", "", Some(503));
        assert_eq!(five.kind, ErrorKind::Transient);
        let four = classify_code(Action::DeleteRoute, "", "Weird", "", Some(400));
        assert_eq!(four.kind, ErrorKind::Invalid);
    }
}
