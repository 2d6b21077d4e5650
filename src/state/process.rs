//! What /proc says about a process: enough to tell a live process from a
//! zombie or from a new process that reused the PID.

pub struct ProcStat {
    /// The one-letter state (R, S, D, Z, X, T, ...).
    pub state: char,
    /// Start time in clock ticks after boot: with the PID, a unique identity.
    pub start_time: u64,
}

impl ProcStat {
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let data = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&data)
}

/// Parses /proc/PID/stat. The command name may hold spaces and parentheses,
/// so fields are counted from the last ')'.
fn parse_stat(data: &str) -> Option<ProcStat> {
    let rest = &data[data.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state come fields 4..; starttime is field 22.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// A process handle that cannot be confused with a later process that
/// reuses its PID: a pidfd, opened only after the start time matched.
pub struct Pidfd(std::os::fd::OwnedFd);

impl Pidfd {
    /// Opens `pid` if it is still the process that started at `start_time`
    /// and has not exited.
    pub fn open(pid: i32, start_time: u64) -> Option<Pidfd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes no pointers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor this function owns.
        let pidfd = Pidfd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) });
        // Checked after opening: the pidfd pins the process the check saw.
        match proc_stat(pid) {
            Some(st) if st.start_time == start_time && !st.is_dead() => Some(pidfd),
            _ => None,
        }
    }

    /// Readable once the process has exited.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    pub fn signal(&self, sig: i32) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal with a null siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        nix::errno::Errno::result(r).map(drop)
    }

    /// Waits up to `timeout_ms` for the process to exit; true once it has.
    pub fn wait_exit(&self, timeout_ms: u16) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, PollTimeout::from(timeout_ms)) {
                Err(nix::Error::EINTR) => continue,
                Ok(n) => return n > 0,
                Err(_) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 10";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.start_time, 777);
    }

    #[test]
    fn own_process_is_alive() {
        let st = proc_stat(std::process::id() as i32).unwrap();
        assert!(!st.is_dead());
        assert!(st.start_time > 0);
    }
}
