//! The `routeplane` binary: CLI wiring only. Each subcommand lives in `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
