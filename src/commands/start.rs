//! `rt start`: release a created container's program (runtime.md "start").

use super::{Error, Result};
use crate::linux::hooks::{self, Step};
use crate::state::{Record, StateDir, StateJson, Status};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<i32> {
    let dir = StateDir::open(root, id)?;
    let mut record = dir.load()?;
    start_container(&dir, &mut record)?;
    Ok(0)
}

/// Writes the byte the waiting init reads, then records `running`. Fails and
/// changes nothing unless the container is `created`.
pub fn start_container(dir: &StateDir, record: &mut Record) -> Result<()> {
    match record.live_status() {
        Status::Created => {}
        Status::Running => return refused("cannot start an already running container"),
        Status::Stopped => return refused("cannot start a container that has stopped"),
        Status::Paused => return refused("cannot start a paused container"),
        Status::Creating => return refused("cannot start a container that is still being created"),
    }
    let start_report = match record.start_waits_for_program() {
        true => Some(open_start_fifo(dir)?),
        false => None,
    };
    let fifo = dir.exec_fifo();
    // Non-blocking: with no reader (init died) this fails instead of hanging.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ENXIO) => Error::Refused("container not running".into()),
            _ => Error::Io {
                op: "open",
                path: fifo.clone(),
                source,
            },
        })?;
    f.write_all(&[0]).map_err(|source| Error::Io {
        op: "write",
        path: fifo.clone(),
        source,
    })?;
    let _ = std::fs::remove_file(&fifo);
    if let Some(report) = start_report {
        wait_for_program(report)?;
        let _ = std::fs::remove_file(dir.start_fifo());
    }
    record.status = Status::Running;
    dir.save(record)?;
    run_poststart_hooks(record)
}

/// The fifo init reports on; opened before the start byte so no report is
/// missed. Init holds it open for writing, so a non-blocking open succeeds.
fn open_start_fifo(dir: &StateDir) -> Result<std::fs::File> {
    let path = dir.start_fifo();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|source| Error::Io {
            op: "open",
            path,
            source,
        })
}

/// runtime.md steps 7-9: the startContainer hooks ran and the program
/// started (init's end closed by its execve) before poststart, or a hook
/// failed and `start` fails with its reason.
fn wait_for_program(report: std::fs::File) -> Result<()> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETFL on a descriptor we own: back to blocking reads.
    unsafe { libc::fcntl(report.as_raw_fd(), libc::F_SETFL, 0) };
    let mut msg = String::new();
    let _ = (&report).read_to_string(&mut msg);
    if msg.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(msg))
    }
}

/// runtime.md step 9: a failing poststart hook stops the container (as runc
/// does); `delete` then destroys it.
fn run_poststart_hooks(record: &Record) -> Result<()> {
    if Step::Poststart.of(record.hooks.as_ref()).is_empty() {
        return Ok(());
    }
    let state = StateJson::for_hook(record, Status::Running, record.pid);
    if let Err(e) = hooks::run(Step::Poststart, record.hooks.as_ref(), &state) {
        super::delete::kill_init(record);
        return Err(e.into());
    }
    Ok(())
}

fn refused(msg: &str) -> Result<()> {
    Err(Error::Refused(msg.to_string()))
}
