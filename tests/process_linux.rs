//! The process's scheduling, personality, memory policy, session keyring,
//! capabilities and LSM labels, and linux.intelRdt: checked from inside the
//! container and from /proc outside, and refused cleanly where this host
//! cannot honour them.

mod common;
use common::*;
use serde_json::json;
use std::fs;

/// create must fail, name `field` on stderr in one line, and leave nothing.
#[track_caller]
fn create_fails_naming(b: &Bundle, id: &str, field: &str) -> String {
    let out = b.create(id).fails();
    assert!(
        out.stderr.contains(field),
        "{field} not named: {}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    b.assert_nothing_left();
    b.assert_state_root_empty();
    out.stderr
}

/// Field `n` (1-based, as proc(5) numbers them) of /proc/PID/stat.
fn stat_field(pid: u32, n: usize) -> String {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which ends at the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

fn sched_line<'a>(sched: &'a str, key: &str) -> Option<&'a str> {
    sched.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

#[test]
fn scheduler_policy_and_nice() {
    let Some(b) = Bundle::new("scheduler_policy_and_nice") else {
        return;
    };
    b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}));
    b.set_args(&["cat", "/proc/self/sched"]);
    let inside = b.run_ok();
    assert_eq!(sched_line(&inside, "policy"), Some("3"), "{inside}");
    assert_eq!(sched_line(&inside, "prio"), Some("127"), "{inside}");
    // From outside, the program of a started container: policy (41), nice (19).
    b.config(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_IDLE",
            "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
    });
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert_eq!(stat_field(pid, 41), "5");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn scheduler_bad_values_are_refused() {
    let Some(b) = Bundle::new("scheduler_bad_values_are_refused") else {
        return;
    };
    b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 20}));
    create_fails_naming(&b, &b.other_id("nice"), "process.scheduler.nice");
    b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "priority": 5}));
    create_fails_naming(&b, &b.other_id("prio"), "process.scheduler.priority");
    // Reserved and never implemented by Linux: the kernel's refusal is reported.
    b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"}));
    create_fails_naming(&b, &b.other_id("iso"), "process.scheduler");
    // Under the v1 cpu controller a new cgroup has no real-time budget: the
    // kernel refuses SCHED_FIFO even to root, and the error says why.
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10}));
        let err = create_fails_naming(&b, &b.other_id("fifo"), "process.scheduler");
        assert!(err.contains("realtimeRuntime"), "{err}");
    }
    b.config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_NONE"}));
    create_fails_naming(&b, &b.other_id("none"), "process.scheduler.policy");
}

#[test]
fn io_priority() {
    let Some(b) = Bundle::new("io_priority") else {
        return;
    };
    b.config(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6}));
    b.set_args(&["ionice"]);
    assert_eq!(b.run_ok().trim(), "best-effort: prio 6");
    b.config(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}));
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    // SAFETY: ioprio_get takes no pointers.
    let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid as i64) };
    assert_eq!(prio, 3 << 13, "ioprio of {pid}");
    b.delete_force(&b.id).ok();
    b.config(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}));
    create_fails_naming(&b, &b.other_id("bad"), "process.ioPriority");
}

#[test]
fn personality_linux32() {
    let Some(b) = Bundle::new("personality_linux32") else {
        return;
    };
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipping: LINUX32 is checked as i686 on x86_64");
        return;
    }
    b.config(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    b.set_args(&["uname", "-m"]);
    assert_eq!(b.run_ok().trim(), "i686");
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    let outside = fs::read_to_string(format!("/proc/{pid}/personality")).unwrap();
    assert_eq!(outside.trim(), "00000008");
    b.delete_force(&b.id).ok();
    b.config(|c| c["linux"]["personality"] = json!({"domain": "LINUX"}));
    b.set_args(&["uname", "-m"]);
    assert_eq!(b.run_ok().trim(), "x86_64");
    b.config(|c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["UNAME26"]}));
    create_fails_naming(&b, &b.other_id("flags"), "linux.personality.flags");
}

#[test]
fn memory_policy() {
    let Some(b) = Bundle::new("memory_policy") else {
        return;
    };
    // Node 0 exists on every machine; numa_maps shows each mapping's policy.
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}));
    b.set_args(&["cat", "/proc/self/numa_maps"]);
    let inside = b.run_ok();
    assert!(inside.lines().any(|l| l.contains(" bind:0 ")), "{inside}");
    b.config(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]})
    });
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    let outside = fs::read_to_string(format!("/proc/{pid}/numa_maps")).unwrap();
    assert!(
        outside.lines().any(|l| l.contains(" interleave=static:0 ")),
        "{outside}"
    );
    b.delete_force(&b.id).ok();
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"}));
    create_fails_naming(&b, &b.other_id("nonodes"), "linux.memoryPolicy.nodes");
    // A node this machine does not have: the kernel's refusal, named.
    b.config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "1000"}));
    create_fails_naming(&b, &b.other_id("nonode"), "linux.memoryPolicy");
}

#[test]
fn session_keyring_per_container() {
    let Some(b) = Bundle::new("session_keyring_per_container") else {
        return;
    };
    let name = format!("_ses.{}", b.id);
    // runc's default config masks /proc/keys: this test looks at it.
    b.config(|c| {
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.retain(|p| p != "/proc/keys");
    });
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    // From outside: root can view the keyring its container made.
    let keys = fs::read_to_string("/proc/keys").unwrap();
    assert!(keys.contains(&format!(" {name}:")), "{name} not in\n{keys}");
    // From inside: the program's session keyring is the container's.
    let out = b.rt(&["exec", &b.id, "cat", "/proc/keys"]).ok();
    assert!(out.stdout.contains(&format!(" {name}:")), "{}", out.stdout);
    b.delete_force(&b.id).ok();
    // --no-new-keyring: none is made.
    let id = b.other_id("nokeyring");
    b.set_args(&["cat", "/proc/keys"]);
    let out = b.run(&id, &["--no-new-keyring"]).ok();
    assert!(
        !out.stdout.contains(&format!("_ses.{id}")),
        "{}",
        out.stdout
    );
    b.assert_nothing_left();
}

#[test]
fn capability_errors_name_the_capability() {
    let Some(b) = Bundle::new("capability_errors_name_the_capability") else {
        return;
    };
    b.config(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_BOGUS"]));
    create_fails_naming(&b, &b.other_id("unknown"), "CAP_BOGUS");
    let bounding = fs::read_to_string("/proc/self/status").unwrap();
    let host = u64::from_str_radix(status_field(&bounding, "CapBnd").unwrap(), 16).unwrap();
    if host & (1 << 24) != 0 {
        eprintln!("this host has CAP_SYS_RESOURCE: nothing to refuse");
        return;
    }
    b.config(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_SYS_RESOURCE"])
    });
    let err = create_fails_naming(&b, &b.other_id("resource"), "CAP_SYS_RESOURCE");
    assert!(err.contains("bounding"), "{err}");
}

#[test]
fn ambient_capabilities_for_a_non_root_user() {
    let Some(b) = Bundle::new("ambient_capabilities_for_a_non_root_user") else {
        return;
    };
    let set = ["CAP_NET_BIND_SERVICE"];
    b.config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({"bounding": set, "effective": set,
            "permitted": set, "inheritable": set, "ambient": set})
    });
    // Without the ambient set, a non-root program's effective set is empty.
    b.set_args(&["cat", "/proc/self/status"]);
    let out = b.run_ok();
    assert_eq!(
        status_field(&out, "CapAmb"),
        Some("0000000000000400"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapEff"),
        Some("0000000000000400"),
        "{out}"
    );
}

/// This host has neither AppArmor nor SELinux: labels are refused as runc
/// refuses (SELinux) or fails on (AppArmor) them, before anything is made.
#[test]
fn lsm_labels_without_the_lsm_are_refused() {
    let Some(b) = Bundle::new("lsm_labels_without_the_lsm_are_refused") else {
        return;
    };
    if fs::read_dir("/sys/kernel/security").is_ok_and(|mut d| d.next().is_some()) {
        eprintln!("skipping: this host has an LSM's securityfs");
        return;
    }
    b.config(|c| c["process"]["apparmorProfile"] = json!("acme"));
    let err = create_fails_naming(&b, &b.other_id("aa"), "process.apparmorProfile");
    assert!(err.contains("AppArmor is not enabled"), "{err}");
    b.config(|c| {
        c["process"]
            .as_object_mut()
            .unwrap()
            .remove("apparmorProfile");
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2")
    });
    create_fails_naming(&b, &b.other_id("se"), "process.selinuxLabel");
    b.config(|c| {
        c["process"].as_object_mut().unwrap().remove("selinuxLabel");
        c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0")
    });
    create_fails_naming(&b, &b.other_id("mount"), "linux.mountLabel");
    b.config(|c| {
        c["linux"].as_object_mut().unwrap().remove("mountLabel");
    });
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    for (flag, value) in [("--apparmor", "acme"), ("--process-label", "a:b:c:s0")] {
        let out = b.rt(&["exec", flag, value, &b.id, "true"]).fails();
        assert!(out.stderr.contains(flag), "{}", out.stderr);
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn intel_rdt_without_resctrl_is_refused() {
    let Some(b) = Bundle::new("intel_rdt_without_resctrl_is_refused") else {
        return;
    };
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    if mounts.contains(" - resctrl ") {
        eprintln!("skipping: resctrl is mounted here");
        return;
    }
    b.config(|c| c["linux"]["intelRdt"] = json!({"closID": "gold", "schemata": ["L3:0=f"]}));
    let err = create_fails_naming(&b, &b.other_id("rdt"), "linux.intelRdt");
    assert!(err.contains("resctrl"), "{err}");
}

#[test]
fn session_keyring_in_a_user_namespace() {
    let Some(b) = Bundle::new("session_keyring_in_a_user_namespace") else {
        return;
    };
    b.add_namespace(json!({"type": "user"}));
    b.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.retain(|p| p != "/proc/keys");
    });
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let name = format!(" _ses.{}:", b.id);
    // The keyring belongs to the container's root (host uid 100000), and
    // exec'd processes, root or not, can join it.
    for user in ["0:0", "1000:1000"] {
        let out = b.rt(&["exec", "-u", user, &b.id, "cat", "/proc/keys"]).ok();
        assert!(out.stdout.contains(&name), "{user}: {}", out.stdout);
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
