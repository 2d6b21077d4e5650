//! Namespaces (config-linux.md "Namespaces"): a listed type with a `path` is
//! joined, one without is created, an unlisted type is shared with the host.

use nix::sched::{CloneFlags, setns, unshare};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("linux.namespaces: {kind} namespace path {path}: {source}")]
    Open {
        kind: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setns into {kind} namespace {path}: {source}")]
    Join {
        kind: String,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("unshare namespaces: {0}")]
    Unshare(nix::Error),
    #[error("linux.timeOffsets: unknown clock {0:?} (monotonic or boottime)")]
    Clock(String),
    #[error("write /proc/self/timens_offsets: {0}")]
    TimeOffsets(std::io::Error),
}

struct Join {
    kind: LinuxNamespaceType,
    path: PathBuf,
    fd: OwnedFd,
}

/// What to do with namespaces, decided in the parent; the namespace files
/// are opened there so a wrong path fails before anything is created.
pub struct NamespacePlan {
    joins: Vec<Join>,
    /// Namespaces to create.
    pub new: CloneFlags,
    /// "monotonic SECS NANOS\n..." for a new time namespace.
    time_offsets: String,
}

impl NamespacePlan {
    pub fn new(spec: &Spec) -> Result<NamespacePlan, NamespaceError> {
        let linux = spec.linux().as_ref();
        let mut plan = NamespacePlan {
            joins: Vec::new(),
            new: CloneFlags::empty(),
            time_offsets: String::new(),
        };
        let listed = linux.and_then(|l| l.namespaces().as_ref());
        for ns in listed.into_iter().flatten() {
            let kind = ns.typ();
            match ns.path() {
                None => plan.new |= clone_flag(kind),
                Some(path) => {
                    let fd = File::open(path)
                        .map_err(|source| NamespaceError::Open {
                            kind: kind.to_string(),
                            path: path.clone(),
                            source,
                        })?
                        .into();
                    plan.joins.push(Join {
                        kind,
                        path: path.clone(),
                        fd,
                    });
                }
            }
        }
        // The user namespace first: joining it grants the rights to join the others.
        plan.joins
            .sort_by_key(|j| j.kind != LinuxNamespaceType::User);
        for (clock, off) in linux
            .and_then(|l| l.time_offsets().as_ref())
            .into_iter()
            .flatten()
        {
            if clock != "monotonic" && clock != "boottime" {
                return Err(NamespaceError::Clock(clock.clone()));
            }
            plan.time_offsets += &format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            );
        }
        Ok(plan)
    }

    /// Joins of every namespace of `kinds` that process `pid` is in: how
    /// `exec` enters a running container.
    pub fn join_process(
        pid: i32,
        kinds: impl Iterator<Item = LinuxNamespaceType>,
    ) -> Result<NamespacePlan, NamespaceError> {
        let mut plan = NamespacePlan {
            joins: Vec::new(),
            new: CloneFlags::empty(),
            time_offsets: String::new(),
        };
        for kind in kinds {
            let path = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(kind)));
            let fd = File::open(&path)
                .map_err(|source| NamespaceError::Open {
                    kind: kind.to_string(),
                    path: path.clone(),
                    source,
                })?
                .into();
            plan.joins.push(Join { kind, path, fd });
        }
        plan.joins
            .sort_by_key(|j| j.kind != LinuxNamespaceType::User);
        Ok(plan)
    }

    pub fn creates(&self, kind: LinuxNamespaceType) -> bool {
        self.new.contains(clone_flag(kind))
    }

    pub fn joins(&self, kind: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.kind == kind)
    }

    /// A new PID or time namespace only applies to children, so the
    /// container's init must be forked after `enter`.
    pub fn needs_fork(&self) -> bool {
        self.creates(LinuxNamespaceType::Pid)
            || self.joins(LinuxNamespaceType::Pid)
            || self.creates(LinuxNamespaceType::Time)
            || self.joins(LinuxNamespaceType::Time)
    }

    /// Joins the namespaces given by path, then creates the new ones.
    /// The namespace files opened for joining, which the child needs.
    pub fn fds(&self) -> impl Iterator<Item = std::os::fd::RawFd> + '_ {
        use std::os::fd::AsRawFd;
        self.joins.iter().map(|j| j.fd.as_raw_fd())
    }

    pub fn enter(&self) -> Result<(), NamespaceError> {
        for j in &self.joins {
            setns(&j.fd, clone_flag(j.kind)).map_err(|source| NamespaceError::Join {
                kind: j.kind.to_string(),
                path: j.path.clone(),
                source,
            })?;
        }
        unshare(self.new).map_err(NamespaceError::Unshare)?;
        if !self.time_offsets.is_empty() {
            std::fs::write("/proc/self/timens_offsets", &self.time_offsets)
                .map_err(NamespaceError::TimeOffsets)?;
        }
        Ok(())
    }
}

/// The namespace's name under /proc/PID/ns.
fn proc_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}
