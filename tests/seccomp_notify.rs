//! SCMP_ACT_NOTIFY: rt sends the listener fd and the container process
//! state to linux.seccomp.listenerPath (config-linux.md "The Container
//! Process State"); a listener in the test answers the container's syscall.

mod common;
use common::*;
use serde_json::{Value, json};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

const EXDEV: i32 = 18;

fn notify_profile(listener: &Path, flags: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener, "listenerMetadata": "rt-test metadata",
        "flags": flags,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]})
}

/// What the listener got: the process state and the syscall it answered.
struct Received {
    state: Value,
    nr: i32,
    pid: u32,
}

/// Waits (up to 20 s) for `fd` to be readable.
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
        r => Err(format!("poll: {r}")),
    }
}

/// Accepts one connection, reads the state and the fd, answers one
/// notification with EXDEV and closes everything.
fn serve_one(sock: UnixListener) -> Result<Received, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (state, notify_fd) = accept_state(&sock, deadline)?;
    answer(state, notify_fd, deadline)
}

/// One connection's process state and listener fd.
fn accept_state(sock: &UnixListener, deadline: Instant) -> Result<(Value, OwnedFd), String> {
    wait_readable(sock.as_raw_fd(), deadline)?;
    let (conn, _) = sock.accept().map_err(|e| format!("accept: {e}"))?;
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
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n <= 0 {
        return Err(format!("recvmsg: {n}"));
    }
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if c.is_null() || unsafe { (*c).cmsg_type } != libc::SCM_RIGHTS {
        return Err("no SCM_RIGHTS".into());
    }
    let notify_fd = unsafe { OwnedFd::from_raw_fd(*(libc::CMSG_DATA(c) as *const i32)) };
    // The rest of the payload, if the stream split it, until rt closes.
    let mut data = buf[..n as usize].to_vec();
    loop {
        let m = unsafe { libc::read(conn.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if m <= 0 {
            break;
        }
        data.extend_from_slice(&buf[..m as usize]);
    }
    let state: Value = serde_json::from_slice(&data).map_err(|e| format!("state JSON: {e}"))?;
    Ok((state, notify_fd))
}

/// Answers the next notification on `notify_fd` with EXDEV.
fn answer(state: Value, notify_fd: OwnedFd, deadline: Instant) -> Result<Received, String> {
    wait_readable(notify_fd.as_raw_fd(), deadline)?;
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    if unsafe {
        libc::ioctl(
            notify_fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req,
        )
    } != 0
    {
        return Err(format!("NOTIF_RECV: {}", std::io::Error::last_os_error()));
    }
    let mut resp = libc::seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: -EXDEV,
        flags: 0,
    };
    if unsafe {
        libc::ioctl(
            notify_fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
    } != 0
    {
        return Err(format!("NOTIF_SEND: {}", std::io::Error::last_os_error()));
    }
    Ok(Received {
        state,
        nr: req.data.nr,
        pid: req.pid,
    })
}

/// The listener answers the first mkdir with EXDEV, then closes its fd:
/// the next notified syscall gets ENOSYS (so no rt process kept a copy).
#[test]
fn seccomp_notify_sends_the_fd_and_state_to_the_listener() {
    let Some(b) = Bundle::new("seccomp_notify_sends_the_fd_and_state_to_the_listener") else {
        return;
    };
    let path = b.dir.join("listener.sock");
    let sock = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || serve_one(sock));
    let flags = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    b.config(|c| c["linux"]["seccomp"] = notify_profile(&path, flags));
    b.set_script("mkdir /tmp/a 2>&1; echo rc=$?; mkdir /tmp/b 2>&1; echo rc=$?");
    let out = b.run_ok();
    let got = server.join().unwrap().unwrap();
    assert!(out.contains("Invalid cross-device link"), "{out}");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(!b.rootfs.join("tmp/a").exists() && !b.rootfs.join("tmp/b").exists());
    assert_eq!(got.nr, libc::SYS_mkdir as i32, "{out}");
    let s = &got.state;
    assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
    assert_eq!(s["metadata"], "rt-test metadata", "{s}");
    assert!(s["ociVersion"].is_string(), "{s}");
    assert_eq!(s["state"]["id"], b.id.as_str(), "{s}");
    assert_eq!(s["state"]["status"], "creating", "{s}");
    assert_eq!(s["state"]["bundle"], b.dir.to_str().unwrap(), "{s}");
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0 && s["state"]["pid"] == pid, "{s}");
    // The container's init was the process that loaded the filter; the
    // notifying mkdir ran in it or a child of it.
    assert!(got.pid > 0);
    b.assert_nothing_left();
}

/// `exec` loads the container's filter too: its listener fd goes to the
/// listener with the container's current status.
#[test]
fn seccomp_notify_for_exec() {
    let Some(b) = Bundle::new("seccomp_notify_for_exec") else {
        return;
    };
    let path = b.dir.join("listener.sock");
    let sock = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        // The init's fd (create) is kept open: its mkdir never comes.
        let (_, init_fd) = accept_state(&sock, deadline)?;
        let (state, exec_fd) = accept_state(&sock, deadline)?;
        let got = answer(state, exec_fd, deadline);
        drop(init_fd);
        got
    });
    b.config(|c| c["linux"]["seccomp"] = notify_profile(&path, json!([])));
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let out = b.rt(&["exec", &b.id, "sh", "-c", "mkdir /tmp/e 2>&1; true"]);
    let got = server.join().unwrap().unwrap();
    assert!(out.stdout.contains("Invalid cross-device link"), "{out:?}");
    assert_eq!(got.state["state"]["status"], "running", "{}", got.state);
    let pid = got.state["pid"].as_i64().unwrap();
    assert_ne!(pid, b.pid(&b.id) as i64, "the exec'd process's pid");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// runtime.md: a failure to send to the listener fails create, and
/// nothing is left.
#[test]
fn seccomp_notify_without_a_listener_fails_create_cleanly() {
    let Some(b) = Bundle::new("seccomp_notify_without_a_listener_fails_create_cleanly") else {
        return;
    };
    let path = b.dir.join("nobody-listens.sock");
    b.config(|c| c["linux"]["seccomp"] = notify_profile(&path, json!([])));
    let out = b.create(&b.id).fails();
    if !is_runc() {
        assert!(
            out.stderr.contains("linux.seccomp.listenerPath"),
            "{:?}",
            out.stderr
        );
    }
    b.assert_nothing_left();
    b.assert_state_root_empty();
    b.assert_template_creates();
}

/// Refused configs: NOTIFY needs a listener; it cannot be the default
/// action (runc's rule) nor apply to sendmsg, which passes the fd.
#[test]
fn seccomp_notify_misuse_fails_naming_the_field() {
    if skip_on_runc("runc's errors do not name fields and it allows sendmsg") {
        return;
    }
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x.sock"}),
            "linux.seccomp.defaultAction",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x.sock",
                "syscalls": [{"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.syscalls[0].names[1]",
        ),
    ];
    for (profile, field) in cases {
        let Some(b) = Bundle::new("seccomp_notify_misuse_fails_naming_the_field") else {
            return;
        };
        b.config(|c| c["linux"]["seccomp"] = profile);
        let out = b.create(&b.id).fails();
        assert!(out.stderr.contains(field), "want {field}: {:?}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{:?}", out.stderr);
        b.assert_nothing_left();
        b.assert_state_root_empty();
    }
}
