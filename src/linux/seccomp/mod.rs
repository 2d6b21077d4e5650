//! linux.seccomp (config-linux.md#seccomp): the profile is compiled to a
//! classic BPF program in the parent, before anything is created, so a bad
//! profile fails `create` with nothing to clean up; compiled programs are
//! cached under the runtime root (`cache`). The child only hands the
//! finished program to seccomp(2): no libseccomp code runs after the fork.
//! With SCMP_ACT_NOTIFY the child gets a listener fd from the kernel and
//! passes it to the parent, which sends it to the profile's listenerPath
//! (`notify`).

mod arch;
mod cache;
mod compile;
mod enosys;
mod notify;

pub use cache::cache_dir;
pub use notify::Listener;

use libseccomp::error::SeccompError as LibError;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{field}: libseccomp: {source}")]
    Lib { field: String, source: LibError },
    #[error("linux.seccomp: exporting the filter: {0}")]
    Export(std::io::Error),
    #[error("linux.seccomp: loading the filter: {0}")]
    Load(nix::Error),
    #[error("linux.seccomp.listenerPath {path}: {op}: {source}")]
    Listener {
        path: String,
        op: &'static str,
        source: nix::Error,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn lib(field: impl Into<String>) -> impl FnOnce(LibError) -> SeccompError {
    let field = field.into();
    move |source| SeccompError::Lib { field, source }
}

const FIELD: &str = "linux.seccomp";

/// The compiled profile: a BPF program, the seccomp(2) flags to load it
/// with, and where to send the notify fd when the profile has one.
pub struct SeccompPlan {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    listener: Option<Listener>,
}

impl SeccompPlan {
    /// Checks and compiles `profile`, through the cache in the directory
    /// `cache` (see [`cache_dir`]).
    pub fn new(profile: &LinuxSeccomp, cache: &Path) -> Result<SeccompPlan, SeccompError> {
        let listener = notify::listener(profile)?;
        let flags = kernel_flags(
            profile.flags().as_deref().unwrap_or_default(),
            listener.is_some(),
        )?;
        Ok(SeccompPlan {
            program: cache::program(profile, cache)?,
            flags,
            listener,
        })
    }

    pub fn listener(&self) -> Option<&Listener> {
        self.listener.as_ref()
    }

    pub fn listener_mut(&mut self) -> Option<&mut Listener> {
        self.listener.as_mut()
    }

    /// Installs the filter on the calling thread; returns the notify
    /// listener's fd when the profile uses SCMP_ACT_NOTIFY. Without
    /// no_new_privs this needs CAP_SYS_ADMIN, so the caller orders it
    /// against the capability drop as runc does.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let prog = libc::sock_fprog {
            // compile() checked the length against BPF_MAXINSNS.
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: prog points at the program, which outlives the call; the
        // kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        let r = nix::errno::Errno::result(r).map_err(SeccompError::Load)?;
        if self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER the kernel returns a new fd, ours alone.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }))
    }
}

/// The name config.json spells a value with (e.g. `SCMP_ARCH_X86_64`).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// A program as the kernel takes it, from libseccomp's export or the cache
/// (native byte order, 8 bytes an instruction).
fn program_from_bytes(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(size_of::<libc::sock_filter>())
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

fn program_to_bytes(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_of_val(program));
    for i in program {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// seccomp(2) flags, checked against the kernel here so that create fails
/// early. rt loads the program itself, so every flag the kernel has works,
/// whatever libseccomp's version. As in libseccomp, WAIT_KILLABLE_RECV
/// applies to a notify listener only and adds nothing without one; with
/// one, TSYNC needs TSYNC_ESRCH (the syscall cannot return both a thread
/// id and the listener).
fn kernel_flags(
    flags: &[LinuxSeccompFilterFlag],
    notify: bool,
) -> Result<libc::c_ulong, SeccompError> {
    let mut bits = if notify {
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    for (i, flag) in flags.iter().enumerate() {
        let bit = flag_bit(flag);
        let probe = if bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
            bit | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            bit
        };
        if !kernel_supports(probe) {
            return Err(invalid(
                format!("{FIELD}.flags[{i}]"),
                format!("{} is not supported by this kernel", name(flag)),
            ));
        }
        if bit != libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV || notify {
            bits |= bit;
        }
    }
    if notify && bits & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
        bits |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    }
    Ok(bits)
}

fn flag_bit(flag: &LinuxSeccompFilterFlag) -> libc::c_ulong {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    }
}

/// linux.seccomp of `rt features` (features-linux.md): what this rt, its
/// libseccomp and the running kernel take.
pub fn features() -> serde_json::Value {
    let actions = [
        LinuxSeccompAction::ScmpActKill,
        LinuxSeccompAction::ScmpActKillThread,
        LinuxSeccompAction::ScmpActKillProcess,
        LinuxSeccompAction::ScmpActTrap,
        LinuxSeccompAction::ScmpActErrno,
        LinuxSeccompAction::ScmpActTrace,
        LinuxSeccompAction::ScmpActLog,
        LinuxSeccompAction::ScmpActAllow,
        LinuxSeccompAction::ScmpActNotify,
    ];
    let operators = [
        LinuxSeccompOperator::ScmpCmpNe,
        LinuxSeccompOperator::ScmpCmpLt,
        LinuxSeccompOperator::ScmpCmpLe,
        LinuxSeccompOperator::ScmpCmpEq,
        LinuxSeccompOperator::ScmpCmpGe,
        LinuxSeccompOperator::ScmpCmpGt,
        LinuxSeccompOperator::ScmpCmpMaskedEq,
    ];
    let known_flags = [
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ];
    let supported_flags: Vec<String> = known_flags
        .iter()
        .filter(|f| kernel_flags(std::slice::from_ref(f), true).is_ok())
        .map(name)
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": actions.iter().map(name).collect::<Vec<_>>(),
        "operators": operators.iter().map(name).collect::<Vec<_>>(),
        "archs": arch::supported(),
        "knownFlags": known_flags.iter().map(name).collect::<Vec<_>>(),
        "supportedFlags": supported_flags,
    })
}

/// Asks the kernel with a null program: EFAULT means the flags were
/// accepted and only the program was missing; EINVAL means they are not.
fn kernel_supports(flags: libc::c_ulong) -> bool {
    // SAFETY: a null program pointer is rejected by the kernel before use.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}
