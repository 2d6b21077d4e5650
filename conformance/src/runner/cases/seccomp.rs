//! config-linux.md "Seccomp". The profiles allow everything but chown, which
//! the probe can call (`chown:PATH:UID:GID`); /dev/shm is a writable tmpfs
//! owned by root, so an unfiltered chown of it to 0:0 succeeds.

use super::Case;
use super::errors::refused;
use crate::ctx::Ctx;
use crate::outcome::{R, ensure, ensure_eq};
use crate::probe::{EPERM, Probe};
use serde_json::{Value, json};

const SECCOMP: &str = "seccomp (object, OPTIONAL) ... Seccomp configuration allows one to configure actions to take for matched syscalls and furthermore also allows matching on values passed as arguments to syscalls.";
const ERRNO_RET: &str = "errnoRet (uint, OPTIONAL) - the errno return code to use. ... When the action doesn't support an errno, the runtime MUST print and error and fail. The default is EPERM.";

pub const CASES: &[Case] = &[
    Case {
        name: "seccomp.filter_applied",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: SECCOMP,
        run: filter_applied,
    },
    Case {
        name: "seccomp.errno_default_eperm",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: ERRNO_RET,
        run: errno_default_eperm,
    },
    Case {
        name: "seccomp.errno_ret",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: ERRNO_RET,
        run: errno_ret,
    },
    Case {
        name: "seccomp.args_compared",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "args (array of objects, OPTIONAL) - the specific syscall in seccomp. ... index ... value ... op",
        run: args_compared,
    },
    Case {
        name: "seccomp.kill_process",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "action (string, REQUIRED) - the action for seccomp rules. ... SCMP_ACT_KILL_PROCESS",
        run: kill_process,
    },
    Case {
        name: "seccomp.architectures",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "architectures (array of strings, OPTIONAL) - the architecture used for system calls.",
        run: architectures,
    },
    Case {
        name: "seccomp.flag_log",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "flags (array of strings, OPTIONAL) - list of flags to use with seccomp(2). ... SECCOMP_FILTER_FLAG_LOG",
        run: flag_log,
    },
    Case {
        name: "seccomp.unprivileged_user",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: SECCOMP,
        run: unprivileged_user,
    },
    Case {
        name: "seccomp.errno_ret_on_allow_fails",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: ERRNO_RET,
        run: errno_ret_on_allow_fails,
    },
    Case {
        name: "seccomp.action_unknown_fails",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "action (string, REQUIRED) - the action for seccomp rules. A valid list of constants as of libseccomp v2.6.0 is shown below.",
        run: action_unknown_fails,
    },
];

const CHOWN: &str = "chown:/dev/shm:0:0";
const EXDEV: i64 = libc::EXDEV as i64;

/// Allows everything but the two chown syscalls (glibc may use either).
fn deny_chown(rule: Value) -> Value {
    let mut rule = rule;
    rule["names"] = json!(["chown", "fchownat"]);
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

/// The probe's chown of /dev/shm, under `profile`.
fn chown_under(ctx: &mut Ctx, profile: Value, chown: &str) -> R<Probe> {
    ctx.config["linux"]["seccomp"] = profile;
    ctx.run_probe(&[chown])
}

fn chown_errno(p: &Probe, chown: &str) -> R<Option<i64>> {
    p.errno("chown", chown.trim_start_matches("chown:"))
}

fn filter_applied(ctx: &mut Ctx) -> R {
    let p = chown_under(ctx, deny_chown(json!({"action": "SCMP_ACT_ERRNO"})), CHOWN)?;
    ensure_eq!(p.report()?["seccomp"].as_u64(), Some(2), "Seccomp mode");
    Ok(())
}

fn errno_default_eperm(ctx: &mut Ctx) -> R {
    let p = chown_under(ctx, deny_chown(json!({"action": "SCMP_ACT_ERRNO"})), CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EPERM),
        "errno of a denied chown"
    );
    Ok(())
}

fn errno_ret(ctx: &mut Ctx) -> R {
    let rule = json!({"action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV});
    let p = chown_under(ctx, deny_chown(rule), CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EXDEV),
        "errno of a denied chown"
    );
    Ok(())
}

/// Only chown to uid 1234 is denied: uid is argument 1 of chown and 2 of
/// fchownat, hence one rule each.
fn args_compared(ctx: &mut Ctx) -> R {
    let rule = |name: &str, index: u32| {
        json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": index, "value": 1234, "op": "SCMP_CMP_EQ"}]})
    };
    ctx.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule("chown", 1), rule("fchownat", 2)]});
    let denied = "chown:/dev/shm:1234:0";
    let p = ctx.run_probe(&[denied, CHOWN])?;
    ensure_eq!(chown_errno(&p, denied)?, Some(EXDEV), "chown to uid 1234");
    ensure_eq!(chown_errno(&p, CHOWN)?, None, "chown to uid 0");
    Ok(())
}

/// The probe reports, then dies at the chown: no result line follows.
fn kill_process(ctx: &mut Ctx) -> R {
    let p = chown_under(
        ctx,
        deny_chown(json!({"action": "SCMP_ACT_KILL_PROCESS"})),
        CHOWN,
    )?;
    ensure!(
        chown_errno(&p, CHOWN).is_err(),
        "the process survived a chown it should have died of"
    );
    Ok(())
}

fn architectures(ctx: &mut Ctx) -> R {
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_ERRNO"}));
    profile["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let p = chown_under(ctx, profile, CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EPERM),
        "errno of a denied chown"
    );
    Ok(())
}

fn flag_log(ctx: &mut Ctx) -> R {
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_ERRNO"}));
    profile["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let p = chown_under(ctx, profile, CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EPERM),
        "errno of a denied chown"
    );
    Ok(())
}

/// Without noNewPrivileges only a privileged process may load a filter: the
/// runtime must still get it onto a non-root process.
fn unprivileged_user(ctx: &mut Ctx) -> R {
    ctx.config["process"]["noNewPrivileges"] = json!(false);
    ctx.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let p = chown_under(ctx, deny_chown(json!({"action": "SCMP_ACT_ERRNO"})), CHOWN)?;
    let report = p.report()?;
    ensure_eq!(report["no_new_privs"].as_i64(), Some(0), "no_new_privs");
    ensure_eq!(report["seccomp"].as_u64(), Some(2), "Seccomp mode");
    Ok(())
}

fn errno_ret_on_allow_fails(ctx: &mut Ctx) -> R {
    let rule = json!({"action": "SCMP_ACT_KILL_PROCESS", "errnoRet": EXDEV});
    ctx.config["linux"]["seccomp"] = deny_chown(rule);
    refused(ctx)
}

fn action_unknown_fails(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["seccomp"] = deny_chown(json!({"action": "SCMP_ACT_SOMETIMES"}));
    refused(ctx)
}
