//! The command line, kept compatible with runc's: the same commands, flags and
//! defaults, because containerd, podman and scripts call rt exactly as they call runc.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const VERSION: &str = concat!(
    "version ",
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("RT_COMMIT"),
    "\nspec: 1.3.0"
);

#[derive(Parser, Debug)]
#[command(name = "rt", version = VERSION, about = "A low-level OCI container runtime")]
#[command(disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalOpts {
    /// Print the version (three lines, as runc does)
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Directory for container state (default /run/rt, or $XDG_RUNTIME_DIR/rt for non-root)
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Write log records to this file (always created)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of log records
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log debug records too
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported yet)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; its program waits for `start`
    Create(CreateArgs),
    /// Run the program of a created container
    Start { id: String },
    /// Print the state of a container as JSON
    State { id: String },
    /// Send a signal to the container's init process
    Kill(KillArgs),
    /// Remove a stopped container (or any container with --force)
    Delete(DeleteArgs),
    /// Create and start a container, waiting for it to exit
    Run(RunArgs),
    /// List containers
    List(ListArgs),
    /// Write a default config.json into a bundle
    Spec(SpecArgs),
    /// Print the features rt implements (runtime-spec features.md) as JSON
    Features,
    /// Run a new process in a created or running container
    Exec(ExecArgs),
}

/// Options shared by `create` and `run`.
#[derive(Args, Debug)]
pub struct CreateOpts {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's host PID to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (terminal: true)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (3, 4, ...) to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateOpts,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Start the container and return without waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    pub id: String,
    /// The program and its arguments (unless --process gives them)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A JSON file with the process to run (config.md "process")
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// An additional group ID
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability to every set
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// Allocate a pseudo-terminal (needs --console-socket)
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the process started instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's host PID to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Pass this many extra file descriptors (3, 4, ...) to the process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec even when the container is paused
    #[arg(long)]
    pub ignore_paused: bool,
    /// AppArmor profile (not supported by rt yet: an error)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label (not supported by rt yet: an error)
    #[arg(long)]
    pub process_label: Option<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    pub id: String,
    /// Signal name (TERM, SIGTERM, RTMIN+3) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process of the container, not only its init
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    pub id: String,
    /// Kill the container first if it is still running
    #[arg(short, long)]
    pub force: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a spec for a rootless container (user namespace)
    #[arg(long)]
    pub rootless: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn takes_runc_style_invocations() {
        let cli = Cli::try_parse_from([
            "rt",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Create(ref a) if a.id == "c1"));
        let cli = Cli::try_parse_from(["rt", "kill", "--all", "c1", "9"]).unwrap();
        assert!(matches!(cli.command, Command::Kill(ref a) if a.all && a.signal == "9"));
    }
}
