//! linux.resources, `update`, `pause`/`resume`, `ps` and `events`, checked
//! from the host through the container's cgroup files (this host: cgroup v1
//! controllers, hugetlb on the unified hierarchy; see shared/HOST.md; and a
//! cgroup v2 host in hack/vm-cgroup2.sh).

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// /sys/fs/cgroup/<hierarchy>/<the container's cgroup>/<file>; on a
/// cgroup v2 host /sys/fs/cgroup/<the container's cgroup>/<file>.
fn cg_file(b: &Bundle, hierarchy: &str, file: &str) -> PathBuf {
    let root = PathBuf::from("/sys/fs/cgroup");
    let root = if is_cgroup2_host() {
        root
    } else {
        root.join(hierarchy)
    };
    root.join(b.cgroup_path().trim_start_matches('/'))
        .join(file)
}

#[track_caller]
fn cg_read(b: &Bundle, hierarchy: &str, file: &str) -> String {
    let p = cg_file(b, hierarchy, file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn has_v1(controller: &str) -> bool {
    PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join("cgroup.procs")
        .exists()
}

#[test]
fn resources_memory_v1() {
    let Some(b) = Bundle::new("resources_memory_v1") else {
        return;
    };
    if !has_v1("memory") {
        eprintln!("skipped: no cgroup v1 memory hierarchy");
        return;
    }
    b.set_args(&["sleep", "1000"]);
    b.config(|c| {
        c["linux"]["resources"]["memory"] = json!({
            "limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20,
            "kernelTCP": 16 << 20, "swappiness": 10, "disableOOMKiller": false,
            "checkBeforeUpdate": true
        });
    });
    b.create_ok(&b.id);
    assert_eq!(cg_read(&b, "memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        cg_read(&b, "memory", "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(
        cg_read(&b, "memory", "memory.memsw.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(
        cg_read(&b, "memory", "memory.kmem.tcp.limit_in_bytes"),
        "16777216"
    );
    assert_eq!(cg_read(&b, "memory", "memory.swappiness"), "10");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn resources_cpu_v1() {
    let Some(b) = Bundle::new("resources_cpu_v1") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.config(|c| {
        c["linux"]["resources"]["cpu"] = json!({
            "shares": 512, "quota": 20000, "period": 100000, "burst": 1000,
            "cpus": "0", "mems": "0", "idle": 0
        });
    });
    b.create_ok(&b.id);
    if is_cgroup2_host() {
        // runc's conversion: 1 + ((512 - 2) * 9999) / 262142.
        assert_eq!(cg_read(&b, "cpu", "cpu.weight"), "20");
        assert_eq!(cg_read(&b, "cpu", "cpu.max"), "20000 100000");
        assert_eq!(cg_read(&b, "cpu", "cpu.max.burst"), "1000");
    } else {
        assert_eq!(cg_read(&b, "cpu", "cpu.shares"), "512");
        assert_eq!(cg_read(&b, "cpu", "cpu.cfs_quota_us"), "20000");
        assert_eq!(cg_read(&b, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg_read(&b, "cpu", "cpu.cfs_burst_us"), "1000");
    }
    assert_eq!(cg_read(&b, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(cg_read(&b, "cpuset", "cpuset.mems"), "0");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// A loop that starts 20 background processes under a limit of 8 fails to
/// fork (busybox sh gives up at the first failure).
#[test]
fn resources_pids_limit_stops_fork_loop() {
    let Some(b) = Bundle::new("resources_pids_limit_stops_fork_loop") else {
        return;
    };
    b.set_script("for i in $(seq 20); do sleep 30 & done; echo looped; wait");
    b.config(|c| c["linux"]["resources"]["pids"] = json!({"limit": 8}));
    b.create_ok(&b.id);
    assert_eq!(cg_read(&b, "pids", "pids.max"), "8");
    b.start(&b.id).ok();
    let err = || fs::read_to_string(b.ctr_err_path(&b.id)).unwrap_or_default();
    assert!(
        wait_until(WAIT, || err().contains("fork")),
        "no fork failure reported: {:?}",
        err()
    );
    assert!(
        !b.ctr_stdout(&b.id).contains("looped"),
        "all 20 forks worked"
    );
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// The kernel refuses a CFS period below 1 ms: create fails naming the
/// field and the file, and leaves nothing.
#[test]
fn resources_refused_value_fails_create() {
    let Some(b) = Bundle::new("resources_refused_value_fails_create") else {
        return;
    };
    b.config(|c| c["linux"]["resources"]["cpu"] = json!({"period": 100}));
    let out = b.create(&b.id).fails();
    let file = if is_cgroup2_host() {
        "cpu.max"
    } else {
        "cpu.cfs_period_us"
    };
    assert!(
        out.stderr.contains("linux.resources.cpu.") && out.stderr.contains(file),
        "error does not name the field and file: {}",
        out.stderr
    );
    b.assert_nothing_left();
    b.assert_state_root_empty();
    b.assert_template_creates();
}

/// Values checked before anything is made.
#[test]
fn resources_invalid_config_fails_create() {
    let Some(b) = Bundle::new("resources_invalid_config_fails_create") else {
        return;
    };
    for (res, field) in [
        (
            json!({"memory": {"limit": 2 << 20, "swap": 1 << 20}}),
            "linux.resources.memory.swap",
        ),
        (
            json!({"memory": {"swappiness": 200}}),
            "linux.resources.memory.swappiness",
        ),
        (
            json!({"unified": {"../memory.max": "1"}}),
            "linux.resources.unified",
        ),
        (
            json!({"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}),
            "pageSize",
        ),
    ] {
        b.config(|c| c["linux"]["resources"] = res.clone());
        let out = b.create(&b.id).fails();
        assert!(out.stderr.contains(field), "{res}: {}", out.stderr);
        b.assert_nothing_left();
    }
}

/// Resources of a controller this host lacks are an error naming it.
#[test]
fn resources_missing_controller_fails_create() {
    let Some(b) = Bundle::new("resources_missing_controller_fails_create") else {
        return;
    };
    if has_v1("net_cls") {
        eprintln!("skipped: net_cls is mounted here");
        return;
    }
    b.config(|c| c["linux"]["resources"]["network"] = json!({"classID": 1048577}));
    let out = b.create(&b.id).fails();
    assert!(out.stderr.contains("net_cls"), "{}", out.stderr);
    b.assert_nothing_left();
    // unified keys are cgroup v2 files: memory is not on cgroup v2 here.
    let unified_memory = is_cgroup2_host()
        || fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
    if !unified_memory {
        b.config(|c| c["linux"]["resources"] = json!({"unified": {"memory.high": "1000000"}}));
        let out = b.create(&b.id).fails();
        assert!(
            out.stderr.contains("memory.high") && out.stderr.contains("memory controller"),
            "{}",
            out.stderr
        );
        b.assert_nothing_left();
    }
    b.assert_template_creates();
}

/// hugetlb has no v1 hierarchy here: rt sets it through cgroup v2.
#[test]
fn resources_hugetlb_through_unified() {
    let Some(b) = Bundle::new("resources_hugetlb_through_unified") else {
        return;
    };
    let v2_hugetlb = fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"));
    if has_v1("hugetlb") || !v2_hugetlb {
        eprintln!("skipped: hugetlb is not (only) on the unified hierarchy here");
        return;
    }
    b.set_args(&["sleep", "1000"]);
    b.config(|c| {
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4 << 20}]);
        c["linux"]["resources"]["unified"] = json!({"hugetlb.1GB.max": "0"});
    });
    let delegated = fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control")
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"));
    if !delegated {
        // rt never changes the host's root cgroup: it cannot apply the
        // limit, so create fails (runtime.md) and leaves nothing.
        let out = b.create(&b.id).fails();
        assert!(out.stderr.contains("subtree_control"), "{}", out.stderr);
        b.assert_nothing_left();
        return;
    }
    b.create_ok(&b.id);
    assert_eq!(cg_read(&b, "unified", "hugetlb.2MB.max"), "4194304");
    assert_eq!(cg_read(&b, "unified", "hugetlb.1GB.max"), "0");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn update_changes_limits() {
    let Some(b) = Bundle::new("update_changes_limits") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.config(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
        c["linux"]["resources"]["pids"] = json!({"limit": 100});
    });
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.rt(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "-1",
        "--pids-limit",
        "50",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "30000",
        "--cpu-period",
        "60000",
        &b.id,
    ])
    .ok();
    let v2 = is_cgroup2_host();
    let (limit, soft, shares, cpu) = match v2 {
        true => ("memory.max", "memory.low", ("cpu.weight", "10"), "cpu.max"),
        false => (
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            ("cpu.shares", "256"),
            "cpu.cfs_period_us",
        ),
    };
    assert_eq!(cg_read(&b, "memory", limit), "33554432");
    assert_eq!(cg_read(&b, "pids", "pids.max"), "50");
    assert_eq!(cg_read(&b, "cpu", shares.0), shares.1);
    if v2 {
        assert_eq!(cg_read(&b, "cpu", "cpu.max"), "30000 60000");
    } else {
        assert_eq!(cg_read(&b, "cpu", "cpu.cfs_quota_us"), "30000");
        assert_eq!(cg_read(&b, "cpu", "cpu.cfs_period_us"), "60000");
    }
    let file = b.dir.join("res.json");
    fs::write(
        &file,
        json!({"pids": {"limit": -1}, "memory": {"reservation": 1 << 20}}).to_string(),
    )
    .unwrap();
    b.rt(&["update", "-r", file.to_str().unwrap(), &b.id]).ok();
    assert_eq!(cg_read(&b, "pids", "pids.max"), "max");
    assert_eq!(cg_read(&b, "memory", soft), "1048576");
    // The first update's memory limit survives the second: in the cgroup,
    // in what `events` reports and in the container's saved config.
    assert_eq!(cg_read(&b, "memory", limit), "33554432");
    let stats = b.rt(&["events", "--stats", &b.id]).ok().json();
    assert_eq!(
        stats["data"]["memory"]["usage"]["limit"],
        32 << 20,
        "{stats}"
    );
    assert!(stats["data"]["pids"].get("limit").is_none(), "{stats}");
    let saved: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(b.state_root.join(&b.id).join("config.json")).unwrap(),
    )
    .unwrap();
    let res = &saved["linux"]["resources"];
    assert_eq!(res["memory"]["limit"], 32 << 20, "{res}");
    assert_eq!(res["memory"]["reservation"], 1 << 20, "{res}");
    assert_eq!(res["pids"]["limit"], -1, "{res}");
    assert_eq!(res["cpu"]["quota"], 30000, "{res}");
    // A value the kernel refuses is an error naming it; a bad flag too.
    let out = b.rt(&["update", "--cpu-period", "10", &b.id]).fails();
    assert!(out.stderr.contains(cpu), "{}", out.stderr);
    b.rt(&["update", "--memory", "lots", &b.id]).fails();
    b.rt(&["update", "--l3-cache-schema", "L3:0=f", &b.id])
        .fails();
    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    b.rt(&["update", "--pids-limit", "5", &b.id]).fails();
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn pause_resume_freezes() {
    let Some(b) = Bundle::new("pause_resume_freezes") else {
        return;
    };
    // The v1 freezer's state, or cgroup v2's `frozen` in cgroup.events.
    let frozen = |b: &Bundle| match is_cgroup2_host() {
        true => cg_read(b, "", "cgroup.events").contains("frozen 1"),
        false => cg_read(b, "freezer", "freezer.state") == "FROZEN",
    };
    b.set_script("while true; do echo tick >> /tmp/ticks; sleep 0.05; done");
    b.create_ok(&b.id);
    b.rt(&["pause", &b.id]).fails(); // created, not running
    b.start(&b.id).ok();
    b.rt(&["resume", &b.id]).fails(); // not paused
    b.rt(&["pause", &b.id]).ok();
    assert_eq!(b.status(&b.id), "paused");
    assert!(frozen(&b));
    let listed = b.list(&["--format", "json"]).ok().json();
    assert_eq!(listed[0]["status"], "paused", "{listed}");
    let ticks = || {
        fs::read_to_string(b.host_path("/tmp/ticks"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let before = ticks();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ticks(), before, "the container ran while paused");
    b.start(&b.id).fails();
    b.delete(&b.id).fails();
    b.rt(&["pause", &b.id]).fails();
    b.rt(&["resume", &b.id]).ok();
    assert_eq!(b.status(&b.id), "running");
    assert!(!frozen(&b));
    assert!(
        wait_until(WAIT, || ticks() > before),
        "no progress after resume"
    );
    // kill -9 of a paused container thaws it so that it dies.
    b.rt(&["pause", &b.id]).ok();
    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn delete_force_of_paused_container() {
    let Some(b) = Bundle::new("delete_force_of_paused_container") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.rt(&["pause", &b.id]).ok();
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn ps_lists_the_container_pids() {
    let Some(b) = Bundle::new("ps_lists_the_container_pids") else {
        return;
    };
    b.set_script("sleep 1000 & sleep 1000 & wait");
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&b.cgroup_path()).len() == 3),
        "the container did not start its two sleeps"
    );
    let pids: Vec<u32> =
        serde_json::from_str(&b.rt(&["ps", "--format", "json", &b.id]).ok().stdout).unwrap();
    let mut want = pids_in_cgroup(&b.cgroup_path());
    want.sort();
    let mut got = pids.clone();
    got.sort();
    assert_eq!(got, want);
    assert!(pids.contains(&pid));
    let table = b.rt(&["ps", &b.id]).ok().stdout;
    let mut lines = table.lines();
    assert!(lines.next().unwrap_or_default().contains("PID"), "{table}");
    assert_eq!(lines.count(), 3, "{table}");
    let custom = b.rt(&["ps", &b.id, "-o", "pid,comm"]).ok().stdout;
    assert!(
        custom
            .lines()
            .skip(1)
            .all(|l| l.contains("sleep") || l.contains("sh")),
        "{custom}"
    );
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// `events --stats`: one line of runc's envelope with the container's usage
/// and limits; a stopped or unknown container is an error, as in runc.
#[test]
fn events_stats_reports_usage_and_limits() {
    let Some(b) = Bundle::new("events_stats_reports_usage_and_limits") else {
        return;
    };
    b.set_script("sleep 1000 & sleep 1000 & wait");
    b.config(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 48 << 20});
        c["linux"]["resources"]["pids"] = json!({"limit": 20});
        c["linux"]["resources"]["cpu"] = json!({"cpus": "0"});
    });
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&b.cgroup_path()).len() == 3),
        "the container did not start its two sleeps"
    );
    let out = b.rt(&["events", "--stats", &b.id]).ok();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let ev = out.json();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], b.id.as_str(), "{ev}");
    let d = &ev["data"];
    assert_eq!(d["memory"]["usage"]["limit"], 48 << 20, "{d}");
    assert!(d["memory"]["usage"]["usage"].as_u64() > Some(0), "{d}");
    assert!(d["memory"]["raw"].is_object(), "{d}");
    assert_eq!(d["pids"], json!({"current": 3, "limit": 20}), "{d}");
    assert!(d["cpu"]["usage"]["total"].as_u64() > Some(0), "{d}");
    assert_eq!(d["cpuset"]["cpus"], json!([0]), "{d}");
    // The container has its own network namespace with only lo.
    assert!(d["network_interfaces"].is_null(), "{d}");
    for bad in ["5", "0s", "fast"] {
        b.rt(&["events", "--interval", bad, &b.id]).fails();
    }
    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    let out = b.rt(&["events", "--stats", &b.id]).fails();
    assert!(out.stderr.contains("is not running"), "{}", out.stderr);
    let out = b.rt(&["events", "no-such-container"]).fails();
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

/// `kill --all` signals every process of the container, not only init;
/// without a PID namespace `delete` kills what init left behind.
#[test]
fn kill_all_and_delete_reach_every_process() {
    let Some(b) = Bundle::new("kill_all_and_delete_reach_every_process") else {
        return;
    };
    b.remove_namespace("pid");
    // init ignores TERM (its children, started before, do not).
    b.set_script("sleep 1000 & sleep 1000 & trap '' TERM; wait; sleep 1000");
    let init = b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&b.cgroup_path()).len() == 3),
        "the container did not start its two sleeps"
    );
    b.rt(&["kill", "--all", &b.id, "TERM"]).ok();
    // Only init is left (busybox sh then execs its last command).
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&b.cgroup_path()) == [init]),
        "kill --all left {:?}",
        pids_in_cgroup(&b.cgroup_path())
    );
    assert_eq!(b.status(&b.id), "running");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
    // init exits at once and leaves two sleeps: the container is stopped,
    // and delete kills them before it removes the cgroup.
    b.set_script("sleep 1000 & sleep 1000 &");
    let id = b.other_id("orphans");
    b.create_ok(&id);
    b.start(&id).ok();
    b.wait_status(&id, "stopped");
    assert!(
        wait_until(WAIT, || pids_in_cgroup(&b.cgroup_path()).len() == 2),
        "{:?}",
        pids_in_cgroup(&b.cgroup_path())
    );
    b.delete(&id).ok();
    b.assert_nothing_left();
}

/// A systemd `slice:prefix:name` cgroupsPath needs --systemd-cgroup.
#[test]
fn systemd_cgroups_path_is_refused() {
    let Some(b) = Bundle::new("systemd_cgroups_path_is_refused") else {
        return;
    };
    b.config(|c| c["linux"]["cgroupsPath"] = json!("rt-test.slice:rt:x"));
    let out = b.create(&b.id).fails();
    assert!(
        out.stderr.contains("linux.cgroupsPath") && out.stderr.contains("--systemd-cgroup"),
        "{}",
        out.stderr
    );
    b.assert_state_root_empty();
    b.assert_template_creates();
}
