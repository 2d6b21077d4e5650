//! config-linux.md "Seccomp". The profiles allow everything but chown, which
//! the probe can call (`chown:PATH:UID:GID`); /dev/shm is a writable tmpfs
//! owned by root, so an unfiltered chown of it to 0:0 succeeds.

mod listener;

use super::Case;
use super::errors::refused;
use crate::ctx::Ctx;
use crate::outcome::{Outcome, R, ensure, ensure_eq, skip};
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
        name: "seccomp.default_errno_ret",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: DEFAULT_ERRNO_RET,
        run: default_errno_ret,
    },
    Case {
        name: "seccomp.newer_syscalls_enosys",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: SECCOMP,
        run: newer_syscalls_enosys,
    },
    Case {
        name: "seccomp.masked_eq",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "op (string, REQUIRED) - the operator for syscall arguments in seccomp. ... SCMP_CMP_MASKED_EQ",
        run: masked_eq,
    },
    Case {
        name: "seccomp.trace_without_tracer",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "action (string, REQUIRED) - the action for seccomp rules. ... SCMP_ACT_TRACE",
        run: trace_without_tracer,
    },
    Case {
        name: "seccomp.log_allows",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "action (string, REQUIRED) - the action for seccomp rules. ... SCMP_ACT_LOG",
        run: log_allows,
    },
    Case {
        name: "seccomp.flags_all",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "flags (array of strings, OPTIONAL) - list of flags to use with seccomp(2). ... SECCOMP_FILTER_FLAG_TSYNC SECCOMP_FILTER_FLAG_LOG SECCOMP_FILTER_FLAG_SPEC_ALLOW SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        run: flags_all,
    },
    Case {
        name: "seccomp.notify_listener",
        clause: "config-linux.md#containerprocessstate",
        quote: LISTENER,
        run: notify_listener,
    },
    Case {
        name: "seccomp.notify_listener_missing_fails",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "If sending to this socket fails, the runtime MUST generate an error.",
        run: notify_listener_missing_fails,
    },
    Case {
        name: "seccomp.listener_metadata_without_path_fails",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "listenerMetadata (string, OPTIONAL) ... This field MUST NOT be set if listenerPath is not set.",
        run: listener_metadata_without_path_fails,
    },
    Case {
        name: "seccomp.action_unknown_fails",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: "action (string, REQUIRED) - the action for seccomp rules. A valid list of constants as of libseccomp v2.6.0 is shown below.",
        run: action_unknown_fails,
    },
    Case {
        name: "seccomp.setup_syscalls_denied",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: SECCOMP,
        run: setup_syscalls_denied,
    },
    Case {
        name: "seccomp.close_range_denied",
        clause: "config-linux.md#configLinuxSeccomp",
        quote: SECCOMP,
        run: close_range_denied,
    },
];

const DEFAULT_ERRNO_RET: &str =
    "defaultErrnoRet (uint, OPTIONAL) - the errno return code to use. ... The default is EPERM.";
const LISTENER: &str = "listenerPath (string, OPTIONAL) - specifies the path of UNIX domain socket over which the runtime will send the container process state data structure when the SCMP_ACT_NOTIFY action is used. ... The runtime sends the following file descriptors using SCM_RIGHTS and set their names in the fds array of the container process state: seccompFd";

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

/// x86_64 syscall names up to 449 (futex_waitv) from the kernel headers,
/// but getpriority (140): a profile allowing them, refusing the rest.
fn allow_old_syscalls(ctx: &mut Ctx, default_errno_ret: Option<i64>) -> R {
    const HEADER: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    if !cfg!(target_arch = "x86_64") {
        skip!("the syscall numbers are x86_64's");
    }
    let Ok(text) = std::fs::read_to_string(HEADER) else {
        skip!("{HEADER} is missing (linux-libc-dev)");
    };
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, nr)| nr.trim().parse::<u32>().is_ok_and(|n| n <= 449 && n != 140))
        .map(|(name, _)| name)
        .collect();
    let mut profile = json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]});
    if let Some(errno) = default_errno_ret {
        profile["defaultErrnoRet"] = json!(errno);
    }
    ctx.config["linux"]["seccomp"] = profile;
    Ok(())
}

fn default_errno_ret(ctx: &mut Ctx) -> R {
    allow_old_syscalls(ctx, Some(EXDEV))?;
    let p = ctx.run_probe(&["syscall:140"])?;
    ensure_eq!(p.errno("syscall", "140")?, Some(EXDEV), "getpriority");
    Ok(())
}

/// runc's behaviour (patchbpf): a syscall numbered above every one the
/// profile names is newer than the profile and gets ENOSYS, so programs
/// fall back, rather than the default errno.
fn newer_syscalls_enosys(ctx: &mut Ctx) -> R {
    allow_old_syscalls(ctx, None)?;
    let p = ctx.run_probe(&["syscall:140", "syscall:450", "syscall:462"])?;
    ensure_eq!(p.errno("syscall", "140")?, Some(EPERM), "getpriority");
    let enosys = Some(libc::ENOSYS as i64);
    ensure_eq!(p.errno("syscall", "450")?, enosys, "syscall 450");
    ensure_eq!(p.errno("syscall", "462")?, enosys, "syscall 462");
    Ok(())
}

/// `value` is the mask, `valueTwo` what the masked argument must equal:
/// chown to uid 0x1234 matches 0x1200 under 0xff00, chown to 0 does not.
fn masked_eq(ctx: &mut Ctx) -> R {
    let rule = |name: &str, index: u32| {
        json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": index, "value": 0xff00, "valueTwo": 0x1200,
                "op": "SCMP_CMP_MASKED_EQ"}]})
    };
    ctx.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule("chown", 1), rule("fchownat", 2)]});
    let denied = "chown:/dev/shm:4660:0";
    let p = ctx.run_probe(&[denied, CHOWN])?;
    ensure_eq!(chown_errno(&p, denied)?, Some(EXDEV), "chown to uid 0x1234");
    ensure_eq!(chown_errno(&p, CHOWN)?, None, "chown to uid 0");
    Ok(())
}

/// Without a tracer attached the kernel fails a traced syscall with ENOSYS.
fn trace_without_tracer(ctx: &mut Ctx) -> R {
    let p = chown_under(ctx, deny_chown(json!({"action": "SCMP_ACT_TRACE"})), CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(libc::ENOSYS as i64),
        "errno of a traced chown"
    );
    Ok(())
}

fn log_allows(ctx: &mut Ctx) -> R {
    let p = chown_under(ctx, deny_chown(json!({"action": "SCMP_ACT_LOG"})), CHOWN)?;
    ensure_eq!(chown_errno(&p, CHOWN)?, None, "errno of a logged chown");
    Ok(())
}

fn flags_all(ctx: &mut Ctx) -> R {
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_ERRNO"}));
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    let p = chown_under(ctx, profile, CHOWN)?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EPERM),
        "errno of a denied chown"
    );
    Ok(())
}

/// The agent gets the process state and the fd, and its answer (EXDEV)
/// is what the probe's chown returns.
fn notify_listener(ctx: &mut Ctx) -> R {
    let path = ctx.dir.join("agent.sock");
    let agent = listener::serve_one(&path, EXDEV as i32).map_err(Outcome::Fail)?;
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_NOTIFY"}));
    profile["listenerPath"] = json!(path);
    profile["listenerMetadata"] = json!("conformance");
    let p = chown_under(ctx, profile, CHOWN);
    let got = agent
        .join()
        .map_err(|_| Outcome::Fail("the agent panicked".into()))?
        .map_err(Outcome::Fail)?;
    let p = p?;
    ensure_eq!(
        chown_errno(&p, CHOWN)?,
        Some(EXDEV),
        "errno the agent answered the chown with"
    );
    let s = &got.state;
    ensure!(
        [libc::SYS_chown, libc::SYS_fchownat].contains(&(got.nr as i64)),
        "notified syscall {}",
        got.nr
    );
    ensure!(s["ociVersion"].is_string(), "ociVersion in {s}");
    ensure_eq!(s["fds"], json!(["seccompFd"]), "fds");
    ensure_eq!(s["metadata"], json!("conformance"), "metadata");
    ensure!(s["pid"].as_i64().is_some_and(|p| p > 0), "pid in {s}");
    ensure_eq!(s["state"]["id"], json!(ctx.id), "state.id");
    ensure!(s["state"]["status"].is_string(), "state.status in {s}");
    Ok(())
}

fn notify_listener_missing_fails(ctx: &mut Ctx) -> R {
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_NOTIFY"}));
    profile["listenerPath"] = json!(ctx.dir.join("nobody.sock"));
    ctx.config["linux"]["seccomp"] = profile;
    refused(ctx)
}

fn listener_metadata_without_path_fails(ctx: &mut Ctx) -> R {
    let mut profile = deny_chown(json!({"action": "SCMP_ACT_ERRNO"}));
    profile["listenerMetadata"] = json!("conformance");
    ctx.config["linux"]["seccomp"] = profile;
    refused(ctx)
}

/// runtime-tools' linux_seccomp: getcwd denied, without noNewPrivileges (so
/// the filter is loaded while the runtime is still setting the process up).
/// The filter is for the program: the container must start, and the
/// program's getcwd fails.
fn setup_syscalls_denied(ctx: &mut Ctx) -> R {
    ctx.config["process"]["noNewPrivileges"] = json!(false);
    ctx.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]});
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.report()?["cwd"],
        Value::Null,
        "the program's getcwd (denied)"
    );
    Ok(())
}

/// A profile older than close_range (runtime-tools' default one) denies it
/// while the runtime still closes its descriptors: the container starts,
/// and still only stdio reaches the program.
fn close_range_denied(ctx: &mut Ctx) -> R {
    ctx.config["process"]["noNewPrivileges"] = json!(false);
    ctx.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]});
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        crate::probe::numbers(&p.report()?["fds"]),
        vec![0, 1, 2],
        "open descriptors of the program"
    );
    Ok(())
}
