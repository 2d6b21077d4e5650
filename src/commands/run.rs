//! `rt run`: create and start in one go, then (unless --detach) wait for the
//! program, forwarding signals to it, and exit with its status. With a
//! terminal and no --console-socket, the caller's stdio is attached to the
//! container's pty (`foreground`).

use super::create::Created;
use super::delete::{kill_init, run_poststop_hooks, teardown};
use super::foreground::Attached;
use super::{Error, Result, create, start};
use crate::cli::RunArgs;
use crate::state::{Record, StateDir};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::path::Path;

pub fn run(root: &Path, args: &RunArgs) -> Result<i32> {
    // Blocked before the fork so no signal meant for the program is lost;
    // the child restores its own mask.
    if !args.detach {
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None).map_err(|source| {
            Error::Sys {
                op: "sigprocmask".into(),
                source,
            }
        })?;
    }
    let Created {
        dir,
        mut record,
        master,
    } = create::create_container(root, &args.id, &args.opts, !args.detach)?;
    // Attached before start: the program finds the pty sized like the
    // caller's terminal from its first instruction.
    let started = master
        .map(Attached::new)
        .transpose()
        .and_then(|attached| start::start_container(&dir, &mut record).map(|()| attached));
    let mut attached = match started {
        Ok(attached) => attached,
        Err(e) => {
            let _ = teardown(&record);
            let _ = dir.destroy();
            run_poststop_hooks(&record);
            return Err(e);
        }
    };
    if args.detach {
        return Ok(0);
    }
    // Unlocked while the program runs, so kill, state and delete work on it.
    drop(dir);
    let init = Pid::from_raw(record.pid);
    let waited = match &mut attached {
        Some(a) => a.run_until_exit(init),
        None => forward_signals_until_exit(init),
    };
    let code = match waited {
        Ok(code) => code,
        Err(e) => return abandon(root, args, &record, e),
    };
    finish(root, args, &record)?;
    if let Some(a) = &mut attached {
        a.drain();
    }
    Ok(code)
}

/// As runc: the program does not outlive a failed `run`.
fn abandon(root: &Path, args: &RunArgs, record: &Record, e: Error) -> Result<i32> {
    kill_init(record);
    let _ = finish(root, args, record);
    Err(e)
}

/// runc's `run` deletes the container once its program exited, unless
/// --keep. Someone may have deleted it already; then there is nothing to do.
fn finish(root: &Path, args: &RunArgs, record: &Record) -> Result<()> {
    if args.keep {
        return Ok(());
    }
    if let Ok(dir) = StateDir::open(root, &args.id) {
        teardown(record)?;
        dir.destroy()?;
        run_poststop_hooks(record);
    }
    Ok(())
}

/// The container's init is rt's child: wait for it, passing every other
/// signal on. The exit code is the program's, or 128 + the signal that killed it.
pub(super) fn forward_signals_until_exit(init: Pid) -> Result<i32> {
    let all = SigSet::all();
    loop {
        let sig = next_signal(&all)?;
        if sig != libc::SIGCHLD {
            // SAFETY: kill takes no pointers; init is our unreaped child.
            unsafe { libc::kill(init.as_raw(), sig) };
            continue;
        }
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(source) => {
                return Err(Error::Sys {
                    op: format!("wait for pid {init}"),
                    source,
                });
            }
        }
    }
}

/// sigwaitinfo as a number: nix's `Signal` cannot hold real-time signals.
fn next_signal(set: &SigSet) -> Result<i32> {
    loop {
        // SAFETY: a valid signal set; the siginfo pointer may be null.
        let r = unsafe { libc::sigwaitinfo(set.as_ref(), std::ptr::null_mut()) };
        match nix::errno::Errno::result(r) {
            Ok(sig) => return Ok(sig),
            Err(nix::Error::EINTR) => continue,
            Err(source) => {
                return Err(Error::Sys {
                    op: "sigwaitinfo".into(),
                    source,
                });
            }
        }
    }
}
