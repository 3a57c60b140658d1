//! Which credentials the Compute clients send, decided once at start-up and never waited on
//! for long: a start-up that cannot get a token fails within `--gce-call-timeout`, naming why.
//!
//! Order (Application Default Credentials, with two routeplane rules):
//! 1. `anonymous` in the configuration (the demo, tests): none.
//! 2. `GOOGLE_APPLICATION_CREDENTIALS` set: that key file, which must exist, parse and yield a
//!    token; otherwise start-up fails naming the file. A bad file is never silently replaced.
//! 3. gcloud's well-known ADC file, when it exists: as 2.
//! 4. No key file and `--gce-endpoint` set (the mock): anonymous, without asking the metadata
//!    server — off GCE that probe costs a DNS lookup and a connect that may only time out.
//! 5. Otherwise the metadata server's service account, with one token fetched under a deadline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use routeplane_core::error::causes;

use crate::config::GceConfig;
use crate::error::GceError;

/// The environment variable naming a key file, as in every Google client library.
pub const KEY_FILE_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// Where the credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// No credentials; the reason is logged.
    Anonymous(&'static str),
    /// A key file; `from_env` when `GOOGLE_APPLICATION_CREDENTIALS` named it (else gcloud's
    /// well-known file).
    KeyFile { path: PathBuf, from_env: bool },
    /// The metadata server's service account (on GCE).
    MetadataServer,
}

/// Picks the source without any I/O but `exists` on the well-known file (the caller passes it
/// only when it exists), so the rules above are unit tested.
pub fn choose(
    anonymous: bool,
    endpoint_set: bool,
    env_key_file: Option<PathBuf>,
    well_known: Option<PathBuf>,
) -> Source {
    if anonymous {
        return Source::Anonymous("the configuration asks for none (the demo, tests)");
    }
    if let Some(path) = env_key_file {
        return Source::KeyFile {
            path,
            from_env: true,
        };
    }
    if let Some(path) = well_known {
        return Source::KeyFile {
            path,
            from_env: false,
        };
    }
    if endpoint_set {
        return Source::Anonymous("a custom --gce-endpoint and no key file");
    }
    Source::MetadataServer
}

/// Resolves the credentials of `cfg` from this process's environment. Returns whether they
/// are anonymous.
///
/// # Errors
/// [`GceError::CredentialsFile`] for a key file that is missing, unreadable, malformed or
/// refused; [`GceError::NoCredentials`] when the metadata server gives no token in time.
pub async fn resolve(cfg: &GceConfig) -> Result<(Credentials, bool), GceError> {
    let env_key_file = std::env::var_os(KEY_FILE_ENV).map(PathBuf::from);
    let source = choose(
        cfg.anonymous,
        cfg.endpoint.is_some(),
        env_key_file,
        well_known_file().filter(|p| p.exists()),
    );
    match source {
        Source::Anonymous(why) => {
            tracing::info!(endpoint = ?cfg.endpoint, why, "sending unauthenticated Compute requests");
            Ok((anonymous(), true))
        }
        Source::KeyFile { path, from_env } => key_file(&path, from_env, cfg.call_timeout)
            .await
            .map(|c| (c, false))
            .map_err(|why| GceError::CredentialsFile {
                path: path.display().to_string(),
                origin: if from_env {
                    KEY_FILE_ENV
                } else {
                    "gcloud's application-default file"
                },
                why,
            }),
        Source::MetadataServer => adc(cfg.call_timeout)
            .await
            .map(|c| (c, false))
            .map_err(GceError::NoCredentials),
    }
}

fn anonymous() -> Credentials {
    google_cloud_auth::credentials::anonymous::Builder::new().build()
}

/// gcloud's `application_default_credentials.json` (AIP-4113), where ADC looks after the
/// environment variable.
fn well_known_file() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config/gcloud/application_default_credentials.json"))
}

/// Checks the file before the SDK reads it (so the message is ours and names the file), then
/// builds ADC, which reads the same file, and fetches one token.
async fn key_file(path: &Path, from_env: bool, timeout: Duration) -> Result<Credentials, String> {
    if from_env && path.as_os_str().is_empty() {
        return Err(format!(
            "{KEY_FILE_ENV} is set but empty; unset it or name a key file"
        ));
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err("not a regular file".into()),
        Err(e) => return Err(format!("cannot read it: {e}")),
    }
    adc(timeout).await
}

/// Builds ADC and fetches a token once under `timeout`, so missing or refused credentials show
/// at start-up and not on the first route write.
async fn adc(timeout: Duration) -> Result<Credentials, String> {
    let creds = google_cloud_auth::credentials::Builder::default()
        // Skips asking the metadata server for the universe domain: there is only one here.
        .with_universe_domain("googleapis.com")
        .build()
        .map_err(|e| causes(&e))?;
    match tokio::time::timeout(timeout, creds.headers(http::Extensions::new())).await {
        Ok(Ok(_)) => Ok(creds),
        Ok(Err(e)) => Err(causes(&e)),
        Err(_) => Err(format!(
            "no token within {timeout:?} (not on GCE, and {KEY_FILE_ENV} unset?)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, from_env: bool) -> Source {
        Source::KeyFile {
            path: path.into(),
            from_env,
        }
    }

    #[test]
    fn a_key_file_always_wins_over_the_anonymous_fallback() {
        let env = || Some(PathBuf::from("/k.json"));
        let gcloud = || Some(PathBuf::from("/home/u/adc.json"));
        assert_eq!(choose(false, true, env(), None), key("/k.json", true));
        assert_eq!(choose(false, false, env(), gcloud()), key("/k.json", true));
        assert_eq!(
            choose(false, true, None, gcloud()),
            key("/home/u/adc.json", false)
        );
    }

    #[test]
    fn the_metadata_server_is_asked_only_without_an_endpoint_or_key_file() {
        assert_eq!(choose(false, false, None, None), Source::MetadataServer);
        assert!(matches!(
            choose(false, true, None, None),
            Source::Anonymous(_)
        ));
        assert!(matches!(
            choose(true, false, Some("/k.json".into()), None),
            Source::Anonymous(_)
        ));
    }

    #[tokio::test]
    async fn a_missing_or_empty_key_file_is_named_before_any_network_call() {
        let err = key_file(
            Path::new("/nonexistent/key.json"),
            true,
            Duration::from_secs(1),
        )
        .await
        .err()
        .unwrap();
        assert!(err.contains("cannot read it"), "{err}");
        let err = key_file(Path::new(""), true, Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert!(err.contains("set but empty"), "{err}");
        let dir = std::env::temp_dir();
        let err = key_file(&dir, true, Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert_eq!(err, "not a regular file");
    }
}
