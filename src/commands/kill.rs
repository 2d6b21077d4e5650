//! `rt kill`: signal the container's init, or with --all every process in
//! its cgroup (runtime.md "kill": only created or running containers).
//! `--all` also works on a stopped container, as with runc: without its own
//! PID namespace a container's other processes outlive its init, and
//! containerd's shim kills them with `kill --all` once the init has exited.

use super::{Error, Result};
use crate::cli::KillArgs;
use crate::linux::{cgroups, freezer, signals};
use crate::state::{self, Pidfd, Status};
use std::path::Path;

pub fn run(root: &Path, args: &KillArgs) -> Result<i32> {
    let not_running = || Error::Refused("container not running".into());
    // runc looks the container up first: an unknown container is reported
    // as such whatever the signal.
    let record = state::read_record(root, &args.id)?.ok_or_else(not_running)?;
    let sig = signals::parse(&args.signal)?;
    let status = record.live_status();
    let signalable = match status {
        Status::Created | Status::Running | Status::Paused => true,
        Status::Stopped => args.all,
        Status::Creating => false,
    };
    if !signalable {
        return Err(not_running());
    }
    // A frozen process dies only once thawed (cgroup v1): as runc, SIGKILL
    // to a paused container thaws it; other signals wait for `resume`.
    let thaw_after = || match status == Status::Paused && sig == libc::SIGKILL {
        true => freezer::thaw(&cgroups::dirs_of(&record.cgroup_dirs)?).map_err(Error::from),
        false => Ok(()),
    };
    if args.all {
        for pid in cgroups::procs(&record.cgroup_dirs) {
            // SAFETY: kill takes no pointers; a process that exited meanwhile
            // needs no signal, so the result does not matter.
            unsafe { libc::kill(pid, sig) };
        }
        thaw_after()?;
        return Ok(0);
    }
    let pidfd = Pidfd::open(record.pid, record.pid_start).ok_or_else(not_running)?;
    pidfd.signal(sig).map_err(|e| match e {
        nix::Error::ESRCH => not_running(),
        source => Error::Sys {
            op: format!("signal {} to pid {}", args.signal, record.pid),
            source,
        },
    })?;
    thaw_after()?;
    Ok(0)
}
