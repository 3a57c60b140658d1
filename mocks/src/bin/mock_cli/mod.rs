//! What the mock clouds' binaries share: the flags both take, parsing (each flag is also an
//! environment variable under the binary's prefix) and serving until Ctrl-C.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use routeplane_mocks::common::error::Error;
use routeplane_mocks::common::faults::{FaultSpec, Faults};
use routeplane_mocks::common::mock::{Cloud, Mock};
use serde::Serialize;

/// The flags every mock cloud binary takes.
#[derive(Debug, clap::Args)]
pub struct ServeFlags {
    /// World file (YAML or JSON) to start from; a small example world when absent.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Latency added to every request, in milliseconds.
    #[arg(long = "latency", default_value_t = 0)]
    latency_ms: u64,
    /// Jitter around the latency, in milliseconds.
    #[arg(long = "jitter", default_value_t = 0)]
    jitter_ms: u64,
    /// Print the world as YAML on exit.
    #[arg(long)]
    dump_on_exit: bool,
}

impl ServeFlags {
    /// The world file's world, or `example()` when no file is named.
    pub fn world<W>(
        &self,
        load: impl FnOnce(PathBuf) -> Result<W, Error>,
        example: impl FnOnce() -> W,
    ) -> anyhow::Result<W> {
        match &self.world {
            Some(path) => {
                load(path.clone()).with_context(|| format!("loading world {}", path.display()))
            }
            None => Ok(example()),
        }
    }

    /// The fault plan: the latency and jitter on every request.
    pub fn faults(&self) -> Faults {
        Faults::none().all(FaultSpec::new().latency(
            Duration::from_millis(self.latency_ms),
            Duration::from_millis(self.jitter_ms),
        ))
    }
}

/// Starts logging (`RUST_LOG`, `info` by default) and parses the command line into `A`; every
/// flag is also read from `<env_prefix>_<FLAG ID>`, e.g. `ROUTEPLANE_MOCK_EC2_LATENCY_MS`.
pub fn start<A: Parser>(env_prefix: &str) -> A {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let command = A::command().mut_args(|arg| {
        let var = format!(
            "{env_prefix}_{}",
            arg.get_id().as_str().to_ascii_uppercase()
        );
        // Without clap's `string` feature (which would rebuild clap for the whole workspace) an
        // env name must be `&'static str`: a dozen short names, kept for the process's life.
        arg.env(&*Box::leak(var.into_boxed_str()))
    });
    A::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

/// Serves until Ctrl-C; then prints the world as YAML if `--dump-on-exit` asked for it, logs
/// the calls served and stops the server.
pub async fn serve_until_ctrl_c<C: Cloud, S: Serialize, D: Debug>(
    mock: Mock<C>,
    flags: &ServeFlags,
    snapshot: impl FnOnce(&C::WorldHandle) -> S,
    counts: impl FnOnce(&C::Calls) -> D,
) -> anyhow::Result<()> {
    tracing::info!(endpoint = %mock.endpoint_url(), "mock {} ready", C::NAME);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if flags.dump_on_exit {
        let yaml =
            serde_yaml::to_string(&snapshot(&mock.world())).context("rendering the world")?;
        println!("{yaml}");
    }
    let calls = counts(&mock.calls());
    tracing::info!(?calls, "calls served");
    mock.shutdown()
        .await
        .with_context(|| format!("stopping the mock {}", C::NAME))
}
