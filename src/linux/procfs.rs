//! Writing the container's procfs files (sysctls) so that nothing in the
//! rootfs can redirect the write (CVE-2025-52881): a symlink, or a mount
//! over /proc/sys that a rootfs symlink steered a volume onto. The file is
//! resolved below the root of the container's procfs mount without
//! crossing a mount or following a symlink, and checked to be procfs's.

use super::safepath::{PathError, Root};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("/proc in the container is not the root of a procfs mount")]
    NotProc,
    #[error("open /proc/{0}: {1}")]
    Open(String, nix::Error),
    #[error("write /proc/{0}: {1}")]
    Write(String, std::io::Error),
}

/// The root of the container's /proc mount.
pub struct ProcRoot(OwnedFd);

/// procfs's root directory has this inode number (PROC_ROOT_INO).
const PROC_ROOT_INO: u64 = 1;

impl ProcRoot {
    /// Opens /proc inside `root` and checks it is procfs's own root.
    pub fn open(root: &Root) -> Result<ProcRoot, ProcError> {
        let fd = root.open_at(Path::new("/proc"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let is_proc = fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC);
        let is_root = nix::sys::stat::fstat(&fd).is_ok_and(|s| s.st_ino == PROC_ROOT_INO);
        if !is_proc || !is_root {
            return Err(ProcError::NotProc);
        }
        Ok(ProcRoot(fd))
    }

    /// Writes `value` to `rel` (e.g. "sys/kernel/domainname").
    pub fn write(&self, rel: &str, value: &str) -> Result<(), ProcError> {
        let how = OpenHow::new()
            .flags(OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_XDEV
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        let fd = openat2(&self.0, rel, how).map_err(|e| ProcError::Open(rel.into(), e))?;
        // Belt and braces: a file on anything but procfs gets no write.
        if !fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC) {
            return Err(ProcError::NotProc);
        }
        std::fs::File::from(fd)
            .write_all(value.as_bytes())
            .map_err(|e| ProcError::Write(rel.into(), e))
    }
}
