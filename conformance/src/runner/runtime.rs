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

/// A descriptor number to pass open into the runtime (the fd-leak case).
pub struct ExtraFd {
    pub file: File,
    pub target: i32,
}

pub struct Call<'a> {
    pub rt: &'a Runtime,
    pub root: &'a Path,
    pub args: Vec<String>,
    pub cwd: Option<&'a Path>,
    pub extra_fd: Option<ExtraFd>,
}

impl Call<'_> {
    pub fn run(self, sink: &Sink) -> CmdOut {
        let what = format!("{} {}", self.rt.label, self.args.join(" "));
        let mut cmd = Command::new(&self.rt.path);
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
        if let Some(extra) = &self.extra_fd {
            pass_fd(&mut cmd, extra);
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

/// dup2 in the child leaves the copy without close-on-exec, so the runtime inherits it.
fn pass_fd(cmd: &mut Command, extra: &ExtraFd) {
    use std::os::fd::AsRawFd;
    let (src, dst) = (extra.file.as_raw_fd(), extra.target);
    // SAFETY: dup2 is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(src, dst) < 0 {
                return Err(std::io::Error::last_os_error());
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
