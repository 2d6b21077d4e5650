//! `rt delete`: remove a stopped container (runtime.md "delete"). Unlike
//! runc, a `created` container is refused without --force, as the spec says.

use super::{Error, Result};
use crate::cli::DeleteArgs;
use crate::linux::hooks::{self, Step};
use crate::linux::{cgroups, freezer};
use crate::state::{Pidfd, Record, StateDir, StateError, StateJson, Status};
use std::path::Path;

pub fn run(root: &Path, args: &DeleteArgs) -> Result<i32> {
    let dir = match StateDir::open(root, &args.id) {
        // As runc: forcing the removal of what is not there succeeds, so
        // callers cleaning up (containerd's shim) need not race a delete.
        Err(StateError::NotExist(_)) if args.force => return Ok(0),
        other => other?,
    };
    let record = match dir.load() {
        Ok(r) => r,
        // A container whose creation died half-way has no usable record.
        Err(StateError::Corrupt { .. } | StateError::Io { .. }) if args.force => {
            dir.destroy()?;
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let status = record.live_status();
    if status != Status::Stopped && !args.force {
        return Err(Error::Refused(format!(
            "cannot delete container {} that is not stopped: {status}",
            args.id
        )));
    }
    match teardown(&record) {
        // As runc and crun: with --force, a cgroup still busy after the kill
        // (a process the kill cannot finish yet, such as one frozen in another
        // freezer cgroup) is reported and the container removed all the same.
        Err(Error::Cgroup(e)) if args.force => crate::logging::warn(&e.to_string()),
        other => other?,
    }
    dir.destroy()?;
    run_poststop_hooks(&record);
    Ok(0)
}

/// runtime.md step 13: after the container is gone; a failing hook is only
/// a warning and the others still run.
pub fn run_poststop_hooks(record: &Record) {
    if Step::Poststop.of(record.hooks.as_ref()).is_empty() {
        return;
    }
    let state = StateJson::for_hook(record, Status::Stopped, 0);
    for e in hooks::run_each(Step::Poststop, record.hooks.as_ref(), &state) {
        crate::logging::warn(&e.to_string());
    }
}

/// SIGKILLs the container's init, if it is still the same process, and
/// waits (up to 5 s) until it is gone.
pub fn kill_init(record: &Record) {
    if let Some(init) = Pidfd::open(record.pid, record.pid_start) {
        let _ = init.signal(libc::SIGKILL);
        init.wait_exit(5000);
    }
}

/// Kills whatever of the container still runs and removes its cgroups.
pub fn teardown(record: &Record) -> Result<()> {
    // A paused container's processes must be thawed to die.
    if record.status == Status::Paused {
        freezer::thaw(&cgroups::dirs_of(&record.cgroup_dirs)?)?;
    }
    kill_init(record);
    // Without its own PID namespace the container's other processes do not
    // die with init: cgroup v2's cgroup.kill kills them all at once (also
    // those forking meanwhile); otherwise kill each one still in its cgroup.
    if !record.own_pid_ns && !cgroups::kill_all(&record.cgroup_dirs) {
        for pid in cgroups::procs(&record.cgroup_dirs) {
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let removed = cgroups::remove(&record.cgroup_dirs);
    crate::linux::intelrdt::remove(&record.rdt_dirs);
    Ok(removed?)
}
