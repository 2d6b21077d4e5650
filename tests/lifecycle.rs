//! Lifecycle per runtime.md: create / start / state / kill / delete / list.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Marks that it ran, then blocks until the host creates /tmp/go, so the test
/// decides when the container stops.
const GATED: &str = "echo ran >> /tmp/marker; while [ ! -e /tmp/go ]; do sleep 0.05; done";

fn marker_lines(b: &Bundle) -> usize {
    fs::read_to_string(b.host_path("/tmp/marker"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn release(b: &Bundle) {
    fs::write(b.host_path("/tmp/go"), "").unwrap();
}

#[test]
fn lifecycle_create_does_not_run_program() {
    let Some(b) = Bundle::new("lifecycle_create_does_not_run_program") else {
        return;
    };
    b.set_script(GATED);
    let pid = b.create_ok(&b.id);
    assert_eq!(b.status(&b.id), "created");
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has no live process {pid}"
    );
    // Time for a runtime that runs the program early to give itself away.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(marker_lines(&b), 0, "the user program ran before start");
    assert_eq!(b.status(&b.id), "created");

    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || marker_lines(&b) == 1),
        "start did not run the program"
    );
    assert_eq!(b.status(&b.id), "running");
    assert_eq!(
        b.pid(&b.id),
        pid,
        "the program must run as the process create made"
    );
}

#[test]
fn lifecycle_start_runs_then_stopped_after_exit() {
    let Some(b) = Bundle::new("lifecycle_start_runs_then_stopped_after_exit") else {
        return;
    };
    b.set_script(GATED);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert_eq!(b.status(&b.id), "running");
    release(&b);
    b.wait_status(&b.id, "stopped");
    // runc reports pid 0 once stopped (the spec only requires pid while created/running).
    assert_eq!(b.state_json(&b.id)["pid"], json!(0));
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn lifecycle_state_bundle_is_absolute_for_relative_arg() {
    let Some(b) = Bundle::new("lifecycle_state_bundle_is_absolute") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let rel = b.dir.file_name().unwrap().to_str().unwrap().to_owned();
    b.create_in(BASE_DIR, &rel, &b.id).ok();
    assert_eq!(
        b.state_json(&b.id)["bundle"],
        json!(b.dir.to_str().unwrap())
    );
}

#[test]
fn lifecycle_start_on_running_or_stopped_fails() {
    let Some(b) = Bundle::new("lifecycle_start_on_running_or_stopped_fails") else {
        return;
    };
    b.set_script(GATED);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(wait_until(WAIT, || marker_lines(&b) == 1));

    b.start(&b.id).fails();
    assert_eq!(b.status(&b.id), "running");
    assert_eq!(b.pid(&b.id), pid);

    release(&b);
    b.wait_status(&b.id, "stopped");
    b.start(&b.id).fails();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.status(&b.id), "stopped");
    assert_eq!(marker_lines(&b), 1, "the program ran again");
}

#[test]
fn lifecycle_start_twice_fails() {
    let Some(b) = Bundle::new("lifecycle_start_twice_fails") else {
        return;
    };
    b.set_script("echo ran >> /tmp/marker");
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.start(&b.id).fails();
    b.wait_status(&b.id, "stopped");
    assert_eq!(marker_lines(&b), 1);
}

#[test]
fn lifecycle_kill_sigkill_forms() {
    let Some(b) = Bundle::new("lifecycle_kill_sigkill_forms") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    for (i, sig) in ["SIGKILL", "KILL", "9"].into_iter().enumerate() {
        let id = b.other_id(&i.to_string());
        let pid = b.create_ok(&id);
        b.start(&id).ok();
        assert_eq!(b.status(&id), "running");
        b.kill(&id, sig).ok();
        b.wait_status(&id, "stopped");
        assert!(
            wait_until(WAIT, || !pid_alive(pid)),
            "{sig}: process {pid} survived"
        );
        b.delete(&id).ok();
    }
    b.assert_nothing_left();
}

/// pid-1 sh drops signals it has no handler for, so delivery is proven by traps.
const TRAPS: &str = "trap 'echo usr1 >> /tmp/sig' USR1; trap 'echo rt35 >> /tmp/sig' 35; \
                     echo ready > /tmp/ready; while :; do sleep 0.05; done";

fn sig_lines(b: &Bundle) -> Vec<String> {
    fs::read_to_string(b.host_path("/tmp/sig"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn start_trapper(b: &Bundle) {
    b.set_script(TRAPS);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || b.host_path("/tmp/ready").exists()),
        "trap script never got ready"
    );
}

#[test]
fn lifecycle_kill_delivers_named_and_numbered_signals() {
    let Some(b) = Bundle::new("lifecycle_kill_delivers_named_and_numbered") else {
        return;
    };
    start_trapper(&b);
    let mut want = Vec::new();
    for (sig, line) in [
        ("SIGUSR1", "usr1"),
        ("USR1", "usr1"),
        ("10", "usr1"),
        ("35", "rt35"),
    ] {
        b.kill(&b.id, sig).ok();
        want.push(line.to_owned());
        assert!(
            wait_until(WAIT, || sig_lines(&b) == want),
            "signal {sig} not delivered: {:?}",
            sig_lines(&b)
        );
    }
    assert_eq!(b.status(&b.id), "running");
}

#[test]
fn lifecycle_kill_rtmin_names() {
    // runc 1.1.5 rejects "SIGRTMIN+1" ("unknown signal"); not a spec rule, but callers send it.
    if skip_on_runc("runc 1.1.5 has no SIGRTMIN+N signal names") {
        return;
    }
    let Some(b) = Bundle::new("lifecycle_kill_rtmin_names") else {
        return;
    };
    start_trapper(&b);
    let mut want = Vec::new();
    for sig in ["SIGRTMIN+1", "RTMIN+1"] {
        b.kill(&b.id, sig).ok();
        want.push("rt35".to_owned());
        assert!(
            wait_until(WAIT, || sig_lines(&b) == want),
            "signal {sig} not delivered: {:?}",
            sig_lines(&b)
        );
    }
}

#[test]
fn lifecycle_kill_unknown_signal_fails() {
    let Some(b) = Bundle::new("lifecycle_kill_unknown_signal_fails") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.kill(&b.id, "SIGNOPE").fails();
    b.kill(&b.id, "99").fails();
    assert_eq!(b.status(&b.id), "running");
    assert!(pid_alive(pid));
}

#[test]
fn lifecycle_kill_all_reaches_every_process() {
    let Some(b) = Bundle::new("lifecycle_kill_all_reaches_every_process") else {
        return;
    };
    // Without a PID namespace, killing init alone would leave the sleeps running.
    b.remove_namespace("pid");
    b.set_script("sleep 1000 & sleep 1000 & echo ready > /tmp/ready; wait");
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(wait_until(WAIT, || b.host_path("/tmp/ready").exists()));
    let cg = b.cgroup_path();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&cg).len() >= 3),
        "expected 3 processes: {:?}",
        pids_in_cgroup(&cg)
    );

    b.rt(&["kill", "--all", &b.id, "KILL"]).ok();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&cg).is_empty()),
        "survivors: {:?}",
        pids_in_cgroup(&cg)
    );
    assert!(!pid_alive(pid));
    b.wait_status(&b.id, "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn lifecycle_delete_running_fails_force_removes() {
    let Some(b) = Bundle::new("lifecycle_delete_running_fails_force_removes") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.delete(&b.id).fails();
    assert_eq!(b.status(&b.id), "running");
    assert!(pid_alive(pid));

    b.delete_force(&b.id).ok();
    b.state(&b.id).fails();
    b.assert_nothing_left();
}

#[test]
fn lifecycle_delete_force_created() {
    let Some(b) = Bundle::new("lifecycle_delete_force_created") else {
        return;
    };
    b.set_script(GATED);
    b.create_ok(&b.id);
    b.delete_force(&b.id).ok();
    b.state(&b.id).fails();
    b.assert_nothing_left();
    assert_eq!(
        marker_lines(&b),
        0,
        "deleting a created container ran its program"
    );
}

#[test]
fn lifecycle_delete_created_without_force_fails() {
    // runtime.md: delete of a container that is not stopped MUST fail; runc deletes it.
    if skip_on_runc("runc deletes a created container without --force") {
        return;
    }
    let Some(b) = Bundle::new("lifecycle_delete_created_without_force_fails") else {
        return;
    };
    b.set_script(GATED);
    let pid = b.create_ok(&b.id);
    b.delete(&b.id).fails();
    assert_eq!(b.status(&b.id), "created");
    assert!(pid_alive(pid));
    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || marker_lines(&b) == 1),
        "container unusable after refused delete"
    );
}

#[test]
fn lifecycle_delete_stopped_removes_everything() {
    let Some(b) = Bundle::new("lifecycle_delete_stopped_removes_everything") else {
        return;
    };
    b.set_args(&["true"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    b.delete(&b.id).ok();
    b.state(&b.id).fails();
    b.assert_nothing_left();
    // Deleted means the ID is free again.
    b.create_ok(&b.id);
    assert_eq!(b.status(&b.id), "created");
}

#[test]
fn lifecycle_duplicate_id_fails_and_keeps_first() {
    let Some(b) = Bundle::new("lifecycle_duplicate_id_fails_and_keeps_first") else {
        return;
    };
    b.set_script(GATED);
    let pid = b.create_ok(&b.id);
    let before = b.state_json(&b.id);
    b.create(&b.id).fails();
    assert_eq!(b.state_json(&b.id), before);
    assert!(pid_alive(pid));
    b.start(&b.id).ok();
    assert!(wait_until(WAIT, || marker_lines(&b) == 1));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(marker_lines(&b), 1, "the duplicate create ran a program");
}

#[test]
fn lifecycle_list_empty() {
    let Some(b) = Bundle::new("lifecycle_list_empty") else {
        return;
    };
    let out = b.list(&[]).ok();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected only the header: {:?}", out.stdout);
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    assert_eq!(b.list(&["-q"]).ok().stdout.trim(), "");
    // runc prints `null`; an empty array says the same.
    let j = b.list(&["-f", "json"]).ok().json();
    assert!(
        j.is_null() || j == json!([]),
        "list -f json with no containers: {j}"
    );
}

#[test]
fn lifecycle_list_shows_containers() {
    let Some(b) = Bundle::new("lifecycle_list_shows_containers") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let a = b.other_id("a");
    let pa = b.create_ok(&a);
    let c = b.other_id("c");
    b.config(|v| v["linux"]["cgroupsPath"] = json!(format!("{}-c", b.cgroup_path())));
    let pc = b.create_ok(&c);
    b.start(&c).ok();

    let out = b.list(&[]).ok();
    let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    let bundle = b.dir.to_str().unwrap();
    for (id, pid, status) in [(&a, pa, "created"), (&c, pc, "running")] {
        let row = rows
            .iter()
            .find(|r| r[0] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not listed: {}", out.stdout));
        assert_eq!(
            row[1..4],
            [pid.to_string().as_str(), status, bundle],
            "{}",
            out.stdout
        );
    }

    let mut q: Vec<String> = b
        .list(&["-q"])
        .ok()
        .stdout
        .lines()
        .map(str::to_owned)
        .collect();
    q.sort();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(q, want);

    let j = b.list(&["-f", "json"]).ok().json();
    let arr = j.as_array().unwrap_or_else(|| panic!("not an array: {j}"));
    assert_eq!(arr.len(), 2);
    for (id, pid, status) in [(&a, pa, "created"), (&c, pc, "running")] {
        let e = arr
            .iter()
            .find(|e| e["id"] == json!(id))
            .unwrap_or_else(|| panic!("{id} missing: {j}"));
        assert_eq!(e["pid"], json!(pid));
        assert_eq!(e["status"], json!(status));
        assert_eq!(e["bundle"], json!(bundle));
        assert!(e["created"].is_string() && e["owner"].is_string(), "{e}");
    }
}

/// `delete --force` removes the container even when a cgroup stays busy
/// after the kill, and says why (runc and crun do; crun's test_delete.py
/// freezes the init in another v1 freezer cgroup, where SIGKILL waits).
#[test]
fn delete_force_with_a_busy_cgroup_still_removes_the_container() {
    let Some(b) = Bundle::new("delete_force_with_a_busy_cgroup_still_removes_the_container") else {
        return;
    };
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer");
    if is_cgroup2_host() || !freezer.join("cgroup.procs").exists() {
        eprintln!("skipping: needs a cgroup v1 freezer hierarchy");
        return;
    }
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    // A freezer cgroup of the test's own, beside the container's.
    let frozen = freezer.join(format!("{CGROUP_PARENT}/{}-frozen", b.name));
    fs::create_dir_all(&frozen).unwrap();
    fs::write(frozen.join("cgroup.procs"), pid.to_string()).unwrap();
    fs::write(frozen.join("freezer.state"), "FROZEN").unwrap();
    assert!(wait_until(WAIT, || {
        fs::read_to_string(frozen.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
    }));
    let out = b.delete_force(&b.id);
    let thawed = fs::write(frozen.join("freezer.state"), "THAWED");
    let gone = wait_until(WAIT, || !pid_alive(pid));
    let removed = wait_until(WAIT, || fs::remove_dir(&frozen).is_ok() || !frozen.exists());
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stderr.contains("busy"), "{}", out.stderr);
    assert!(!b.state_root.join(&b.id).exists(), "state dir left");
    thawed.unwrap();
    assert!(gone && removed, "the killed init did not go once thawed");
}
