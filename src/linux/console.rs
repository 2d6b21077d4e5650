//! The container's terminal (config.md `process.terminal`, runc's
//! `--console-socket`): a pty from the container's own devpts, its master
//! sent over a unix socket (SCM_RIGHTS) to the caller, or to rt itself for
//! `run` and `exec` in the foreground; its slave the program's stdio,
//! controlling terminal and /dev/console.

use super::procfs::{ProcError, ProcRoot};
use super::safepath::{PathError, Root, fd_path};
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::pty::{PtyMaster, posix_openpt, unlockpt};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, sendmsg};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("--console-socket {0}: {1}")]
    Connect(PathBuf, std::io::Error),
    #[error("console: {op}: {source}")]
    Sys {
        op: &'static str,
        source: nix::Error,
    },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("console: {0}")]
    Proc(#[from] ProcError),
    #[error("console: the container's init sent no pty master")]
    NoMaster,
}

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> ConsoleError {
    move |source| ConsoleError::Sys { op, source }
}

/// The caller's socket, connected in the parent so a wrong path fails
/// before anything is created.
pub struct ConsolePlan {
    socket: OwnedFd,
    /// consoleSize as (rows, columns).
    size: Option<(u16, u16)>,
}

impl ConsolePlan {
    pub fn connect(path: &Path, size: Option<(u16, u16)>) -> Result<ConsolePlan, ConsoleError> {
        let stream = connect_stream(path).map_err(|e| ConsoleError::Connect(path.into(), e))?;
        Ok(ConsolePlan {
            socket: OwnedFd::from(stream),
            size,
        })
    }

    /// For `run` and `exec` in the foreground: the child's end of a
    /// socketpair whose other end rt keeps, to attach its stdio to the master.
    pub fn over(socket: OwnedFd, size: Option<(u16, u16)>) -> ConsolePlan {
        ConsolePlan { socket, size }
    }

    /// The socket's descriptor, which the child must keep.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// In the container, after pivot_root: allocates the pty, hands the
    /// master to the caller and makes the slave the process's terminal
    /// (and, for the container's init, its /dev/console).
    pub fn setup(&self, dev_console: bool) -> Result<(), ConsoleError> {
        let master = open_master()?;
        let slave = open_slave(&master)?;
        if let Some((rows, cols)) = self.size {
            set_size(&slave, rows, cols)?;
        }
        send_master(&self.socket, &master)?;
        drop(master);
        if dev_console {
            bind_dev_console(&slave)?;
        }
        make_controlling_terminal(&slave)
    }
}

/// sun_path holds 108 bytes: a longer path is reached through its
/// directory's descriptor under /proc/self/fd.
fn connect_stream(path: &Path) -> std::io::Result<UnixStream> {
    if path.as_os_str().len() < 100 {
        return UnixStream::connect(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    let dir = std::fs::File::open(dir)?;
    UnixStream::connect(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name))
}

fn open_master() -> Result<PtyMaster, ConsoleError> {
    // /dev/ptmx in the container: its devpts instance, not the host's.
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(sys("open /dev/ptmx"))?;
    unlockpt(&master).map_err(sys("unlockpt"))?;
    Ok(master)
}

/// The slave through the master (TIOCGPTPEER), never by a path someone
/// could have replaced.
fn open_slave(master: &PtyMaster) -> Result<OwnedFd, ConsoleError> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = nix::errno::Errno::result(fd).map_err(sys("TIOCGPTPEER"))?;
    // SAFETY: a new descriptor owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_size(tty: &OwnedFd, rows: u16, cols: u16) -> Result<(), ConsoleError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(sys("TIOCSWINSZ"))
}

/// runc's convention, which conmon and containerd read: the master with
/// its name as the message.
fn send_master(socket: &OwnedFd, master: &PtyMaster) -> Result<(), ConsoleError> {
    let name = b"/dev/ptmx";
    let fds = [master.as_raw_fd()];
    sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(sys("send the pty master"))
}

/// The pair a pty master comes back to rt on: (rt's end, the child's end).
pub fn socketpair() -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType};
    nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(sys("socketpair"))
}

/// rt's side of `over`: the master the child sent. It was sent before
/// `Ready`, so it is already queued: no wait, and none forever should the
/// child have died first.
pub fn receive_master(socket: &OwnedFd) -> Result<OwnedFd, ConsoleError> {
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(sys("receive the pty master"))?;
    let fd = msg
        .cmsgs()
        .map_err(sys("receive the pty master"))?
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .ok_or(ConsoleError::NoMaster)?;
    // SAFETY: SCM_RIGHTS gave this process a new descriptor, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// /dev/console is the slave (runtime-linux.md), bound over a file made in
/// the container's /dev. The source is the slave's own descriptor, never a
/// path; a symlink at /dev/console is replaced, not followed, and the
/// target must be a plain file or device outside procfs and sysfs, so the
/// bind cannot cover (and later unmask) a /proc or /sys file
/// (CVE-2025-52565).
fn bind_dev_console(slave: &OwnedFd) -> Result<(), ConsoleError> {
    let root = Root::open(Path::new("/"))?;
    // The descriptors below are reached through /proc/self/fd.
    ProcRoot::open(&root)?;
    let target = console_target(&root)?;
    mount(
        Some(&fd_path(slave)),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("bind the pty to /dev/console"))
}

fn console_target(root: &Root) -> Result<OwnedFd, ConsoleError> {
    use nix::sys::stat::{Mode, SFlag, fstat, fstatat};
    let dev = root.mkdir_all(Path::new("/dev"))?;
    let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    if fstatat(&dev, "console", nofollow)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFLNK)
    {
        nix::unistd::unlinkat(&dev, "console", nix::unistd::UnlinkatFlags::NoRemoveDir)
            .map_err(sys("remove the /dev/console symlink"))?;
    }
    let create = OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    match nix::fcntl::openat(
        &dev,
        "console",
        create | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(_) | Err(nix::Error::EEXIST) => {}
        Err(e) => return Err(sys("create /dev/console")(e)),
    }
    let target = nix::fcntl::openat(
        &dev,
        "console",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open /dev/console"))?;
    let kind = fstat(&target).map_err(sys("stat /dev/console"))?.st_mode & libc::S_IFMT;
    let fs = nix::sys::statfs::fstatfs(&target).map_err(sys("statfs /dev/console"))?;
    let special = [
        nix::sys::statfs::PROC_SUPER_MAGIC,
        nix::sys::statfs::SYSFS_MAGIC,
    ]
    .contains(&fs.filesystem_type());
    if !(kind == libc::S_IFREG || kind == libc::S_IFCHR) || special {
        return Err(sys("check /dev/console")(nix::Error::EINVAL));
    }
    Ok(target)
}

fn make_controlling_terminal(slave: &OwnedFd) -> Result<(), ConsoleError> {
    // A new session has no controlling terminal yet; EPERM means this
    // process already leads one, which is as good.
    match nix::unistd::setsid() {
        Ok(_) | Err(nix::Error::EPERM) => {}
        Err(e) => return Err(sys("setsid")(e)),
    }
    // SAFETY: TIOCSCTTY takes an int argument.
    let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).map_err(sys("TIOCSCTTY"))?;
    nix::unistd::dup2_stdin(slave).map_err(sys("dup2 the pty"))?;
    nix::unistd::dup2_stdout(slave).map_err(sys("dup2 the pty"))?;
    nix::unistd::dup2_stderr(slave).map_err(sys("dup2 the pty"))
}
