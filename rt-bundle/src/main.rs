//! rt-bundle: makes OCI runtime bundles for rt from images in registries,
//! OCI image layouts and `docker save` archives.

mod archive;
mod bundle;
mod cache;
mod cli;
mod commands;
mod digest;
mod fetch;
mod image;
mod layout;
mod overlay;
mod platform;
mod progress;
mod reference;
mod registry;
mod source;
mod spec;
#[cfg(test)]
mod testutil;
mod unpack;
mod user;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rt-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}
