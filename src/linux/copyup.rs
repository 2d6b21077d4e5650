//! runc's `tmpcopyup` mount option (podman adds it to every tmpfs): the new
//! tmpfs starts with a copy of what the image had at its destination. The
//! copy reads the covered directory through a descriptor opened before the
//! mount, so it never leaves that tree and needs no temporary directory.

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat};
use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

/// Copies the contents of directory `from` into directory `to`: files,
/// directories, symlinks and special files, with modes and owners.
pub fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> nix::Result<()> {
    let mut dir = Dir::from_fd(from.try_clone().map_err(io_errno)?)?;
    let names: Vec<_> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        copy_entry(from, to, &name)?;
    }
    Ok(())
}

fn copy_entry(from: &OwnedFd, to: &OwnedFd, name: &CStr) -> nix::Result<()> {
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
            let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow;
            let src = openat(from, name, dir_flags, Mode::empty())?;
            let dst = openat(to, name, dir_flags, Mode::empty())?;
            copy_tree(&src, &dst)?;
        }
        SFlag::S_IFREG => {
            let src = openat(from, name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
            let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow;
            let dst = openat(to, name, create, Mode::from_bits_truncate(0o600))?;
            std::io::copy(&mut File::from(src), &mut File::from(dst)).map_err(io_errno)?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(from, name)?;
            nix::unistd::symlinkat(target.as_os_str(), to, name)?;
        }
        _ => mknodat(to, name, kind, mode, st.st_rdev)?,
    }
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    fchownat(
        to.as_fd(),
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // After the chown, which clears setuid and setgid bits.
        fchmodat(to, name, mode, FchmodatFlags::NoFollowSymlink)?;
    }
    Ok(())
}

fn io_errno(e: std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
