//! process.terminal with --console-socket: the pty master reaches the
//! caller, the slave is the program's stdio, controlling terminal and
//! /dev/console, with consoleSize applied.

mod common;
use common::*;
use serde_json::json;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Accepts the runtime's connection and returns the message and the fd.
fn receive_master(listener: &UnixListener) -> (String, std::fs::File) {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let (conn, _) = listener.accept().expect("the runtime connects");
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("an fd in SCM_RIGHTS");
    let n = msg.bytes;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    // SAFETY: the received descriptor is new and ours.
    (
        name,
        std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }),
    )
}

fn read_until(master: &mut std::fs::File, marker: &str) -> String {
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !out.contains(marker) {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    out
}

#[test]
fn terminal_master_is_sent_and_slave_is_the_console() {
    let Some(b) = Bundle::new("terminal_master_is_sent_and_slave_is_the_console") else {
        return;
    };
    let socket = b.dir.join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    b.config(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    b.set_script(
        "tty; stty size; [ /dev/console -ef $(tty) ] && echo console-ok; \
         [ -t 0 ] && [ -t 2 ] && echo stdio-ok; read line; echo got:$line; echo END",
    );
    let sock = socket.to_str().unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    b.remember(&b.id);
    b.rt(&[
        "create",
        "--console-socket",
        sock,
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ])
    .ok();
    let (name, mut master) = receiver.join().unwrap();
    assert_eq!(name, "/dev/ptmx");
    b.start(&b.id).ok();
    master.write_all(b"hello\n").unwrap();
    let out = read_until(&mut master, "END");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("33 101"), "{out}");
    assert!(out.contains("console-ok"), "{out}");
    assert!(out.contains("stdio-ok"), "{out}");
    assert!(out.contains("got:hello"), "{out}");
    b.wait_status(&b.id, "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn terminal_without_socket_and_socket_without_terminal_fail() {
    let Some(b) = Bundle::new("terminal_without_socket_and_socket_without_terminal_fail") else {
        return;
    };
    b.config(|c| c["process"]["terminal"] = json!(true));
    let out = b.create(&b.id).fails();
    assert!(out.stderr.contains("--console-socket"), "{}", out.stderr);
    b.assert_nothing_left();
    b.config(|c| c["process"]["terminal"] = json!(false));
    let sock = b.dir.join("nobody-listens.sock");
    b.remember(&b.id);
    let out = b
        .rt(&[
            "create",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
        .fails();
    assert!(
        out.stderr.contains("process.terminal is false"),
        "{}",
        out.stderr
    );
    b.assert_nothing_left();
    b.assert_state_root_empty();
}
