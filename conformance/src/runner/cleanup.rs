//! Removing what a case (or an interrupted earlier run) left: processes in
//! our cgroups, the cgroups, mounts under the case directory, the directory.
//! Only things under our own names are touched: /rt-conformance cgroups and
//! the suite's base directory.

use crate::ctx::CGROUP_PARENT;
use crate::host;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Kills what is still in `cgroups`, removes them, unmounts and deletes `dir`.
pub fn case_leftovers(cgroups: &[String], dir: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    for cg in cgroups {
        if let Err(e) = remove_cgroup(cg) {
            warnings.push(e);
        }
    }
    if let Err(e) = remove_tree(dir) {
        warnings.push(e);
    }
    warnings
}

/// SIGKILLs the processes in `cg` (container processes this run started),
/// then removes its directories deepest first in every hierarchy.
pub fn remove_cgroup(cg: &str) -> Result<(), String> {
    if !cg.starts_with(&format!("{CGROUP_PARENT}/")) || cg.contains("..") {
        return Err(format!("refusing to touch cgroup {cg}"));
    }
    let gone = host::wait_until(Duration::from_secs(5), || {
        let pids = host::pids_in_cgroup(cg);
        pids.iter()
            .for_each(|&p| host::send_signal(p, libc::SIGKILL));
        pids.is_empty()
    });
    if !gone {
        return Err(format!(
            "processes still in {cg}: {:?}",
            host::pids_in_cgroup(cg)
        ));
    }
    for top in host::cgroup_dirs(cg) {
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            // A cgroup just emptied can be busy for a moment.
            let removed = host::wait_until(Duration::from_secs(2), || {
                fs::remove_dir(&d).is_ok() || !d.exists()
            });
            if !removed {
                return Err(format!("cannot remove cgroup {}", d.display()));
            }
        }
    }
    Ok(())
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Unmounts everything at or below `dir` (lazily), then deletes it. A tree
/// that still has mounts is left alone rather than emptied through a mount.
pub fn remove_tree(dir: &Path) -> Result<(), String> {
    for m in host::mounts_under(dir) {
        let _ = host::umount_detach(Path::new(&m));
    }
    let left = host::mounts_under(dir);
    if !left.is_empty() {
        return Err(format!("mounts remain under {}: {left:?}", dir.display()));
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

/// Names in `dir` other than dotfiles (a runtime's lock files are not state).
pub fn visible_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the run's cgroup parent `/rt-conformance/<tag>` (and
/// /rt-conformance itself when no other run uses it).
pub fn remove_run_cgroups(tag: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let run = format!("{CGROUP_PARENT}/{tag}");
    if let Err(e) = remove_cgroup(&run) {
        warnings.push(e);
    }
    for h in host::cgroup_hierarchies() {
        // Another run may still use it: EBUSY is fine.
        let _ = fs::remove_dir(h.join(CGROUP_PARENT.trim_start_matches('/')));
    }
    warnings
}

/// Leftovers of earlier runs that died (their runner PID, the tag's suffix,
/// is gone): their directories under `base` and their cgroups.
pub fn sweep_stale(base: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for root in [base.to_path_buf()].into_iter().chain(
        host::cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(CGROUP_PARENT.trim_start_matches('/'))),
    ) {
        for name in visible_entries(&root) {
            if !tags.contains(&name) {
                tags.push(name);
            }
        }
    }
    for tag in tags {
        let Some(pid) = tag.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if host::pid_alive(pid) {
            continue;
        }
        warnings.extend(remove_run_cgroups(&tag));
        if let Err(e) = remove_tree(&base.join(&tag)) {
            warnings.push(e);
        }
    }
    warnings
}
