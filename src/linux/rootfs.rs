//! The container's root filesystem: propagation, the config's mounts in
//! order, /dev, pivot_root, then the read-only root, masked and read-only
//! paths (config.md "Root", "Mounts"; config-linux.md).
//!
//! Everything that can be checked is checked in `RootfsPlan::new`, in the
//! parent, before any mount is made.

use super::cgroups::CgroupDir;
use super::copyup::copy_tree;
use super::devices::{self, Device, DeviceError};
use super::idmap::{IdmapError, Usernses};
use super::mountapi;
use super::mounts::{self, MountOptions, OptionError};
use super::procfs::{ProcError, ProcRoot};
use super::safepath::{Kind, PathError, Root, fd_path};
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mounts[{index}] ({dest}): {source}")]
    Option {
        index: usize,
        dest: PathBuf,
        source: OptionError,
    },
    #[error("mounts[{index}] ({dest}): {source}")]
    Idmap {
        index: usize,
        dest: PathBuf,
        source: IdmapError,
    },
    #[error("mount {fstype} on {dest} with data {data:?}: {source}")]
    Mount {
        fstype: String,
        dest: PathBuf,
        data: String,
        source: nix::Error,
    },
    #[error(
        "mount {fstype} on {dest}: filesystem {fstype:?} must be mounted on ordinary directory"
    )]
    NotDir { fstype: String, dest: PathBuf },
    #[error("linux.rootfsPropagation: {0:?} is not a propagation mode")]
    Propagation(String),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Proc(#[from] ProcError),
    #[error("{op} {path}: {source}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
}

fn sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> RootfsError + 'a {
    move |source| RootfsError::Sys {
        op,
        path: path.to_path_buf(),
        source,
    }
}

struct MountPlan {
    destination: PathBuf,
    source: Option<PathBuf>,
    fstype: Option<String>,
    opts: MountOptions,
    /// For an id-mapped bind mount: the detached tree to attach.
    idmapped: Option<OwnedFd>,
}

pub struct RootfsPlan {
    rootfs: PathBuf,
    mounts: Vec<MountPlan>,
    readonly: bool,
    propagation: Option<MsFlags>,
    masked: Vec<PathBuf>,
    readonly_paths: Vec<PathBuf>,
    /// Device nodes to create; empty when /dev comes from a bind mount.
    devices: Vec<Device>,
    no_pivot: bool,
    cgroup_dirs: Vec<CgroupDir>,
}

impl RootfsPlan {
    pub fn new(
        bundle: &Path,
        rootfs: &Path,
        spec: &Spec,
        no_pivot: bool,
    ) -> Result<RootfsPlan, RootfsError> {
        let linux = spec.linux().as_ref();
        let mut mounts = Vec::new();
        let mut usernses = Usernses::new(spec);
        let mount_label = linux.and_then(|l| l.mount_label().as_deref());
        for (index, m) in spec.mounts().iter().flatten().enumerate() {
            let mut opts =
                mounts::parse(m.options().as_deref().unwrap_or_default()).map_err(|source| {
                    RootfsError::Option {
                        index,
                        dest: m.destination().clone(),
                        source,
                    }
                })?;
            if let Some(context) = mount_label
                .and_then(|l| super::lsm::mount_context(l, m.typ().as_deref(), opts.bind))
            {
                opts.data.push(context);
            }
            // config.md: a relative bind source is relative to the bundle.
            let source = m.source().as_ref().map(|s| {
                if opts.bind && s.is_relative() {
                    bundle.join(s)
                } else {
                    s.clone()
                }
            });
            let idmapped = usernses
                .tree(
                    m,
                    source.as_deref().unwrap_or(Path::new("")),
                    opts.bind,
                    opts.flags.contains(MsFlags::MS_REC),
                    opts.idmap,
                )
                .map_err(|source| RootfsError::Idmap {
                    index,
                    dest: m.destination().clone(),
                    source,
                })?;
            mounts.push(MountPlan {
                // config.md: a relative destination is relative to "/".
                destination: Path::new("/").join(m.destination()),
                source,
                fstype: m.typ().clone(),
                opts,
                idmapped,
            });
        }
        let propagation = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .map(|p| mounts::propagation_flag(p).ok_or_else(|| RootfsError::Propagation(p.into())))
            .transpose()?;
        let dev_is_bound = mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev") && m.opts.bind);
        let mut devices = if dev_is_bound {
            Vec::new()
        } else {
            devices::defaults()
        };
        for d in linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
        {
            devices.push(Device::from_spec(d)?);
        }
        let paths = |v: Option<&Vec<String>>| -> Vec<PathBuf> {
            v.into_iter().flatten().map(PathBuf::from).collect()
        };
        Ok(RootfsPlan {
            rootfs: rootfs.to_path_buf(),
            mounts,
            readonly: spec
                .root()
                .as_ref()
                .is_some_and(|r| r.readonly() == Some(true)),
            propagation,
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            devices,
            no_pivot,
            cgroup_dirs: Vec::new(),
        })
    }

    /// Descriptors the child must keep: the id-mapped trees.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.mounts
            .iter()
            .filter_map(|m| m.idmapped.as_ref().map(|fd| fd.as_raw_fd()))
    }

    /// The container's cgroup directories, for `cgroup` mounts.
    pub fn set_cgroup_dirs(&mut self, dirs: Vec<CgroupDir>) {
        self.cgroup_dirs = dirs;
    }
}

/// Builds the root filesystem: every mount and device, but not yet `/`.
/// Runs in the container's mount namespace.
pub fn prepare(plan: &RootfsPlan, in_userns: bool) -> Result<(), RootfsError> {
    // Host mount events may reach the container but never the reverse; a
    // private rootfsPropagation cuts the host off entirely.
    let initial = match plan.propagation {
        Some(p) if p.contains(MsFlags::MS_PRIVATE) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, initial, None::<&str>)
        .map_err(sys("make / slave", Path::new("/")))?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount", &plan.rootfs))?;
    let root = Root::open(&plan.rootfs)?;
    for m in &plan.mounts {
        mount_entry(&root, m, &plan.cgroup_dirs)?;
    }
    if !plan.devices.is_empty() {
        devices::create(&root, &plan.devices, in_userns)?;
        devices::create_links(&root)?;
    }
    Ok(())
}

/// A read-only tmpfs at /dev is mounted writable first, as runc does, so
/// that the devices, their links and the console can be made in it; it
/// turns read-only in `finish`.
fn rw_until_filled(m: &MountPlan) -> bool {
    m.fstype.as_deref() == Some("tmpfs")
        && m.opts.flags.contains(MsFlags::MS_RDONLY)
        && m.destination == Path::new("/dev")
}

/// Makes the prepared root filesystem `/`.
pub fn enter(plan: &RootfsPlan) -> Result<(), RootfsError> {
    if plan.no_pivot {
        move_root(&plan.rootfs)
    } else {
        pivot_root(&plan.rootfs)
    }
}

/// After the switch: read-only root, masked and read-only paths, propagation.
pub fn finish(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let root = Root::open(Path::new("/"))?;
    if !plan.masked.is_empty() || !plan.readonly_paths.is_empty() {
        // The mounts below go through /proc/self/fd: it must be procfs's.
        ProcRoot::open(&root)?;
    }
    for path in &plan.masked {
        mask_path(&root, path)?;
    }
    for path in &plan.readonly_paths {
        readonly_path(&root, path)?;
    }
    for m in plan.mounts.iter().filter(|m| rw_until_filled(m)) {
        let dir = root.open_at(&m.destination, OFlag::O_PATH)?;
        remount_readonly(&fd_path(&dir), MsFlags::empty())?;
    }
    if plan.readonly {
        remount_readonly(Path::new("/"), MsFlags::empty())?;
    }
    if let Some(p) = plan.propagation {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .map_err(sys("set propagation of", Path::new("/")))?;
    }
    Ok(())
}

fn mount_entry(root: &Root, m: &MountPlan, cgroups: &[CgroupDir]) -> Result<(), RootfsError> {
    let dest = &m.destination;
    if m.fstype.as_deref() == Some("cgroup") || m.fstype.as_deref() == Some("cgroup2") {
        mount_cgroups(root, m, cgroups)?;
    } else {
        if m.opts.bind {
            bind_entry(root, m)?;
        } else {
            fs_entry(root, m)?;
        }
        set_propagation(root, dest, &m.opts.propagation)?;
    }
    if !m.opts.recursive.is_empty() {
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        mountapi::set_attrs(&mounted, &m.opts.recursive, None, true)
            .map_err(sys("set recursive mount attributes on", dest))?;
    }
    Ok(())
}

fn bind_entry(root: &Root, m: &MountPlan) -> Result<(), RootfsError> {
    let dest = &m.destination;
    let source = m.source.as_deref().unwrap_or(Path::new(""));
    let kind = match std::fs::metadata(source) {
        Ok(meta) if !meta.is_dir() => Kind::File,
        Ok(_) => Kind::Dir,
        Err(e) => {
            return Err(RootfsError::Sys {
                op: "bind mount source",
                path: source.to_path_buf(),
                source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)),
            });
        }
    };
    let target = root.ensure(dest, kind)?;
    let bind = m.opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    match &m.idmapped {
        Some(tree) => mountapi::attach(tree, &target).map_err(sys("attach id-mapped mount", dest)),
        None => mount(
            Some(source),
            &fd_path(&target),
            None::<&str>,
            bind,
            None::<&str>,
        )
        .map_err(sys("bind mount", dest)),
    }?;
    let extra = m.opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if !extra.is_empty() {
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        remount_bind(&fd_path(&mounted), extra | bind, dest)?;
    }
    Ok(())
}

fn fs_entry(root: &Root, m: &MountPlan) -> Result<(), RootfsError> {
    let dest = &m.destination;
    if matches!(m.fstype.as_deref(), Some("proc" | "sysfs")) {
        ordinary_dir(root, m)?;
    }
    let target = root.ensure(dest, Kind::Dir)?;
    // Opened before the mount: it keeps seeing what the tmpfs covers.
    let below = match m.opts.tmpcopyup {
        true => Some(root.open_at(dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?),
        false => None,
    };
    let data = m.opts.data();
    // A read-only tmpfs is filled (tmpcopyup, /dev) before it turns read-only.
    let tmpfs_ro =
        m.fstype.as_deref() == Some("tmpfs") && m.opts.flags.contains(MsFlags::MS_RDONLY);
    let flags = match tmpfs_ro {
        true => m.opts.flags - MsFlags::MS_RDONLY,
        false => m.opts.flags,
    };
    mount(
        m.source.as_deref(),
        &fd_path(&target),
        m.fstype.as_deref(),
        flags,
        data.as_deref(),
    )
    .map_err(|source| RootfsError::Mount {
        fstype: m.fstype.clone().unwrap_or_default(),
        dest: dest.clone(),
        data: data.unwrap_or_default(),
        source,
    })?;
    if let Some(below) = below {
        let above = root.open_at(dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        copy_tree(&below, &above).map_err(sys("tmpcopyup into", dest))?;
        // As runc: the directory keeps its mode rather than tmpfs's 1777.
        let st = nix::sys::stat::fstat(&below).map_err(sys("stat", dest))?;
        nix::sys::stat::fchmod(
            &above,
            nix::sys::stat::Mode::from_bits_truncate(st.st_mode & 0o7777),
        )
        .map_err(sys("chmod", dest))?;
    }
    if tmpfs_ro && !rw_until_filled(m) {
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        remount_readonly(&fd_path(&mounted), MsFlags::empty())?;
    }
    Ok(())
}

/// proc and sysfs are never mounted through a symlink or onto a file (an
/// old attack on runtimes); runc's check and words.
fn ordinary_dir(root: &Root, m: &MountPlan) -> Result<(), RootfsError> {
    let fd = match root.open_at(&m.destination, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.source == nix::Error::ENOENT => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(sys("stat", &m.destination))?;
    match st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        true => Ok(()),
        false => Err(RootfsError::NotDir {
            fstype: m.fstype.clone().unwrap_or_default(),
            dest: m.destination.clone(),
        }),
    }
}

fn set_propagation(root: &Root, dest: &Path, flags: &[MsFlags]) -> Result<(), RootfsError> {
    if flags.is_empty() {
        return Ok(());
    }
    let mounted = root.open_at(dest, OFlag::O_PATH)?;
    for &p in flags {
        mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            p,
            None::<&str>,
        )
        .map_err(sys("set propagation of", dest))?;
    }
    Ok(())
}

/// The host's cgroup hierarchies as the container sees them: on a v2-only
/// host the container's cgroup directory itself; otherwise a tmpfs with one
/// bind mount of the container's directory per hierarchy, as runc does.
fn mount_cgroups(root: &Root, m: &MountPlan, cgroups: &[CgroupDir]) -> Result<(), RootfsError> {
    let dest = &m.destination;
    let flags = m.opts.flags - MsFlags::MS_RDONLY;
    let bind_flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    if let [only] = cgroups
        && only.controllers.is_empty()
    {
        let target = root.ensure(dest, Kind::Dir)?;
        mount(
            Some(&only.path),
            &fd_path(&target),
            None::<&str>,
            bind_flags,
            None::<&str>,
        )
        .map_err(sys("bind mount", dest))?;
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        return remount_bind(&fd_path(&mounted), m.opts.flags | bind_flags, dest);
    }
    let target = root.ensure(dest, Kind::Dir)?;
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(sys("mount tmpfs", dest))?;
    for cg in cgroups {
        let name = cg.mountpoint.file_name().unwrap_or_default();
        let sub = dest.join(name);
        let target = root.ensure(&sub, Kind::Dir)?;
        mount(
            Some(&cg.path),
            &fd_path(&target),
            None::<&str>,
            bind_flags,
            None::<&str>,
        )
        .map_err(sys("bind mount", &sub))?;
        let mounted = root.open_at(&sub, OFlag::O_PATH)?;
        remount_bind(&fd_path(&mounted), m.opts.flags | bind_flags, &sub)?;
    }
    if m.opts.flags.contains(MsFlags::MS_RDONLY) {
        let mounted = root.open_at(dest, OFlag::O_PATH)?;
        mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(sys("remount read-only", dest))?;
    }
    Ok(())
}

/// Applies flags to a bind mount. The flags the mount already has that
/// would be locked in a user namespace (nosuid, nodev, noexec, atime) are
/// kept, so a remount never loosens what the source had.
fn remount_bind(target: &Path, flags: MsFlags, dest: &Path) -> Result<(), RootfsError> {
    let locked = current_flags(target);
    mount(
        None::<&str>,
        target,
        None::<&str>,
        flags | locked | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .map_err(sys("remount", dest))
}

fn current_flags(target: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = nix::sys::statvfs::statvfs(target) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

fn remount_readonly(path: &Path, extra: MsFlags) -> Result<(), RootfsError> {
    remount_bind(path, MsFlags::MS_RDONLY | extra, path)
}

/// runc's pivot: the old root is stacked under the new one and detached,
/// after being made a slave so the unmount cannot reach the host.
fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mode = nix::sys::stat::Mode::empty();
    let old = nix::fcntl::open("/", dir, mode).map_err(sys("open", Path::new("/")))?;
    let new = nix::fcntl::open(rootfs, dir, mode).map_err(sys("open", rootfs))?;
    nix::unistd::fchdir(&new).map_err(sys("chdir", rootfs))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    nix::unistd::fchdir(&old).map_err(sys("chdir to old root", Path::new("/")))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("make old root slave", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("unmount old root", Path::new("/")))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))
}

/// `--no-pivot`: move the rootfs over / and chroot into it.
fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    nix::unistd::chdir(rootfs).map_err(sys("chdir", rootfs))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(sys("move mount", rootfs))?;
    nix::unistd::chroot(".").map_err(sys("chroot", rootfs))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))
}

/// Hides a path: a file under /dev/null, a directory under an empty
/// read-only tmpfs. A path that does not exist needs no hiding.
fn mask_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let target = match root.open_at(path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if matches!(e.source, nix::Error::ENOENT | nix::Error::ELOOP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = nix::sys::stat::fstat(&target).map_err(sys("stat", path))?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir {
        mount(
            Some("tmpfs"),
            &fd_path(&target),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(sys("mask", path))
    } else {
        let null = devices::open_dev_null(root)?;
        mount(
            Some(&fd_path(&null)),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys("mask", path))
    }
}

fn readonly_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let target = match root.open_at(path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.source == nix::Error::ENOENT => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(
        Some(&fd_path(&target)),
        &fd_path(&target),
        None::<&str>,
        rec,
        None::<&str>,
    )
    .map_err(sys("bind mount", path))?;
    let mounted = root.open_at(path, OFlag::O_PATH | OFlag::O_NOFOLLOW)?;
    remount_bind(
        &fd_path(&mounted),
        MsFlags::MS_RDONLY | MsFlags::MS_REC,
        path,
    )
}
