//! Small actions a case asks the probe to do, each reported as one JSON line:
//! `{"action": NAME, "arg": ARG, "ok": BOOL, "errno": N, ...}`.
//!
//! Each action is `NAME` or `NAME:ARG`; ARG parts are separated by `:`.

use crate::report;
use serde_json::{Value, json};
use std::ffi::CString;
use std::fs;
use std::io::{Error, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, chown};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The action's name and arguments; `emit` writes one result line.
pub fn run(spec: &str, emit: &mut dyn FnMut(Value)) {
    let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let parts: Vec<&str> = arg.split(':').collect();
    let result = match name {
        "write" => write(arg),
        "read" => read(arg),
        "ls" => ls(arg),
        "stat" => stat(arg),
        "open" => open(&parts),
        "access-x" => access_x(arg),
        "mknod" => mknod(&parts),
        "chown" => chown_path(&parts),
        "syscall" => raw_syscall(arg),
        "sethostname" => sethostname(arg),
        "sysctl" => sysctl(arg),
        "mounts" => Ok(json!({ "mountinfo": mountinfo() })),
        "sleep" => sleep(arg),
        "wait-signal" => return wait_signal(arg, emit),
        "exit" => std::process::exit(arg.parse().unwrap_or(0)),
        _ => Err(format!("unknown action {name}")),
    };
    emit(outcome(name, arg, result));
}

type Outcome = Result<Value, String>;

fn outcome(name: &str, arg: &str, r: Outcome) -> Value {
    let mut v = match r {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(other) => json!({ "value": other }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    v["action"] = json!(name);
    v["arg"] = json!(arg);
    if v.get("ok").is_none() {
        v["ok"] = json!(true);
    }
    v
}

/// An errno-carrying failure (the runner checks errno, e.g. EROFS vs EACCES).
fn os_err(e: Error) -> Outcome {
    Ok(json!({ "ok": false, "errno": e.raw_os_error(), "error": e.to_string() }))
}

fn wrap<T>(r: std::io::Result<T>, f: impl FnOnce(T) -> Value) -> Outcome {
    match r {
        Ok(v) => Ok(f(v)),
        Err(e) => os_err(e),
    }
}

fn write(path: &str) -> Outcome {
    let r = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut f| f.write_all(b"written by probe\n"));
    wrap(r, |_| json!({}))
}

fn read(path: &str) -> Outcome {
    let r = fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        f.take(4096).read_to_end(&mut buf).map(|_| buf)
    });
    wrap(
        r,
        |b| json!({ "len": b.len(), "data": String::from_utf8_lossy(&b) }),
    )
}

fn ls(path: &str) -> Outcome {
    let r = fs::read_dir(path).and_then(|rd| {
        let mut names = rd
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    });
    wrap(r, |names| json!({ "entries": names }))
}

fn stat(path: &str) -> Outcome {
    match report::describe(Path::new(path)) {
        Some(v) => Ok(json!({ "node": v })),
        None => os_err(Error::last_os_error()),
    }
}

/// `open:PATH:r|w|rw`: only opens, to see what the device cgroup or the mount allows.
fn open(parts: &[&str]) -> Outcome {
    let (path, mode) = (parts[0], parts.get(1).copied().unwrap_or("r"));
    let mut o = fs::OpenOptions::new();
    o.read(mode.contains('r')).write(mode.contains('w'));
    wrap(o.open(path), |_| json!({}))
}

/// access(X_OK): fails with EACCES on a noexec mount even for root.
fn access_x(path: &str) -> Outcome {
    let c = cstring(path)?;
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
        Ok(json!({}))
    } else {
        os_err(Error::last_os_error())
    }
}

/// `mknod:PATH:c|b:MAJOR:MINOR`.
fn mknod(parts: &[&str]) -> Outcome {
    let [path, kind, major, minor] = parts else {
        return Err("usage: mknod:PATH:c|b:MAJOR:MINOR".into());
    };
    let kind = match *kind {
        "c" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        other => return Err(format!("bad device type {other}")),
    };
    let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
        return Err("bad device numbers".into());
    };
    let c = cstring(path)?;
    let dev = libc::makedev(major, minor);
    if unsafe { libc::mknod(c.as_ptr(), kind | 0o600, dev) } == 0 {
        Ok(json!({}))
    } else {
        os_err(Error::last_os_error())
    }
}

/// `chown:PATH:UID:GID`: tests CAP_CHOWN.
fn chown_path(parts: &[&str]) -> Outcome {
    let [path, uid, gid] = parts else {
        return Err("usage: chown:PATH:UID:GID".into());
    };
    let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
        return Err("bad ids".into());
    };
    wrap(chown(path, Some(uid), Some(gid)), |_| json!({}))
}

/// `syscall:NR`: the raw syscall with all arguments 0 (for seccomp).
fn raw_syscall(nr: &str) -> Outcome {
    let Ok(nr) = nr.parse::<libc::c_long>() else {
        return Err("usage: syscall:NR".into());
    };
    let r = unsafe { libc::syscall(nr, 0, 0, 0, 0, 0, 0) };
    if r >= 0 {
        Ok(json!({ "value": r }))
    } else {
        os_err(Error::last_os_error())
    }
}

/// sethostname(2): needs CAP_SYS_ADMIN in the owner of the UTS namespace.
fn sethostname(name: &str) -> Outcome {
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } == 0 {
        Ok(json!({}))
    } else {
        os_err(Error::last_os_error())
    }
}

fn sysctl(name: &str) -> Outcome {
    wrap(
        fs::read_to_string(report::sysctl_path(name)),
        |v| json!({ "value": v.trim() }),
    )
}

fn mountinfo() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn sleep(secs: &str) -> Outcome {
    let secs: f64 = secs.parse().map_err(|_| format!("bad duration {secs}"))?;
    std::thread::sleep(Duration::from_secs_f64(secs));
    Ok(json!({}))
}

static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    LAST_SIGNAL.store(sig, Ordering::SeqCst);
}

/// `wait-signal:SIG[,SIG...]`: installs handlers (as PID 1 of a PID namespace the
/// probe would otherwise ignore these signals), says it is ready, and reports
/// the first signal that arrives.
fn wait_signal(arg: &str, emit: &mut dyn FnMut(Value)) {
    let mut sigs = Vec::new();
    for s in arg.split(',') {
        match signal_number(s) {
            Some(n) => sigs.push(n),
            None => return emit(outcome("wait-signal", arg, Err(format!("bad signal {s}")))),
        }
    }
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for &s in &sigs {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigaction(s, &sa, std::ptr::null_mut());
            libc::sigaddset(&mut block, s);
        }
        // Blocked until sigsuspend, so a signal sent right after "ready" is not lost.
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        emit(json!({ "action": "wait-signal", "arg": arg, "ready": true }));
        for &s in &sigs {
            libc::sigdelset(&mut old, s);
        }
        while LAST_SIGNAL.load(Ordering::SeqCst) == 0 {
            libc::sigsuspend(&old);
        }
    }
    let sig = LAST_SIGNAL.swap(0, Ordering::SeqCst);
    emit(json!({ "action": "wait-signal", "arg": arg, "ok": true, "signal": sig }));
}

fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let n = match s.trim_start_matches("SIG") {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "WINCH" => libc::SIGWINCH,
        _ => return None,
    };
    Some(n)
}

fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("NUL in {s:?}"))
}
