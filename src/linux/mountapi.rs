//! The new mount API (open_tree, mount_setattr, move_mount) for what
//! mount(2) cannot do: recursive mount attributes (config.md's `r*`
//! options) and id-mapped mounts. Only mounts that ask for these pay the
//! extra syscalls.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Attribute changes for mount_setattr(2): bits to set and to clear, and
/// the access-time mode (an enum in the kernel, not a bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    pub set: u64,
    pub clear: u64,
    /// MOUNT_ATTR_RELATIME, _NOATIME or _STRICTATIME.
    pub atime: Option<u64>,
}

impl Attrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0 && self.atime.is_none()
    }

    /// Later options win over earlier ones, as for mount(2) flags.
    pub fn apply(&mut self, on: bool, bit: u64) {
        if on {
            self.set |= bit;
            self.clear &= !bit;
        } else {
            self.clear |= bit;
            self.set &= !bit;
        }
    }

    fn raw(&self, userns: Option<&OwnedFd>) -> libc::mount_attr {
        let (mut set, mut clear) = (self.set, self.clear);
        if let Some(a) = self.atime {
            // mount_setattr(2): a new atime mode needs the whole field cleared.
            set |= a;
            clear |= libc::MOUNT_ATTR__ATIME;
        }
        if userns.is_some() {
            set |= libc::MOUNT_ATTR_IDMAP;
        }
        libc::mount_attr {
            attr_set: set,
            attr_clr: clear,
            propagation: 0,
            userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
        }
    }
}

fn cpath(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)
}

/// A detached copy of the mount at `source` (with its submounts when
/// `recursive`), not yet attached anywhere.
pub fn clone_tree(source: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let path = cpath(source)?;
    // SAFETY: open_tree with a NUL-terminated path; returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = nix::errno::Errno::result(fd)?;
    // SAFETY: a new descriptor owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// mount_setattr on the mount `fd` refers to (and its submounts when
/// `recursive`); with `userns`, also id-maps it through that namespace.
pub fn set_attrs(
    fd: &impl AsRawFd,
    attrs: &Attrs,
    userns: Option<&OwnedFd>,
    recursive: bool,
) -> nix::Result<()> {
    let attr = attrs.raw(userns);
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: mount_setattr reads `attr`, which lives for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// Attaches the detached mount `tree` onto the file `target` refers to.
pub fn attach(tree: &OwnedFd, target: &impl AsRawFd) -> nix::Result<()> {
    // SAFETY: move_mount with two descriptors and empty paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atime_mode_clears_the_whole_field() {
        let mut a = Attrs::default();
        a.apply(true, libc::MOUNT_ATTR_RDONLY);
        a.atime = Some(libc::MOUNT_ATTR_STRICTATIME);
        let raw = a.raw(None);
        assert_eq!(
            raw.attr_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_STRICTATIME
        );
        assert_eq!(raw.attr_clr, libc::MOUNT_ATTR__ATIME);
        assert_eq!(raw.userns_fd, 0);
    }

    #[test]
    fn later_settings_of_a_bit_win() {
        let mut a = Attrs::default();
        a.apply(true, libc::MOUNT_ATTR_NOEXEC);
        a.apply(false, libc::MOUNT_ATTR_NOEXEC);
        assert_eq!((a.set, a.clear), (0, libc::MOUNT_ATTR_NOEXEC));
    }
}
