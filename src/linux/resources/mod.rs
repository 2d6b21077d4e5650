//! `linux.resources` (everything but `devices`, which `cgroups` applies):
//! checked without touching the host when the bundle loads, then written to
//! the container's cgroup files by `create` (before the container's first
//! process exists) and by `update`.
//!
//! Each controller is set through cgroup v1 when a v1 hierarchy holds it, and
//! otherwise through the unified (v2) hierarchy when the controller is
//! available there, so a hybrid host (v1 controllers, hugetlb on cgroup2)
//! gets every controller it has. A resource whose controller is in neither is
//! an error naming it: the spec wants an error for what cannot be applied.

mod v1;
mod v2;
mod validate;

pub use validate::validate;

use crate::linux::cgroups::CgroupDir;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("{field}: write {value:?} to {}: {source}{}", path.display(), hint(source))]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("{field}: read {}: {source}", path.display())]
    Read {
        field: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(
        "{field}: the {controller} controller is neither mounted as cgroup v1 nor available in the cgroup v2 hierarchy"
    )]
    NoController {
        field: String,
        controller: &'static str,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOENT) => " (the kernel does not provide this file)",
        Some(libc::EPERM) => {
            " (not permitted; note that rt may lack CAP_SYS_RESOURCE, which some limits need)"
        }
        Some(libc::EBUSY) => " (the cgroup's current usage or state does not allow it)",
        _ => "",
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ResourceError {
    ResourceError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

type R = Result<(), ResourceError>;

/// Writes one cgroup file.
fn write(field: &str, dir: &Path, file: &str, value: &str) -> R {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| ResourceError::Write {
        field: field.to_string(),
        path,
        value: value.to_string(),
        source,
    })
}

/// Reads a cgroup file holding one number (`max` is `u64::MAX`).
fn read_u64(field: &str, dir: &Path, file: &str) -> Result<u64, ResourceError> {
    let path = dir.join(file);
    let read_err = |source| ResourceError::Read {
        field: field.to_string(),
        path: path.clone(),
        source,
    };
    let text = std::fs::read_to_string(&path).map_err(read_err)?;
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse().map_err(|_| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a number: {text:?}"),
        ))
    })
}

/// `checkBeforeUpdate`: a new limit below the current usage is refused.
fn check_usage(dir: &Path, usage_file: &str, limit: i64) -> R {
    let field = "linux.resources.memory.checkBeforeUpdate";
    let usage = read_u64(field, dir, usage_file)?;
    if limit >= 0 && (limit as u64) < usage {
        return Err(invalid(
            field,
            format!("the new limit {limit} is below the current usage {usage}"),
        ));
    }
    Ok(())
}

/// Where a controller's files are for this container.
enum Place<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

/// The container's directories, by hierarchy.
pub struct Dirs<'a> {
    v1: Vec<&'a CgroupDir>,
    v2: Option<&'a CgroupDir>,
}

impl<'a> Dirs<'a> {
    pub fn new(dirs: &'a [CgroupDir]) -> Dirs<'a> {
        Dirs {
            v1: dirs.iter().filter(|d| !d.controllers.is_empty()).collect(),
            v2: dirs.iter().find(|d| d.controllers.is_empty()),
        }
    }

    /// The v1 directory of `v1_name`, else the v2 directory with `v2_name`
    /// enabled.
    fn place(
        &self,
        field: &str,
        v1_name: &'static str,
        v2_name: &'static str,
    ) -> Result<Place<'a>, ResourceError> {
        if let Some(d) = self
            .v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == v1_name))
        {
            return Ok(Place::V1(&d.path));
        }
        let missing = || ResourceError::NoController {
            field: field.to_string(),
            controller: v1_name,
        };
        let Some(v2) = self.v2 else {
            return Err(missing());
        };
        if !v2::enable(field, v2, v2_name)? {
            return Err(missing());
        }
        Ok(Place::V2(&v2.path))
    }

    /// The v1 directory of a controller cgroup v2 does not have.
    fn v1_only(&self, field: &str, name: &'static str) -> Result<&'a Path, ResourceError> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == name))
            .map(|d| d.path.as_path())
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("the {name} controller is not mounted (cgroup v2 has none)"),
                )
            })
    }

    /// The v2 directory with `controller` enabled, for `unified` keys.
    fn v2_with(&self, field: &str, controller: &str) -> Result<&'a Path, ResourceError> {
        let v2 = self.v2.ok_or_else(|| {
            invalid(
                field,
                "no cgroup v2 hierarchy is mounted (unified keys are cgroup v2 files)",
            )
        })?;
        if controller != "cgroup" && !v2::enable(field, v2, controller)? {
            return Err(invalid(
                field,
                format!(
                    "the {controller} controller is not available in the cgroup v2 hierarchy at {}",
                    v2.mountpoint.display()
                ),
            ));
        }
        Ok(&v2.path)
    }
}

/// Applies every resource set in `res` except `devices`.
pub fn apply(dirs: &[CgroupDir], res: &LinuxResources) -> R {
    let dirs = Dirs::new(dirs);
    if let Some(m) = res.memory() {
        match dirs.place("linux.resources.memory", "memory", "memory")? {
            Place::V1(d) => v1::memory(d, m)?,
            Place::V2(d) => v2::memory(d, m)?,
        }
    }
    if let Some(c) = res.cpu() {
        let cpu_set = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some();
        if cpu_set {
            match dirs.place("linux.resources.cpu", "cpu", "cpu")? {
                Place::V1(d) => v1::cpu(d, c)?,
                Place::V2(d) => v2::cpu(d, c)?,
            }
        }
        if c.cpus().is_some() || c.mems().is_some() {
            let (Place::V1(d) | Place::V2(d)) =
                dirs.place("linux.resources.cpu.cpus", "cpuset", "cpuset")?;
            cpuset(d, c)?;
        }
    }
    if let Some(p) = res.pids() {
        let (Place::V1(d) | Place::V2(d)) = dirs.place("linux.resources.pids", "pids", "pids")?;
        let value = if p.limit() < 0 {
            "max".to_string()
        } else {
            p.limit().to_string()
        };
        write("linux.resources.pids.limit", d, "pids.max", &value)?;
    }
    if let Some(b) = res.block_io() {
        match dirs.place("linux.resources.blockIO", "blkio", "io")? {
            Place::V1(d) => v1::blkio(d, b)?,
            Place::V2(d) => v2::io(d, b)?,
        }
    }
    if let Some(limits) = res.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
        let field = "linux.resources.hugepageLimits";
        for (i, l) in limits.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let (file, value) = match dirs.place(&field, "hugetlb", "hugetlb")? {
                Place::V1(d) => (
                    d.join(format!("hugetlb.{}.limit_in_bytes", l.page_size())),
                    l.limit().to_string(),
                ),
                Place::V2(d) => (
                    d.join(format!("hugetlb.{}.max", l.page_size())),
                    max_or(l.limit()),
                ),
            };
            if !file.exists() {
                return Err(invalid(
                    field,
                    format!(
                        "page size {} is not supported by this kernel ({} does not exist)",
                        l.page_size(),
                        file.display()
                    ),
                ));
            }
            let (dir, name) = split(&file);
            write(&field, dir, name, &value)?;
        }
    }
    if let Some(n) = res.network() {
        if let Some(id) = n.class_id() {
            let field = "linux.resources.network.classID";
            let d = dirs.v1_only(field, "net_cls")?;
            write(field, d, "net_cls.classid", &id.to_string())?;
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let field = format!("linux.resources.network.priorities[{i}]");
            let d = dirs.v1_only(&field, "net_prio")?;
            let value = format!("{} {}", p.name(), p.priority());
            write(&field, d, "net_prio.ifpriomap", &value)?;
        }
    }
    if let Some(rdma) = res.rdma() {
        for (dev, limit) in rdma {
            let field = format!("linux.resources.rdma[{dev:?}]");
            let (Place::V1(d) | Place::V2(d)) = dirs.place(&field, "rdma", "rdma")?;
            let mut value = dev.clone();
            if let Some(h) = limit.hca_handles() {
                value.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = limit.hca_objects() {
                value.push_str(&format!(" hca_object={o}"));
            }
            write(&field, d, "rdma.max", &value)?;
        }
    }
    if let Some(unified) = res.unified() {
        let mut keys: Vec<&String> = unified.keys().collect();
        keys.sort();
        for key in keys {
            let field = format!("linux.resources.unified[{key:?}]");
            let controller = key.split('.').next().unwrap_or_default();
            let d = dirs.v2_with(&field, controller)?;
            write(&field, d, key, &unified[key])?;
        }
    }
    Ok(())
}

fn split(path: &Path) -> (&Path, &str) {
    (
        path.parent().unwrap_or(Path::new("/")),
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default(),
    )
}

/// A v2 limit: `max` for -1 (unlimited).
fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

fn cpuset(dir: &Path, c: &oci_spec::runtime::LinuxCpu) -> R {
    if let Some(cpus) = c.cpus() {
        write("linux.resources.cpu.cpus", dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems() {
        write("linux.resources.cpu.mems", dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = write(
            "linux.resources.memory.limit",
            Path::new("/nonexistent-rt"),
            "memory.max",
            "1",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "linux.resources.memory.limit: write \"1\" to /nonexistent-rt/memory.max"
            ),
            "{e}"
        );
    }
}
