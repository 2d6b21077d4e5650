//! The child side of `rt exec`: join the container's namespaces (its cgroups
//! were joined by the parent), take on the process's identity and exec.
//! The same steps as a container's init, minus everything that builds the
//! container.

use super::init::{
    InitError, Never, clone_parent, close_fds_except, die_with, expect, fail, join_keyring,
    load_seccomp, new_session, prepare_program, reset_signal_mask,
};
use super::plan::ProcessPlan;
use super::protocol::{ChildEnd, ToChild, ToParent};
use crate::linux::namespaces::NamespacePlan;
use crate::linux::user;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::path::PathBuf;

pub struct ExecPlan {
    pub namespaces: NamespacePlan,
    pub process: ProcessPlan,
    /// The container's cgroups, which the parent puts the child in.
    pub cgroup_dirs: Vec<PathBuf>,
    /// The container's resctrl groups (linux.intelRdt), joined likewise.
    pub rdt_groups: Vec<PathBuf>,
}

/// Runs the child to the exec of the program; never returns.
pub fn run(plan: &ExecPlan, chan: ChildEnd, parent: Pid) -> ! {
    match enter_and_exec(plan, &chan, parent) {
        Ok(never) => match never {},
        Err(e) => fail(&chan, &e),
    }
}

fn enter_and_exec(plan: &ExecPlan, chan: &ChildEnd, parent: Pid) -> Result<Never, InitError> {
    close_fds_except(plan.namespaces.fds().collect(), &plan.process, chan)?;
    reset_signal_mask()?;
    die_with(Some(parent))?;
    expect(chan, |m| matches!(m, ToChild::Proceed))?;
    if let Some(score) = plan.process.oom_score_adj {
        user::set_oom_score_adj(score)?;
    }
    user::set_rlimits(&plan.process.rlimits)?;
    plan.namespaces.enter()?;
    if plan.namespaces.needs_fork() {
        match clone_parent().map_err(|source| InitError::Sys {
            op: "clone".into(),
            source,
        })? {
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
    new_session()?;
    if let Some(console) = &plan.process.console {
        console.setup(false)?;
    }
    let in_userns = plan.namespaces.joins(LinuxNamespaceType::User);
    join_keyring(&plan.process, in_userns)?;
    let program = prepare_program(&plan.process, chan, in_userns)?;
    // A detached process outlives this rt.
    nix::sys::prctl::set_pdeathsig(None).map_err(|source| InitError::Sys {
        op: "prctl PR_SET_PDEATHSIG".into(),
        source,
    })?;
    if plan.process.no_new_privs {
        load_seccomp(&plan.process, chan)?;
    }
    chan.send(&ToParent::Ready)?;
    program.exec()
}
