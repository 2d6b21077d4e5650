//! features-linux.md "Seccomp": every action, operator, architecture and
//! supported flag `features` lists is taken in config.json's
//! linux.seccomp, and the program runs.

use super::Case;
use super::features::{features, names};
use crate::ctx::Ctx;
use crate::outcome::{R, ensure, skip};
use serde_json::{Value, json};

pub const CASES: &[Case] = &[
    Case {
        name: "features.seccomp_actions",
        clause: "features-linux.md#linuxFeaturesSeccomp",
        quote: "actions: The runtime MUST recognize the elements in this array in the syscalls[].action property of the linux.seccomp object in config.json.",
        run: actions,
    },
    Case {
        name: "features.seccomp_operators",
        clause: "features-linux.md#linuxFeaturesSeccomp",
        quote: "operators: The runtime MUST recognize the elements in this array in the syscalls[].args[].op property of the linux.seccomp object in config.json.",
        run: operators,
    },
    Case {
        name: "features.seccomp_archs",
        clause: "features-linux.md#linuxFeaturesSeccomp",
        quote: "archs: The runtime MUST recognize the elements in this array in the architectures property of the linux.seccomp object in config.json.",
        run: archs,
    },
    Case {
        name: "features.seccomp_supported_flags",
        clause: "features-linux.md#linuxFeaturesSeccomp",
        quote: "supportedFlags: The runtime MUST recognize and support the elements in this array in the flags property of the linux.seccomp object in config.json.",
        run: supported_flags,
    },
];

/// Syscalls the probe never makes, one per rule.
const UNUSED: &[&str] = &[
    "acct",
    "swapon",
    "swapoff",
    "syslog",
    "vhangup",
    "quotactl",
    "kexec_load",
    "init_module",
    "delete_module",
    "settimeofday",
    "adjtimex",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "nfsservctl",
];

/// features' linux.seccomp, or a skip when it lists none.
fn seccomp(ctx: &mut Ctx) -> R<Value> {
    let f = features(ctx)?["linux"]["seccomp"].clone();
    if f["enabled"] != json!(true) {
        skip!("features does not report seccomp as enabled");
    }
    Ok(f)
}

fn rule(action: &str, syscall: &str) -> Value {
    let mut r = json!({"names": [syscall], "action": action});
    if matches!(action, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") {
        r["errnoRet"] = json!(1);
    }
    r
}

/// The probe runs under `profile` (default action allow).
fn runs_with(ctx: &mut Ctx, profile: Value, what: &str) -> R {
    ctx.config["linux"]["seccomp"] = profile;
    let p = ctx.run_probe(&[]);
    ensure!(
        p.as_ref().is_ok_and(|p| p.report().is_ok()),
        "the program did not run with {what}"
    );
    Ok(())
}

/// One rule per listed action, each on a syscall the probe does not make.
/// SCMP_ACT_NOTIFY is left out: config-linux.md requires a listenerPath
/// with it, which is another feature.
fn actions(ctx: &mut Ctx) -> R {
    let listed = names(&seccomp(ctx)?["actions"])?;
    let rules: Vec<Value> = listed
        .iter()
        .filter(|a| !matches!(a.as_str(), "SCMP_ACT_ALLOW" | "SCMP_ACT_NOTIFY"))
        .zip(UNUSED)
        .map(|(a, s)| rule(a, s))
        .collect();
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    runs_with(ctx, profile, &format!("the listed actions {listed:?}"))
}

fn operators(ctx: &mut Ctx) -> R {
    let listed = names(&seccomp(ctx)?["operators"])?;
    let rules: Vec<Value> = listed
        .iter()
        .zip(UNUSED)
        .map(|(op, s)| {
            let mut r = rule("SCMP_ACT_ERRNO", s);
            r["args"] = json!([{"index": 0, "value": 12345, "valueTwo": 12345, "op": op}]);
            r
        })
        .collect();
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    runs_with(ctx, profile, &format!("the listed operators {listed:?}"))
}

/// The little-endian architectures, which a filter on this (x86_64) host
/// can hold: libseccomp refuses to mix endianness in one filter.
const LITTLE_ENDIAN: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
];

/// All listed architectures this host's filters can hold, in one filter.
fn archs(ctx: &mut Ctx) -> R {
    let listed: Vec<String> = names(&seccomp(ctx)?["archs"])?
        .into_iter()
        .filter(|a| LITTLE_ENDIAN.contains(&a.as_str()))
        .collect();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": listed,
        "syscalls": [rule("SCMP_ACT_ERRNO", "acct")],
    });
    runs_with(
        ctx,
        profile,
        &format!("the listed architectures {listed:?}"),
    )
}

fn supported_flags(ctx: &mut Ctx) -> R {
    let listed = names(&seccomp(ctx)?["supportedFlags"])?;
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": listed,
        "syscalls": [rule("SCMP_ACT_ERRNO", "acct")],
    });
    runs_with(ctx, profile, &format!("the supported flags {listed:?}"))
}
