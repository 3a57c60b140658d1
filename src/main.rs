//! The `routeplane` binary: CLI wiring only. Each subcommand lives in `cli/`.

mod bench;
mod cli;
mod lab;

fn main() -> std::process::ExitCode {
    cli::main()
}
