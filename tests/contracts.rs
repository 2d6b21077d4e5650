//! What the callers (containerd's runc shim through go-runc, Docker through
//! the same shim, podman through conmon) read from the runtime, one test per
//! contract: the state JSON, `ps --format json`, the `--log` JSON error
//! record, the error texts they match, `--version` and `features`.
//! The texts are runc's (1.1.5); the tests pass against runc too
//! (`RT_BIN=/usr/sbin/runc`), except where rt knowingly prints `[]` for `null`.

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// "2026-12-06T09:55:20Z" or with a fraction: what Go's time.Time parses
/// (go-runc reads `created` into one) and what logrus writes as `time`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1)))
}

fn features(b: &Bundle) -> Value {
    b.rt(&["features"]).ok().json()
}

/// Asserts the state keys (runc's, `annotations` only when there are some),
/// a status podman accepts, and returns the JSON.
#[track_caller]
fn checked_state(b: &Bundle, id: &str, annotated: bool) -> Value {
    let st = b.state_json(id);
    let keys: BTreeSet<&str> = st
        .as_object()
        .unwrap_or_else(|| panic!("state is not an object: {st}"))
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = BTreeSet::from([
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ]);
    if annotated {
        want.insert("annotations");
    }
    assert_eq!(keys, want, "{st}");
    assert!(
        ["created", "running", "paused", "stopped"].contains(&st["status"].as_str().unwrap_or("")),
        "podman rejects this status: {st}"
    );
    st
}

#[test]
fn contract_state_json_fields() {
    let Some(b) = Bundle::new("contract_state_json_fields") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.config(|c| c["annotations"] = json!({"org.rt-it.key": "value"}));
    let pid = b.create_ok(&b.id);
    let st = checked_state(&b, &b.id, true);
    assert_eq!(st["ociVersion"], features(&b)["ociVersionMax"], "{st}");
    assert_eq!(st["id"], json!(b.id));
    assert_eq!(st["status"], json!("created"));
    assert_eq!(st["pid"], json!(pid));
    assert_eq!(st["bundle"], json!(b.dir.to_str().unwrap()));
    assert_eq!(st["rootfs"], json!(b.rootfs.to_str().unwrap()));
    let created = st["created"].as_str().unwrap_or("");
    assert!(is_rfc3339_utc(created), "created: {st}");
    // runc: the owner of a root container is "" (rootless: the user name).
    assert_eq!(st["owner"], json!(""), "{st}");
    assert_eq!(st["annotations"], json!({"org.rt-it.key": "value"}));

    b.start(&b.id).ok();
    let st = checked_state(&b, &b.id, true);
    assert_eq!(
        (&st["status"], &st["pid"]),
        (&json!("running"), &json!(pid))
    );
    assert_eq!(st["created"], json!(created), "created changed on start");
    b.rt(&["pause", &b.id]).ok();
    assert_eq!(checked_state(&b, &b.id, true)["status"], json!("paused"));
    b.rt(&["resume", &b.id]).ok();
    assert_eq!(checked_state(&b, &b.id, true)["status"], json!("running"));
    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    // runc reports pid 0 once stopped; go-runc and podman take it as "no process".
    assert_eq!(checked_state(&b, &b.id, true)["pid"], json!(0));

    // Without annotations the key is left out, as runc does (omitempty).
    b.delete(&b.id).ok();
    let plain = b.other_id("plain");
    b.config(|c| {
        c.as_object_mut().unwrap().remove("annotations");
    });
    b.create_ok(&plain);
    checked_state(&b, &plain, false);
}

#[test]
fn contract_ps_format_json_is_an_array_of_host_pids() {
    let Some(b) = Bundle::new("contract_ps_format_json_is_an_array_of_host_pids") else {
        return;
    };
    b.set_script("sleep 1000 & echo ready > /tmp/ready; wait");
    let pid = b.create_ok(&b.id);
    // Created: the init waiting for start is the container's one process.
    assert_eq!(
        b.rt(&["ps", "--format", "json", &b.id]).ok().json(),
        json!([pid])
    );
    b.start(&b.id).ok();
    assert!(wait_until(WAIT, || b.host_path("/tmp/ready").exists()));
    let out = b.rt(&["ps", "--format", "json", &b.id]).ok();
    // containerd's shim unmarshals stdout into []int.
    let mut got: Vec<u32> = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON array of pids ({e}): {:?}", out.stdout));
    got.sort();
    let mut want = pids_in_cgroup(&b.cgroup_path());
    want.sort();
    assert_eq!(got, want, "host pids of the container's cgroup");
    assert!(got.contains(&pid) && got.len() == 2, "{got:?}");

    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    let empty = b.rt(&["ps", "--format", "json", &b.id]).ok().json();
    // runc prints `null` (a nil Go slice); go-runc reads both as no pids.
    if is_runc() {
        assert!(empty.is_null() || empty == json!([]), "{empty}");
    } else {
        assert_eq!(empty, json!([]));
    }
}

/// The one record a failed command writes with `--log FILE --log-format json`:
/// podman parses the whole file as one JSON object, containerd takes the
/// last `error` record. stderr carries the same message, bare, as runc's.
#[track_caller]
fn assert_one_error_record(log: &Path, out: &Out, text: &str) {
    let file = fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("--log file {} not written: {e}", log.display()));
    let v: Value = serde_json::from_str(file.trim())
        .unwrap_or_else(|e| panic!("not exactly one JSON object ({e}): {file:?}"));
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["level", "msg", "time"]), "{file}");
    assert_eq!(v["level"], json!("error"), "{file}");
    assert!(is_rfc3339_utc(v["time"].as_str().unwrap_or("")), "{file}");
    let msg = v["msg"].as_str().unwrap_or("");
    assert!(msg.contains(text), "msg lacks {text:?}: {file}");
    assert!(
        out.stderr.lines().any(|l| l.trim() == msg),
        "stderr does not carry the message {msg:?}: {:?}",
        out.stderr
    );
}

#[test]
fn contract_log_json_one_error_record_per_failure() {
    let Some(b) = Bundle::new("contract_log_json_one_error_record_per_failure") else {
        return;
    };
    let log = b.dir.join("log.json");
    let log_s = log.to_str().unwrap().to_owned();
    let logged = |args: &[&str]| {
        let _ = fs::remove_file(&log);
        b.rt_with(&["--log", &log_s, "--log-format", "json"], args)
    };

    // The file is created even when there is nothing to say.
    logged(&["list"]).ok();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "",
        "a quiet command logged"
    );

    let out = logged(&["start", "nope"]).fails();
    assert_one_error_record(&log, &out, "does not exist");

    // A failed create: the program is missing.
    b.set_args(&["/bin/does-not-exist"]);
    let dir = b.dir.to_str().unwrap().to_owned();
    let out = logged(&["create", "--bundle", &dir, &b.id]).fails();
    assert_one_error_record(&log, &out, "no such file or directory");
    b.assert_state_root_empty();

    // A failed exec (conmon reads this record for `podman exec`).
    b.set_args(&["true"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    let out = logged(&["exec", &b.id, "true"]).fails();
    assert_one_error_record(
        &log,
        &out,
        "exec failed: cannot exec in a stopped container",
    );
}

#[test]
fn contract_unknown_container_does_not_exist() {
    let Some(b) = Bundle::new("contract_unknown_container_does_not_exist") else {
        return;
    };
    // containerd and podman match "does not exist": for them the container is gone.
    for args in [
        &["start", "nope"][..],
        &["state", "nope"],
        &["kill", "nope", "KILL"],
        &["kill", "--all", "nope", "KILL"],
        &["delete", "nope"],
        &["pause", "nope"],
        &["resume", "nope"],
        &["ps", "--format", "json", "nope"],
        &["exec", "nope", "true"],
    ] {
        let out = b.rt(args).fails();
        assert!(
            out.stderr.contains("does not exist"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // runtime.md: deleting what does not exist is an error; with --force
    // (runc's extension) it succeeds, as containerd's cleanup expects.
    b.delete_force("nope").ok();
    b.assert_nothing_left();
}

/// runc's texts for requests the container's status refuses.
#[test]
fn contract_refused_operation_texts() {
    let Some(b) = Bundle::new("contract_refused_operation_texts") else {
        return;
    };
    let refused = |args: &[&str], text: &str| {
        let out = b.rt(args).fails();
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
        out
    };
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    refused(
        &["start", &b.id],
        "cannot start an already running container",
    );
    let text = format!(
        "cannot delete container {} that is not stopped: running",
        b.id
    );
    refused(&["delete", &b.id], &text);
    refused(&["resume", &b.id], "container not paused");
    b.rt(&["pause", &b.id]).ok();
    // runc's exec failures exit 255: the program's own statuses stay apart.
    let out = refused(
        &["exec", &b.id, "true"],
        "exec failed: cannot exec in a paused container",
    );
    assert_eq!(out.code(), Some(255));
    let text = format!(
        "cannot delete container {} that is not stopped: paused",
        b.id
    );
    refused(&["delete", &b.id], &text);
    b.rt(&["resume", &b.id]).ok();

    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    // containerd's shim maps "container not running" to "process already finished".
    refused(&["kill", &b.id, "KILL"], "container not running");
    refused(&["kill", &b.id, "TERM"], "container not running");
    refused(&["pause", &b.id], "container not running");
    let out = refused(
        &["exec", &b.id, "true"],
        "exec failed: cannot exec in a stopped container",
    );
    assert_eq!(out.code(), Some(255));
    refused(
        &["start", &b.id],
        "cannot start a container that has stopped",
    );
    assert_eq!(b.status(&b.id), "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

/// Without its own PID namespace a container's other processes outlive its
/// init. containerd's shim then runs `kill --all ID KILL` on the stopped
/// container, which must reach them (runc signals its cgroup's processes).
#[test]
fn contract_kill_all_on_stopped_container_reaches_leftovers() {
    let Some(b) = Bundle::new("contract_kill_all_on_stopped_container") else {
        return;
    };
    b.remove_namespace("pid");
    b.set_script("sleep 1000 &");
    let init = b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    assert!(wait_until(WAIT, || !pid_alive(init)));
    let cg = b.cgroup_path();
    let left = pids_in_cgroup(&cg);
    assert_eq!(left.len(), 1, "the sleep should outlive init: {left:?}");

    b.rt(&["kill", "--all", &b.id, "KILL"]).ok();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&cg).is_empty()),
        "survivors: {:?}",
        pids_in_cgroup(&cg)
    );
    // Nothing left to signal is no error either.
    b.rt(&["kill", "--all", &b.id, "KILL"]).ok();
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn contract_version_lines() {
    let Some(b) = Bundle::new("contract_version_lines") else {
        return;
    };
    let spec = features(&b)["ociVersionMax"]
        .as_str()
        .expect("features: ociVersionMax")
        .to_owned();
    for flag in ["--version", "-v"] {
        let out = b.rt(&[flag]).ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        // go-runc and Docker read "NAME version X", "commit: Y", "spec: Z".
        let name = if is_runc() { "runc" } else { "rt" };
        let version = lines[0]
            .strip_prefix(&format!("{name} version "))
            .unwrap_or_else(|| panic!("{flag}: first line {:?}", lines[0]));
        assert!(
            !version.is_empty() && !version.contains(' '),
            "{flag}: {lines:?}"
        );
        assert!(
            lines[1]
                .strip_prefix("commit: ")
                .is_some_and(|c| !c.is_empty()),
            "{flag}: {lines:?}"
        );
        assert_eq!(lines[2], format!("spec: {spec}"), "{flag}: {lines:?}");
        if !is_runc() {
            assert_eq!(lines.len(), 3, "{flag}: {lines:?}");
        }
    }
}

#[test]
fn contract_features_json() {
    let Some(b) = Bundle::new("contract_features_json") else {
        return;
    };
    let f = features(&b);
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = f[key].as_str().unwrap_or_else(|| panic!("{key}: {f}"));
        let parts: Vec<&str> = v.split(['.', '-']).collect();
        assert!(
            parts.len() >= 3 && parts[..3].iter().all(|p| p.parse::<u32>().is_ok()),
            "{key} is not a version: {v}"
        );
    }
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    let hooks = strings(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(h), "hooks lacks {h}: {f}");
    }
    assert!(strings(&f["mountOptions"]).contains("bind"), "{f}");
    let linux = &f["linux"];
    let ns = strings(&linux["namespaces"]);
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(n), "namespaces lacks {n}: {f}");
    }
    assert!(
        strings(&linux["capabilities"]).contains("CAP_SYS_ADMIN"),
        "{f}"
    );
    assert_eq!(linux["cgroup"]["v1"], json!(true), "{f}");
    assert_eq!(linux["seccomp"]["enabled"], json!(true), "{f}");
    for key in ["actions", "operators", "archs"] {
        assert!(!strings(&linux["seccomp"][key]).is_empty(), "{key}: {f}");
    }
}
