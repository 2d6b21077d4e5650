//! linux.seccomp: the profile is enforced on the container's process, and a
//! bad profile fails create naming the field, with nothing left behind.

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

#[test]
fn seccomp_notify_is_refused() {
    if skip_on_runc("runc implements SCMP_ACT_NOTIFY") {
        return;
    }
    let notify = allow_except(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]));
    assert_refused("seccomp_notify", notify, "linux.seccomp.syscalls[0].action");
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
