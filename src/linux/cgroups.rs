//! cgroups: the container's directory in every mounted hierarchy (v1, v2 and
//! the hybrid of both), placing processes there, the device rules, and
//! removal. Resource limits are `resources`' work.

use super::{bpfdev, devrules};
use oci_spec::runtime::LinuxDeviceCgroup;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("linux.cgroupsPath {0:?}: {1}")]
    BadPath(PathBuf, &'static str),
    #[error("container's cgroup unexpectedly frozen: {0}")]
    Frozen(PathBuf),
    #[error("--systemd-cgroup is not supported by rt yet")]
    Systemd,
    #[error("linux.resources.devices: no cgroup v1 devices hierarchy and no cgroup v2 hierarchy")]
    NoDevicesController,
    #[error(transparent)]
    DeviceProgram(#[from] super::bpfdev::BpfError),
    #[error("config.json: {0}")]
    DeviceRules(#[from] super::devrules::DevRuleError),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One mounted hierarchy and the container's directory in it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CgroupDir {
    pub mountpoint: PathBuf,
    pub path: PathBuf,
    /// Controllers of a v1 hierarchy (`name=systemd` included); empty for v2.
    pub controllers: Vec<String>,
}

struct Hierarchy {
    mountpoint: PathBuf,
    controllers: Vec<String>,
    v2: bool,
}

/// The mounted cgroup hierarchies, from /proc/self/mountinfo.
fn hierarchies() -> Result<Vec<Hierarchy>, CgroupError> {
    let path = Path::new("/proc/self/mountinfo");
    let data = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    Ok(data.lines().filter_map(parse_mountinfo_line).collect())
}

fn parse_mountinfo_line(line: &str) -> Option<Hierarchy> {
    let (pre, post) = line.split_once(" - ")?;
    let mountpoint = PathBuf::from(pre.split(' ').nth(4)?);
    let mut post = post.split(' ');
    let fstype = post.next()?;
    let super_opts = post.nth(1)?;
    match fstype {
        "cgroup2" => Some(Hierarchy {
            mountpoint,
            controllers: Vec::new(),
            v2: true,
        }),
        "cgroup" => Some(Hierarchy {
            mountpoint,
            controllers: super_opts
                .split(',')
                .filter(|o| !is_generic_v1_option(o))
                .map(str::to_string)
                .collect(),
            v2: false,
        }),
        _ => None,
    }
}

/// Mount options of a v1 hierarchy that are not controllers.
fn is_generic_v1_option(opt: &str) -> bool {
    matches!(
        opt,
        "rw" | "ro" | "xattr" | "noprefix" | "clone_children" | "cpuset_v2_mode" | "none"
    ) || opt.starts_with("release_agent=")
}

/// This process's own cgroup in a hierarchy, for relative cgroupsPaths.
fn own_cgroup(h: &Hierarchy) -> PathBuf {
    let data = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    data.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            Some((f.next()?, f.next()?, f.next()?))
        })
        .find(|(_, ctrls, _)| {
            if h.v2 {
                ctrls.is_empty()
            } else {
                let mine: Vec<&str> = ctrls.split(',').collect();
                h.controllers.iter().all(|c| mine.contains(&c.as_str()))
                    && mine.len() == h.controllers.len()
            }
        })
        .map_or_else(|| PathBuf::from("/"), |(_, _, p)| PathBuf::from(p))
}

/// A container cgroup being made; dropped without `keep()` it removes every
/// directory it created, so a failed create leaves nothing behind.
pub struct NewCgroup {
    pub dirs: Vec<CgroupDir>,
    created: Vec<PathBuf>,
    kept: bool,
}

/// Makes the container's directory in every hierarchy.
/// An absolute cgroupsPath is taken from each hierarchy's root; a relative
/// one (or the container ID when empty) from rt's own cgroup, as runc does.
pub fn create(cgroups_path: Option<&Path>, id: &str) -> Result<NewCgroup, CgroupError> {
    let inner = cgroups_path
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new(id));
    check_inner_path(inner)?;
    let mut cg = NewCgroup {
        dirs: Vec::new(),
        created: Vec::new(),
        kept: false,
    };
    for h in hierarchies()? {
        let base = if inner.is_absolute() {
            h.mountpoint.clone()
        } else {
            h.mountpoint
                .join(own_cgroup(&h).strip_prefix("/").unwrap_or(Path::new("")))
        };
        let path = base.join(inner.strip_prefix("/").unwrap_or(inner));
        let is_cpuset = h.controllers.iter().any(|c| c == "cpuset");
        cg.mkdir_all(&h.mountpoint, &path, is_cpuset)?;
        cg.dirs.push(CgroupDir {
            mountpoint: h.mountpoint,
            path,
            controllers: h.controllers,
        });
    }
    // Directories made just now are empty and thawed.
    let existing: Vec<&CgroupDir> = cg
        .dirs
        .iter()
        .filter(|d| !cg.created.contains(&d.path))
        .collect();
    check_reusable(&existing)?;
    Ok(cg)
}

/// An existing cgroup is joined as it is, as runc does, but a frozen one
/// would freeze the container's process at once (and `create` with it),
/// and processes already there share its limits: runc's error and warning.
fn check_reusable(dirs: &[&CgroupDir]) -> Result<(), CgroupError> {
    for d in dirs {
        let (file, thawed) = match d.controllers.iter().any(|c| c == "freezer") {
            true => ("freezer.state", "THAWED"),
            false => ("cgroup.freeze", "0"),
        };
        let state = std::fs::read_to_string(d.path.join(file)).unwrap_or_default();
        if !state.trim().is_empty() && state.trim() != thawed {
            return Err(CgroupError::Frozen(d.path.clone()));
        }
    }
    let n = procs(&dirs.iter().map(|d| d.path.clone()).collect::<Vec<_>>()).len();
    if n > 0 {
        crate::logging::warn(&format!(
            "container's cgroup is not empty: {n} process(es) found"
        ));
    }
    Ok(())
}

fn check_inner_path(inner: &Path) -> Result<(), CgroupError> {
    let s = inner.to_string_lossy();
    if !inner.is_absolute() && s.split(':').count() == 3 {
        return Err(CgroupError::BadPath(
            inner.to_path_buf(),
            "a systemd slice:prefix:name path needs --systemd-cgroup, which rt does not support yet",
        ));
    }
    if inner.components().any(|c| c == Component::ParentDir) {
        return Err(CgroupError::BadPath(
            inner.to_path_buf(),
            "must not contain ..",
        ));
    }
    Ok(())
}

impl NewCgroup {
    /// Makes `path` and its missing parents. Another container's failed
    /// create may remove a shared parent it made between our check and our
    /// mkdir (ENOENT): then the walk starts again.
    fn mkdir_all(
        &mut self,
        mountpoint: &Path,
        path: &Path,
        cpuset: bool,
    ) -> Result<(), CgroupError> {
        let mut attempts = 0;
        loop {
            match self.mkdir_missing(mountpoint, path, cpuset) {
                Err(CgroupError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempts < 5 =>
                {
                    attempts += 1;
                }
                result => return result,
            }
        }
    }

    fn mkdir_missing(
        &mut self,
        mountpoint: &Path,
        path: &Path,
        cpuset: bool,
    ) -> Result<(), CgroupError> {
        let mut missing = Vec::new();
        let mut p = path;
        while p != mountpoint && !p.exists() {
            missing.push(p.to_path_buf());
            p = p.parent().unwrap_or(mountpoint);
        }
        for dir in missing.into_iter().rev() {
            match std::fs::create_dir(&dir) {
                Ok(()) => self.created.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("mkdir", &dir)(e)),
            }
        }
        if cpuset {
            // Every level from the top, not only the ones made here: a
            // parent another create just made may not have its CPUs yet.
            let below = path.strip_prefix(mountpoint).unwrap_or(Path::new(""));
            let mut dir = mountpoint.to_path_buf();
            for part in below.components() {
                dir.push(part);
                inherit_cpuset(&dir)?;
            }
        }
        Ok(())
    }

    /// Applies the device rules (see `devrules`): lines written to the v1
    /// devices controller, or on cgroup v2 an eBPF program attached to the
    /// container's cgroup.
    pub fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
        if rules.is_empty() {
            return Ok(());
        }
        let list = devrules::container_rules(rules);
        if let Some(dir) = self
            .dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == "devices"))
        {
            // The v1 controller cannot express every list; an eBPF program can.
            devrules::check_v1(rules)?;
            for rule in &list {
                write_device_rule(&dir.path, rule.allow, &rule.v1_line())?;
            }
            return Ok(());
        }
        let v2 = self
            .dirs
            .iter()
            .find(|d| d.controllers.is_empty())
            .ok_or(CgroupError::NoDevicesController)?;
        bpfdev::apply(&v2.path, &list)?;
        Ok(())
    }

    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for d in &self.dirs {
            let procs = d.path.join("cgroup.procs");
            std::fs::write(&procs, pid.to_string()).map_err(io_err("write", &procs))?;
        }
        Ok(())
    }

    /// The container owns the directories from now on; `delete` removes them.
    pub fn keep(mut self) -> Vec<CgroupDir> {
        self.kept = true;
        std::mem::take(&mut self.dirs)
    }
}

impl Drop for NewCgroup {
    fn drop(&mut self) {
        if !self.kept {
            for dir in self.created.iter().rev() {
                let _ = remove_dir(dir);
            }
        }
    }
}

/// A new v1 cpuset starts with no CPUs and no memory nodes, and no task can
/// join it: it gets its parent's, as runc does.
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let current = std::fs::read_to_string(&own).map_err(io_err("read", &own))?;
        if current.trim().is_empty() {
            let from = parent.join(file);
            let value = std::fs::read_to_string(&from).map_err(io_err("read", &from))?;
            std::fs::write(&own, value.trim()).map_err(io_err("write", &own))?;
        }
    }
    Ok(())
}

fn write_device_rule(dir: &Path, allow: bool, rule: &str) -> Result<(), CgroupError> {
    let file = dir.join(if allow {
        "devices.allow"
    } else {
        "devices.deny"
    });
    std::fs::write(&file, rule).map_err(io_err("write", &file))
}

/// Moves `pid` into the cgroup directory `dir` (how `exec` joins a container).
pub fn join(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string()).map_err(io_err("write", &procs))
}

/// The hierarchy of each of a container's directories (as `create` made
/// them), for commands that change a live container's cgroups.
pub fn dirs_of(paths: &[PathBuf]) -> Result<Vec<CgroupDir>, CgroupError> {
    let hierarchies = hierarchies()?;
    Ok(paths
        .iter()
        .filter_map(|path| {
            let h = hierarchies
                .iter()
                .filter(|h| path.starts_with(&h.mountpoint))
                .max_by_key(|h| h.mountpoint.as_os_str().len())?;
            Some(CgroupDir {
                mountpoint: h.mountpoint.clone(),
                path: path.clone(),
                controllers: h.controllers.clone(),
            })
        })
        .collect())
}

/// PIDs of every process in the container's cgroup and in the sub-cgroups
/// its processes may have made (in any hierarchy), each once, as runc's
/// GetAllPids.
pub fn procs(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in dirs {
        collect_procs(dir, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) {
    let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in sub_cgroups(dir) {
        collect_procs(&sub, pids);
    }
}

/// The cgroup directories directly below `dir` (none when it is unreadable).
fn sub_cgroups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// SIGKILLs every process of the container through cgroup v2's cgroup.kill
/// (kernel 5.14+; on a hybrid host too, where the container also has a
/// unified directory); false when no directory has one.
pub fn kill_all(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .map(|d| d.join("cgroup.kill"))
        .any(|f| f.exists() && std::fs::write(&f, "1").is_ok())
}

/// Removes the container's directories, with the sub-cgroups its processes
/// made below them (deepest first, as runc's RemovePath). Removes every
/// directory it can: one busy hierarchy does not keep the others. The first
/// failure is returned.
pub fn remove(dirs: &[PathBuf]) -> Result<(), CgroupError> {
    let mut first = None;
    for dir in dirs {
        if let Err(e) = remove_tree(dir) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in sub_cgroups(dir) {
        remove_tree(&sub)?;
    }
    remove_dir(dir).map_err(io_err("remove", dir))
}

/// rmdir, retrying while the last exiting tasks leave the cgroup.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_mountinfo() {
        let v1 = "35 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory";
        let h = parse_mountinfo_line(v1).unwrap();
        assert_eq!(h.mountpoint, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(h.controllers, vec!["memory"]);
        let named = "30 25 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd";
        assert_eq!(
            parse_mountinfo_line(named).unwrap().controllers,
            vec!["name=systemd"]
        );
        let v2 = "29 25 0:25 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate";
        assert!(parse_mountinfo_line(v2).unwrap().v2);
        assert!(parse_mountinfo_line("22 1 0:5 / /dev rw - devtmpfs udev rw").is_none());
    }

    #[test]
    fn refuses_systemd_and_dotdot_paths() {
        assert!(check_inner_path(Path::new("system.slice:rt:abc")).is_err());
        assert!(check_inner_path(Path::new("/a/../../b")).is_err());
        assert!(check_inner_path(Path::new("/rt-test/x")).is_ok());
    }
}
