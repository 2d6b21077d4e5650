//! The parent side of container creation: fork the child, place it in its
//! cgroups, write its id maps, and wait until it reports `Ready`. On any
//! failure every process made is killed and reaped before returning.

use super::exec::{self, ExecPlan};
use super::init;
use super::plan::{InitPlan, ProcessPlan};
use super::protocol::{self, Message, ParentEnd, ProtocolError, ToChild, ToParent};
use crate::linux::cgroups::{self, CgroupError, NewCgroup};
use crate::linux::hooks::{self, HookError, Step};
use crate::linux::seccomp::SeccompError;
use crate::state::{StateJson, Status};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::os::fd::{AsFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("fork: {0}")]
    Fork(nix::Error),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("write {file} of pid {pid}: {source}")]
    IdMap {
        file: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    /// The child's own report of what failed.
    #[error("{0}")]
    Child(String),
    #[error("container init exited before it was ready ({0})")]
    ChildDied(String),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("container init sent {0} out of turn")]
    OutOfTurn(&'static str),
    #[error(transparent)]
    Sched(#[from] crate::linux::sched::SchedError),
    #[error(transparent)]
    Rdt(#[from] crate::linux::intelrdt::RdtError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
}

/// Forks the container's init and drives it to `Ready`; returns its host PID.
pub fn spawn(plan: &InitPlan, cgroup: &NewCgroup) -> Result<i32, SpawnError> {
    let (parent_end, child_end) = protocol::channel()?;
    let parent_pid = nix::unistd::getpid();
    // SAFETY: rt is single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            drop(parent_end);
            init::run(plan, child_end, parent_pid)
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            let mut guard = Children(vec![child]);
            let init = drive(plan, cgroup, &parent_end, child, &mut guard)?;
            guard.0.clear();
            Ok(init)
        }
    }
}

fn drive(
    plan: &InitPlan,
    cgroup: &NewCgroup,
    chan: &ParentEnd,
    child: Pid,
    guard: &mut Children,
) -> Result<i32, SpawnError> {
    cgroup.add_process(child.as_raw())?;
    chan.send(&ToChild::Proceed)?;
    let mut init = None;
    let mut ready = false;
    let mut hooks_asked = false;
    let mut seccomp_fd = None;
    // With an intermediate process, its InitPid and init's RunHooks or Ready
    // come from two processes and may arrive in either order.
    loop {
        let (msg, fd) = chan.recv_with_fd()?.unzip();
        match msg {
            Some(ToParent::SeccompFd) => {
                seccomp_fd = Some(
                    fd.flatten()
                        .ok_or(SpawnError::OutOfTurn("SeccompFd without an fd"))?,
                );
            }
            Some(ToParent::NeedIdMaps) => {
                write_id_maps(child.as_raw(), plan.id_maps.as_ref())?;
                chan.send(&ToChild::IdMapsWritten)?;
            }
            Some(ToParent::InitPid { pid }) => init = Some(guard.adopt(child, pid)),
            Some(ToParent::RunHooks) => hooks_asked = true,
            Some(ToParent::Ready) => ready = true,
            Some(ToParent::Failed { error }) => return Err(SpawnError::Child(error)),
            None => return Err(SpawnError::ChildDied(guard.reap_status())),
        }
        if let Some(pid) = init {
            send_seccomp_fd(&plan.process, chan, &mut seccomp_fd, pid)?;
        }
        if let (Some(pid), true) = (init, hooks_asked) {
            run_runtime_hooks(plan, pid)?;
            chan.send(&ToChild::HooksDone)?;
            hooks_asked = false;
        }
        if let (Some(pid), true) = (init, ready) {
            return Ok(pid);
        }
    }
}

/// prestart then createRuntime, in the runtime namespace, with the PID as
/// the runtime sees it.
fn run_runtime_hooks(plan: &InitPlan, pid: i32) -> Result<(), SpawnError> {
    let Some(record) = &plan.hooks else {
        return Err(SpawnError::OutOfTurn("RunHooks"));
    };
    let state = StateJson::for_hook(record, Status::Creating, pid);
    for step in [Step::Prestart, Step::CreateRuntime] {
        hooks::run(step, record.hooks.as_ref(), &state)?;
    }
    Ok(())
}

/// Forks the child of `rt exec`, puts it in the container's cgroups and
/// waits until the program replaced it; returns the program's host PID.
pub fn spawn_exec(plan: &ExecPlan) -> Result<i32, SpawnError> {
    let (parent_end, child_end) = protocol::channel()?;
    let parent_pid = nix::unistd::getpid();
    // SAFETY: rt is single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            drop(parent_end);
            exec::run(plan, child_end, parent_pid)
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            let mut guard = Children(vec![child]);
            // execCPUAffinity.initial: while the child joins the cgroups.
            plan.process.affinity.apply_initial(child.as_raw())?;
            for dir in &plan.cgroup_dirs {
                cgroups::join(dir, child.as_raw())?;
            }
            crate::linux::intelrdt::join(&plan.rdt_groups, child.as_raw())?;
            parent_end.send(&ToChild::Proceed)?;
            let pid = drive_exec(plan, &parent_end, child, &mut guard)?;
            guard.0.clear();
            Ok(pid)
        }
    }
}

fn drive_exec(
    plan: &ExecPlan,
    chan: &ParentEnd,
    child: Pid,
    guard: &mut Children,
) -> Result<i32, SpawnError> {
    let mut init = None;
    let mut ready = false;
    let mut seccomp_fd = None;
    // InitPid (from an intermediate process) and Ready may come in either
    // order. The channel is close-on-exec, so end-of-file after Ready means
    // the program replaced the child.
    loop {
        let (msg, fd) = chan.recv_with_fd()?.unzip();
        match msg {
            Some(ToParent::SeccompFd) => {
                seccomp_fd = Some(
                    fd.flatten()
                        .ok_or(SpawnError::OutOfTurn("SeccompFd without an fd"))?,
                );
            }
            Some(ToParent::InitPid { pid }) => init = Some(guard.adopt(child, pid)),
            Some(ToParent::Ready) => ready = true,
            Some(ToParent::Failed { error }) => return Err(SpawnError::Child(error)),
            Some(other) => return Err(SpawnError::OutOfTurn(other.name())),
            None if ready => return init.ok_or(SpawnError::OutOfTurn("Ready")),
            None => return Err(SpawnError::ChildDied(guard.reap_status())),
        }
        if let Some(pid) = init {
            send_seccomp_fd(&plan.process, chan, &mut seccomp_fd, pid)?;
        }
    }
}

/// Passes the seccomp listener fd the child sent, if any, to the profile's
/// listener, with the PID of the process that runs on (an intermediate
/// process's InitPid and init's SeccompFd may come in either order).
fn send_seccomp_fd(
    process: &ProcessPlan,
    chan: &ParentEnd,
    fd: &mut Option<OwnedFd>,
    pid: i32,
) -> Result<(), SpawnError> {
    let Some(fd) = fd.take() else {
        return Ok(());
    };
    let Some(listener) = process.seccomp.as_ref().and_then(|s| s.listener()) else {
        return Err(SpawnError::OutOfTurn("SeccompFd"));
    };
    listener.send(fd.as_fd(), pid)?;
    chan.send(&ToChild::SeccompFdSent)?;
    Ok(())
}

fn write_id_maps(pid: i32, maps: Option<&(String, String)>) -> Result<(), SpawnError> {
    let Some((uid_map, gid_map)) = maps else {
        return Err(SpawnError::OutOfTurn("NeedIdMaps"));
    };
    for (file, data) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        std::fs::write(format!("/proc/{pid}/{file}"), data)
            .map_err(|source| SpawnError::IdMap { file, pid, source })?;
    }
    Ok(())
}

/// Processes of a creation in progress: killed and reaped unless creation
/// succeeds, so a failure leaves no process behind.
struct Children(Vec<Pid>);

impl Children {
    /// Records the PID of the process that runs on. When the child forked
    /// it and exits, that process is our child too (CLONE_PARENT): the
    /// child is reaped here and the new one guarded in its place.
    fn adopt(&mut self, child: Pid, pid: i32) -> i32 {
        if pid != child.as_raw() {
            self.0.push(Pid::from_raw(pid));
            let _ = waitpid(child, None);
            self.0.retain(|p| *p != child);
        }
        pid
    }

    /// How the processes ended, for the error message.
    fn reap_status(&mut self) -> String {
        let mut out = Vec::new();
        for pid in self.0.drain(..) {
            let _ = kill(pid, Signal::SIGKILL);
            match waitpid(pid, None) {
                Ok(WaitStatus::Exited(_, code)) => out.push(format!("exit status {code}")),
                Ok(WaitStatus::Signaled(_, sig, _)) => out.push(format!("killed by {sig}")),
                _ => {}
            }
        }
        if out.is_empty() {
            "no status".into()
        } else {
            out.join(", ")
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.reap_status();
    }
}
