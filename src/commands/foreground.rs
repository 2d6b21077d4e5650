//! `run` in the foreground with `process.terminal: true` and no
//! --console-socket, as runc does it: rt holds the pty master and copies the
//! caller's stdin to it and its output to stdout, with the caller's terminal
//! (when stdin is one) in raw mode so that the container's pty alone does
//! echo, line editing and ^C. SIGWINCH resizes the pty from the caller's
//! terminal; every other signal goes to the container's init; the status is
//! the program's.
//!
//! One poll loop over a signalfd, stdin and the master, no threads. Writes
//! to the master never block (a program that does not read its input must
//! not stop rt from reading its output); writes to stdout do, as runc's do.

use super::{Error, Result};
use crate::linux::terminal::{self, RawMode, stdio};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys {
        op: op.into(),
        source,
    }
}

/// The master attached to rt's stdio. Dropping it gives the caller's
/// terminal its settings back.
pub struct Attached {
    master: OwnedFd,
    /// Where the window size comes from, when the caller has a terminal.
    size_from: Option<BorrowedFd<'static>>,
    /// Input read from stdin that the master did not take yet.
    pending: Vec<u8>,
    stdin_open: bool,
    master_open: bool,
    _raw: Option<RawMode>,
}

impl Attached {
    /// Raw mode for a terminal stdin, and the pty sized like the caller's
    /// terminal (as runc, this wins over process.consoleSize).
    pub fn new(master: OwnedFd) -> Result<Attached> {
        fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(sys("fcntl O_NONBLOCK"))?;
        let size_from = terminal::caller_tty();
        if let Some(tty) = size_from {
            terminal::copy_window_size(tty, master.as_fd())?;
        }
        Ok(Attached {
            _raw: RawMode::enter(stdio(0))?,
            master,
            size_from,
            pending: Vec::new(),
            stdin_open: true,
            master_open: true,
        })
    }

    /// Copies until the container's init exits; returns its exit code, or
    /// 128 + the signal that killed it. The signals were blocked before the
    /// container was made, so none is missed.
    pub fn run_until_exit(&mut self, init: Pid) -> Result<i32> {
        let signals = SignalFd::with_flags(
            &SigSet::all(),
            SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
        )
        .map_err(sys("signalfd"))?;
        loop {
            let (sig_ev, in_ev, master_ev) = self.wait(&signals)?;
            if sig_ev && let Some(code) = self.handle_signals(&signals, init)? {
                return Ok(code);
            }
            if in_ev {
                self.read_stdin();
            }
            if master_ev {
                self.flush_input();
                self.copy_output();
            }
        }
    }

    /// After the container's processes are gone: what they wrote last.
    /// Ends when every holder of the pty closed it, or after a second of
    /// silence when one survives (a kept container without a PID namespace).
    pub fn drain(&mut self) {
        while self.master_open {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(1000u16)) {
                Ok(0) => return,
                Ok(_) => self.copy_output(),
                Err(nix::Error::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Polls; which of the signalfd, stdin and the master are ready. Only
    /// what is wanted is polled: a closed pipe or pty reports POLLHUP
    /// whatever the events asked, and would make this loop spin.
    fn wait(&self, signals: &SignalFd) -> Result<(bool, bool, bool)> {
        let want_in = self.stdin_open && self.pending.is_empty();
        let mut master = PollFlags::POLLIN;
        if !self.pending.is_empty() {
            master |= PollFlags::POLLOUT;
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if want_in {
            fds.push(PollFd::new(stdio(0), PollFlags::POLLIN));
        }
        if self.master_open {
            fds.push(PollFd::new(self.master.as_fd(), master));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => return Ok((false, false, false)),
            Err(e) => return Err(sys("poll")(e)),
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let master_at = 1 + usize::from(want_in);
        Ok((
            ready(0),
            want_in && ready(1),
            self.master_open && ready(master_at),
        ))
    }

    /// SIGCHLD reaps, SIGWINCH resizes, the rest goes to init (runc's
    /// signal handler). `Some` with the exit code once init is gone.
    fn handle_signals(&mut self, signals: &SignalFd, init: Pid) -> Result<Option<i32>> {
        while let Some(info) = signals.read_signal().map_err(sys("read signalfd"))? {
            match info.ssi_signo as i32 {
                libc::SIGCHLD => {
                    if let Some(code) = reap(init)? {
                        return Ok(Some(code));
                    }
                }
                libc::SIGWINCH => {
                    if let Some(tty) = self.size_from {
                        terminal::copy_window_size(tty, self.master.as_fd())?;
                    }
                }
                sig => {
                    // SAFETY: kill takes no pointers; init is our unreaped child.
                    unsafe { libc::kill(init.as_raw(), sig) };
                }
            }
        }
        Ok(None)
    }

    /// One read of stdin into `pending`. At its end, a stdin that is not a
    /// terminal gives the program end-of-file through the pty's VEOF.
    fn read_stdin(&mut self) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(stdio(0), &mut buf) {
            Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
            Ok(0) | Err(_) if !terminal::is_tty(stdio(0)) => {
                self.stdin_open = false;
                self.pending.push(terminal::eof_char(self.master.as_fd()));
            }
            Ok(0) => self.stdin_open = false,
            Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            Err(_) => self.stdin_open = false,
        }
        self.flush_input();
    }

    /// Writes what the master takes of `pending` without blocking.
    fn flush_input(&mut self) {
        while !self.pending.is_empty() && self.master_open {
            match nix::unistd::write(&self.master, &self.pending) {
                Ok(n) => drop(self.pending.drain(..n)),
                Err(nix::Error::EINTR) => {}
                Err(nix::Error::EAGAIN) => return,
                Err(_) => {
                    self.pending.clear();
                    return;
                }
            }
        }
    }

    /// Copies what the master has to stdout. EIO (or end-of-file) means no
    /// process holds the pty any more.
    fn copy_output(&mut self) {
        let mut buf = [0u8; 16384];
        loop {
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(0) => self.master_open = false,
                Ok(n) => {
                    write_all(stdio(1), &buf[..n]);
                    continue;
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EAGAIN) => {}
                Err(_) => self.master_open = false,
            }
            return;
        }
    }
}

/// Whether init has ended, and how.
fn reap(init: Pid) -> Result<Option<i32>> {
    match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(source) => Err(Error::Sys {
            op: format!("wait for pid {init}"),
            source,
        }),
    }
}

/// Blocking writes to stdout; output nobody can take any more (EPIPE, a
/// closed stdout) is dropped, so the program is never stuck on its pty.
fn write_all(fd: BorrowedFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(_) => return,
        }
    }
}
