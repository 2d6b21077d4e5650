//! Container state: one directory per container under the root, holding
//! `state.json` (written atomically) and the `exec.fifo` that `start` writes to.
//!
//! Every command that changes a container holds an exclusive `flock` on its
//! directory. `create` makes the directory under a temporary name, locks it
//! and renames it into place, so no other command ever sees it unlocked and
//! half-made.

mod json;
mod process;

pub use json::StateJson;
pub use process::{Pidfd, proc_stat};

use crate::clock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

const STATE_FILE: &str = "state.json";
const EXEC_FIFO: &str = "exec.fifo";
const START_FIFO: &str = "start.fifo";
const CONFIG_FILE: &str = "config.json";
const MAX_ID_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotExist(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The spec's statuses (runtime.md "State"), and runc's `paused` (the
/// spec lets a runtime add statuses).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// What rt records about a container; `state` derives the live status from it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot), against PID reuse.
    pub pid_start: u64,
    /// `created` until `start` has released the program, then `running`
    /// (`paused` between `pause` and `resume`).
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directory in each hierarchy.
    pub cgroup_dirs: Vec<PathBuf>,
    /// Whether the container has its own PID namespace (otherwise `delete`
    /// must kill every process of its cgroup, not only init).
    pub own_pid_ns: bool,
    /// The config's hooks as they were at create: later edits of config.json
    /// must not affect the container (runtime.md "Lifecycle" step 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Created with --no-new-keyring: `exec` keeps its caller's session keyring too.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// The resctrl directories create made (linux.intelRdt), which delete removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdt_dirs: Vec<PathBuf>,
    /// The resctrl groups of the container's processes, which `exec` joins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdt_groups: Vec<PathBuf>,
}

impl Record {
    pub fn new(id: &str, bundle: &Path, rootfs: &Path) -> Record {
        Record {
            id: id.to_string(),
            pid: 0,
            pid_start: 0,
            status: Status::Creating,
            bundle: bundle.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            created: clock::rfc3339_now(true),
            annotations: HashMap::new(),
            cgroup_dirs: Vec::new(),
            own_pid_ns: true,
            hooks: None,
            no_new_keyring: false,
            rdt_dirs: Vec::new(),
            rdt_groups: Vec::new(),
        }
    }

    /// Whether `start` must wait for init to run the program before it
    /// returns: startContainer hooks may fail, poststart must follow it.
    pub fn start_waits_for_program(&self) -> bool {
        use crate::linux::hooks::Step;
        let hooks = self.hooks.as_ref();
        !Step::StartContainer.of(hooks).is_empty() || !Step::Poststart.of(hooks).is_empty()
    }

    /// The status the container is in now: the recorded one while its init
    /// lives, `stopped` once it is gone, a zombie, or its PID was reused.
    pub fn live_status(&self) -> Status {
        if self.status == Status::Creating || self.pid <= 0 {
            return self.status;
        }
        match proc_stat(self.pid) {
            Some(st) if st.start_time == self.pid_start && !st.is_dead() => self.status,
            _ => Status::Stopped,
        }
    }
}

/// Validates a container ID the way runc does (`[\w+\-.]+`, not `.` or `..`),
/// so it is always a single safe path component.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::InvalidId(id.to_string(), why));
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("not a valid name");
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if !id.chars().all(ok) {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

/// The default state root: /run/rt for root, $XDG_RUNTIME_DIR/rt otherwise.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/rt");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("rt"),
        _ => PathBuf::from(format!("/run/user/{}/rt", nix::unistd::geteuid())),
    }
}

/// A container's state directory, locked for as long as this value lives.
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Makes the directory for a new container, locked; fails if the ID is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(io_err("create state root", root))?;
        let dir = root.join(id);
        if dir.exists() {
            return Err(StateError::Exists(id.to_string()));
        }
        let tmp = root.join(format!(".{id}.{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(io_err("mkdir", &tmp))?;
        let lock = match lock_dir(&tmp) {
            Ok(lock) => lock,
            Err(e) => {
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = rename_noreplace(&tmp, &dir) {
            let _ = std::fs::remove_dir(&tmp);
            return Err(match e.raw_os_error() {
                Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => StateError::Exists(id.to_string()),
                _ => io_err("rename", &dir)(e),
            });
        }
        Ok(StateDir { dir, _lock: lock })
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let dir = root.join(id);
        let lock = lock_dir(&dir).map_err(|e| match e {
            StateError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                StateError::NotExist(id.to_string())
            }
            other => other,
        })?;
        Ok(StateDir { dir, _lock: lock })
    }

    /// Where init reports how `start` went when the container has
    /// startContainer or poststart hooks (see `start`).
    pub fn start_fifo(&self) -> PathBuf {
        self.dir.join(START_FIFO)
    }

    pub fn exec_fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<Record, StateError> {
        load_record(&self.dir)
    }

    /// Writes state.json atomically: a reader sees the old or the new record.
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(".state.json.tmp");
        let data = serde_json::to_vec(record).expect("state serializes");
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&data).map_err(io_err("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))
    }

    /// Keeps the config the container was created from: `exec` starts its
    /// processes from it, whatever happened to the bundle's config.json since.
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<(), StateError> {
        let path = self.dir.join(CONFIG_FILE);
        let data = serde_json::to_vec(spec).expect("spec serializes");
        std::fs::write(&path, data).map_err(io_err("write", &path))
    }

    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec, StateError> {
        let path = self.dir.join(CONFIG_FILE);
        let data = std::fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&data).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Removes the directory and everything in it.
    pub fn destroy(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err("remove", &self.dir))
    }
}

/// Reads a container's record without locking: `state` and `list` must stay
/// cheap and must not wait behind a `create` in progress.
pub fn read_record(root: &Path, id: &str) -> Result<Option<Record>, StateError> {
    validate_id(id)?;
    let dir = root.join(id);
    if !dir.is_dir() {
        return Err(StateError::NotExist(id.to_string()));
    }
    match load_record(&dir) {
        Ok(r) => Ok(Some(r)),
        // A directory without state.json is a container still being created.
        Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// IDs of every container under the root, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", root)(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| validate_id(name).is_ok() && !name.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

/// The user name owning a container's state directory (runc's `owner`).
pub fn owner(root: &Path, id: &str) -> String {
    let uid = std::fs::metadata(root.join(id)).map_or(0, |m| m.uid());
    crate::linux::user::user_name(uid).unwrap_or_else(|| uid.to_string())
}

fn load_record(dir: &Path) -> Result<Record, StateError> {
    let path = dir.join(STATE_FILE);
    let data = std::fs::read(&path).map_err(io_err("read", &path))?;
    serde_json::from_slice(&data).map_err(|source| StateError::Corrupt { path, source })
}

fn lock_dir(dir: &Path) -> Result<File, StateError> {
    let f = File::open(dir).map_err(io_err("open", dir))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io_err("lock", dir)(std::io::Error::last_os_error()));
    }
    Ok(f)
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        from,
        nix::fcntl::AT_FDCWD,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_safe_components() {
        for ok in ["a", "abc-1.2_3+x", "..a", "a.."] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            &"x".repeat(1025),
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
