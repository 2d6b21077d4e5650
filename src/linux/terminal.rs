//! The caller's terminal, for `run` in the foreground with a pty: raw mode
//! while the container's pty does the line discipline, and the window size
//! passed on to the pty (as runc does with containerd/console).

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

#[derive(Debug, thiserror::Error)]
#[error("terminal: {op}: {source}")]
pub struct TerminalError {
    op: &'static str,
    source: nix::Error,
}

fn fail(op: &'static str) -> impl FnOnce(nix::Error) -> TerminalError {
    move |source| TerminalError { op, source }
}

/// The caller's terminal in raw mode; its settings come back on drop, on
/// every way out of `run`.
pub struct RawMode {
    fd: BorrowedFd<'static>,
    saved: Termios,
}

impl RawMode {
    /// Puts `fd` in raw mode; `None` when it is not a terminal.
    pub fn enter(fd: BorrowedFd<'static>) -> Result<Option<RawMode>, TerminalError> {
        if !is_tty(fd) {
            return Ok(None);
        }
        let saved = tcgetattr(fd).map_err(fail("tcgetattr"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(fail("tcsetattr raw"))?;
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

pub fn is_tty(fd: BorrowedFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// Standard stream `fd` (0, 1 or 2), which lives as long as rt.
pub fn stdio(fd: RawFd) -> BorrowedFd<'static> {
    debug_assert!((0..=2).contains(&fd));
    // SAFETY: rt never closes its standard streams.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The first of stderr, stdout and stdin that is a terminal (runc's
/// console.Current order): where the window size comes from.
pub fn caller_tty() -> Option<BorrowedFd<'static>> {
    [2, 1, 0].into_iter().map(stdio).find(|fd| is_tty(*fd))
}

/// Gives `to` (the pty) the window size of `from` (the caller's
/// terminal); the kernel then sends SIGWINCH to the pty's foreground
/// process group when it changed.
pub fn copy_window_size(from: BorrowedFd, to: BorrowedFd) -> Result<(), TerminalError> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the winsize, which lives for the call.
    let r = unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    nix::errno::Errno::result(r).map_err(fail("TIOCGWINSZ"))?;
    // SAFETY: TIOCSWINSZ reads the winsize, which lives for the call.
    let r = unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(fail("TIOCSWINSZ"))
}

/// The pty's end-of-file character (VEOF), for a caller's stdin that is
/// not a terminal and has ended.
pub fn eof_char(pty: BorrowedFd) -> u8 {
    tcgetattr(pty).map_or(4, |t| {
        t.control_chars[nix::sys::termios::SpecialCharacterIndices::VEOF as usize]
    })
}
