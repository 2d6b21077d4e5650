//! Everything the child needs, worked out by the parent before it forks, so
//! that bad input fails before the host is touched.

use crate::bundle::Bundle;
use crate::cli::CreateOpts;
use crate::linux::capabilities::{CapPlan, CapsError};
use crate::linux::console::{ConsoleError, ConsolePlan};
use crate::linux::keyring::SessionKeyring;
use crate::linux::lsm::{LsmError, LsmPlan};
use crate::linux::mempolicy::{MemPolicy, MemPolicyError};
use crate::linux::namespaces::{NamespaceError, NamespacePlan};
use crate::linux::personality::{Personality, PersonalityError};
use crate::linux::rootfs::{RootfsError, RootfsPlan};
use crate::linux::sched::{AffinityPlan, IoPrioPlan, SchedError, SchedPlan};
use crate::linux::seccomp::{self, SeccompError, SeccompPlan};
use crate::linux::user::Identity;
use crate::state::Record;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, PosixRlimit, Process};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Caps(#[from] CapsError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error("linux.sysctl: {0:?} is not a valid sysctl name")]
    Sysctl(String),
    #[error("linux.sysctl: {0:?} {1}")]
    SysctlHost(String, &'static str),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("{0}")]
    Terminal(&'static str),
    #[error("{0}: fd {1} is not open")]
    PreserveFds(String, i32),
    #[error(transparent)]
    Lsm(#[from] LsmError),
    #[error(transparent)]
    Sched(#[from] SchedError),
    #[error(transparent)]
    Personality(#[from] PersonalityError),
    #[error(transparent)]
    MemPolicy(#[from] MemPolicyError),
}

/// Where the pty master of `process.terminal: true` goes.
pub enum ConsoleTo<'a> {
    /// Nowhere: right only when the process has no terminal.
    Nowhere,
    /// The caller's `--console-socket`.
    Socket(&'a Path),
    /// The child's end of rt's own socketpair: `run` and `exec` in the
    /// foreground attach their stdio to the master (runc's, without --detach).
    Runtime(OwnedFd),
}

/// The process to run, shared by a container's init and `exec`.
pub struct ProcessPlan {
    pub caps: CapPlan,
    pub identity: Identity,
    pub umask: u32,
    pub rlimits: Vec<PosixRlimit>,
    pub oom_score_adj: Option<i32>,
    pub no_new_privs: bool,
    pub seccomp: Option<SeccompPlan>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub preserve_fds: u32,
    /// Where the pty goes when process.terminal is true.
    pub console: Option<ConsolePlan>,
    pub lsm: LsmPlan,
    pub scheduler: Option<SchedPlan>,
    pub io_priority: Option<IoPrioPlan>,
    /// execCPUAffinity: for `exec` only (config.md: not for init).
    pub affinity: AffinityPlan,
    pub personality: Option<Personality>,
    pub memory_policy: Option<MemPolicy>,
    /// The container's session keyring, unless --no-new-keyring.
    pub keyring: Option<SessionKeyring>,
}

impl ProcessPlan {
    /// The process's plan; `linux` gives the container-wide settings
    /// (seccomp, personality, memoryPolicy, mountLabel), `root` is the
    /// runtime root, which holds the compiled seccomp programs' cache.
    pub fn new(
        process: &Process,
        linux: Option<&Linux>,
        root: &Path,
        console: ConsoleTo,
        preserve_fds: u32,
    ) -> Result<ProcessPlan, PlanError> {
        let seccomp = linux.and_then(|l| l.seccomp().as_ref());
        let user = process.user();
        Ok(ProcessPlan {
            caps: CapPlan::new(process.capabilities().as_ref())?,
            identity: Identity {
                uid: user.uid(),
                gid: user.gid(),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
            },
            umask: user.umask().unwrap_or(0o022),
            rlimits: process.rlimits().clone().unwrap_or_default(),
            oom_score_adj: process.oom_score_adj(),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            seccomp: seccomp
                .map(|profile| SeccompPlan::new(profile, &seccomp::cache_dir(root)))
                .transpose()?,
            args: process.args().clone().unwrap_or_default(),
            env: process.env().clone().unwrap_or_default(),
            cwd: process.cwd().clone(),
            preserve_fds,
            console: console_plan(process, console)?,
            lsm: lsm_plan(process, linux)?,
            scheduler: process
                .scheduler()
                .as_ref()
                .map(SchedPlan::new)
                .transpose()?,
            io_priority: process
                .io_priority()
                .as_ref()
                .map(IoPrioPlan::new)
                .transpose()?,
            affinity: AffinityPlan::default(),
            personality: linux
                .and_then(|l| l.personality().as_ref())
                .map(Personality::new)
                .transpose()?,
            memory_policy: linux
                .and_then(|l| l.memory_policy().as_ref())
                .map(MemPolicy::new)
                .transpose()?,
            keyring: None,
        })
    }

    /// process.execCPUAffinity, which applies to `exec`'s processes.
    pub fn with_exec_affinity(mut self, process: &Process) -> Result<ProcessPlan, PlanError> {
        if let Some(a) = process.exec_cpu_affinity() {
            self.affinity = AffinityPlan::new(a)?;
        }
        Ok(self)
    }
}

/// The process's labels; linux.mountLabel is checked here too, as the
/// same host's SELinux decides whether it can be honoured.
fn lsm_plan(process: &Process, linux: Option<&Linux>) -> Result<LsmPlan, PlanError> {
    let mount_label = linux.and_then(|l| l.mount_label().as_deref());
    if let Some(label) = mount_label.filter(|l| !l.is_empty()) {
        LsmPlan::new(None, Some(("linux.mountLabel", label)))?;
    }
    Ok(LsmPlan::new(
        process
            .apparmor_profile()
            .as_deref()
            .map(|p| ("process.apparmorProfile", p)),
        process
            .selinux_label()
            .as_deref()
            .map(|l| ("process.selinuxLabel", l)),
    )?)
}

pub struct InitPlan {
    pub namespaces: NamespacePlan,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    /// uid_map and gid_map contents for a new user namespace.
    pub id_maps: Option<(String, String)>,
    /// The exec fifo, opened read-write: the child blocks reading it until
    /// `start` writes a byte.
    pub exec_fifo: OwnedFd,
    /// With startContainer or poststart hooks: a fifo, open read-write, that
    /// init closes by its execve or writes a failure to, which `start`
    /// reads to know the program runs (or why it does not).
    pub start_fifo: Option<OwnedFd>,
    /// The container's record (without its PID yet) when the config has
    /// hooks: their state JSON is made from it.
    pub hooks: Option<Record>,
}

impl InitPlan {
    pub fn new(
        bundle: &Bundle,
        opts: &CreateOpts,
        root: &Path,
        console: ConsoleTo,
        exec_fifo: OwnedFd,
    ) -> Result<InitPlan, PlanError> {
        let spec = &bundle.spec;
        let process = spec.process().as_ref().expect("bundle validated process");
        let linux = spec.linux().as_ref().expect("bundle validated linux");
        let namespaces = NamespacePlan::new(spec)?;
        let id_maps = namespaces.creates(LinuxNamespaceType::User).then(|| {
            (
                id_map(linux.uid_mappings().as_deref()),
                id_map(linux.gid_mappings().as_deref()),
            )
        });
        let mut sysctl: Vec<(String, String)> = linux
            .sysctl()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        sysctl.sort();
        if let Some((bad, _)) = sysctl.iter().find(|(k, _)| {
            k.is_empty() || k.contains('/') || k.split('.').any(|p| p.is_empty() || p == "..")
        }) {
            return Err(PlanError::Sysctl(bad.clone()));
        }
        for (key, _) in &sysctl {
            check_sysctl_namespace(key, &namespaces)?;
        }
        let listen_fds = listen_fds();
        let mut process = ProcessPlan::new(
            process,
            Some(linux),
            root,
            console,
            listen_fds + opts.preserve_fds,
        )?;
        if listen_fds > 0 {
            process.env.push(format!("LISTEN_FDS={listen_fds}"));
            process.env.push("LISTEN_PID=1".into());
        }
        Ok(InitPlan {
            namespaces,
            rootfs: RootfsPlan::new(&bundle.dir, &bundle.rootfs, spec, opts.no_pivot)?,
            process,
            hostname: spec.hostname().clone(),
            domainname: spec.domainname().clone(),
            sysctl,
            id_maps,
            exec_fifo,
            start_fifo: None,
            hooks: None,
        })
    }
}

/// A sysctl may only change what the container's own namespaces hold: the
/// rest would change the host (runc's rules).
fn check_sysctl_namespace(key: &str, ns: &NamespacePlan) -> Result<(), PlanError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let has = |kind| ns.creates(kind) || ns.joins(kind);
    let (kind, host) = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        (
            LinuxNamespaceType::Ipc,
            "needs an ipc namespace: it would change the host's",
        )
    } else if key.starts_with("net.") {
        (
            LinuxNamespaceType::Network,
            "needs a network namespace: it would change the host's",
        )
    } else if key == "kernel.hostname" {
        // The hostname field sets it; two sources could disagree (runc's rule).
        return Err(PlanError::SysctlHost(
            key.to_string(),
            "is not allowed: it conflicts with the hostname field",
        ));
    } else if key == "kernel.domainname" {
        (
            LinuxNamespaceType::Uts,
            "needs a uts namespace: it would change the host's",
        )
    } else {
        return Err(PlanError::SysctlHost(
            key.to_string(),
            "is not in a namespace of the container's: it would change the host",
        ));
    };
    if has(kind) {
        Ok(())
    } else {
        Err(PlanError::SysctlHost(key.to_string(), host))
    }
}

/// runc's rules: a terminal needs a socket to send it to, and a socket
/// needs a terminal to send.
fn console_plan(process: &Process, to: ConsoleTo) -> Result<Option<ConsolePlan>, PlanError> {
    let size = process.console_size().as_ref().map(|b| {
        let clamp = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
        (clamp(b.height()), clamp(b.width()))
    });
    match (process.terminal().unwrap_or(false), to) {
        (true, ConsoleTo::Socket(path)) => Ok(Some(ConsolePlan::connect(path, size)?)),
        (true, ConsoleTo::Runtime(fd)) => Ok(Some(ConsolePlan::over(fd, size))),
        (false, ConsoleTo::Nowhere | ConsoleTo::Runtime(_)) => Ok(None),
        (true, ConsoleTo::Nowhere) => Err(PlanError::Terminal(
            "process.terminal: true needs --console-socket (or `run` or `exec` without --detach)",
        )),
        (false, ConsoleTo::Socket(_)) => Err(PlanError::Terminal(
            "--console-socket: process.terminal is false, so there is no terminal to send",
        )),
    }
}

fn id_map(maps: Option<&[LinuxIdMapping]>) -> String {
    maps.into_iter()
        .flatten()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Socket activation as runc does it (go-systemd's activation.Files): when
/// LISTEN_PID is rt's own PID, the LISTEN_FDS descriptors from 3 on are
/// passed to the container, before the `--preserve-fds` ones.
fn listen_fds() -> u32 {
    let var = |name| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    match var("LISTEN_PID") {
        Some(pid) if pid == std::process::id() => var("LISTEN_FDS").unwrap_or(0),
        _ => 0,
    }
}

/// The descriptors passed on (`--preserve-fds`, and for a container's
/// init the socket activation ones before them) must be open when rt
/// starts: checked before rt opens a file of its own, which could take a
/// missing number and then reach the container.
pub fn check_extra_fds(preserve_fds: u32, init: bool) -> Result<(), PlanError> {
    let listen = if init { listen_fds() } else { 0 };
    for fd in 3..3 + (listen + preserve_fds) as i32 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            let what = match listen {
                0 => format!("--preserve-fds {preserve_fds}"),
                _ => format!("LISTEN_FDS={listen} and --preserve-fds {preserve_fds}"),
            };
            return Err(PlanError::PreserveFds(what, fd));
        }
    }
    Ok(())
}
