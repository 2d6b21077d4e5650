//! The child side of container creation. It runs in a fork of rt, enters the
//! namespaces, becomes the container's init, builds its root filesystem and
//! identity, reports `Ready`, and waits on the exec fifo until `start`.
//!
//! Errors before `Ready` go back to the parent as `Failed` and the child
//! exits; the parent then cleans up. The order of the steps follows runc:
//! host-privileged work (oom_score_adj, rlimits) before any user namespace,
//! mounts before the identity switch, capabilities after it, and
//! no_new_privs last.

use super::plan::{InitPlan, ProcessPlan};
use super::program::{Program, dedup_env, enter_cwd, find_executable, make_cwd, program_env};
use super::protocol::{ChildEnd, ProtocolError, ToChild, ToParent};
use crate::linux::capabilities::CapsError;
use crate::linux::console::ConsoleError;
use crate::linux::hooks::{self, HookError, Step};
use crate::linux::keyring::KeyringError;
use crate::linux::lsm::{AttrDir, LsmError};
use crate::linux::mempolicy::MemPolicyError;
use crate::linux::namespaces::NamespaceError;
use crate::linux::personality::PersonalityError;
use crate::linux::procfs::{ProcError, ProcRoot};
use crate::linux::rootfs::{self, RootfsError};
use crate::linux::safepath::Root;
use crate::linux::sched::SchedError;
use crate::linux::seccomp::SeccompError;
use crate::linux::user::{self, UserError};
use crate::state::{StateJson, Status};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(super) enum InitError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("parent sent {0:?} out of turn")]
    OutOfTurn(Option<ToChild>),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Caps(#[from] CapsError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error("{op}: {source}")]
    Sys { op: String, source: nix::Error },
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// Go's exec.LookPath texts, as runc prints them: podman maps
    /// "permission denied" to exit status 126 and the others to 127.
    #[error("exec: {0:?}: {1}")]
    NotExecutable(String, String),
    #[error("process.cwd {0}: {1}")]
    Cwd(PathBuf, String),
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("linux.sysctl {0}: {1}")]
    Sysctl(String, ProcError),
    #[error(transparent)]
    Lsm(#[from] LsmError),
    #[error(transparent)]
    Sched(#[from] SchedError),
    #[error(transparent)]
    Personality(#[from] PersonalityError),
    #[error(transparent)]
    MemPolicy(#[from] MemPolicyError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

fn sys(op: impl Into<String>) -> impl FnOnce(nix::Error) -> InitError {
    let op = op.into();
    move |source| InitError::Sys { op, source }
}

/// Runs the child to the exec of the user program; never returns.
pub fn run(plan: &InitPlan, chan: ChildEnd, parent: Pid) -> ! {
    match enter_container(plan, &chan, parent) {
        Ok(never) => match never {},
        Err(e) => fail(&chan, &e),
    }
}

/// Reports `err` to the parent and exits. After Ready nobody listens (a
/// startContainer hook failed after `start`, or an exec'd program's
/// execve): the process's stderr is the only place left to say why.
pub(super) fn fail(chan: &ChildEnd, err: &InitError) -> ! {
    if chan
        .send(&ToParent::Failed {
            error: err.to_string(),
        })
        .is_err()
    {
        eprintln!("rt: {err}");
    }
    // SAFETY: leave without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(1) }
}

pub(super) enum Never {}

fn enter_container(plan: &InitPlan, chan: &ChildEnd, parent: Pid) -> Result<Never, InitError> {
    close_inherited_fds(plan, chan)?;
    reset_signal_mask()?;
    die_with(Some(parent))?;
    expect(chan, |m| matches!(m, ToChild::Proceed))?;
    if let Some(score) = plan.process.oom_score_adj {
        user::set_oom_score_adj(score)?;
    }
    user::set_rlimits(&plan.process.rlimits)?;
    plan.namespaces.enter()?;
    let in_userns = plan.namespaces.creates(LinuxNamespaceType::User);
    if in_userns {
        chan.send(&ToParent::NeedIdMaps)?;
        expect(chan, |m| matches!(m, ToChild::IdMapsWritten))?;
        become_userns_root();
    }
    if plan.namespaces.needs_fork() {
        match clone_parent().map_err(sys("clone init"))? {
            // In a new PID namespace the parent is outside it: getppid() is 0.
            0 => die_with(None)?,
            pid => {
                chan.send(&ToParent::InitPid { pid })?;
                // SAFETY: the intermediate process has nothing left to do.
                unsafe { libc::_exit(0) }
            }
        }
    } else {
        chan.send(&ToParent::InitPid {
            pid: nix::unistd::getpid().as_raw(),
        })?;
    }
    become_init(
        plan,
        chan,
        in_userns || plan.namespaces.joins(LinuxNamespaceType::User),
    )
}

fn become_init(plan: &InitPlan, chan: &ChildEnd, in_userns: bool) -> Result<Never, InitError> {
    new_session()?;
    rootfs::prepare(&plan.rootfs, in_userns)?;
    run_create_hooks(plan, chan)?;
    rootfs::enter(&plan.rootfs)?;
    // Inside the new root and before it may turn read-only, as runc.
    make_cwd(&plan.process.cwd)?;
    // As runc: after pivot_root (the pty comes from the container's devpts)
    // and before the root turns read-only.
    if let Some(console) = &plan.process.console {
        console.setup(true)?;
    }
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).map_err(sys("sethostname"))?;
    }
    if let Some(name) = &plan.domainname {
        set_domainname(name)?;
    }
    // Before finish: readonlyPaths usually include /proc/sys (as in runc).
    write_sysctls(&plan.sysctl)?;
    rootfs::finish(&plan.rootfs)?;
    join_keyring(&plan.process, in_userns)?;
    let program = prepare_program(&plan.process, chan, in_userns)?;
    exit_on_signals_while_waiting();
    nix::sys::prctl::set_pdeathsig(None).map_err(sys("prctl PR_SET_PDEATHSIG"))?;
    // With no_new_privs, as late as runc: only the Ready message, the fifo
    // read and execve remain for the profile to allow.
    if plan.process.no_new_privs {
        load_seccomp(&plan.process, chan)?;
    }
    chan.send(&ToParent::Ready)?;
    wait_for_start(plan.exec_fifo.as_raw_fd());
    if let Err(e) = run_hooks_here(plan, Step::StartContainer, Status::Created) {
        report_start_failure(plan, &e);
        return Err(e);
    }
    program.exec()
}

/// Tells a waiting `start` why the program will not run.
fn report_start_failure(plan: &InitPlan, err: &InitError) {
    if let Some(fifo) = &plan.start_fifo {
        let msg = err.to_string();
        // SAFETY: writes `msg`'s bytes; a short write only shortens the message.
        unsafe { libc::write(fifo.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
    }
}

/// runtime.md steps 3-5, between the mounts and pivot_root: the parent runs
/// prestart and createRuntime in the runtime namespace, then createContainer
/// runs here, in the container's namespaces, its path resolved on the host.
fn run_create_hooks(plan: &InitPlan, chan: &ChildEnd) -> Result<(), InitError> {
    let Some(record) = &plan.hooks else {
        return Ok(());
    };
    let hooks = record.hooks.as_ref();
    if !Step::Prestart.of(hooks).is_empty() || !Step::CreateRuntime.of(hooks).is_empty() {
        chan.send(&ToParent::RunHooks)?;
        expect(chan, |m| matches!(m, ToChild::HooksDone))?;
    }
    run_hooks_here(plan, Step::CreateContainer, Status::Creating)
}

/// Runs the hooks of `step` in this process's namespaces, with the PID as
/// the container sees it (runtime.md "State").
fn run_hooks_here(plan: &InitPlan, step: Step, status: Status) -> Result<(), InitError> {
    let Some(record) = &plan.hooks else {
        return Ok(());
    };
    let state = StateJson::for_hook(record, status, nix::unistd::getpid().as_raw());
    let env = dedup_env(&plan.process.env);
    hooks::run_in_container(step, record.hooks.as_ref(), &state, &env)?;
    Ok(())
}

/// The process's own setup, shared with `exec`: everything from finding
/// the program to dropping privileges, in runc's order.
pub(super) fn prepare_program(
    p: &ProcessPlan,
    chan: &ChildEnd,
    in_userns: bool,
) -> Result<Program, InitError> {
    let env = program_env(&p.env, p.identity.uid);
    let exe = find_executable(&p.args[0], &env)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(p.umask));
    // While still privileged: a negative nice, a real-time policy or the
    // real-time I/O class need CAP_SYS_NICE or CAP_SYS_ADMIN.
    apply_scheduling(p)?;
    // The labels take effect at execve; written before seccomp and the
    // user switch can stand in the way, as runc does.
    p.lsm.set_exec(&AttrDir::current())?;
    // Entered before the filter, which may deny chdir or getcwd (runtime-tools'
    // linux_seccomp denies getcwd): the filter is for the program, not for
    // rt's own setup. As runc: first while still privileged (a directory the
    // user may not search but root may), and again as the user when root was
    // refused (a directory only the user may search, e.g. on a root-squashing
    // mount).
    let entered = enter_cwd(&p.cwd, true)?;
    // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: runc loads
    // it here, still privileged, before the capabilities and user change.
    if !p.no_new_privs {
        load_seccomp(p, chan)?;
    }
    user::give_stdio(p.identity.uid, p.console.is_some())?;
    p.caps.apply_bounding()?;
    user::switch_user(&p.identity, !in_userns || setgroups_allowed())?;
    p.caps.apply_sets()?;
    if !entered {
        enter_cwd(&p.cwd, false)?;
    }
    if p.no_new_privs {
        user::set_no_new_privs()?;
    }
    let program = Program::new(exe, &p.args, &env)?;
    pass_preserved_fds(p.preserve_fds)?;
    p.affinity.apply_final()?;
    Ok(program)
}

/// process.scheduler, process.ioPriority, linux.personality and
/// linux.memoryPolicy: the process sets them on itself, and execve keeps them.
fn apply_scheduling(p: &ProcessPlan) -> Result<(), InitError> {
    if let Some(s) = &p.scheduler {
        s.apply()?;
    }
    if let Some(io) = &p.io_priority {
        io.apply()?;
    }
    if let Some(personality) = p.personality {
        personality.apply()?;
    }
    if let Some(policy) = &p.memory_policy {
        policy.apply()?;
    }
    Ok(())
}

/// The container's session keyring (unless --no-new-keyring), labelled
/// with the process's SELinux label when it has one.
pub(super) fn join_keyring(p: &ProcessPlan, in_userns: bool) -> Result<(), InitError> {
    if let Some(keyring) = &p.keyring {
        p.lsm.set_keycreate(&AttrDir::current())?;
        keyring.join(in_userns)?;
    }
    Ok(())
}

/// Loads the filter; a notify listener's fd goes to the parent, which
/// passes it on to the listener before this process goes on (as runc: the
/// filter may notify syscalls that follow, which only the listener answers).
pub(super) fn load_seccomp(p: &ProcessPlan, chan: &ChildEnd) -> Result<(), InitError> {
    let Some(filter) = &p.seccomp else {
        return Ok(());
    };
    if let Some(fd) = filter.load()? {
        chan.send_with_fd(&ToParent::SeccompFd, fd.as_fd())?;
        expect(chan, |m| matches!(m, ToChild::SeccompFdSent))?;
    }
    Ok(())
}

pub(super) fn expect(chan: &ChildEnd, ok: fn(&ToChild) -> bool) -> Result<(), InitError> {
    match chan.recv()? {
        Some(m) if ok(&m) => Ok(()),
        other => Err(InitError::OutOfTurn(other)),
    }
}

/// `rt run` blocks signals to forward them; the container must not inherit that.
/// Every container process leads a session of its own, as runc's init
/// does (setsid in nsexec): its process group is not the caller's, so a
/// signal to the caller's group does not reach it, and the console setup
/// can make a pty its controlling terminal.
pub(super) fn new_session() -> Result<(), InitError> {
    match nix::unistd::setsid() {
        Ok(_) | Err(nix::Error::EPERM) => Ok(()),
        Err(e) => Err(sys("setsid")(e)),
    }
}

pub(super) fn reset_signal_mask() -> Result<(), InitError> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(sys("sigprocmask"))
}

/// Until `Ready`, the child dies with the rt that made it. With `parent`
/// given, also checks that rt did not die before the death signal was set.
pub(super) fn die_with(parent: Option<Pid>) -> Result<(), InitError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(sys("prctl PR_SET_PDEATHSIG"))?;
    if parent.is_some_and(|p| nix::unistd::getppid() != p) {
        // SAFETY: the parent is already gone; nobody is waiting for us.
        unsafe { libc::_exit(1) }
    }
    Ok(())
}

/// Root of the new user namespace, where the mapping allows it.
pub(super) fn become_userns_root() {
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    let _ = nix::unistd::setresgid(root_gid, root_gid, root_gid);
    let _ = nix::unistd::setresuid(root_uid, root_uid, root_uid);
}

pub(super) fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow")
}

/// fork, except that the new process is the caller's sibling: a child of rt,
/// which can then wait for the container's init directly.
pub(super) fn clone_parent() -> nix::Result<i32> {
    // SAFETY: clone with a null stack behaves like fork; rt is single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    nix::errno::Errno::result(r).map(|pid| pid as i32)
}

fn set_domainname(name: &str) -> Result<(), InitError> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(sys("setdomainname"))
}

fn write_sysctls(sysctls: &[(String, String)]) -> Result<(), InitError> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let fail = |key: &str| {
        let key = key.to_string();
        move |e| InitError::Sysctl(key, e)
    };
    let root = Root::open(Path::new("/")).map_err(|e| fail(&sysctls[0].0)(e.into()))?;
    let proc = ProcRoot::open(&root).map_err(fail(&sysctls[0].0))?;
    for (key, value) in sysctls {
        proc.write(&format!("sys/{}", key.replace('.', "/")), value)
            .map_err(fail(key))?;
    }
    Ok(())
}

/// Closes every descriptor the fork inherited but the child does not need.
/// Close-on-exec is not enough: the child lives until `start`, and an
/// inherited state-directory lock would block every later command.
fn close_inherited_fds(plan: &InitPlan, chan: &ChildEnd) -> Result<(), InitError> {
    let mut keep: Vec<i32> = plan.namespaces.fds().collect();
    keep.extend(plan.rootfs.fds());
    keep.push(plan.exec_fifo.as_raw_fd());
    keep.extend(plan.start_fifo.as_ref().map(|f| f.as_raw_fd()));
    close_fds_except(keep, &plan.process, chan)
}

/// Closes all but stdio, the preserved fds, the channel, the log file, the
/// console socket and `keep`.
pub(super) fn close_fds_except(
    mut keep: Vec<i32>,
    process: &ProcessPlan,
    chan: &ChildEnd,
) -> Result<(), InitError> {
    keep.push(chan.raw_fd());
    keep.extend(crate::logging::file_fd());
    keep.extend(process.console.as_ref().map(|c| c.fd()));
    keep.sort_unstable();
    let mut low = 3 + process.preserve_fds;
    for fd in keep.into_iter().map(|fd| fd as u32) {
        if fd > low {
            close_range(low, fd - 1, 0)?;
        }
        low = low.max(fd + 1);
    }
    close_range(low, u32::MAX, 0)
}

fn close_range(first: u32, last: u32, flags: u32) -> Result<(), InitError> {
    // SAFETY: close_range takes no pointers; the descriptors it closes are
    // owned by objects this process never drops (it execs or _exits).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(sys("close_range"))
}

/// Only stdio and the `--preserve-fds` descriptors reach the program: every
/// other descriptor is marked close-on-exec, so no fd of rt's leaks into
/// the container (CVE-2024-21626).
fn pass_preserved_fds(n: u32) -> Result<(), InitError> {
    for fd in 3..3 + n as i32 {
        // SAFETY: clearing FD_CLOEXEC on a descriptor checked open in the plan.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    // This runs under the seccomp filter when the process keeps its
    // privileges: a profile older than close_range (runtime-tools' default
    // one) denies it, and the descriptors are then marked one by one.
    close_range(3 + n, u32::MAX, libc::CLOSE_RANGE_CLOEXEC).or_else(|_| cloexec_each_from(3 + n))
}

/// Marks close-on-exec every open descriptor from `first` on, as listed in
/// /proc/self/fd, or by trying each number below RLIMIT_NOFILE without it.
fn cloexec_each_from(first: u32) -> Result<(), InitError> {
    let first = first as i32;
    let open: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= first)
            .collect(),
        Err(_) => {
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                    .map_err(sys("getrlimit RLIMIT_NOFILE"))?;
            (first..i32::try_from(soft).unwrap_or(i32::MAX)).collect()
        }
    };
    for fd in open {
        // SAFETY: sets a flag on a descriptor number; one that is not open
        // (the directory's own, closed by now, or a gap) gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// A created container's init is a PID namespace's init, which the kernel
/// shields from every signal it has no handler for. So that `kill` of a
/// created container ends it as it would end the program, catchable signals
/// whose default is to terminate exit the process. execve resets them.
fn exit_on_signals_while_waiting() {
    extern "C" fn exit_with(sig: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) }
    }
    let not_terminating = [
        libc::SIGCHLD,
        libc::SIGCONT,
        libc::SIGURG,
        libc::SIGWINCH,
        libc::SIGSTOP,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGKILL,
    ];
    for sig in 1..=libc::SIGRTMAX() {
        if not_terminating.contains(&sig) {
            continue;
        }
        // SAFETY: installing an async-signal-safe handler.
        unsafe { libc::signal(sig, exit_with as *const () as libc::sighandler_t) };
    }
}

/// Blocks until `start` writes a byte to the exec fifo.
fn wait_for_start(fifo: i32) {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a local buffer.
        let n = unsafe { libc::read(fifo, byte.as_mut_ptr().cast(), 1) };
        if n >= 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return;
        }
    }
}
