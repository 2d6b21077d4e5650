//! The profile as a classic BPF program: libseccomp builds it, rt exports
//! it and puts the ENOSYS stub in front.
//!
//! The translation follows runc: syscall names libseccomp does not know are
//! skipped, rules whose action is the default action are dropped, and the
//! args of one rule are ANDed unless two of them test the same argument, in
//! which case each becomes a rule of its own (ORed).

use super::arch::Arch;
use super::enosys::{self, Last};
use super::{FIELD, SeccompError, invalid, lib, name};
use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall,
};

/// Syscalls take at most six arguments.
const MAX_ARGS: usize = 6;
/// BPF_MAXINSNS: the kernel refuses longer programs.
const MAX_INSNS: usize = 4096;

/// Compiles the profile's rules (not its flags or listener, which are
/// applied when the program is loaded).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        &format!("{FIELD}.defaultErrnoRet"),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(lib(FIELD))?;
    optimize(&mut ctx, profile);
    let archs = add_architectures(&mut ctx, profile)?;
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        add_rule(&mut ctx, rule, default, &format!("{FIELD}.syscalls[{i}]"))?;
    }
    let mut program = Vec::new();
    if wants_enosys_stub(default) {
        program = enosys::stub(&last_syscalls(profile, &archs));
    }
    program.extend(export(&ctx)?);
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

/// An OCI action as libseccomp's, with its errno (EPERM unless given).
/// The spec requires an error when errnoRet is given to an action without one.
pub(super) fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
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
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    };
    match errno_ret {
        Some(_) => Err(invalid(
            errno_field,
            format!("{} does not return an errno", name(&act)),
        )),
        None => Ok(scmp),
    }
}

/// As runc: past 32 syscall names, a binary tree of syscall numbers rather
/// than a list, so that a syscall late in a long profile does not walk
/// every test before it. (libseccomp 2.5 builds a wrong tree from no rules,
/// hence the threshold.) Not fatal: an older libseccomp keeps the list.
fn optimize(ctx: &mut ScmpFilterContext, profile: &LinuxSeccomp) {
    let names: usize = profile
        .syscalls()
        .iter()
        .flatten()
        .map(|r| r.names().len())
        .sum();
    if names > 32 && ctx.set_ctl_optimize(2).is_err() {
        crate::logging::debug("seccomp: libseccomp has no binary tree optimization");
    }
}

/// runc's rule: the stub only replaces refusals. A permissive default
/// (allow, log, or trace, whose tracer handles new syscalls itself) lets
/// unknown syscalls through anyway, and a default of ENOSYS is the stub.
fn wants_enosys_stub(default: ScmpAction) -> bool {
    match default {
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_) => false,
        ScmpAction::Errno(errno) => errno != libc::ENOSYS,
        _ => true,
    }
}

/// The native architecture is always in the filter; the profile's list
/// adds to it, as in runc. Returns every architecture of the filter.
fn add_architectures(
    ctx: &mut ScmpFilterContext,
    profile: &LinuxSeccomp,
) -> Result<Vec<Arch>, SeccompError> {
    let mut archs = vec![Arch::native()];
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        let field = format!("{FIELD}.architectures[{i}]");
        let arch_name = name(arch);
        let arch = Arch::from_name(&arch_name)
            .ok_or_else(|| invalid(&field, format!("{arch_name} is not known to libseccomp")))?;
        ctx.add_arch(arch.scmp).map_err(|e| {
            invalid(
                &field,
                format!("{arch_name} is not supported by libseccomp ({e})"),
            )
        })?;
        if !archs.contains(&arch) {
            archs.push(arch);
        }
    }
    Ok(archs)
}

/// The highest number the profile names on each architecture; names a
/// architecture lacks (libseccomp gives them negative pseudo numbers) and
/// unknown names do not count.
fn last_syscalls(profile: &LinuxSeccomp, archs: &[Arch]) -> Vec<Last> {
    let names: Vec<&String> = profile
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|rule| rule.names())
        .collect();
    archs
        .iter()
        .filter_map(|&arch| {
            let nr = names
                .iter()
                .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch.scmp).ok())
                .filter_map(|s| u32::try_from(i32::from(s)).ok())
                .max()?;
            Some(Last { arch, nr })
        })
        .collect()
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
        &format!("{field}.errnoRet"),
    )?;
    let conditions = conditions(rule.args().as_deref().unwrap_or_default(), field)?;
    for (j, syscall_name) in rule.names().iter().enumerate() {
        let field = format!("{field}.names[{j}]");
        // A name libseccomp does not know is a syscall this kernel or
        // library predates: runc skips it (with a debug message: a warning
        // per name would flood callers' logs with their default profiles).
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
) -> Result<(), libseccomp::error::SeccompError> {
    for group in conditions {
        if group.is_empty() {
            ctx.add_rule(act, syscall)?;
        } else {
            ctx.add_rule_conditional(act, syscall, group)?;
        }
    }
    Ok(())
}

/// libseccomp's program, through a memfd: libseccomp 2.5 can only export
/// to a file.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    use std::io::{Read, Seek};
    let fd = memfd_create("rt-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| SeccompError::Export(e.into()))?;
    ctx.export_bpf(&fd).map_err(lib(FIELD))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(SeccompError::Export)?;
    Ok(super::program_from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stub compares raw numbers: x32's carry the x32 bit, and each
    /// architecture has its own table.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn last_syscalls_are_per_architecture() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "write", "rt_no_such_syscall"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let archs: Vec<Arch> = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86"]
            .iter()
            .map(|n| Arch::from_name(n).unwrap())
            .collect();
        let lasts: Vec<u32> = last_syscalls(&profile, &archs)
            .iter()
            .map(|l| l.nr)
            .collect();
        assert_eq!(lasts, [1, super::super::arch::X32_SYSCALL_BIT + 1, 4]);
    }
}
