//! What the host sees: /proc of container processes, cgroup directories, the
//! host mount table, and the few mount calls the cases need to set things up.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers,
/// name=systemd and the unified one on this hybrid host), or /sys/fs/cgroup
/// itself on a cgroup v2 host (its subdirectories are cgroups).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    if Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() {
        return vec![PathBuf::from(CGROUP_ROOT)];
    }
    let mut v: Vec<PathBuf> = fs::read_dir(CGROUP_ROOT)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The directories of cgroup `cg` (absolute cgroupsPath) that exist, one per hierarchy.
pub fn cgroup_dirs(cg: &str) -> Vec<PathBuf> {
    let rel = cg.trim_start_matches('/');
    cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// The path of the process in each hierarchy, keyed by controller list ("devices", "" for v2).
pub fn proc_cgroups(pid: u32) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctl.to_owned(), path.to_owned()))
        })
        .collect()
}

/// Live PIDs whose /proc/PID/cgroup puts them at or below `cg` in any hierarchy.
pub fn pids_in_cgroup(cg: &str) -> Vec<u32> {
    let below = format!("{cg}/");
    all_pids()
        .into_iter()
        .filter(|&pid| {
            proc_cgroups(pid)
                .iter()
                .any(|(_, p)| p == cg || p.starts_with(&below))
        })
        .filter(|&pid| pid_alive(pid))
        .collect()
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Alive and not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

pub fn send_signal(pid: u32, sig: i32) {
    // SAFETY: plain syscall; callers only pass processes they started.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A namespace link such as "net:[4026531840]"; `pid` may be "self".
pub fn ns_link(pid: &str, kind: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// A "Key:\tvalue" field of /proc/PID/status.
pub fn status_field(pid: u32, key: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')
            .map(|v| v.trim().to_owned())
    })
}

/// One line of a mountinfo file.
#[derive(Debug, Clone)]
pub struct MountInfo {
    /// major:minor of the filesystem.
    pub dev: String,
    pub point: String,
    pub opts: Vec<String>,
    pub optional: Vec<String>,
    pub fstype: String,
    pub superopts: Vec<String>,
}

impl MountInfo {
    pub fn has_opt(&self, o: &str) -> bool {
        self.opts.iter().any(|x| x == o)
    }
    pub fn has_superopt(&self, o: &str) -> bool {
        self.superopts.iter().any(|x| x == o)
    }
    /// The propagation tag ("shared", "master", "unbindable"), if any.
    pub fn propagation(&self, tag: &str) -> bool {
        self.optional
            .iter()
            .any(|o| o == tag || o.starts_with(&format!("{tag}:")))
    }
}

pub fn parse_mountinfo<S: AsRef<str>>(lines: &[S]) -> Vec<MountInfo> {
    lines
        .iter()
        .filter_map(|l| parse_line(l.as_ref()))
        .collect()
}

fn parse_line(l: &str) -> Option<MountInfo> {
    let (pre, post) = l.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let post: Vec<&str> = post.split(' ').collect();
    let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
    Some(MountInfo {
        dev: pre.get(2)?.to_string(),
        point: unescape(pre.get(4)?),
        opts: split(pre.get(5)?),
        optional: pre
            .get(6..)
            .unwrap_or(&[])
            .iter()
            .map(|s| s.to_string())
            .collect(),
        fstype: post.first()?.to_string(),
        superopts: split(post.get(2).unwrap_or(&"")),
    })
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The topmost mount at `point` (the last one listed hides the others).
pub fn find_mount<'a>(mounts: &'a [MountInfo], point: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.point == point)
}

/// Mount points in the runner's mount namespace at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let prefix = dir.to_string_lossy().into_owned();
    let below = format!("{prefix}/");
    let mut v: Vec<String> = parse_mountinfo(&lines)
        .into_iter()
        .map(|m| m.point)
        .filter(|p| *p == prefix || p.starts_with(&below))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

fn check(rc: i32) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// mount(2) with no source data; `fstype` None for bind and propagation changes.
pub fn mount(
    src: &Path,
    dst: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> std::io::Result<()> {
    let (s, d) = (cstr(src)?, cstr(dst)?);
    let t = fstype
        .map(CString::new)
        .transpose()
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let tp = t.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: valid C strings that outlive the call.
    check(unsafe { libc::mount(s.as_ptr(), d.as_ptr(), tp, flags, std::ptr::null()) })
}

pub fn umount_detach(dst: &Path) -> std::io::Result<()> {
    let d = cstr(dst)?;
    // SAFETY: valid C string.
    check(unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) })
}

/// Capability bit numbers, in kernel order (capability.h).
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The /proc/PID/status mask of capability names ("CAP_KILL" or "KILL"); unknown names are ignored.
pub fn cap_mask(names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|n| CAPS.iter().position(|c| *c == n.trim_start_matches("CAP_")))
        .fold(0, |m, bit| m | (1u64 << bit))
}

/// Names of the capabilities in a mask, for messages.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            CAPS.get(b)
                .map_or(format!("cap{b}"), |c| format!("CAP_{c}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_and_propagation() {
        let lines = [
            "36 35 98:0 / /mnt\\040a rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue",
            "37 35 0:5 / /dev rw - tmpfs tmpfs rw,size=64k",
        ];
        let ms = parse_mountinfo(&lines);
        assert_eq!(ms.len(), 2);
        assert_eq!(
            (
                ms[0].point.as_str(),
                ms[0].dev.as_str(),
                ms[0].fstype.as_str()
            ),
            ("/mnt a", "98:0", "ext3")
        );
        assert!(ms[0].has_opt("noatime") && ms[0].has_superopt("errors=continue"));
        assert!(ms[0].propagation("shared") && ms[0].propagation("master"));
        assert!(!ms[1].propagation("shared") && ms[1].optional.is_empty());
        assert_eq!(
            find_mount(&ms, "/dev").map(|m| m.fstype.as_str()),
            Some("tmpfs")
        );
    }

    #[test]
    fn cap_masks() {
        assert_eq!(cap_mask(&["CAP_CHOWN", "KILL"]), 0b10_0001);
        assert_eq!(
            cap_names(cap_mask(&["CAP_SYS_ADMIN"])),
            vec!["CAP_SYS_ADMIN"]
        );
    }
}
