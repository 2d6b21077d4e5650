//! linux.seccomp: the profile is enforced on the container's process, and a
//! bad profile fails create naming the field, with nothing left behind.
//! Notify listeners are in seccomp_notify.rs.

mod common;
use common::*;
use serde_json::{Value, json};

/// A profile that allows everything except the given rules.
fn allow_except(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn set_seccomp(b: &Bundle, profile: Value) {
    b.config(|c| c["linux"]["seccomp"] = profile);
}

/// Both mkdir syscalls: busybox may use either.
fn mkdir_rule(action: &str) -> Value {
    json!({"names": ["mkdir", "mkdirat"], "action": action})
}

#[test]
fn seccomp_errno_defaults_to_eperm() {
    let Some(b) = Bundle::new("seccomp_errno_defaults_to_eperm") else {
        return;
    };
    set_seccomp(&b, allow_except(json!([mkdir_rule("SCMP_ACT_ERRNO")])));
    b.set_script("grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?");
    let out = b.run_ok();
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(!b.rootfs.join("tmp/d").exists());
    b.assert_nothing_left();
}

#[test]
fn seccomp_errno_ret_is_returned() {
    let Some(b) = Bundle::new("seccomp_errno_ret_is_returned") else {
        return;
    };
    let mut rule = mkdir_rule("SCMP_ACT_ERRNO");
    rule["errnoRet"] = json!(28); // ENOSPC
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script("mkdir /tmp/d 2>&1; echo rc=$?");
    let out = b.run_ok();
    assert!(out.contains("No space left on device"), "{out}");
}

#[test]
fn seccomp_args_are_compared() {
    let Some(b) = Bundle::new("seccomp_args_are_compared") else {
        return;
    };
    // umask(0o22) is refused, umask(0o77) allowed: the mode is argument 0.
    let rule = json!({"names": ["umask"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0o22, "op": "SCMP_CMP_EQ"}]});
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script("umask 077 && echo a=ok; umask 022 2>&1; umask");
    let out = b.run_ok();
    assert!(out.contains("a=ok"), "{out}");
    // busybox's umask builtin ignores the error; the mask stays 0077.
    assert!(out.trim_end().ends_with("0077"), "{out}");
}

#[test]
fn seccomp_args_on_different_indexes_are_anded() {
    let Some(b) = Bundle::new("seccomp_args_on_different_indexes_are_anded") else {
        return;
    };
    // kill(pid, 0) with pid > 1 is refused; kill(1, 0) and kill(pid, 15) are not.
    let rule = json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28,
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"},
                 {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]});
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script(
        "sleep 100 & p=$!; kill -0 1 && echo init=ok; kill -0 $p 2>&1; kill -TERM $p && echo term=ok",
    );
    let out = b.run_ok();
    assert!(out.contains("init=ok"), "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    assert!(out.contains("term=ok"), "{out}");
}

#[test]
fn seccomp_kill_process_dies_with_sigsys() {
    let Some(b) = Bundle::new("seccomp_kill_process_dies_with_sigsys") else {
        return;
    };
    set_seccomp(
        &b,
        allow_except(json!([mkdir_rule("SCMP_ACT_KILL_PROCESS")])),
    );
    b.set_args(&["mkdir", "/tmp/d"]);
    let out = b.run(&b.id, &[]);
    assert_eq!(out.code(), Some(128 + 31), "{out:?}");
    b.assert_nothing_left();
}

#[test]
fn seccomp_unknown_syscall_name_is_skipped() {
    let Some(b) = Bundle::new("seccomp_unknown_syscall_name_is_skipped") else {
        return;
    };
    let rule = json!({"names": ["rt_no_such_syscall", "mkdir", "mkdirat"],
        "action": "SCMP_ACT_ERRNO"});
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script("mkdir /tmp/d 2>&1; echo rc=$?");
    let out = b.run_ok();
    assert!(out.contains("Operation not permitted"), "{out}");
}

/// Without noNewPrivileges the filter is loaded while rt is still
/// privileged, so a non-root user gets it too.
#[test]
fn seccomp_applies_to_unprivileged_user_without_nnp() {
    let Some(b) = Bundle::new("seccomp_applies_to_unprivileged_user_without_nnp") else {
        return;
    };
    set_seccomp(&b, allow_except(json!([mkdir_rule("SCMP_ACT_ERRNO")])));
    b.config(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    b.set_script("id -u; grep -E 'Seccomp:|NoNewPrivs:' /proc/self/status; mkdir /tmp/d 2>&1");
    let out = b.run(&b.id, &[]);
    assert!(out.stdout.contains("1000"), "{out:?}");
    assert!(out.stdout.contains("NoNewPrivs:\t0"), "{out:?}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out:?}");
    assert!(out.stdout.contains("Operation not permitted"), "{out:?}");
}

#[test]
fn seccomp_flags_and_architectures_are_accepted() {
    if skip_on_runc("runc 1.1 takes no seccomp flags") {
        return;
    }
    let Some(b) = Bundle::new("seccomp_flags_and_architectures_are_accepted") else {
        return;
    };
    let mut profile = allow_except(json!([mkdir_rule("SCMP_ACT_ERRNO")]));
    profile["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    set_seccomp(&b, profile);
    b.set_script("mkdir /tmp/d 2>&1; true");
    let out = b.run_ok();
    assert!(out.contains("Operation not permitted"), "{out}");
}

/// create fails, names `field` in a one-line error and leaves nothing.
#[track_caller]
fn assert_refused(test: &str, profile: Value, field: &str) {
    let Some(b) = Bundle::new(test) else {
        return;
    };
    set_seccomp(&b, profile);
    let out = b.create(&b.id).fails();
    b.assert_nothing_left();
    b.assert_state_root_empty();
    // runc's errors do not name the field.
    if !is_runc() {
        assert!(out.stderr.contains(field), "want {field}: {:?}", out.stderr);
    }
    assert_eq!(out.stderr.trim().lines().count(), 1, "{:?}", out.stderr);
    b.assert_template_creates();
}

#[test]
fn seccomp_bad_profiles_fail_naming_the_field() {
    let bad_action = json!({"defaultAction": "SCMP_ACT_BOGUS"});
    assert_refused(
        "seccomp_bad_action",
        bad_action,
        "linux.seccomp.defaultAction",
    );
    let bad_arch = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]});
    assert_refused(
        "seccomp_bad_arch",
        bad_arch,
        "linux.seccomp.architectures[0]",
    );
    let bad_flag =
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]});
    assert_refused("seccomp_bad_flag", bad_flag, "linux.seccomp.flags[0]");
    let bad_op = allow_except(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]));
    assert_refused(
        "seccomp_bad_op",
        bad_op,
        "linux.seccomp.syscalls[0].args[0].op",
    );
    let bad_index = allow_except(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]));
    assert_refused(
        "seccomp_bad_index",
        bad_index,
        "linux.seccomp.syscalls[0].args[0].index",
    );
}

/// config-linux.md's MUSTs: errnoRet on an action without an errno fails,
/// and names holds at least one syscall.
#[test]
fn seccomp_spec_musts_are_enforced() {
    if skip_on_runc("runc 1.1 ignores both") {
        return;
    }
    let errno_on_allow = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]});
    assert_refused(
        "seccomp_errno_on_allow",
        errno_on_allow,
        "linux.seccomp.syscalls[0].errnoRet",
    );
    let default_errno_on_kill = json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1});
    assert_refused(
        "seccomp_default_errno",
        default_errno_on_kill,
        "linux.seccomp.defaultErrnoRet",
    );
    let no_names = allow_except(json!([{"names": [], "action": "SCMP_ACT_ERRNO"}]));
    assert_refused(
        "seccomp_no_names",
        no_names,
        "linux.seccomp.syscalls[0].names",
    );
}

/// A static program for the rootfs: `sysno NR...` makes each raw syscall
/// (all arguments 0) and prints `NR=RET errno=E`; a SIGSYS (SCMP_ACT_TRAP)
/// prints `SIGSYS NR` and exits 0.
const SYSNO_C: &str = r#"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "SIGSYS %d\n", si->si_syscall);
    write(1, buf, n);
    _exit(0);
}
int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, 0);
    for (int i = 1; i < argc; i++) {
        long nr = strtol(argv[i], 0, 0);
        long r = syscall(nr, 0, 0, 0, 0, 0, 0);
        printf("%ld=%ld errno=%d\n", nr, r, r < 0 ? errno : 0);
        fflush(stdout);
    }
    return 0;
}
"#;

/// Builds `sysno` into the bundle's rootfs with the host's C compiler.
fn install_sysno(b: &Bundle) {
    let src = b.dir.join("sysno.c");
    std::fs::write(&src, SYSNO_C).unwrap();
    let out = std::process::Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(b.rootfs.join("sysno"))
        .arg(&src)
        .output()
        .expect("run cc");
    assert!(out.status.success(), "cc: {out:?}");
}

/// x86_64 numbers: 110 getppid, 111 getpgrp, 124 getsid, 140 getpriority.
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_log_trace_errno_and_trap_actions() {
    let Some(b) = Bundle::new("seccomp_log_trace_errno_and_trap_actions") else {
        return;
    };
    install_sysno(&b);
    set_seccomp(
        &b,
        allow_except(json!([
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getpgrp"], "action": "SCMP_ACT_TRACE"},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
            {"names": ["getpriority"], "action": "SCMP_ACT_TRAP"},
        ])),
    );
    b.set_args(&["/sysno", "110", "111", "124", "140", "39"]);
    let out = b.run_ok();
    // LOG allows (init's parent is outside the PID namespace: 0).
    assert!(out.contains("110=0 errno=0"), "{out}");
    // TRACE without a tracer: ENOSYS.
    assert!(out.contains("111=-1 errno=38"), "{out}");
    assert!(out.contains("124=-1 errno=18"), "{out}");
    // TRAP: SIGSYS, which the program handles; nothing runs after it.
    assert!(out.contains("SIGSYS 140"), "{out}");
    assert!(!out.contains("39="), "{out}");
}

#[test]
fn seccomp_kill_thread_and_kill_die_with_sigsys() {
    for action in ["SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL"] {
        let Some(b) = Bundle::new("seccomp_kill_thread_and_kill_die_with_sigsys") else {
            return;
        };
        set_seccomp(&b, allow_except(json!([mkdir_rule(action)])));
        b.set_args(&["mkdir", "/tmp/d"]);
        let out = b.run(&b.id, &[]);
        assert_eq!(out.code(), Some(128 + 31), "{action}: {out:?}");
        assert!(!b.rootfs.join("tmp/d").exists());
        b.assert_nothing_left();
    }
}

/// runc's ENOSYS stub: with a refusing default, a syscall above the highest
/// one the profile names gets ENOSYS, an older unnamed one the default.
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_syscalls_newer_than_the_profile_get_enosys() {
    let Some(b) = Bundle::new("seccomp_syscalls_newer_than_the_profile_get_enosys") else {
        return;
    };
    install_sysno(&b);
    // Every syscall up to 299 but getpriority (140) is allowed.
    let names: Vec<String> = (0..300)
        .filter(|&nr| nr != 140)
        .filter_map(|nr| libseccomp::ScmpSyscall::from(nr).get_name().ok())
        .collect();
    set_seccomp(
        &b,
        json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}),
    );
    // 450 set_mempolicy_home_node is known to libseccomp, 462 is not.
    b.set_args(&["/sysno", "140", "450", "462", "39"]);
    let out = b.run_ok();
    assert!(out.contains("140=-1 errno=1"), "{out}");
    assert!(out.contains("450=-1 errno=38"), "{out}");
    assert!(out.contains("462=-1 errno=38"), "{out}");
    assert!(!out.contains("39=-1"), "getpid is allowed: {out}");
    // defaultErrnoRet replaces EPERM, not the stub's ENOSYS.
    b.config(|c| c["linux"]["seccomp"]["defaultErrnoRet"] = json!(18));
    let out = b.run_ok();
    assert!(out.contains("140=-1 errno=18"), "{out}");
    assert!(out.contains("450=-1 errno=38"), "{out}");
}

/// value is the mask, valueTwo the value: umask(m) is refused when
/// m & 0o700 == 0o700.
#[test]
fn seccomp_masked_eq_compares_under_the_mask() {
    let Some(b) = Bundle::new("seccomp_masked_eq_compares_under_the_mask") else {
        return;
    };
    let rule = json!({"names": ["umask"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0o700, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]});
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script("umask 077; umask; umask 0777; umask");
    let out = b.run_ok();
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0077", "0077"]);
}

/// runc's rule: two tests of the same argument become two rules (ORed).
#[test]
fn seccomp_args_on_the_same_index_are_ored() {
    let Some(b) = Bundle::new("seccomp_args_on_the_same_index_are_ored") else {
        return;
    };
    let rule = json!({"names": ["umask"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0o11, "op": "SCMP_CMP_EQ"},
                 {"index": 0, "value": 0o22, "op": "SCMP_CMP_EQ"}]});
    set_seccomp(&b, allow_except(json!([rule])));
    b.set_script("umask 077; umask 011; umask; umask 022; umask; umask 033; umask");
    let out = b.run_ok();
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0077", "0077", "0033"]
    );
}

/// With noNewPrivileges the filter comes after rt's own setup (as runc:
/// just before the process waits for start), so a profile refusing the
/// syscalls of the identity switch does not break it; without it the
/// filter comes before the capability drop, which it then refuses.
#[test]
fn seccomp_order_against_no_new_privileges() {
    let Some(b) = Bundle::new("seccomp_order_against_no_new_privileges") else {
        return;
    };
    let profile = allow_except(json!([{"names": ["capset", "setresuid", "setgroups"],
        "action": "SCMP_ACT_ERRNO"}]));
    set_seccomp(&b, profile);
    b.config(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    b.set_script("id -u; grep -E 'Seccomp:|NoNewPrivs:' /proc/self/status");
    let out = b.run_ok();
    assert!(out.contains("1000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    b.config(|c| c["process"]["noNewPrivileges"] = json!(false));
    let out = b.create(&b.other_id("nnp-off")).fails();
    assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
    b.assert_nothing_left();
}

/// Compiled programs are cached in the runtime root, keyed by the profile;
/// a hit loads the cached program (here swapped for another profile's).
#[test]
fn seccomp_compiled_filters_are_cached() {
    if skip_on_runc("runc has no filter cache") {
        return;
    }
    let Some(b) = Bundle::new("seccomp_compiled_filters_are_cached") else {
        return;
    };
    let cache = b.state_root.join(".@seccomp-cache");
    let entries = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&cache)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let eperm = allow_except(json!([mkdir_rule("SCMP_ACT_ERRNO")]));
    let mut enospc_rule = mkdir_rule("SCMP_ACT_ERRNO");
    enospc_rule["errnoRet"] = json!(28);
    let enospc = allow_except(json!([enospc_rule]));
    b.set_script("mkdir /tmp/d 2>&1; true");
    set_seccomp(&b, eperm.clone());
    assert!(b.run_ok().contains("Operation not permitted"));
    let first = entries();
    assert_eq!(first.len(), 1, "{first:?}");
    set_seccomp(&b, enospc);
    assert!(b.run_ok().contains("No space left on device"));
    let both = entries();
    assert_eq!(both.len(), 2, "{both:?}");
    let second = both.iter().find(|p| **p != first[0]).unwrap();
    // Entry: "rt-seccomp-cache 1\n", key length (u32 LE), key, program.
    let split = |data: &[u8]| {
        let at = data.iter().position(|&c| c == b'\n').unwrap() + 1;
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        data.split_at(at + 4 + len).0.len()
    };
    let a = std::fs::read(&first[0]).unwrap();
    let c = std::fs::read(second).unwrap();
    let mut swapped = a[..split(&a)].to_vec();
    swapped.extend_from_slice(&c[split(&c)..]);
    std::fs::write(&first[0], swapped).unwrap();
    set_seccomp(&b, eperm);
    let out = b.run_ok();
    assert!(out.contains("No space left on device"), "{out}");
    assert_eq!(entries().len(), 2);
}

/// features-linux.md: what `rt features` says is what rt takes (each
/// action, operator and flag is exercised by the tests above).
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_features_list_what_rt_implements() {
    if skip_on_runc("runc 1.1 lists other flags") {
        return;
    }
    let out = std::process::Command::new(rt_bin())
        .arg("features")
        .output()
        .unwrap();
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seccomp = &features["linux"]["seccomp"];
    let names = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = seccomp[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(seccomp["enabled"], true);
    assert_eq!(
        names("actions"),
        [
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP"
        ]
    );
    assert_eq!(names("operators").len(), 7);
    let known = names("knownFlags");
    assert_eq!(known.len(), 4, "{known:?}");
    // This kernel (6.x) takes all four; rt loads the program itself.
    assert_eq!(names("supportedFlags"), known);
    let archs = names("archs");
    for a in ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"] {
        assert!(archs.iter().any(|x| x == a), "{a} in {archs:?}");
    }
}
