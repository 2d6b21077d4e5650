//! The process's identity and limits: uid/gid/additionalGids, umask,
//! rlimits, oom_score_adj, no_new_privs, HOME.

use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("process.user: {op}: {source}")]
    Switch {
        op: &'static str,
        source: nix::Error,
    },
    #[error("process.rlimits: {kind} soft {soft} hard {hard}: {source}{hint}")]
    Rlimit {
        kind: String,
        soft: u64,
        hard: u64,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("process.rlimits: {kind}: soft limit {soft} is above hard limit {hard}")]
    RlimitOrder { kind: String, soft: u64, hard: u64 },
    #[error("process.oomScoreAdj: write /proc/self/oom_score_adj: {0}")]
    OomScoreAdj(std::io::Error),
    #[error("prctl {0}: {1}")]
    Prctl(&'static str, nix::Error),
}

pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Gives the container's user its stdio (a pty, pipes, sockets), as runc's
/// fixStdioPermissions: a program that reopens /dev/stdout (through
/// /proc/self/fd) as that user needs to own it. Only the uid changes (the
/// group is devpts' gid= option's). Files, and character devices other
/// than the container's own pty (`own_pty`), are left alone: they are the
/// host's (/dev/null, the caller's terminal). Errors that say the owner cannot be changed from here
/// (unmapped ids, read-only) are no failure, as in runc.
pub fn give_stdio(uid: u32, own_pty: bool) -> Result<(), UserError> {
    use nix::errno::Errno;
    use nix::sys::stat::{SFlag, fstat};
    for fd in 0..3 {
        // SAFETY: fds 0-2 stay open for the whole call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = fstat(fd) else {
            continue;
        };
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let ours = (kind == SFlag::S_IFCHR && own_pty)
            || kind == SFlag::S_IFIFO
            || kind == SFlag::S_IFSOCK;
        if !ours || st.st_uid == uid {
            continue;
        }
        match nix::unistd::fchown(fd, Some(Uid::from_raw(uid)), None) {
            Ok(()) | Err(Errno::EINVAL | Errno::EPERM | Errno::EROFS) => {}
            Err(source) => {
                return Err(UserError::Switch {
                    op: "chown stdio",
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Switches to the container's user, keeping the permitted capabilities so
/// the configured sets can be applied afterwards.
pub fn switch_user(id: &Identity, setgroups_allowed: bool) -> Result<(), UserError> {
    let err = |op| move |source| UserError::Switch { op, source };
    nix::sys::prctl::set_keepcaps(true).map_err(|e| UserError::Prctl("PR_SET_KEEPCAPS", e))?;
    if setgroups_allowed {
        let gids: Vec<Gid> = id
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&gids).map_err(err("setgroups"))?;
    }
    let gid = Gid::from_raw(id.gid);
    setresgid(gid, gid, gid).map_err(err("setgid"))?;
    let uid = Uid::from_raw(id.uid);
    setresuid(uid, uid, uid).map_err(err("setuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| UserError::Prctl("PR_SET_KEEPCAPS", e))
}

pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<(), UserError> {
    for l in limits {
        let kind = l.typ().to_string();
        if l.soft() > l.hard() {
            return Err(UserError::RlimitOrder {
                kind,
                soft: l.soft(),
                hard: l.hard(),
            });
        }
        let lim = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit with a valid resource and an initialised struct.
        if unsafe { libc::setrlimit(rlimit_resource(l.typ()) as _, &lim) } != 0 {
            let source = std::io::Error::last_os_error();
            let hint = if source.raw_os_error() == Some(libc::EPERM) {
                " (raising a hard limit needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            return Err(UserError::Rlimit {
                kind,
                soft: l.soft(),
                hard: l.hard(),
                source,
                hint,
            });
        }
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> u32 {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn set_oom_score_adj(value: i32) -> Result<(), UserError> {
    std::fs::write("/proc/self/oom_score_adj", value.to_string()).map_err(UserError::OomScoreAdj)
}

pub fn set_no_new_privs() -> Result<(), UserError> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| UserError::Prctl("PR_SET_NO_NEW_PRIVS", e))
}

/// HOME from the container's /etc/passwd when the config leaves it unset, as runc does.
pub fn home_dir(uid: u32) -> String {
    passwd_field(uid, 5).unwrap_or_else(|| "/".to_string())
}

/// The user name of `uid` in /etc/passwd. Read directly rather than through
/// NSS, which a static binary cannot load reliably (runc does the same).
pub fn user_name(uid: u32) -> Option<String> {
    passwd_field(uid, 0)
}

/// Field `index` of the /etc/passwd line of `uid`.
fn passwd_field(uid: u32, index: usize) -> Option<String> {
    let data = std::fs::read_to_string("/etc/passwd").ok()?;
    data.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[index].to_string())
    })
}
