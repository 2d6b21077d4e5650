//! One module per subcommand. Each module's errors roll up into `Error`
//! here, whose message is the one line a failed command prints and logs.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod foreground;
mod kill;
mod list;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use crate::bundle::BundleError;
use crate::cli::{Cli, Command, GlobalOpts};
use crate::linux::cgroups::CgroupError;
use crate::linux::signals::SignalError;
use crate::process::{PlanError, SpawnError};
use crate::state::StateError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Seal(#[from] crate::linux::seal::SealError),
    #[error(transparent)]
    Resource(#[from] crate::linux::resources::ResourceError),
    #[error(transparent)]
    Freeze(#[from] crate::linux::freezer::FreezeError),
    #[error(transparent)]
    Stats(#[from] crate::linux::stats::StatsError),
    #[error(transparent)]
    Hook(#[from] crate::linux::hooks::HookError),
    #[error(transparent)]
    Rdt(#[from] crate::linux::intelrdt::RdtError),
    #[error(transparent)]
    Terminal(#[from] crate::linux::terminal::TerminalError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sys { op: String, source: nix::Error },
    /// A command-line argument that cannot work, named in the message.
    #[error("{0}")]
    Usage(String),
    /// A request the container's status does not allow; the texts are
    /// runc's, which containerd and podman match.
    #[error("{0}")]
    Refused(String),
    /// `exec` failed before its process ran: as runc, exit status 255, so
    /// that it cannot be told from the process's own status (1 to 254).
    #[error("exec failed: {0}")]
    Exec(Box<Error>),
}

impl Error {
    /// The exit status of a command that failed with this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec(_) => 255,
            _ => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Runs the command; the result is the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    if cli.global.systemd_cgroup {
        return Err(CgroupError::Systemd.into());
    }
    let root = state_root(&cli.global);
    // Only the commands that put rt's processes into containers.
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        crate::linux::seal::run_from_readonly_binary()?;
    }
    match cli.command {
        Command::Create(args) => create::run(&root, &args),
        Command::Start { id } => start::run(&root, &id),
        Command::State { id } => state::run(&root, &id),
        Command::Kill(args) => kill::run(&root, &args),
        Command::Delete(args) => delete::run(&root, &args),
        Command::Run(args) => run::run(&root, &args),
        Command::List(args) => list::run(&root, &args),
        Command::Spec(args) => spec::run(&args),
        Command::Features => features::run(),
        Command::Update(args) => update::run(&root, &args),
        Command::Pause { id } => pause::run(&root, &id),
        Command::Resume { id } => resume::run(&root, &id),
        Command::Ps(args) => ps::run(&root, &args),
        Command::Exec(args) => exec::run(&root, &args).map_err(|e| Error::Exec(Box::new(e))),
        Command::Events(args) => events::run(&root, &args),
    }
}

/// Before rt opens any file of its own (the log first): the descriptors
/// create, run and exec pass on must be the caller's.
pub fn check_extra_fds(command: &Command) -> Result<()> {
    let (preserve, init) = match command {
        Command::Create(a) => (a.opts.preserve_fds, true),
        Command::Run(a) => (a.opts.preserve_fds, true),
        Command::Exec(a) => (a.preserve_fds, false),
        _ => return Ok(()),
    };
    Ok(crate::process::check_extra_fds(preserve, init)?)
}

fn state_root(global: &GlobalOpts) -> PathBuf {
    global
        .root
        .clone()
        .unwrap_or_else(crate::state::default_root)
}
