//! CVE-2019-5736: a container must not be able to overwrite rt's binary.
//! rt forks rather than re-executing itself, so a process that joins a
//! container (init before its execve, an `exec` child, or a program run as
//! `#!/proc/self/exe`) has rt's binary as /proc/PID/exe, which a process in
//! the container could open and, once rt exits, write.
//!
//! Instead of runc 1.1's memfd copy per call, `create`, `run` and `exec`
//! re-execute rt once from a detached, read-only bind mount of its own
//! binary (open_tree + mount_setattr, as runc 1.2): /proc/PID/exe then lives
//! on a read-only mount, and a write through it fails with EROFS. Only
//! where the kernel or the caller's privileges refuse that mount (open_tree
//! needs CAP_SYS_ADMIN over the mount namespace: a rootless rt) does rt
//! copy itself into a sealed memfd and re-execute from that: a copy per
//! call, but never an unprotected container process.

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

/// Returns when rt already runs from a protected binary; otherwise
/// re-executes it from one and does not return.
pub fn run_from_readonly_binary() -> Result<(), SealError> {
    if is_readonly_binary()? || is_sealed_binary() {
        return Ok(());
    }
    match readonly_binary() {
        Ok(fd) => reexec(&fd),
        Err(e) if matches!(e.source, nix::Error::EPERM | nix::Error::ENOSYS) => {
            crate::logging::debug(&format!("{e}; re-executing from a sealed copy instead"));
            reexec(&sealed_copy()?)
        }
        Err(e) => Err(e),
    }
}

fn is_readonly_binary() -> Result<bool, SealError> {
    let st =
        nix::sys::statvfs::statvfs("/proc/self/exe").map_err(fail("statvfs /proc/self/exe"))?;
    Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Whether rt runs from a memfd sealed against writes (the fallback).
fn is_sealed_binary() -> bool {
    std::fs::File::open("/proc/self/exe").is_ok_and(|f| {
        // SAFETY: F_GET_SEALS takes no pointer; it fails on anything but a memfd.
        let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
        seals >= 0 && seals & libc::F_SEAL_WRITE != 0
    })
}

/// A copy of the running binary in a memfd that can never be written again.
fn sealed_copy() -> Result<OwnedFd, SealError> {
    // SAFETY: memfd_create with a NUL-terminated name; returns a new fd.
    let fd =
        unsafe { libc::memfd_create(c"rt".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let fd = nix::errno::Errno::result(fd).map_err(fail("memfd_create"))?;
    // SAFETY: a new descriptor owned here.
    let mut copy = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let errno = |e: std::io::Error| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let mut exe =
        std::fs::File::open("/proc/self/exe").map_err(|e| fail("open /proc/self/exe")(errno(e)))?;
    std::io::copy(&mut exe, &mut copy).map_err(|e| fail("copy /proc/self/exe")(errno(e)))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an int.
    let r = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    nix::errno::Errno::result(r).map_err(fail("seal the memfd copy"))?;
    Ok(copy.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_copy_is_sealed_against_writes() {
        let copy = sealed_copy().unwrap();
        // SAFETY: F_GET_SEALS takes no pointer.
        let seals = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_GET_SEALS) };
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
        assert_ne!(seals & libc::F_SEAL_SEAL, 0);
        let path = format!("/proc/self/fd/{}", copy.as_raw_fd());
        let exe = std::fs::metadata("/proc/self/exe").unwrap().len();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), exe);
        // Through the /proc handle a container would use: no write, no truncation.
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(b"x")
            });
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EPERM));
        let err = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path);
        assert!(err.is_err());
    }
}
