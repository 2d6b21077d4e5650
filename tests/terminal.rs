//! process.terminal with --console-socket: the pty master reaches the
//! caller, the slave is the program's stdio, controlling terminal and
//! /dev/console, with consoleSize applied.

mod common;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

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
    let receiver = std::thread::spawn(move || console::receive_master(&listener));
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

// ------------------------------------------------------------ `run` in the foreground

/// A pty for `rt run`'s stdio: the test holds the master, rt gets the slave.
struct Pty {
    master: std::fs::File,
    slave: std::fs::File,
}

impl Pty {
    fn new(rows: u16, cols: u16) -> Pty {
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let p = nix::pty::openpty(Some(&ws), None).expect("openpty");
        Pty {
            master: p.master.into(),
            slave: p.slave.into(),
        }
    }

    /// As a terminal emulator does: the kernel then sends SIGWINCH to the
    /// terminal's foreground process group (rt).
    fn resize(&self, rows: u16, cols: u16) {
        use std::os::fd::AsRawFd;
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
        let r = unsafe { nix::libc::ioctl(self.master.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ");
    }

    fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).expect("tcgetattr")
    }

    /// Reads the master until `marker` shows up (or 20 s pass); all it read.
    fn read_until(&mut self, marker: &str) -> String {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut out = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !out.contains(marker) && Instant::now() < deadline {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
                continue;
            }
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        out
    }
}

/// `rt run` with its stdio on `pty`'s slave, which is also its controlling
/// terminal, as in a shell.
fn spawn_run_on(b: &Bundle, pty: &Pty) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    b.remember(&b.id);
    let slave = || pty.slave.try_clone().unwrap();
    let mut cmd = std::process::Command::new(rt_bin());
    cmd.arg("--root")
        .arg(&b.state_root)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::libc::setsid();
            nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    cmd.spawn().expect("spawn rt run")
}

fn wait_child(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rt run did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn same_termios(a: &nix::sys::termios::Termios, b: &nix::sys::termios::Termios) -> bool {
    a.input_flags == b.input_flags
        && a.output_flags == b.output_flags
        && a.control_flags == b.control_flags
        && a.local_flags == b.local_flags
        && a.control_chars == b.control_chars
}

#[test]
fn run_attaches_the_callers_terminal() {
    let Some(b) = Bundle::new("run_attaches_the_callers_terminal") else {
        return;
    };
    b.config(|c| {
        c["process"]["terminal"] = json!(true);
        // The caller's terminal wins over consoleSize, as in runc.
        c["process"]["consoleSize"] = json!({"height": 11, "width": 33});
    });
    // An interactive shell on the container's pty. The markers are
    // computed, so the pty's echo of the typed line cannot match them.
    b.set_args(&["sh"]);
    let mut pty = Pty::new(24, 80);
    let before = pty.termios();
    let mut child = spawn_run_on(&b, &pty);
    pty.master
        .write_all(b"[ -t 0 ] && stty size; echo A$((6*7))\n")
        .unwrap();
    let out = pty.read_until("A42");
    assert!(out.contains("24 80"), "initial size: {out:?}");
    assert!(
        !same_termios(&before, &pty.termios()),
        "rt did not put the caller's terminal in raw mode"
    );
    pty.resize(30, 100);
    pty.master
        .write_all(b"stty size; echo B$((7*8))\n")
        .unwrap();
    let out = pty.read_until("B56");
    assert!(out.contains("30 100"), "size after SIGWINCH: {out:?}");
    pty.master.write_all(b"echo h$((1))i; exit 3\n").unwrap();
    let out = pty.read_until("h1i");
    let st = wait_child(&mut child);
    assert_eq!(st.code(), Some(3), "{st:?}; output: {out:?}");
    assert!(
        same_termios(&before, &pty.termios()),
        "the caller's terminal settings were not restored"
    );
    b.assert_nothing_left();
}

#[test]
fn run_with_terminal_and_no_tty_on_stdin() {
    let Some(b) = Bundle::new("run_with_terminal_and_no_tty_on_stdin") else {
        return;
    };
    b.config(|c| c["process"]["terminal"] = json!(true));
    // Input from a pipe reaches the program through its pty, and the end
    // of the pipe is its end-of-file; output comes back through stdout.
    // A second after the end of input, in which rt must idle: a closed pipe
    // polls as ready whatever was asked, and must not make it spin.
    b.set_script(
        "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; read x; echo got:$x; cat; echo END; sleep 1; exit 4",
    );
    b.remember(&b.id);
    let mut child = std::process::Command::new(rt_bin())
        .arg("--root")
        .arg(&b.state_root)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nrest\n")
        .unwrap();
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stdout = String::new();
    let mut buf = [0u8; 4096];
    while !stdout.contains("END") {
        match stdout_pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => stdout.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let cpu_at_end = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_millis(500));
    let idle_ticks = cpu_ticks(child.id()) - cpu_at_end;
    let _ = stdout_pipe.read_to_string(&mut stdout);
    let st = wait_child(&mut child);
    assert_eq!(st.code(), Some(4), "{stdout:?}");
    assert!(stdout.contains("on-a-tty"), "{stdout:?}");
    assert!(stdout.contains("got:hello"), "{stdout:?}");
    assert!(stdout.contains("END"), "{stdout:?}");
    assert!(
        idle_ticks < 20,
        "rt used {idle_ticks} clock ticks in 0.5 s while the program slept"
    );
    b.assert_nothing_left();
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); after the comm, state is the first.
    let field = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

#[test]
fn run_detached_with_terminal_needs_a_socket() {
    let Some(b) = Bundle::new("run_detached_with_terminal_needs_a_socket") else {
        return;
    };
    b.config(|c| c["process"]["terminal"] = json!(true));
    let out = b.run(&b.id, &["--detach"]).fails();
    assert!(out.stderr.contains("--console-socket"), "{}", out.stderr);
    b.assert_nothing_left();
    b.assert_state_root_empty();
}

/// Attached to a pty, rt still passes the signals it gets to the program.
#[test]
fn run_with_terminal_forwards_signals() {
    let Some(b) = Bundle::new("run_with_terminal_forwards_signals") else {
        return;
    };
    b.config(|c| c["process"]["terminal"] = json!(true));
    // pid-1 sh ignores an untrapped TERM: exit 42 proves the signal reached the trap.
    b.set_script("trap 'exit 42' TERM; echo ready > /tmp/ready; while :; do sleep 0.05; done");
    let mut pty = Pty::new(24, 80);
    let mut child = spawn_run_on(&b, &pty);
    assert!(
        wait_until(Duration::from_secs(10), || b
            .host_path("/tmp/ready")
            .exists()),
        "the container never got ready: {}",
        pty.read_until("never")
    );
    assert!(send_signal(child.id(), SIGTERM));
    let st = wait_child(&mut child);
    assert_eq!(st.code(), Some(42), "{st:?}");
    b.assert_nothing_left();
}

/// Without a terminal, stdin, stdout and stderr are rt's own: not a tty,
/// untouched.
#[test]
fn run_without_terminal_passes_stdio_through() {
    let Some(b) = Bundle::new("run_without_terminal_passes_stdio_through") else {
        return;
    };
    b.set_script("[ -t 0 ] || [ -t 1 ] && echo tty; read x; echo got:$x; echo err >&2");
    b.remember(&b.id);
    let input = b.dir.join("input.txt");
    std::fs::write(&input, "from-a-file\n").unwrap();
    let out = std::process::Command::new(rt_bin())
        .arg("--root")
        .arg(&b.state_root)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got:from-a-file\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err"));
    b.assert_nothing_left();
}

/// `exec -t` in the foreground without --console-socket attaches rt's own
/// terminal too, as runc does.
#[test]
fn exec_tty_attaches_the_callers_terminal() {
    use std::os::unix::process::CommandExt;
    let Some(b) = Bundle::new("exec_tty_attaches_the_callers_terminal") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let mut pty = Pty::new(40, 120);
    let before = pty.termios();
    let slave = || pty.slave.try_clone().unwrap();
    let mut cmd = std::process::Command::new(rt_bin());
    cmd.arg("--root")
        .arg(&b.state_root)
        .args(["exec", "-t", &b.id, "sh"])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::libc::setsid();
            nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    pty.master
        .write_all(b"stty size; [ -t 0 ] && echo T$((2*3))\n")
        .unwrap();
    let out = pty.read_until("T6");
    assert!(out.contains("40 120"), "{out:?}");
    pty.master.write_all(b"exit 5\n").unwrap();
    let st = wait_child(&mut child);
    assert_eq!(st.code(), Some(5), "{st:?}");
    assert!(
        same_termios(&before, &pty.termios()),
        "the caller's terminal settings were not restored"
    );
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
