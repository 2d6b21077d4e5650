//! rt: a low-level OCI container runtime with a runc-compatible command line.
//!
//! The module tree follows the container lifecycle:
//! `cli` (arguments) → `commands` (one per subcommand) → `bundle` (config.json)
//! → `state` (per-container state directory) → `process` (creating the
//! container's init and the typed parent/child protocol) → `linux`
//! (namespaces, mounts, devices, cgroups, capabilities, ...).

mod bundle;
mod cli;
mod clock;
mod commands;
mod linux;
mod logging;
mod process;
mod state;

use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE, and an ignored signal stays ignored across
    // execve: the container's program must start with the default, and
    // `rt state | head` should end quietly as runc does, not panic.
    // SAFETY: no handler is installed; SIG_DFL is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cli::Cli::parse();
    let fds = commands::check_extra_fds(&cli.command);
    let logger = match logging::Logger::init(&cli.global) {
        Ok(logger) => logger,
        Err(e) => {
            eprintln!("rt: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = fds {
        logger.fatal(&e.to_string());
        std::process::exit(1);
    }
    match commands::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.fatal(&e.to_string());
            std::process::exit(e.exit_code());
        }
    }
}
