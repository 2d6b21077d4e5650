//! Bad input: every failure exits non-zero, says so on stderr, and leaves nothing behind.

mod common;
use common::*;
use serde_json::json;
use std::fs;

/// create must fail, say why, and leave no state, cgroup, process or mount.
#[track_caller]
fn assert_create_fails_cleanly(b: &Bundle, id: &str) -> Out {
    let out = b.create(id).fails();
    b.assert_nothing_left();
    b.assert_state_root_empty();
    out
}

/// The defect, not the runtime, made create fail: the repaired bundle works.
#[track_caller]
fn control(b: &Bundle) {
    b.assert_template_creates();
}

fn one_line(s: &str) -> bool {
    s.trim().lines().count() == 1
}

#[test]
fn bad_input_missing_config_json() {
    let Some(b) = Bundle::new("bad_input_missing_config_json") else {
        return;
    };
    fs::remove_file(b.config_path()).unwrap();
    assert_create_fails_cleanly(&b, &b.id);
    control(&b);
}

const MALFORMED: &str =
    "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {\n    \"args\": [\"sh\",\n";

#[test]
fn bad_input_malformed_json() {
    let Some(b) = Bundle::new("bad_input_malformed_json") else {
        return;
    };
    fs::write(b.config_path(), MALFORMED).unwrap();
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(
        one_line(&out.stderr),
        "want a one-line error: {:?}",
        out.stderr
    );
    control(&b);
}

#[test]
fn bad_input_malformed_json_error_names_config() {
    // runc says only "unexpected EOF"; rt's error must say which file is broken.
    if skip_on_runc("runc's JSON error does not name config.json") {
        return;
    }
    let Some(b) = Bundle::new("bad_input_malformed_json_error_names_config") else {
        return;
    };
    fs::write(b.config_path(), MALFORMED).unwrap();
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(out.stderr.contains("config.json"), "{:?}", out.stderr);
}

#[test]
fn bad_input_wrong_field_type() {
    let Some(b) = Bundle::new("bad_input_wrong_field_type") else {
        return;
    };
    b.config(|c| c["process"]["user"]["uid"] = json!("zero"));
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(one_line(&out.stderr), "{:?}", out.stderr);
    control(&b);
}

#[test]
fn bad_input_unknown_namespace_type() {
    let Some(b) = Bundle::new("bad_input_unknown_namespace_type") else {
        return;
    };
    b.add_namespace(json!({"type": "bogus"}));
    assert_create_fails_cleanly(&b, &b.id);
    control(&b);
}

#[test]
fn bad_input_duplicate_namespace_type() {
    let Some(b) = Bundle::new("bad_input_duplicate_namespace_type") else {
        return;
    };
    // config-linux.md: duplicated namespace types MUST generate an error.
    b.add_namespace(json!({"type": "network"}));
    assert_create_fails_cleanly(&b, &b.id);
    control(&b);
}

#[test]
fn bad_input_missing_rootfs() {
    let Some(b) = Bundle::new("bad_input_missing_rootfs") else {
        return;
    };
    b.config(|c| c["root"]["path"] = json!("nope"));
    assert_create_fails_cleanly(&b, &b.id);
    control(&b);
}

#[test]
fn bad_input_missing_bundle_dir() {
    let Some(b) = Bundle::new("bad_input_missing_bundle_dir") else {
        return;
    };
    let missing = b.dir.join("nope");
    let out = b
        .rt(&["create", "--bundle", missing.to_str().unwrap(), &b.id])
        .fails();
    assert!(!out.stderr.is_empty());
    assert!(!missing.exists());
    b.assert_state_root_empty();
    b.state(&b.id).fails();
    control(&b);
}

#[test]
fn bad_input_invalid_ids() {
    let Some(b) = Bundle::new("bad_input_invalid_ids") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    for id in ["../x", "a/b", ""] {
        assert_create_fails_cleanly(&b, id);
    }
    // "../x" relative to the state root would land in the bundle directory.
    assert!(!b.dir.join("x").exists());
    assert!(!b.state_root.join("a").exists());
    control(&b);
}

#[test]
fn bad_input_duplicate_id() {
    let Some(b) = Bundle::new("bad_input_duplicate_id") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    let before = b.state_json(&b.id);
    b.create(&b.id).fails();
    assert_eq!(b.state_json(&b.id), before);
    assert!(pid_alive(pid));
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn bad_input_program_not_found() {
    let Some(b) = Bundle::new("bad_input_program_not_found") else {
        return;
    };
    // runc's texts (Go's exec.LookPath): podman turns "permission denied"
    // into exit status 126 and the others into 127.
    for (args, text) in [
        (&["/bin/does-not-exist"][..], "no such file or directory"),
        (&["does-not-exist"], "executable file not found in $PATH"),
        (&["/etc/passwd"], "permission denied"),
    ] {
        b.set_args(args);
        let out = assert_create_fails_cleanly(&b, &b.id);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    }
    control(&b);
}

#[test]
fn bad_input_missing_container_id() {
    let Some(b) = Bundle::new("bad_input_missing_container_id") else {
        return;
    };
    for args in [&["state"][..], &["start"], &["kill"], &["delete"]] {
        b.rt(args).fails();
    }
    let dir = b.dir.to_str().unwrap();
    b.rt(&["create", "--bundle", dir]).fails();
    b.assert_state_root_empty();
    control(&b);
}

#[test]
fn bad_input_sysctl_that_would_change_the_host() {
    let Some(b) = Bundle::new("bad_input_sysctl_that_would_change_the_host") else {
        return;
    };
    let before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    // Not namespaced at all, then namespaced but the namespace is the host's.
    b.config(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "17"}));
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(out.stderr.contains("vm.swappiness"), "{}", out.stderr);
    b.remove_namespace("network");
    b.config(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}));
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(out.stderr.contains("network namespace"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
    control(&b);
}

/// kernel.hostname would compete with the hostname field: refused even with
/// a uts namespace, as runc does (crun's test_start.py uts-sysctl).
#[test]
fn bad_input_sysctl_kernel_hostname() {
    let Some(b) = Bundle::new("bad_input_sysctl_kernel_hostname") else {
        return;
    };
    b.config(|c| c["linux"]["sysctl"] = json!({"kernel.hostname": "foo"}));
    let out = assert_create_fails_cleanly(&b, &b.id);
    assert!(
        out.stderr.contains("kernel.hostname") && out.stderr.contains("hostname field"),
        "{}",
        out.stderr
    );
    control(&b);
}
