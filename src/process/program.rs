//! The user program as the container's process runs it: args[0] found on
//! the process's PATH, the environment (deduplicated, HOME and PATH
//! defaults), the working directory, and the execve itself.

use super::init::InitError;
use crate::linux::user;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// args[0] as execve needs it: a path as given, or found on the process's PATH.
pub(super) fn find_executable(name: &str, env: &[String]) -> Result<PathBuf, InitError> {
    if name.contains('/') {
        use std::os::unix::fs::PermissionsExt;
        return match std::fs::metadata(name) {
            Err(e) => Err(InitError::NotExecutable(
                name.to_string(),
                format!("stat {name}: {}", io_text(&e)),
            )),
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(PathBuf::from(name)),
            Ok(_) => Err(InitError::NotExecutable(
                name.to_string(),
                "permission denied".into(),
            )),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| InitError::NotFound(name.to_string()))
}

/// An I/O error as Go words it ("no such file or directory").
fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A container's working directory is created when missing, as runc does,
/// while still root (`exec` does not create it).
pub(super) fn make_cwd(cwd: &Path) -> Result<(), InitError> {
    std::fs::create_dir_all(cwd).map_err(|e| InitError::Cwd(cwd.to_path_buf(), e.to_string()))
}

/// Enters cwd, and checks it lies inside the container: a leaked host
/// directory fd must not become the cwd (CVE-2024-21626). With
/// `may_be_denied`, a permission error is no failure: false, to try again
/// later.
pub(super) fn enter_cwd(cwd: &Path, may_be_denied: bool) -> Result<bool, InitError> {
    use nix::errno::Errno;
    let fail = |why: String| InitError::Cwd(cwd.to_path_buf(), why);
    match nix::unistd::chdir(cwd) {
        Ok(()) => {}
        Err(Errno::EACCES | Errno::EPERM) if may_be_denied => return Ok(false),
        Err(e) => return Err(fail(e.to_string())),
    }
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(true),
        Ok(p) => Err(fail(format!(
            "resolves outside the container ({})",
            p.display()
        ))),
        Err(e) => Err(fail(format!("resolves outside the container ({e})"))),
    }
}

pub(super) fn dedup_env(env: &[String]) -> Vec<String> {
    let name = |e: &str| e.split_once('=').map_or(e, |(n, _)| n).to_string();
    let mut out: Vec<String> = Vec::with_capacity(env.len() + 1);
    for e in env {
        match out.iter_mut().find(|o| name(o) == name(e)) {
            Some(slot) => slot.clone_from(e),
            None => out.push(e.clone()),
        }
    }
    out
}

/// The environment execve gets: a name given twice keeps its first place
/// and its last value (runc sets each entry in turn, so `exec --env` and
/// LISTEN_FDS override the config's), and HOME comes from /etc/passwd when
/// missing.
pub(super) fn program_env(env: &[String], uid: u32) -> Vec<String> {
    let mut out = dedup_env(env);
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={}", user::home_dir(uid)));
    }
    out
}

/// The program with its arguments and environment as execve takes them,
/// built before `Ready` so that a NUL byte is reported to `create`.
pub(super) struct Program {
    exe: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl Program {
    pub(super) fn new(exe: PathBuf, args: &[String], env: &[String]) -> Result<Program, InitError> {
        let nul = |field: &'static str| move |_| InitError::Nul(field);
        let list = |v: &[String], field| -> Result<Vec<CString>, InitError> {
            v.iter()
                .map(|s| CString::new(s.as_str()).map_err(nul(field)))
                .collect()
        };
        Ok(Program {
            exe: CString::new(exe.into_os_string().into_encoded_bytes())
                .map_err(nul("process.args"))?,
            args: list(args, "process.args")?,
            env: list(env, "process.env")?,
        })
    }

    pub(super) fn exec(&self) -> ! {
        let err = nix::unistd::execve(&self.exe, &self.args, &self.env).unwrap_err();
        // The parent is gone by now: the program's stderr is the only place left.
        eprintln!("rt: exec {:?}: {err}", self.exe);
        // SAFETY: nothing to clean up in a process that failed to become the program.
        unsafe { libc::_exit(127) }
    }
}
