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
    /// Change the resource limits of a created, running or paused container
    Update(UpdateArgs),
    /// Freeze every process of the container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the container's processes (ps output, or a JSON array of PIDs)
    Ps(PsArgs),
    /// Run a new process in a created or running container
    Exec(ExecArgs),
    /// Print the container's resource usage (and OOM events) as JSON lines
    Events(EventsArgs),
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
    /// Allocate a pseudo-terminal (sent to --console-socket, or attached to rt's stdio without --detach)
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
    /// AppArmor profile for the process (an error where AppArmor is not enabled)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process (an error where SELinux is not enabled)
    #[arg(long)]
    pub process_label: Option<String>,
}

/// runc's `update` flags; `--resources` (the spec's linux.resources JSON)
/// replaces all of them.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// File with the resources to set (linux.resources JSON), or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10 to 1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (microseconds)
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (microseconds per period, -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long, visible_alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period (microseconds)
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (microseconds per period)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (0-3,7)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (0-3,7)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k, m, g or t suffix; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation, the soft limit
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (ignored, as by runc 1.1)
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (cgroup v1 only)
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of tasks (-1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported by rt: an error)
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported by rt: an error)
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print the stats once and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between stats lines (a duration like 5s, 500ms, 1m30s)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Output format: ps's table, or a JSON array of host PIDs
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
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
