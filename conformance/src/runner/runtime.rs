//! The runtime under test and how it is invoked: `RUNTIME --root STATE ARGS...`,
//! output captured in files (a container keeps its runtime's stdout and stderr
//! open, so pipes would never reach end of file), every call under a timeout.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for one runtime call: a hang is a failure, not a stuck suite.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Set in every runtime call's environment; a container must not see it.
pub const HOST_ENV_MARKER: &str = "RT_CONFORMANCE_HOST_ONLY=leaked";

#[derive(Clone, Debug)]
pub struct Runtime {
    pub path: PathBuf,
    /// "rt", "runc", "crun": the first word of `--version`, for reports.
    pub label: String,
}

impl Runtime {
    pub fn detect(path: &str) -> Result<Runtime, String> {
        let path = std::fs::canonicalize(path).map_err(|e| format!("runtime {path}: {e}"))?;
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let label = text
            .split_whitespace()
            .next()
            .filter(|_| out.status.success())
            .ok_or_else(|| format!("{} --version printed nothing", path.display()))?
            .to_owned();
        Ok(Runtime { path, label })
    }
}

/// What one call did.
#[derive(Debug)]
pub struct CmdOut {
    pub what: String,
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOut {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// A failure the caller can see: non-zero exit, not a crash or a timeout.
    pub fn failed_cleanly(&self) -> bool {
        self.status
            .is_some_and(|s| s.code().is_some_and(|c| c != 0))
    }

    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => format!("timed out after {CALL_TIMEOUT:?}"),
        };
        format!(
            "`{}` {status}; stdout: {:?}; stderr: {:?}",
            self.what,
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }
}

fn clip(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(600) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Where a call's stdout and stderr go; `append` keeps what earlier calls
/// (and their containers) wrote.
pub struct Sink<'a> {
    pub out: &'a Path,
    pub err: &'a Path,
    pub append: bool,
}

/// A descriptor number to pass open into the runtime (the fd-leak and
/// --preserve-fds cases).
pub struct ExtraFd {
    pub file: File,
    pub target: i32,
}

pub struct Call<'a> {
    pub rt: &'a Runtime,
    pub root: &'a Path,
    pub args: Vec<String>,
    pub cwd: Option<&'a Path>,
    pub extra_fds: Vec<ExtraFd>,
    /// Socket activation: LISTEN_FDS=N and LISTEN_PID the runtime's own
    /// PID, which a shell that execs the runtime knows as `$$`.
    pub listen_fds: Option<u32>,
}

impl Call<'_> {
    pub fn run(self, sink: &Sink) -> CmdOut {
        let what = format!("{} {}", self.rt.label, self.args.join(" "));
        let mut cmd = match self.listen_fds {
            Some(n) => {
                let mut c = Command::new("/bin/sh");
                let script = format!("LISTEN_PID=$$ LISTEN_FDS={n} exec \"$0\" \"$@\"");
                c.arg("-c").arg(script).arg(&self.rt.path);
                c
            }
            None => Command::new(&self.rt.path),
        };
        cmd.arg("--root").arg(self.root).args(&self.args);
        cmd.stdin(Stdio::null());
        let (k, v) = HOST_ENV_MARKER.split_once('=').unwrap_or(("", ""));
        cmd.env(k, v);
        if let Some(dir) = self.cwd {
            cmd.current_dir(dir);
        }
        let failed = |e: std::io::Error| CmdOut {
            what: what.clone(),
            status: None,
            stdout: String::new(),
            stderr: format!("cannot run: {e}"),
        };
        match (
            open_sink(sink.out, sink.append),
            open_sink(sink.err, sink.append),
        ) {
            (Ok(o), Ok(e)) => {
                cmd.stdout(o).stderr(e);
            }
            (Err(e), _) | (_, Err(e)) => return failed(e),
        }
        if !self.extra_fds.is_empty() {
            pass_fds(&mut cmd, &self.extra_fds);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let status = wait_timeout(child, CALL_TIMEOUT);
        CmdOut {
            what,
            status,
            stdout: std::fs::read_to_string(sink.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(sink.err).unwrap_or_default(),
        }
    }
}

fn open_sink(p: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(p)
}

/// Each file at its target number in the child, open across exec. The
/// files go to high numbers first, so that no dup2 lands on a file not yet
/// moved, and FD_CLOEXEC is cleared explicitly: a dup2 onto the number the
/// file already has would keep it.
fn pass_fds(cmd: &mut Command, extra: &[ExtraFd]) {
    use std::os::fd::AsRawFd;
    const MAX: usize = 8;
    assert!(extra.len() <= MAX, "at most {MAX} extra descriptors");
    let n = extra.len();
    let mut pairs = [(-1i32, -1i32); MAX];
    for (slot, e) in pairs.iter_mut().zip(extra) {
        *slot = (e.file.as_raw_fd(), e.target);
    }
    // SAFETY: fcntl and dup2 are async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [-1i32; MAX];
            for i in 0..n {
                high[i] = libc::fcntl(pairs[i].0, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for i in 0..n {
                let dst = pairs[i].1;
                if libc::dup2(high[i], dst) < 0 || libc::fcntl(dst, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Waits up to `timeout`; on expiry kills the child (ours) and returns None.
pub fn wait_timeout(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
