//! OOM notifications of a container's memory cgroup, for `rt events`:
//! cgroup v1's eventfd on memory.oom_control (registered through
//! cgroup.event_control), or an inotify watch on cgroup v2's memory.events,
//! whose oom_kill count grows with each kill.

use super::{Result, StatsError, read_keyed};
use crate::linux::cgroups::CgroupDir;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct OomWatch {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    /// The eventfd, and memory.oom_control kept open while registered.
    V1 { dir: PathBuf, _control: OwnedFd },
    /// The v2 directory and the last oom_kill count seen.
    V2 { dir: PathBuf, kills: u64 },
}

fn io_err(op: &'static str, path: &Path) -> StatsError {
    StatsError::Io {
        op,
        path: path.to_path_buf(),
        source: std::io::Error::last_os_error(),
    }
}

/// A descriptor a syscall just returned, or the error it set.
fn owned(fd: i32, op: &'static str, path: &Path) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(io_err(op, path));
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl OomWatch {
    /// Watches the container's memory cgroup; None when it has none.
    pub fn new(dirs: &[CgroupDir]) -> Result<Option<OomWatch>> {
        if let Some(d) = dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == "memory"))
        {
            return Self::v1(&d.path).map(Some);
        }
        match dirs.iter().find(|d| d.controllers.is_empty()) {
            Some(d) if d.path.join("memory.events").exists() => Self::v2(&d.path).map(Some),
            _ => Ok(None),
        }
    }

    fn v1(dir: &Path) -> Result<OomWatch> {
        let control_path = dir.join("memory.oom_control");
        let control = std::fs::File::open(&control_path).map_err(|source| StatsError::Io {
            op: "open",
            path: control_path.clone(),
            source,
        })?;
        // SAFETY: eventfd takes no pointers.
        let efd = owned(
            unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) },
            "eventfd for",
            &control_path,
        )?;
        let register = dir.join("cgroup.event_control");
        let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        std::fs::write(&register, line).map_err(|source| StatsError::Io {
            op: "write",
            path: register,
            source,
        })?;
        Ok(OomWatch {
            fd: efd,
            kind: Kind::V1 {
                dir: dir.to_path_buf(),
                _control: control.into(),
            },
        })
    }

    fn v2(dir: &Path) -> Result<OomWatch> {
        let events = dir.join("memory.events");
        // SAFETY: inotify_init1 takes no pointers.
        let fd = owned(
            unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) },
            "inotify for",
            &events,
        )?;
        let path = CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| io_err("watch", &events))?;
        // SAFETY: a valid C string; the descriptor is ours.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) } < 0 {
            return Err(io_err("watch", &events));
        }
        let kills = oom_kills(dir)?;
        Ok(OomWatch {
            fd,
            kind: Kind::V2 {
                dir: dir.to_path_buf(),
                kills,
            },
        })
    }

    /// Readable when something happened: call `take` then.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The number of OOM events since the last call (0 for a wake-up that
    /// was none, such as v1's notice that the cgroup was removed).
    pub fn take(&mut self) -> Result<u64> {
        let mut buf = [0u8; 4096];
        // SAFETY: reads into our own buffer. The v1 eventfd gives its 8-byte
        // counter; inotify's events are only drained (the count is re-read).
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match &mut self.kind {
            Kind::V1 { dir, .. } => {
                // The kernel also signals the eventfd when the cgroup goes.
                if n != 8 || !dir.exists() {
                    return Ok(0);
                }
                Ok(u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes")))
            }
            Kind::V2 { dir, kills } => {
                let now = match oom_kills(dir) {
                    Ok(now) => now,
                    Err(_) if !dir.exists() => return Ok(0),
                    Err(e) => return Err(e),
                };
                let new = now.saturating_sub(*kills);
                *kills = now;
                Ok(new)
            }
        }
    }
}

fn oom_kills(dir: &Path) -> Result<u64> {
    Ok(read_keyed(dir, "memory.events")?
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}
