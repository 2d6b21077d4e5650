//! Limits that the kernel enforces on real containers: a memory limit
//! OOM-kills and `events` reports it, a cpu quota throttles, a device rule
//! denies an open. Each test runs on this hybrid host (cgroup v1) and, through
//! hack/vm-cgroup2.sh, on cgroup v2 (eBPF device program).

mod common;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The container's directory of the v1 `controller`, or its v2 directory.
fn cg_dir(b: &Bundle, controller: &str) -> PathBuf {
    let root = PathBuf::from("/sys/fs/cgroup");
    let rel = b.cgroup_path().trim_start_matches('/').to_string();
    if is_cgroup2_host() {
        root.join(rel)
    } else {
        root.join(controller).join(rel)
    }
}

/// One `key value` line of a flat-keyed cgroup file (cpu.stat, memory.events).
fn keyed(path: &PathBuf, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A busy loop under a quota of 10% of one CPU is throttled: the kernel
/// counts throttled periods in cpu.stat.
#[test]
fn cpu_quota_throttles() {
    let Some(b) = Bundle::new("cpu_quota_throttles") else {
        return;
    };
    b.set_script("while :; do :; done");
    b.config(|c| c["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000}));
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let stat = cg_dir(&b, "cpu").join("cpu.stat");
    assert!(
        wait_until(WAIT, || keyed(&stat, "nr_throttled").is_some_and(|n| n > 0)),
        "never throttled: {}",
        fs::read_to_string(&stat).unwrap_or_default()
    );
    let stats = b.rt(&["events", "--stats", &b.id]).ok().json();
    assert_eq!(stats["type"], "stats");
    assert!(
        stats["data"]["cpu"]["throttling"]["throttledPeriods"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{stats}"
    );
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// A process that allocates past a 16 MiB limit (no swap) is OOM-killed,
/// and `events` (streaming) reports `oom` for the container.
#[test]
fn memory_limit_oom_kills_and_events_report_it() {
    let Some(b) = Bundle::new("memory_limit_oom_kills") else {
        return;
    };
    // The shell waits for a line on the fifo, then grows a variable until
    // the kernel kills it.
    b.set_script("mkfifo /tmp/go; read x < /tmp/go; a=x; while :; do a=$a$a; done");
    b.config(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let fifo = b.host_path("/tmp/go");
    assert!(wait_until(WAIT, || fifo.exists()), "no fifo");
    // timeout(1): a hang is a failure, not a stuck suite.
    let mut events = Command::new("timeout")
        .arg("60")
        .arg(rt_bin())
        .args(["--root", b.state_root.to_str().unwrap()])
        .args(["events", "--interval", "1s", &b.id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    // The first stats line says events is watching.
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats", "{first}");
    assert_eq!(
        first["data"]["memory"]["usage"]["limit"],
        16 << 20,
        "{first}"
    );
    fs::write(&fifo, "go\n").unwrap();
    let mut seen = Vec::new();
    let oom = lines.map_while(Result::ok).find(|l| {
        seen.push(l.clone());
        serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "oom" && v["id"] == b.id)
    });
    // events ends by itself once the container has stopped.
    let status = events.wait().unwrap();
    assert!(oom.is_some(), "no oom event in {seen:?}");
    assert!(status.success(), "events: {status:?}");
    b.wait_status(&b.id, "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

/// Device 42 has no driver: an open the cgroup lets through fails with
/// ENXIO, one it denies with EPERM. Allowed 42:1, denied 42:2.
#[test]
fn device_rule_denies_open() {
    let Some(b) = Bundle::new("device_rule_denies_open") else {
        return;
    };
    for (name, minor) in [("d1", 1), ("d2", 2)] {
        let st = Command::new("mknod")
            .arg(b.host_path(&format!("/{name}")))
            .args(["c", "42", &minor.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }
    b.set_script("for d in d1 d2; do echo $d; cat /$d; done 2>&1; true");
    b.config(|c| {
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 42, "minor": 1, "access": "rw"},
            {"allow": true, "type": "c", "major": 42, "minor": 2, "access": "w"}
        ]);
    });
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].contains("No such device"),
        "42:1 not allowed: {out}"
    );
    assert!(
        lines[3].contains("Operation not permitted"),
        "42:2 opened for reading: {out}"
    );
    b.assert_nothing_left();
}
