//! Lifecycle hooks (config.md "POSIX-platform Hooks"): each runs with the
//! container's state JSON on stdin, its own args and env, and an optional
//! timeout. The caller picks the step and the namespace; this module only
//! runs the programs, in the listed order, and stops at the first failure.

use nix::sys::memfd::{MFdFlags, memfd_create};
use oci_spec::runtime::{Hook, Hooks};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    // "error running hook" is runc's wording, which its users grep for.
    #[error("error running hook: {kind} hook {path}: {what}{output}")]
    Failed {
        kind: &'static str,
        path: PathBuf,
        what: String,
        output: String,
    },
    #[error("{0}: {1}")]
    Invalid(String, &'static str),
}

/// The lifecycle steps that have hooks, in the order they run.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Prestart,
        Step::CreateRuntime,
        Step::CreateContainer,
        Step::StartContainer,
        Step::Poststart,
        Step::Poststop,
    ];

    /// The name in config.json and in the features JSON.
    pub fn name(self) -> &'static str {
        match self {
            Step::Prestart => "prestart",
            Step::CreateRuntime => "createRuntime",
            Step::CreateContainer => "createContainer",
            Step::StartContainer => "startContainer",
            Step::Poststart => "poststart",
            Step::Poststop => "poststop",
        }
    }

    /// The hooks configured for this step.
    pub fn of(self, hooks: Option<&Hooks>) -> &[Hook] {
        let Some(h) = hooks else { return &[] };
        let list = match self {
            Step::Prestart => h.prestart(),
            Step::CreateRuntime => h.create_runtime(),
            Step::CreateContainer => h.create_container(),
            Step::StartContainer => h.start_container(),
            Step::Poststart => h.poststart(),
            Step::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Runs the hooks of `step` in order, each reading `state` on stdin.
pub fn run(step: Step, hooks: Option<&Hooks>, state: &[u8]) -> Result<(), HookError> {
    for hook in step.of(hooks) {
        run_one(step.name(), hook, state, None)?;
    }
    Ok(())
}

/// As `run`, for the hooks the container's init runs (createContainer,
/// startContainer): a hook without `env` gets the process's environment,
/// as in runc, whose init has taken it on by then.
pub fn run_in_container(
    step: Step,
    hooks: Option<&Hooks>,
    state: &[u8],
    process_env: &[String],
) -> Result<(), HookError> {
    for hook in step.of(hooks) {
        run_one(step.name(), hook, state, Some(process_env))?;
    }
    Ok(())
}

/// Runs every hook of `step`, whatever the others do; returns the failures.
pub fn run_each(step: Step, hooks: Option<&Hooks>, state: &[u8]) -> Vec<HookError> {
    step.of(hooks)
        .iter()
        .filter_map(|hook| run_one(step.name(), hook, state, None).err())
        .collect()
}

/// config.md: every path is absolute and every timeout greater than zero.
pub fn validate(hooks: Option<&Hooks>) -> Result<(), HookError> {
    for step in Step::ALL {
        for (i, h) in step.of(hooks).iter().enumerate() {
            let field = format!("hooks.{}[{i}]", step.name());
            if !h.path().is_absolute() {
                return Err(HookError::Invalid(field, "path must be absolute"));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(HookError::Invalid(
                    field,
                    "timeout must be greater than zero",
                ));
            }
        }
    }
    Ok(())
}

/// `inherited`: the environment of a hook without `env`; None for the
/// runtime's own.
fn run_one(
    kind: &'static str,
    hook: &Hook,
    state: &[u8],
    inherited: Option<&[String]>,
) -> Result<(), HookError> {
    let fail = |what: String, output: String| HookError::Failed {
        kind,
        path: hook.path().clone(),
        what,
        output,
    };
    // Files rather than pipes: no reader thread, and a hook that ignores its
    // stdin or writes a lot can never block on us.
    let stdin = memfd_with(state).map_err(|e| fail(format!("stdin: {e}"), String::new()))?;
    let output = memfd_with(b"").map_err(|e| fail(format!("output: {e}"), String::new()))?;
    let mut child = command(hook, stdin, &output, inherited)
        .map_err(|e| fail(format!("output: {e}"), String::new()))?
        .spawn()
        .map_err(|e| fail(e.to_string(), String::new()))?;
    let timeout = hook.timeout().map(|t| t as u64 * 1000);
    let status = match wait(&mut child, timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // The hook and what it started, all in its process group.
            // SAFETY: kill takes no pointers; the group is the hook's own.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            let secs = hook.timeout().unwrap_or_default();
            return Err(fail(format!("timed out after {secs}s"), read_all(output)));
        }
        Err(e) => return Err(fail(format!("wait: {e}"), String::new())),
    };
    if status.success() {
        return Ok(());
    }
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (_, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        _ => status.to_string(),
    };
    Err(fail(what, read_all(output)))
}

/// "bad system call" for SIGSYS: what strsignal says, as Go's error does.
fn signal_name(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local
    // string, copied at once.
    let p = unsafe { libc::strsignal(sig) };
    if p.is_null() {
        return format!("signal {sig}");
    }
    // SAFETY: non-null, NUL-terminated (strsignal's contract).
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .to_lowercase()
}

fn command(
    hook: &Hook,
    stdin: File,
    output: &File,
    inherited: Option<&[String]>,
) -> std::io::Result<Command> {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    // A group of its own, so that a timeout aborts its children too.
    cmd.process_group(0);
    // Without `env` the hook inherits (as in runc and crun); with one, even
    // empty, it gets exactly that.
    if let Some(env) = hook.env().as_deref().or(inherited) {
        cmd.env_clear();
        for var in env {
            let (k, v) = var.split_once('=').unwrap_or((var, ""));
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(output.try_clone()?))
        .stderr(Stdio::from(output.try_clone()?));
    Ok(cmd)
}

fn memfd_with(data: &[u8]) -> std::io::Result<File> {
    let fd: OwnedFd = memfd_create(c"rt-hook", MFdFlags::MFD_CLOEXEC)?;
    let mut f = File::from(fd);
    f.write_all(data)?;
    f.rewind()?;
    Ok(f)
}

/// What the hook printed, for the error message (its tail, on one line).
fn read_all(mut f: File) -> String {
    let mut buf = String::new();
    let _ = f.rewind();
    let _ = f.read_to_string(&mut buf);
    let text = buf.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return text;
    }
    let start = text.len().saturating_sub(400);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!(": {}", &text[start..])
}

/// Waits for the hook; `None` when it is still running after `timeout_ms`.
fn wait(
    child: &mut Child,
    timeout_ms: Option<u64>,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let Some(ms) = timeout_ms else {
        return child.wait().map(Some);
    };
    // SAFETY: pidfd_open takes no pointers; the child is ours and unreaped.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let left_ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(left_ms)) {
            Ok(0) if left.is_zero() => return Ok(None),
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => return child.wait().map(Some),
            Err(e) => return Err(e.into()),
        }
    }
}
