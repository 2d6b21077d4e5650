//! Freezing a container's processes for `pause` and `resume`: the cgroup v1
//! freezer when it is mounted (as runc does on a hybrid host), otherwise
//! cgroup v2's `cgroup.freeze`.

use crate::linux::cgroups::CgroupDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the container has no freezer: no cgroup v1 freezer hierarchy is mounted and it has no cgroup v2 cgroup.freeze"
    )]
    NoFreezer,
    #[error("{path}: the cgroup did not reach {want} within 5 s (it is {state})")]
    Timeout {
        path: PathBuf,
        want: &'static str,
        state: String,
    },
}

const TIMEOUT: Duration = Duration::from_secs(5);

enum Freezer {
    /// A v1 freezer directory.
    V1(PathBuf),
    /// A v2 cgroup directory.
    V2(PathBuf),
}

fn find(dirs: &[CgroupDir]) -> Result<Freezer, FreezeError> {
    if let Some(d) = dirs
        .iter()
        .find(|d| d.controllers.iter().any(|c| c == "freezer"))
    {
        return Ok(Freezer::V1(d.path.clone()));
    }
    dirs.iter()
        .find(|d| d.controllers.is_empty() && d.path.join("cgroup.freeze").exists())
        .map(|d| Freezer::V2(d.path.clone()))
        .ok_or(FreezeError::NoFreezer)
}

fn read(path: &Path) -> Result<String, FreezeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| FreezeError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })
}

fn write(path: &Path, value: &str) -> Result<(), FreezeError> {
    std::fs::write(path, value).map_err(|source| FreezeError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Freezes (or thaws) every process of the container and waits until the
/// kernel reports it done.
pub fn set(dirs: &[CgroupDir], frozen: bool) -> Result<(), FreezeError> {
    let deadline = Instant::now() + TIMEOUT;
    match find(dirs)? {
        Freezer::V1(dir) => {
            let file = dir.join("freezer.state");
            let want = if frozen { "FROZEN" } else { "THAWED" };
            loop {
                // A freeze can stay FREEZING while a task is in the middle
                // of something; writing again retries it (as runc does).
                write(&file, want)?;
                let state = read(&file)?;
                if state == want {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    // Never leave a container half-frozen.
                    let _ = write(&file, "THAWED");
                    return Err(FreezeError::Timeout {
                        path: file,
                        want,
                        state,
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Freezer::V2(dir) => {
            write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
            let events = dir.join("cgroup.events");
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            loop {
                let state = read(&events)?;
                if state.lines().any(|l| l.trim() == want) {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    let _ = write(&dir.join("cgroup.freeze"), "0");
                    return Err(FreezeError::Timeout {
                        path: events,
                        want,
                        state: state.replace('\n', ", "),
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Thaws the container if it is frozen; for `kill` and `delete`, which must
/// not leave a frozen process unable to die.
pub fn thaw(dirs: &[CgroupDir]) -> Result<(), FreezeError> {
    match find(dirs) {
        Ok(_) => set(dirs, false),
        Err(FreezeError::NoFreezer) => Ok(()),
        Err(e) => Err(e),
    }
}
