//! Device nodes in the container's /dev: the defaults every container gets
//! (runtime-linux.md "Default Devices"), `linux.devices`, and the standard
//! symlinks. Inside a user namespace mknod is not allowed, so nodes are bind
//! mounts of the host's.

use super::safepath::{Kind, PathError, Root, fd_path};
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use nix::unistd::{Gid, Uid};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{op} {path}: {source}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("linux.devices: {0}: a different file already exists there")]
    Conflict(PathBuf),
    #[error(
        "linux.devices: {0}: in a user namespace devices are bind mounts of the host's, and the host's node there is not this device"
    )]
    HostMismatch(PathBuf),
    #[error("linux.devices: {0}: type {1:?} is not one of c, b, u, p")]
    BadType(PathBuf, String),
}

#[derive(Clone, Debug)]
pub struct Device {
    pub path: PathBuf,
    /// 'c' (or 'u'), 'b' or 'p'.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// From `linux.devices`, where a conflicting file is an error.
    pub configured: bool,
}

impl Device {
    fn new(path: &str, kind: char, major: i64, minor: i64) -> Device {
        Device {
            path: PathBuf::from(path),
            kind,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
            configured: false,
        }
    }

    /// The entries of `linux.devices`.
    pub fn from_spec(d: &oci_spec::runtime::LinuxDevice) -> Result<Device, DeviceError> {
        let kind = d.typ().as_str().chars().next().unwrap_or('?');
        if !matches!(kind, 'c' | 'u' | 'b' | 'p') {
            return Err(DeviceError::BadType(
                d.path().clone(),
                d.typ().as_str().to_string(),
            ));
        }
        Ok(Device {
            path: d.path().clone(),
            kind,
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
            configured: true,
        })
    }
}

/// runtime-linux.md's default devices.
pub fn defaults() -> Vec<Device> {
    vec![
        Device::new("/dev/null", 'c', 1, 3),
        Device::new("/dev/zero", 'c', 1, 5),
        Device::new("/dev/full", 'c', 1, 7),
        Device::new("/dev/random", 'c', 1, 8),
        Device::new("/dev/urandom", 'c', 1, 9),
        Device::new("/dev/tty", 'c', 5, 0),
    ]
}

/// Creates each device node inside the root.
pub fn create(root: &Root, devices: &[Device], in_userns: bool) -> Result<(), DeviceError> {
    for dev in devices {
        // A fifo needs no privilege; device nodes do.
        if in_userns && dev.kind != 'p' {
            bind_host_device(root, dev)?;
        } else {
            make_node(root, dev)?;
        }
    }
    Ok(())
}

fn make_node(root: &Root, dev: &Device) -> Result<(), DeviceError> {
    let parent = root.mkdir_all(dev.path.parent().unwrap_or(Path::new("/dev")))?;
    let name = dev.path.file_name().unwrap_or_default();
    let kind = match dev.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let sys = |op| {
        let path = dev.path.clone();
        move |source| DeviceError::Sys { op, path, source }
    };
    let rdev = makedev(dev.major as u64, dev.minor as u64);
    let mode = Mode::from_bits_truncate(dev.mode);
    let existing = nix::sys::stat::fstatat(&parent, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
    match existing {
        Ok(st) if st.st_mode & libc::S_IFMT == kind.bits() && st.st_rdev == rdev => {}
        // config-linux.md: a file at path that does not match the device
        // is an error.
        Ok(_) if dev.configured => return Err(DeviceError::Conflict(dev.path.clone())),
        // An image's placeholder for a default device is replaced.
        Ok(_) => {
            nix::unistd::unlinkat(&parent, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
                .map_err(sys("unlink"))?;
            mknodat(&parent, name, kind, mode, rdev).map_err(sys("mknod"))?;
        }
        Err(_) => mknodat(&parent, name, kind, mode, rdev).map_err(sys("mknod"))?,
    }
    // mknod applied the umask; the spec's fileMode is exact.
    nix::sys::stat::fchmodat(
        &parent,
        name,
        mode,
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .map_err(sys("chmod"))?;
    nix::unistd::fchownat(
        &parent,
        name,
        Some(Uid::from_raw(dev.uid)),
        Some(Gid::from_raw(dev.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("chown"))
}

fn bind_host_device(root: &Root, dev: &Device) -> Result<(), DeviceError> {
    let sys = |op| {
        let path = dev.path.clone();
        move |source| DeviceError::Sys { op, path, source }
    };
    // The host's node at the same path, checked to be the device asked for.
    let host = nix::fcntl::open(&dev.path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(sys("open host device"))?;
    let st = nix::sys::stat::fstat(&host).map_err(sys("stat host device"))?;
    let kind = if dev.kind == 'b' {
        libc::S_IFBLK
    } else {
        libc::S_IFCHR
    };
    if st.st_mode & libc::S_IFMT != kind
        || st.st_rdev != makedev(dev.major as u64, dev.minor as u64)
    {
        return Err(DeviceError::HostMismatch(dev.path.clone()));
    }
    let target = root.ensure(&dev.path, Kind::File)?;
    mount(
        Some(&fd_path(&host)),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind mount host device"))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx, as runc makes them.
pub fn create_links(root: &Root) -> Result<(), DeviceError> {
    let dev = root.mkdir_all(Path::new("/dev"))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    // /dev/ptmx must lead to the container's own devpts instance.
    let _ = nix::unistd::unlinkat(&dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
    links.push(("pts/ptmx", "ptmx"));
    for (target, name) in links {
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(source) => {
                return Err(DeviceError::Sys {
                    op: "symlink",
                    path: Path::new("/dev").join(name),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Opens the container's /dev/null, refusing anything that is not the real
/// 1:3 character device: masking a path with an attacker's file would leave
/// it writable (CVE-2025-31133).
pub fn open_dev_null(root: &Root) -> Result<std::os::fd::OwnedFd, DeviceError> {
    let fd = root.open_at(Path::new("/dev/null"), OFlag::O_PATH | OFlag::O_NOFOLLOW)?;
    let st = nix::sys::stat::fstat(&fd).map_err(|source| DeviceError::Sys {
        op: "stat",
        path: PathBuf::from("/dev/null"),
        source,
    })?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || st.st_rdev != makedev(1, 3) {
        return Err(DeviceError::Sys {
            op: "check",
            path: PathBuf::from("/dev/null"),
            source: nix::Error::ENODEV,
        });
    }
    Ok(fd)
}
