//! Logging set-up: `tracing` to stderr, text or JSON, filtered by `--log-level` / `RUST_LOG`.

use anyhow::Context;
use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Log filter, e.g. `info`, `debug`, `routeplane_core=debug,kube=warn`.
    #[arg(long, global = true, env = "ROUTEPLANE_LOG", default_value = "info")]
    pub log_level: String,
    /// Log output format.
    #[arg(
        long,
        global = true,
        env = "ROUTEPLANE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

pub fn init(args: &LogArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot initialise logging: {e}"))
}
