//! A seccomp agent for the notify cases: it accepts one connection on
//! listenerPath, reads the container process state and the listener fd
//! (SCM_RIGHTS), answers the first notification with an errno, and closes.

use serde_json::Value;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

/// What the agent got: the process state and the notified syscall.
pub struct Received {
    pub state: Value,
    pub nr: i32,
}

/// Listens on `path` and answers one notification with `errno`.
pub fn serve_one(path: &Path, errno: i32) -> Result<JoinHandle<Result<Received, String>>, String> {
    let sock = UnixListener::bind(path).map_err(|e| format!("bind {}: {e}", path.display()))?;
    Ok(std::thread::spawn(move || serve(sock, errno)))
}

fn wait_readable(fd: i32, deadline: Instant) -> Result<(), String> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as i32;
    match unsafe { libc::poll(&mut p, 1, left) } {
        1 => Ok(()),
        0 => Err("the runtime did not connect or notify in time".into()),
        _ => Err(format!("poll: {}", std::io::Error::last_os_error())),
    }
}

fn serve(sock: UnixListener, errno: i32) -> Result<Received, String> {
    let deadline = Instant::now() + TIMEOUT;
    wait_readable(sock.as_raw_fd(), deadline)?;
    let (conn, _) = sock.accept().map_err(|e| format!("accept: {e}"))?;
    let (data, fd) = receive(conn.as_raw_fd())?;
    let state: Value = serde_json::from_slice(&data)
        .map_err(|e| format!("process state is not JSON ({e}): {data:?}"))?;
    let fd = fd.ok_or("no fd came with the process state")?;
    wait_readable(fd.as_raw_fd(), deadline)?;
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
        return Err(format!("NOTIF_RECV: {}", std::io::Error::last_os_error()));
    }
    let mut resp = libc::seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) } != 0 {
        return Err(format!("NOTIF_SEND: {}", std::io::Error::last_os_error()));
    }
    Ok(Received {
        state,
        nr: req.data.nr,
    })
}

/// Everything the runtime sent until it closed, and the fd of the first
/// message.
fn receive(conn: i32) -> Result<(Vec<u8>, Option<OwnedFd>), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    let n = unsafe { libc::recvmsg(conn, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    let fd = (!c.is_null() && unsafe { (*c).cmsg_type } == libc::SCM_RIGHTS)
        .then(|| unsafe { OwnedFd::from_raw_fd(*(libc::CMSG_DATA(c) as *const i32)) });
    let mut data = buf[..n as usize].to_vec();
    loop {
        let m = unsafe { libc::read(conn, buf.as_mut_ptr().cast(), buf.len()) };
        if m <= 0 {
            break;
        }
        data.extend_from_slice(&buf[..m as usize]);
    }
    Ok((data, fd))
}
