//! CVE-2019-5736: a container must not be able to overwrite rt's binary.
//! rt forks rather than re-executing itself, so a process that joins a
//! container (init before its execve, an `exec` child, or a program run as
//! `#!/proc/self/exe`) has rt's binary as /proc/PID/exe, which a process in
//! the container could open and, once rt exits, write.
//!
//! Instead of runc 1.1's memfd copy per call, `create`, `run` and `exec`
//! re-execute rt once from a detached, read-only bind mount of its own
//! binary (open_tree + mount_setattr, as runc 1.2): /proc/PID/exe then lives
//! on a read-only mount, and a write through it fails with EROFS.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, thiserror::Error)]
#[error("protecting rt's binary (CVE-2019-5736): {op}: {source}")]
pub struct SealError {
    op: &'static str,
    source: nix::Error,
}

fn fail(op: &'static str) -> impl FnOnce(nix::Error) -> SealError {
    move |source| SealError { op, source }
}

/// Returns when rt already runs from a read-only mount; otherwise
/// re-executes it from one and does not return. Where the kernel or the
/// caller's privileges do not allow the mount, rt goes on unprotected and
/// says so in the debug log.
pub fn run_from_readonly_binary() -> Result<(), SealError> {
    if is_readonly_binary()? {
        return Ok(());
    }
    match readonly_binary() {
        Ok(fd) => reexec(&fd),
        Err(e) if matches!(e.source, nix::Error::EPERM | nix::Error::ENOSYS) => {
            crate::logging::debug(&format!("{e}; running unprotected"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn is_readonly_binary() -> Result<bool, SealError> {
    let st =
        nix::sys::statvfs::statvfs("/proc/self/exe").map_err(fail("statvfs /proc/self/exe"))?;
    Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// A detached bind mount of the running binary, made read-only.
fn readonly_binary() -> Result<OwnedFd, SealError> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: open_tree with a NUL-terminated path; returns a new fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            flags,
        )
    };
    let fd = nix::errno::Errno::result(fd).map_err(fail("open_tree /proc/self/exe"))?;
    // SAFETY: a new descriptor owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `attr`, which lives for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    nix::errno::Errno::result(r).map_err(fail("mount_setattr read-only"))?;
    Ok(fd)
}

/// execveat of the read-only binary with rt's own arguments and environment.
fn reexec(binary: &OwnedFd) -> Result<(), SealError> {
    let cstrings = |items: Vec<OsString>| -> Vec<CString> {
        items
            .into_iter()
            .filter_map(|s| CString::new(s.as_bytes()).ok())
            .collect()
    };
    let args = cstrings(std::env::args_os().collect());
    let env = cstrings(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    );
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|e| e.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: NULL-terminated arrays of pointers into CStrings that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_execveat,
            binary.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(fail("execveat")(
        nix::errno::Errno::result(r)
            .err()
            .unwrap_or(nix::Error::EINVAL),
    ))
}
