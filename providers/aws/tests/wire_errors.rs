//! Error classification through the real SDK with one-off HTTP answers (wiremock): every EC2
//! code the provider distinguishes, answers without an EC2 error document, unreadable answers,
//! connection failures, timeouts, and missing credentials or region.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use routeplane_aws::{AwsConfig, AwsError, AwsProvider, StaticCredentials, TableSelector};
use routeplane_core::budget::ApiBudget;
use routeplane_core::model::{CloudRoute, RouteState, RouteTarget, TableId};
use routeplane_core::provider::{ErrorKind, RouteProvider};
use routeplane_core::retry::RetryPolicy;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(endpoint: &str) -> AwsConfig {
    let mut cfg = AwsConfig::new("c1");
    cfg.region = Some("us-east-1".into());
    cfg.endpoint_url = Some(endpoint.to_string());
    cfg.credentials = Some(StaticCredentials {
        access_key_id: "AKID".into(),
        secret_access_key: "secret".into(),
    });
    cfg.tables = TableSelector::Explicit(vec!["rtb-0a".into()]);
    cfg.retry = RetryPolicy::none();
    cfg.budget = ApiBudget::unlimited();
    cfg.call_timeout = Duration::from_millis(500);
    cfg
}

fn ec2_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>stubbed {code}</Message></Error></Errors><RequestID>req-1</RequestID></Response>"
    )
}

async fn answering(status: u16, body: String) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_string(body)
                .insert_header("content-type", "text/xml"),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn each_ec2_error_code_is_classified_and_kept() {
    let cases: &[(u16, &str, ErrorKind)] = &[
        (503, "RequestLimitExceeded", ErrorKind::Throttled),
        (400, "Throttling", ErrorKind::Throttled),
        (400, "RouteLimitExceeded", ErrorKind::Quota),
        (400, "RouteAlreadyExists", ErrorKind::Conflict),
        (400, "InvalidRouteTableID.NotFound", ErrorKind::NotFound),
        (400, "InvalidInstanceID.NotFound", ErrorKind::NotFound),
        (400, "InvalidRoute.NotFound", ErrorKind::NotFound),
        (
            400,
            "InvalidNetworkInterfaceID.NotFound",
            ErrorKind::NotFound,
        ),
        (403, "UnauthorizedOperation", ErrorKind::Auth),
        (401, "AuthFailure", ErrorKind::Auth),
        (400, "InvalidParameterValue", ErrorKind::Invalid),
        (400, "InvalidParameterCombination", ErrorKind::Invalid),
        (400, "InvalidRouteTableID.Malformed", ErrorKind::Invalid),
        (500, "InternalError", ErrorKind::Transient),
        (503, "Unavailable", ErrorKind::Transient),
    ];
    for (status, code, kind) in cases {
        let server = answering(*status, ec2_error(code)).await;
        let p = AwsProvider::new(config(&server.uri())).await.unwrap();
        let err = p.list_routes(&[]).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_deref()),
            (*kind, Some(*code)),
            "{code}: {err}"
        );
        assert!(
            err.message.contains(&format!("stubbed {code}")),
            "{code}: {}",
            err.message
        );
        let counts = p.calls();
        assert_eq!(
            counts.get(&("DescribeRouteTables".to_string(), kind.as_str().to_string())),
            Some(&1),
            "{counts:?}"
        );
    }
}

#[tokio::test]
async fn a_permission_error_names_the_action_and_the_table() {
    let server = answering(403, ec2_error("UnauthorizedOperation")).await;
    let p = AwsProvider::new(config(&server.uri())).await.unwrap();
    let route = CloudRoute {
        table: TableId("rtb-0abc".into()),
        destination: "10.244.1.0/24".parse().unwrap(),
        target: RouteTarget::Instance("i-01".into()),
        state: RouteState::Active,
        name: None,
        claimed: true,
    };
    let err = p.delete_route(&route).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(
        err.message.contains("ec2:DeleteRoute on rtb-0abc"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn answers_without_an_ec2_error_document_fall_back_on_the_status() {
    let server = answering(502, "<html>Bad Gateway</html>".into()).await;
    let p = AwsProvider::new(config(&server.uri())).await.unwrap();
    assert_eq!(
        p.list_routes(&[]).await.unwrap_err().kind,
        ErrorKind::Transient
    );

    let server = answering(200, "this is not XML <<<".into()).await;
    let p = AwsProvider::new(config(&server.uri())).await.unwrap();
    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn a_slow_answer_times_out_and_a_closed_port_is_a_dispatch_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("DescribeRouteTables"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let p = AwsProvider::new(config(&server.uri())).await.unwrap();
    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Transient, Some("Timeout")),
        "{err}"
    );

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let p = AwsProvider::new(config(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap();
    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::Transient, Some("Dispatch")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_regions_and_endpoints_are_start_up_errors() {
    let mut cfg = config("http://127.0.0.1:1");
    cfg.region = Some("mars-1".into());
    assert_eq!(
        AwsProvider::new(cfg).await.unwrap_err(),
        AwsError::BadRegion("mars-1".into())
    );
    let mut cfg = config("127.0.0.1:1");
    cfg.endpoint_url = Some("127.0.0.1:1".into());
    assert!(matches!(
        AwsProvider::new(cfg).await.unwrap_err(),
        AwsError::BadEndpoint(_)
    ));
}

/// Runs in a child process with a clean environment, so the credential chain finds nothing and
/// never reaches for instance metadata.
#[tokio::test]
async fn missing_credentials_and_region_give_clear_errors() {
    if std::env::var_os("ROUTEPLANE_AWS_TEST_CHILD").is_some() {
        return child_without_credentials().await;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "missing_credentials_and_region_give_clear_errors",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("ROUTEPLANE_AWS_TEST_CHILD", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/routeplane/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/routeplane/credentials",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran nothing:\n{stdout}"
    );
}

async fn child_without_credentials() {
    let server = answering(200, String::new()).await;
    let mut cfg = config(&server.uri());
    cfg.credentials = None;

    let mut no_region = cfg.clone();
    no_region.region = None;
    assert_eq!(
        AwsProvider::new(no_region).await.unwrap_err(),
        AwsError::NoRegion
    );

    let p = AwsProvider::new(cfg).await.unwrap();
    let err = p.check_credentials().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("AWS_ACCESS_KEY_ID"), "{}", err.message);

    let err = p.list_routes(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(err.message.contains("AWS_ACCESS_KEY_ID"), "{}", err.message);
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing is sent unsigned"
    );
}
