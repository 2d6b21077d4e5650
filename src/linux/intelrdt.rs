//! linux.intelRdt: the container's resctrl group (config-linux.md
//! "IntelRdt"). The group is `closID`, or the container ID when none is
//! given (then made by create and removed by delete); with
//! `enableMonitoring` a MON group named after the container ID goes under
//! it. Without a mounted resctrl filesystem the field is an error, as the
//! spec says.

use oci_spec::runtime::LinuxIntelRdt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RdtError {
    #[error(
        "linux.intelRdt: no resctrl filesystem is mounted (Intel RDT needs one, e.g. at /sys/fs/resctrl)"
    )]
    NoResctrl,
    #[error("linux.intelRdt.{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("linux.intelRdt: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RdtError + 'a {
    move |source| RdtError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Where the container's tasks go and what is written there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdtPlan {
    /// The CTRL_MON group: the resctrl root, `closID` or the container ID.
    group: PathBuf,
    /// Whether the group is the container's own (no `closID`): made at
    /// create, removed at delete.
    own_group: bool,
    /// With `closID`: the group must exist unless there is a schema to make it with.
    must_exist: bool,
    /// The lines for the group's `schemata` file, in the spec's order.
    schemata: Vec<String>,
    /// The MON group, with enableMonitoring.
    monitor: Option<PathBuf>,
}

impl RdtPlan {
    /// The plan on the resctrl filesystem mounted in rt's mount namespace.
    pub fn new(rdt: &LinuxIntelRdt, id: &str) -> Result<RdtPlan, RdtError> {
        let root = resctrl_root().ok_or(RdtError::NoResctrl)?;
        RdtPlan::at(&root, rdt, id)
    }

    fn at(root: &Path, rdt: &LinuxIntelRdt, id: &str) -> Result<RdtPlan, RdtError> {
        let bad = |field, message: String| RdtError::Invalid { field, message };
        let clos = rdt.clos_id().as_deref();
        let group = match clos {
            None => root.join(id),
            Some("/") => root.to_path_buf(),
            Some(c) if c.is_empty() || c == "." || c == ".." || c.contains('/') => {
                return Err(bad("closID", format!("{c:?} is not a resctrl group name")));
            }
            Some(c) => root.join(c),
        };
        let mut schemata = Vec::new();
        if let Some(l3) = rdt.l3_cache_schema() {
            schemata.push(l3.clone());
        }
        if let Some(mb) = rdt.mem_bw_schema() {
            if !mb.starts_with("MB:") {
                return Err(bad(
                    "memBwSchema",
                    format!("{mb:?} does not start with MB:"),
                ));
            }
            schemata.push(mb.clone());
        }
        schemata.extend(rdt.schemata().iter().flatten().cloned());
        if let Some(line) = schemata.iter().find(|l| l.contains(['\n', '\0'])) {
            return Err(bad("schemata", format!("{line:?} contains a newline")));
        }
        Ok(RdtPlan {
            own_group: clos.is_none(),
            must_exist: clos.is_some() && schemata.is_empty(),
            monitor: (*rdt.enable_monitoring() == Some(true))
                .then(|| group.join("mon_groups").join(id)),
            group,
            schemata,
        })
    }

    /// Puts `pid` in the group (made or checked first) and its MON group.
    /// Returns the directories rt made, which delete removes.
    pub fn apply(&self, pid: i32) -> Result<Vec<PathBuf>, RdtError> {
        let mut made = Vec::new();
        let result = self.apply_into(pid, &mut made);
        if result.is_err() {
            remove(&made);
        }
        result.map(|()| made)
    }

    fn apply_into(&self, pid: i32, made: &mut Vec<PathBuf>) -> Result<(), RdtError> {
        let existed = self.group.is_dir();
        if existed && !self.own_group {
            self.check_schemata()?;
        } else if !existed && self.must_exist {
            return Err(RdtError::Invalid {
                field: "closID",
                message: format!("{} does not exist", self.group.display()),
            });
        } else if !existed {
            std::fs::create_dir(&self.group).map_err(io("mkdir", &self.group))?;
            if self.own_group {
                made.push(self.group.clone());
            }
        }
        if !self.schemata.is_empty() && (self.own_group || !existed) {
            let file = self.group.join("schemata");
            let text = self.schemata.join("\n") + "\n";
            std::fs::write(&file, text).map_err(io("write", &file))?;
        }
        write_task(&self.group, pid)?;
        if let Some(mon) = &self.monitor {
            std::fs::create_dir(mon).map_err(io("mkdir", mon))?;
            made.push(mon.clone());
            write_task(mon, pid)?;
        }
        Ok(())
    }

    /// An existing `closID` group must already hold the schemata asked for.
    fn check_schemata(&self) -> Result<(), RdtError> {
        if self.schemata.is_empty() {
            return Ok(());
        }
        let file = self.group.join("schemata");
        let current = std::fs::read_to_string(&file).map_err(io("read", &file))?;
        let norm = |s: &str| s.split_whitespace().collect::<String>();
        let have: Vec<String> = current.lines().map(norm).collect();
        match self.schemata.iter().find(|l| !have.contains(&norm(l))) {
            Some(line) => Err(RdtError::Invalid {
                field: "closID",
                message: format!(
                    "{} exists with other schemata than {line:?}",
                    self.group.display()
                ),
            }),
            None => Ok(()),
        }
    }
}

impl RdtPlan {
    /// The groups the container's processes belong to, which `exec` joins.
    pub fn groups(&self) -> Vec<PathBuf> {
        std::iter::once(self.group.clone())
            .chain(self.monitor.clone())
            .collect()
    }
}

/// Puts `pid` (an `exec`'d process) in the container's groups.
pub fn join(groups: &[PathBuf], pid: i32) -> Result<(), RdtError> {
    groups.iter().try_for_each(|g| write_task(g, pid))
}

fn write_task(group: &Path, pid: i32) -> Result<(), RdtError> {
    let tasks = group.join("tasks");
    std::fs::write(&tasks, pid.to_string()).map_err(io("write", &tasks))
}

/// Removes what `apply` made, the MON group before its parent.
pub fn remove(dirs: &[PathBuf]) {
    for dir in dirs.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The mount point of resctrl in rt's mount namespace.
fn resctrl_root() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next() != Some("resctrl") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(j: serde_json::Value) -> Result<RdtPlan, RdtError> {
        RdtPlan::at(Path::new("/r"), &serde_json::from_value(j).unwrap(), "c1")
    }

    #[test]
    fn group_is_the_container_id_without_clos_id() {
        let p = plan(
            serde_json::json!({"l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50",
            "schemata": ["L2:0=f"], "enableMonitoring": true}),
        )
        .unwrap();
        assert_eq!(p.group, Path::new("/r/c1"));
        assert!(p.own_group && !p.must_exist);
        assert_eq!(p.schemata, ["L3:0=ff", "MB:0=50", "L2:0=f"]);
        assert_eq!(p.monitor.as_deref(), Some(Path::new("/r/c1/mon_groups/c1")));
    }

    #[test]
    fn clos_id_names_a_shared_group() {
        let p = plan(serde_json::json!({"closID": "gold"})).unwrap();
        assert_eq!(p.group, Path::new("/r/gold"));
        assert!(!p.own_group && p.must_exist && p.monitor.is_none());
        let p = plan(serde_json::json!({"closID": "/"})).unwrap();
        assert_eq!(p.group, Path::new("/r"));
        let p = plan(serde_json::json!({"closID": "gold", "schemata": ["L3:0=f"]})).unwrap();
        assert!(!p.must_exist);
    }

    #[test]
    fn bad_values_name_the_field() {
        for clos in ["..", "a/b", ""] {
            let err = plan(serde_json::json!({"closID": clos})).unwrap_err();
            assert!(
                err.to_string().starts_with("linux.intelRdt.closID"),
                "{err}"
            );
        }
        let err = plan(serde_json::json!({"memBwSchema": "L3:0=1"})).unwrap_err();
        assert!(err.to_string().starts_with("linux.intelRdt.memBwSchema"));
        let err = plan(serde_json::json!({"schemata": ["a\nb"]})).unwrap_err();
        assert!(err.to_string().starts_with("linux.intelRdt.schemata"));
    }

    #[test]
    fn applies_to_a_fake_resctrl_tree() {
        let root = std::env::temp_dir().join(format!("rt-rdt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("gold")).unwrap();
        std::fs::write(root.join("gold/schemata"), "L3:0=ff\nMB:0=100\n").unwrap();
        let rdt = |j| serde_json::from_value::<LinuxIntelRdt>(j).unwrap();
        // Own group: made, schemata written, pid in tasks; removed by `remove`.
        let p = RdtPlan::at(
            &root,
            &rdt(serde_json::json!({"schemata": ["L3:0=f"]})),
            "c1",
        );
        let made = p.unwrap().apply(42).unwrap();
        assert_eq!(made, [root.join("c1")]);
        assert_eq!(
            std::fs::read_to_string(root.join("c1/schemata")).unwrap(),
            "L3:0=f\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("c1/tasks")).unwrap(),
            "42"
        );
        join(&[root.join("c1")], 43).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("c1/tasks")).unwrap(),
            "43"
        );
        std::fs::remove_file(root.join("c1/schemata")).unwrap();
        std::fs::remove_file(root.join("c1/tasks")).unwrap();
        remove(&made);
        assert!(!root.join("c1").exists());
        // An existing closID group is checked, not rewritten or removed.
        let ok = rdt(serde_json::json!({"closID": "gold", "l3CacheSchema": "L3:0=ff"}));
        assert_eq!(
            RdtPlan::at(&root, &ok, "c2").unwrap().apply(7).unwrap(),
            Vec::<PathBuf>::new()
        );
        let other = rdt(serde_json::json!({"closID": "gold", "l3CacheSchema": "L3:0=1"}));
        assert!(RdtPlan::at(&root, &other, "c2").unwrap().apply(7).is_err());
        let missing = rdt(serde_json::json!({"closID": "silver"}));
        assert!(
            RdtPlan::at(&root, &missing, "c2")
                .unwrap()
                .apply(7)
                .is_err()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
