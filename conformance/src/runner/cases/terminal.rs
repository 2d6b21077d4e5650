//! config.md "Process" terminal and consoleSize, config-linux.md
//! /dev/console: with `terminal: true` the process's standard streams are
//! a pty whose master reaches the caller through runc's --console-socket
//! (the runner reads the probe's report from it).

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use crate::probe::Probe;
use serde_json::{Value, json};
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

const TERMINAL: &str = "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process, defaults to false. As an example, if set to true on Linux a pseudoterminal pair is allocated for the process and the pseudoterminal pty is duplicated on the process's standard streams.";

pub const CASES: &[Case] = &[
    Case {
        name: "terminal.stdio_is_a_pty",
        clause: "config.md#configProcess",
        quote: TERMINAL,
        run: stdio_is_a_pty,
    },
    Case {
        name: "terminal.dev_console",
        clause: "config-linux.md#configLinuxDefaultDevices",
        quote: "/dev/console is set up if terminal is enabled in the config by bind mounting the pseudoterminal pty to /dev/console.",
        run: dev_console,
    },
    Case {
        name: "terminal.console_size",
        clause: "config.md#configProcess",
        quote: "consoleSize (object, OPTIONAL) specifies the console size in characters of the terminal.",
        run: console_size,
    },
    Case {
        name: "terminal.console_size_ignored",
        clause: "config.md#configProcess",
        quote: "Runtimes MUST ignore consoleSize if terminal is false or unset.",
        run: console_size_ignored,
    },
];

/// How long the runner waits for the runtime's connection and the output.
const WAIT: Duration = Duration::from_secs(20);

/// Runs the probe with a terminal; the `tty` part of its report, read from
/// the pty master the runtime sent to the console socket.
fn run_on_terminal(ctx: &mut Ctx) -> R<Value> {
    ctx.config["process"]["terminal"] = json!(true);
    ctx.set_probe(&[]);
    let sock = ctx.host_dir("console")?.join("sock");
    let listener = UnixListener::bind(&sock).or_fail("bind the console socket")?;
    listener.set_nonblocking(true).or_fail("console socket")?;
    let id = ctx.id.clone();
    let sock_arg = sock.display().to_string();
    let opts = CreateOpts {
        args: vec!["--console-socket", &sock_arg],
        ..Default::default()
    };
    let out = ctx.create_with(&id, opts)?;
    ensure!(out.success(), "create: {}", out.describe());
    let master = receive_master(&listener)?;
    let reader = std::thread::spawn(move || read_all(master));
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let text = reader.join().unwrap_or_default();
    let p = Probe::parse(&text);
    ensure!(p.report().is_ok(), "no report on the pty: {text:?}");
    Ok(p.report()?["tty"].clone())
}

/// The runtime's connection and the descriptor it sent (SCM_RIGHTS).
fn receive_master(listener: &UnixListener) -> R<OwnedFd> {
    let deadline = Instant::now() + WAIT;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(crate::outcome::Outcome::Fail(format!(
                    "the runtime sent no pty master to --console-socket: {e}"
                )));
            }
        }
    };
    conn.set_nonblocking(false).or_fail("console connection")?;
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = [0u8; 64];
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = iov.as_mut_ptr().cast();
    hdr.msg_iovlen = 1;
    hdr.msg_control = space.as_mut_ptr().cast();
    hdr.msg_controllen = space.len();
    // SAFETY: recvmsg fills buffers that live for the call.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
    ensure!(n >= 0, "recvmsg on the console socket failed");
    // SAFETY: walking the control messages recvmsg wrote into `space`.
    let fd = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            -1
        } else {
            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd)
        }
    };
    ensure!(fd >= 0, "the console socket message carried no descriptor");
    // SAFETY: SCM_RIGHTS gave this process a new descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// All the pty says until no process holds it (EIO) or WAIT passes.
fn read_all(master: OwnedFd) -> String {
    let mut f = std::fs::File::from(master);
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd that lives for the call.
        if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

fn stdio_is_a_pty(ctx: &mut Ctx) -> R {
    let tty = run_on_terminal(ctx)?;
    ensure_eq!(
        tty["stdio"],
        json!([true, true, true]),
        "stdin, stdout, stderr are terminals"
    );
    ensure_eq!(
        tty["ctty"],
        json!(true),
        "the pty is the controlling terminal"
    );
    Ok(())
}

fn dev_console(ctx: &mut Ctx) -> R {
    let tty = run_on_terminal(ctx)?;
    ensure_eq!(
        tty["console_is_stdin"],
        json!(true),
        "/dev/console is the process's pty"
    );
    Ok(())
}

fn console_size(ctx: &mut Ctx) -> R {
    ctx.config["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    let tty = run_on_terminal(ctx)?;
    ensure_eq!(
        tty["size"],
        json!([33, 101]),
        "rows and columns of the terminal"
    );
    Ok(())
}

/// terminal false with a consoleSize: created as without it, no terminal.
fn console_size_ignored(ctx: &mut Ctx) -> R {
    ctx.config["process"]["terminal"] = json!(false);
    ctx.config["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    let p = ctx.run_probe(&[])?;
    let tty = &p.report()?["tty"];
    ensure_eq!(
        tty["stdio"],
        json!([false, false, false]),
        "terminals on stdio"
    );
    Ok(())
}
