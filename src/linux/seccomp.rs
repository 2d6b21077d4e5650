//! linux.seccomp (config-linux.md#seccomp): the profile is compiled to a
//! classic BPF program by libseccomp in the parent, before anything is
//! created, so a bad profile fails `create` with nothing to clean up. The
//! child only hands the finished program to seccomp(2): no libseccomp code
//! runs after the fork.
//!
//! The translation follows runc: syscall names libseccomp does not know are
//! skipped, rules whose action is the default action are dropped, and the
//! args of one rule are ANDed unless two of them test the same argument, in
//! which case each becomes a rule of its own (ORed).

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use libseccomp::{ScmpSyscall, error::SeccompError as LibError};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use std::io::{Read, Seek};

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
/// Syscalls take at most six arguments.
const MAX_ARGS: usize = 6;
/// BPF_MAXINSNS: the kernel refuses longer programs.
const MAX_INSNS: usize = 4096;

/// The compiled profile: a BPF program and the seccomp(2) flags to load it with.
pub struct SeccompPlan {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl SeccompPlan {
    pub fn new(profile: &LinuxSeccomp) -> Result<SeccompPlan, SeccompError> {
        if profile.listener_metadata().is_some() && profile.listener_path().is_none() {
            return Err(invalid(
                format!("{FIELD}.listenerMetadata"),
                "must not be set without listenerPath",
            ));
        }
        let default = action(
            profile.default_action(),
            profile.default_errno_ret(),
            &format!("{FIELD}.defaultAction"),
            &format!("{FIELD}.defaultErrnoRet"),
        )?;
        let mut ctx = ScmpFilterContext::new(default).map_err(lib(FIELD))?;
        add_architectures(&mut ctx, profile)?;
        for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
            add_rule(&mut ctx, rule, default, &format!("{FIELD}.syscalls[{i}]"))?;
        }
        Ok(SeccompPlan {
            program: export(&ctx)?,
            flags: kernel_flags(profile.flags().as_deref().unwrap_or_default())?,
        })
    }

    /// Installs the filter on the calling thread. Without no_new_privs this
    /// needs CAP_SYS_ADMIN, so the caller orders it against the capability
    /// drop as runc does.
    pub fn load(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog {
            // new() checked the length against MAX_INSNS.
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
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(SeccompError::Load)
    }
}

/// An OCI action as libseccomp's, with its errno (EPERM unless given).
/// The spec requires an error when errnoRet is given to an action without one.
fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = || -> Result<u16, SeccompError> {
        let errno = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(errno)
            .map_err(|_| invalid(errno_field, format!("{errno} is out of range (0 to 65535)")))
    };
    let scmp = match act {
        LinuxSeccompAction::ScmpActErrno => return Ok(ScmpAction::Errno(ret()?.into())),
        LinuxSeccompAction::ScmpActTrace => return Ok(ScmpAction::Trace(ret()?)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(invalid(field, "SCMP_ACT_NOTIFY is not supported by rt yet"));
        }
    };
    match errno_ret {
        Some(_) => Err(invalid(
            errno_field,
            format!("{} does not return an errno", name(&act)),
        )),
        None => Ok(scmp),
    }
}

/// The name config.json spells a value with (e.g. `SCMP_ARCH_X86_64`).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// The native architecture is always in the filter; the profile's list
/// adds to it, as in runc.
fn add_architectures(
    ctx: &mut ScmpFilterContext,
    profile: &LinuxSeccomp,
) -> Result<(), SeccompError> {
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        let field = format!("{FIELD}.architectures[{i}]");
        let arch_name = name(arch);
        let scmp: ScmpArch = arch_name
            .parse()
            .map_err(|_| invalid(&field, format!("{arch_name} is not known to libseccomp")))?;
        ctx.add_arch(scmp).map_err(|e| {
            invalid(
                &field,
                format!("{arch_name} is not supported by libseccomp ({e})"),
            )
        })?;
    }
    Ok(())
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
    field: &str,
) -> Result<(), SeccompError> {
    if rule.names().is_empty() {
        return Err(invalid(
            format!("{field}.names"),
            "must name at least one syscall",
        ));
    }
    let act = action(
        rule.action(),
        rule.errno_ret(),
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    let conditions = conditions(rule.args().as_deref().unwrap_or_default(), field)?;
    for (j, syscall_name) in rule.names().iter().enumerate() {
        let field = format!("{field}.names[{j}]");
        // A name libseccomp does not know is a syscall this kernel or
        // library predates: runc skips it rather than failing.
        let Ok(syscall) = ScmpSyscall::from_name(syscall_name) else {
            crate::logging::debug(&format!(
                "{field}: unknown syscall {syscall_name:?} ignored"
            ));
            continue;
        };
        // libseccomp refuses a rule that repeats the default action; the
        // default applies anyway.
        if act == default {
            continue;
        }
        add_conditional(ctx, act, syscall, &conditions).map_err(lib(field))?;
    }
    Ok(())
}

/// The rule's argument tests, grouped as runc groups them: one rule
/// (all ANDed) when each argument is tested once, otherwise one rule per test.
fn conditions(
    args: &[LinuxSeccompArg],
    field: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let mut tests = Vec::with_capacity(args.len());
    for (k, arg) in args.iter().enumerate() {
        tests.push(compare(arg, &format!("{field}.args[{k}]"))?);
    }
    let mut counts = [0; MAX_ARGS];
    for arg in args {
        counts[arg.index()] += 1;
    }
    Ok(if counts.iter().any(|&n| n > 1) {
        tests.into_iter().map(|t| vec![t]).collect()
    } else {
        vec![tests]
    })
}

fn compare(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, SeccompError> {
    if arg.index() >= MAX_ARGS {
        return Err(invalid(
            format!("{field}.index"),
            format!("{} is out of range (0 to {})", arg.index(), MAX_ARGS - 1),
        ));
    }
    let value = arg.value();
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        // `value` is the mask and `valueTwo` the value to compare with, as
        // in runc and crun.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(value),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}

fn add_conditional(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    syscall: ScmpSyscall,
    conditions: &[Vec<ScmpArgCompare>],
) -> Result<(), LibError> {
    for group in conditions {
        if group.is_empty() {
            ctx.add_rule(act, syscall)?;
        } else {
            ctx.add_rule_conditional(act, syscall, group)?;
        }
    }
    Ok(())
}

/// The BPF program, through a memfd: libseccomp 2.5 can only export to a file.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create("rt-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| SeccompError::Export(e.into()))?;
    ctx.export_bpf(&fd).map_err(lib(FIELD))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(SeccompError::Export)?;
    let program: Vec<libc::sock_filter> = bytes
        .chunks_exact(size_of::<libc::sock_filter>())
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect();
    if program.len() > MAX_INSNS {
        return Err(invalid(
            FIELD,
            format!(
                "the compiled filter has {} instructions; the kernel takes at most {MAX_INSNS}",
                program.len()
            ),
        ));
    }
    Ok(program)
}

/// seccomp(2) flags. WAIT_KILLABLE_RECV only applies to a notify listener,
/// which rt does not create, so like libseccomp it adds nothing then; the
/// others are checked against the kernel here so that create fails early.
fn kernel_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    let mut bits = 0;
    for (i, flag) in flags.iter().enumerate() {
        let bit = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => continue,
        };
        if !kernel_supports(bit) {
            return Err(invalid(
                format!("{FIELD}.flags[{i}]"),
                format!("{} is not supported by this kernel", name(flag)),
            ));
        }
        bits |= bit;
    }
    Ok(bits)
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
        .filter(|f| kernel_flags(std::slice::from_ref(f)).is_ok())
        .map(name)
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": actions.iter().map(name).collect::<Vec<_>>(),
        "operators": operators.iter().map(name).collect::<Vec<_>>(),
        "archs": supported_archs(),
        "knownFlags": known_flags.iter().map(name).collect::<Vec<_>>(),
        "supportedFlags": supported_flags,
    })
}

/// The spec's architectures the installed libseccomp can put in a filter.
fn supported_archs() -> Vec<&'static str> {
    const ARCHS: &[&str] = &[
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
    ];
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    ARCHS
        .iter()
        .copied()
        .filter(|a| a.parse().is_ok_and(|arch| ctx.add_arch(arch).is_ok()))
        .collect()
}

/// Asks the kernel with a null program: EFAULT means the flag was accepted
/// and only the program was missing; EINVAL means the flag is unknown.
fn kernel_supports(flag: libc::c_ulong) -> bool {
    // SAFETY: a null program pointer is rejected by the kernel before use.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}
