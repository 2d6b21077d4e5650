//! What the container's process sees of itself, gathered once at start-up.
//!
//! Everything is read through the process's own view (/proc/self, syscalls on
//! itself), so the runner can compare it with what it expects from the config
//! and with what the host sees of the same process.

use serde_json::{Map, Value, json};
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Namespace kinds as named under /proc/self/ns.
const NAMESPACES: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
];

/// A few sysctls that namespaces make per-container; others can be read with
/// the `sysctl:NAME` action.
const SYSCTLS: &[&str] = &[
    "kernel.hostname",
    "kernel.domainname",
    "kernel.msgmax",
    "kernel.shmmax",
    "net.ipv4.ip_forward",
    "net.core.somaxconn",
];

/// The whole report. `fds` comes first: reading anything else opens descriptors.
pub fn gather(args: &[String]) -> Value {
    let fds = open_fds();
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    json!({
        "action": "report",
        "fds": fds,
        "pid": std::process::id(),
        "ppid": unsafe { libc::getppid() },
        "args": args,
        "ns": namespaces(),
        "uid_map": read("/proc/self/uid_map"),
        "gid_map": read("/proc/self/gid_map"),
        "setgroups": read("/proc/self/setgroups"),
        "uids": id_fields(&status, "Uid"),
        "gids": id_fields(&status, "Gid"),
        "groups": groups(),
        "caps": capabilities(&status),
        "no_new_privs": unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) },
        "seccomp": status_field(&status, "Seccomp").and_then(|v| v.parse::<u32>().ok()),
        "rlimits": rlimits(),
        "umask": status_field(&status, "Umask").and_then(|v| u32::from_str_radix(v, 8).ok()),
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "env": std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>(),
        "hostname": uts().0,
        "domainname": uts().1,
        "mountinfo": lines("/proc/self/mountinfo"),
        "devices": devices(),
        "oom_score_adj": read("/proc/self/oom_score_adj").and_then(|s| s.trim().parse::<i64>().ok()),
        "cgroup": lines("/proc/self/cgroup"),
        "sysctls": sysctls(),
        "personality": unsafe { libc::personality(0xffff_ffff) },
        "sched": scheduler(),
        "ioprio": unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) },
        "cpus": cpu_affinity(),
        "clocks": clocks(),
        "proc_pids": proc_pids(),
        "net_ifaces": net_interfaces(),
        "tty": tty(),
    })
}

/// The terminal on the standard streams: which are terminals, the window
/// size, whether /dev/console is the same pty, whether there is a
/// controlling terminal.
fn tty() -> Value {
    let isatty = |fd| unsafe { libc::isatty(fd) == 1 };
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let size = (unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0)
        .then(|| json!([ws.ws_row, ws.ws_col]));
    let rdev = |path: &str| {
        fs::metadata(path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.rdev()
        })
    };
    let ctty = fs::OpenOptions::new().read(true).open("/dev/tty").is_ok();
    json!({
        "stdio": [isatty(0), isatty(1), isatty(2)],
        "size": size,
        "console_is_stdin": rdev("/dev/console").is_some() && rdev("/dev/console") == rdev("/proc/self/fd/0"),
        "ctty": ctty,
    })
}

pub fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn lines(path: &str) -> Vec<String> {
    read(path)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// Descriptors open in this process, without the one used to list them.
fn open_fds() -> Vec<i32> {
    let mut out = Vec::new();
    // opendir rather than std's read_dir: its descriptor must be left out.
    let dir = unsafe { libc::opendir(c"/proc/self/fd".as_ptr()) };
    if dir.is_null() {
        return out;
    }
    let own = unsafe { libc::dirfd(dir) };
    loop {
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if let Some(fd) = name.to_str().ok().and_then(|s| s.parse::<i32>().ok())
            && fd != own
        {
            out.push(fd);
        }
    }
    unsafe { libc::closedir(dir) };
    out.sort_unstable();
    out
}

fn namespaces() -> Value {
    let mut m = Map::new();
    for ns in NAMESPACES {
        let link = fs::read_link(format!("/proc/self/ns/{ns}"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        m.insert((*ns).to_owned(), json!(link));
    }
    Value::Object(m)
}

/// Real, effective, saved and filesystem IDs from a "Uid:" or "Gid:" line.
fn id_fields(status: &str, key: &str) -> Vec<u32> {
    status_field(status, key)
        .map(|v| {
            v.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn groups() -> Vec<u32> {
    let mut buf = vec![0 as libc::gid_t; 4096];
    let n = unsafe { libc::getgroups(buf.len() as i32, buf.as_mut_ptr()) };
    buf.truncate(n.max(0) as usize);
    buf
}

fn capabilities(status: &str) -> Value {
    let set = |key| status_field(status, key).and_then(|v| u64::from_str_radix(v, 16).ok());
    json!({
        "inheritable": set("CapInh"),
        "permitted": set("CapPrm"),
        "effective": set("CapEff"),
        "bounding": set("CapBnd"),
        "ambient": set("CapAmb"),
    })
}

fn rlimits() -> Value {
    let mut m = Map::new();
    for (name, res) in RLIMITS {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(*res, &mut r) } == 0 {
            m.insert((*name).to_owned(), json!([r.rlim_cur, r.rlim_max]));
        }
    }
    Value::Object(m)
}

/// (nodename, domainname) from uname(2).
fn uts() -> (Option<String>, Option<String>) {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (None, None);
    }
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    (s(&u.nodename), s(&u.domainname))
}

/// Every node under /dev (two levels deep), without following symlinks.
fn devices() -> Vec<Value> {
    let mut out = Vec::new();
    walk(Path::new("/dev"), 2, &mut out);
    out
}

fn walk(dir: &Path, depth: u32, out: &mut Vec<Value>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let Some(node) = describe(&p) else {
            continue;
        };
        let is_dir = node["type"] == "d";
        out.push(node);
        if is_dir && depth > 1 {
            walk(&p, depth - 1, out);
        }
    }
}

/// Type, mode, owner, device numbers and symlink target of one path (lstat).
pub fn describe(p: &Path) -> Option<Value> {
    let md = fs::symlink_metadata(p).ok()?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_symlink() {
        "l"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    };
    let rdev = md.rdev();
    Some(json!({
        "path": p.to_string_lossy(),
        "type": kind,
        "mode": md.mode() & 0o7777,
        "uid": md.uid(),
        "gid": md.gid(),
        "major": libc::major(rdev),
        "minor": libc::minor(rdev),
        "target": fs::read_link(p).ok().map(|t| t.to_string_lossy().into_owned()),
    }))
}

pub fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn sysctls() -> Value {
    let mut m = Map::new();
    for name in SYSCTLS {
        let v = read(&sysctl_path(name)).map(|s| s.trim().to_owned());
        m.insert((*name).to_owned(), json!(v));
    }
    Value::Object(m)
}

fn scheduler() -> Value {
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    let prio = if unsafe { libc::sched_getparam(0, &mut param) } == 0 {
        Some(param.sched_priority)
    } else {
        None
    };
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    json!({ "policy": policy, "priority": prio, "nice": nice })
}

fn cpu_affinity() -> Vec<usize> {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

fn clock(id: libc::clockid_t) -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    (unsafe { libc::clock_gettime(id, &mut ts) } == 0)
        .then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

fn clocks() -> Value {
    json!({
        "monotonic": clock(libc::CLOCK_MONOTONIC),
        "boottime": clock(libc::CLOCK_BOOTTIME),
        "realtime": clock(libc::CLOCK_REALTIME),
    })
}

/// PIDs visible in this process's /proc (its PID namespace, if /proc is its own).
fn proc_pids() -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Interface names of this process's network namespace.
fn net_interfaces() -> Vec<String> {
    lines("/proc/self/net/dev")
        .iter()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_owned()))
        .collect()
}
