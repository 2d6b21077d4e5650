//! Linux security modules: the AppArmor profile and SELinux labels of the
//! process (process.apparmorProfile, process.selinuxLabel, `exec
//! --apparmor`/`--process-label`) and of the mounts (linux.mountLabel).
//!
//! As runc: the labels are written to the process's procfs attr files and
//! take effect at the next execve (AppArmor's `exec <profile>` in
//! attr/apparmor/exec, or the older shared attr/exec; SELinux's context in
//! attr/exec, and in attr/keycreate for the session keyring); a mount label
//! becomes a `context="..."` mount option. A label asked for on a host whose
//! LSM is not enabled is an error, checked before anything is made: runc
//! refuses an SELinux label up front and fails at init on an AppArmor
//! profile (the kernel rejects the attr write), and a container that runs
//! without the confinement it asked for is worse than one that does not run.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("{field}: {lsm} is not enabled on this host")]
    NotEnabled {
        field: &'static str,
        lsm: &'static str,
    },
    #[error("{field}: {label:?} contains a newline or NUL byte")]
    BadLabel { field: &'static str, label: String },
    #[error("{field}: write {path}: {source}")]
    Write {
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The labels a process is to get, checked against the host.
#[derive(Clone, Debug, Default)]
pub struct LsmPlan {
    apparmor: Option<String>,
    selinux: Option<String>,
}

impl LsmPlan {
    /// `fields` name the config fields (or command-line flags) the labels come from.
    pub fn new(
        apparmor: Option<(&'static str, &str)>,
        selinux: Option<(&'static str, &str)>,
    ) -> Result<LsmPlan, LsmError> {
        let apparmor = apparmor
            .filter(|(_, p)| !p.is_empty())
            .map(|(field, p)| checked(field, p, apparmor_enabled(), "AppArmor"))
            .transpose()?;
        let selinux = selinux
            .filter(|(_, l)| !l.is_empty())
            .map(|(field, l)| checked(field, l, selinux_enabled(), "SELinux"))
            .transpose()?;
        Ok(LsmPlan { apparmor, selinux })
    }

    /// The SELinux label new keys (the session keyring) get, before it is made.
    pub fn set_keycreate(&self, attr: &AttrDir) -> Result<(), LsmError> {
        match &self.selinux {
            Some(label) => attr.write("process.selinuxLabel", "keycreate", label),
            None => Ok(()),
        }
    }

    /// Labels the next execve, the last step before it.
    pub fn set_exec(&self, attr: &AttrDir) -> Result<(), LsmError> {
        if let Some(profile) = &self.apparmor {
            attr.write_apparmor_exec(profile)?;
        }
        if let Some(label) = &self.selinux {
            attr.write("process.selinuxLabel", "exec", label)?;
        }
        Ok(())
    }
}

fn checked(
    field: &'static str,
    label: &str,
    enabled: bool,
    lsm: &'static str,
) -> Result<String, LsmError> {
    if label.contains(['\n', '\0']) {
        return Err(LsmError::BadLabel {
            field,
            label: label.to_string(),
        });
    }
    if !enabled {
        return Err(LsmError::NotEnabled { field, lsm });
    }
    Ok(label.to_string())
}

/// runc's test: the securityfs directory and the module's parameter.
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// go-selinux's test: selinuxfs is mounted (its `enforce` file is there).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// linux.mountLabel as mount data for a mount of `fstype`: runc labels
/// every mount but proc, sysfs, cgroup and binds (whose files keep theirs).
pub fn mount_context(label: &str, fstype: Option<&str>, bind: bool) -> Option<String> {
    let unlabeled = matches!(fstype, Some("proc" | "sysfs" | "cgroup" | "cgroup2"));
    (!label.is_empty() && !bind && !unlabeled).then(|| format!("context=\"{label}\""))
}

/// A process's procfs attr directory: /proc/thread-self/attr, or a test's.
pub struct AttrDir(PathBuf);

impl AttrDir {
    pub fn current() -> AttrDir {
        AttrDir(PathBuf::from("/proc/thread-self/attr"))
    }

    #[cfg(test)]
    fn at(dir: &Path) -> AttrDir {
        AttrDir(dir.to_path_buf())
    }

    /// aa_change_onexec: the AppArmor-only file when the kernel has it
    /// (several LSMs stacked), the shared one otherwise.
    fn write_apparmor_exec(&self, profile: &str) -> Result<(), LsmError> {
        let file = if self.0.join("apparmor/exec").exists() {
            "apparmor/exec"
        } else {
            "exec"
        };
        self.write("process.apparmorProfile", file, &format!("exec {profile}"))
    }

    fn write(&self, field: &'static str, file: &str, value: &str) -> Result<(), LsmError> {
        let path = self.0.join(file);
        // The kernel takes the label in one write; no O_CREAT: only procfs's file will do.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|source| LsmError::Write {
                field,
                path,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_attr(files: &[&str]) -> (PathBuf, AttrDir) {
        let dir = std::env::temp_dir().join(format!(
            "rt-lsm-{}-{}",
            std::process::id(),
            files.join("+").replace('/', "_")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("apparmor")).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let attr = AttrDir::at(&dir);
        (dir, attr)
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    fn plan(apparmor: Option<&str>, selinux: Option<&str>) -> LsmPlan {
        LsmPlan {
            apparmor: apparmor.map(str::to_string),
            selinux: selinux.map(str::to_string),
        }
    }

    #[test]
    fn apparmor_uses_its_own_attr_file_when_there() {
        let (dir, attr) = fake_attr(&["exec", "apparmor/exec"]);
        plan(Some("acme"), None).set_exec(&attr).unwrap();
        assert_eq!(read(&dir, "apparmor/exec"), "exec acme");
        assert_eq!(read(&dir, "exec"), "");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn apparmor_falls_back_to_the_shared_attr_file() {
        let (dir, attr) = fake_attr(&["exec"]);
        plan(Some("acme"), None).set_exec(&attr).unwrap();
        assert_eq!(read(&dir, "exec"), "exec acme");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn selinux_labels_exec_and_keycreate() {
        let (dir, attr) = fake_attr(&["exec", "keycreate"]);
        let p = plan(None, Some("system_u:system_r:container_t:s0:c1,c2"));
        p.set_keycreate(&attr).unwrap();
        p.set_exec(&attr).unwrap();
        assert_eq!(read(&dir, "exec"), "system_u:system_r:container_t:s0:c1,c2");
        assert_eq!(
            read(&dir, "keycreate"),
            "system_u:system_r:container_t:s0:c1,c2"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn nothing_is_written_without_labels() {
        let (dir, attr) = fake_attr(&[]);
        plan(None, None).set_keycreate(&attr).unwrap();
        plan(None, None).set_exec(&attr).unwrap();
        assert!(!dir.join("exec").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_attr_file_is_an_error_naming_the_field() {
        let (dir, attr) = fake_attr(&[]);
        let err = plan(None, Some("x")).set_exec(&attr).unwrap_err();
        assert!(err.to_string().starts_with("process.selinuxLabel: write "));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn labels_are_checked() {
        let err = checked("process.selinuxLabel", "a\nb", true, "SELinux").unwrap_err();
        assert!(matches!(err, LsmError::BadLabel { .. }));
        let err = checked("--apparmor", "p", false, "AppArmor").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--apparmor: AppArmor is not enabled on this host"
        );
        assert_eq!(checked("f", "p", true, "AppArmor").unwrap(), "p");
    }

    #[test]
    fn mount_label_goes_where_runc_puts_it() {
        let l = "system_u:object_r:container_file_t:s0:c1,c2";
        let want = Some(format!("context=\"{l}\""));
        assert_eq!(mount_context(l, Some("tmpfs"), false), want);
        assert_eq!(mount_context(l, Some("mqueue"), false), want);
        assert_eq!(mount_context(l, Some("devpts"), false), want);
        assert_eq!(mount_context(l, Some("proc"), false), None);
        assert_eq!(mount_context(l, Some("sysfs"), false), None);
        assert_eq!(mount_context(l, Some("cgroup"), false), None);
        assert_eq!(mount_context(l, Some("none"), true), None);
        assert_eq!(mount_context("", Some("tmpfs"), false), None);
    }
}
