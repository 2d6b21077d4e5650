//! Namespaces (config-linux.md): new when listed, inherited when not, joined by path.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::MetadataExt;

/// /proc/<pid>/ns name for a config namespace type.
fn proc_name(kind: &str) -> &str {
    match kind {
        "network" => "net",
        "mount" => "mnt",
        k => k,
    }
}

fn host_has_ns(kind: &str) -> bool {
    std::path::Path::new(&format!("/proc/self/ns/{}", proc_name(kind))).exists()
}

fn assert_new(pid: u32, kind: &str) {
    let k = proc_name(kind);
    assert_ne!(
        ns_link(&pid.to_string(), k),
        ns_link("self", k),
        "{kind} namespace was not created"
    );
}

fn assert_inherited(pid: u32, kind: &str) {
    let k = proc_name(kind);
    assert_eq!(
        ns_link(&pid.to_string(), k),
        ns_link("self", k),
        "{kind} namespace not inherited"
    );
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn namespaces_listed_are_new_unlisted_inherited() {
    let Some(b) = Bundle::new("namespaces_listed_are_new_unlisted_inherited") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    for kind in ["pid", "network", "ipc", "uts", "mount"] {
        assert_new(pid, kind);
    }
    for kind in ["cgroup", "user", "time"] {
        if host_has_ns(kind) {
            assert_inherited(pid, kind);
        }
    }
}

#[test]
fn namespaces_only_mount_listed() {
    let Some(b) = Bundle::new("namespaces_only_mount_listed") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.config(|c| {
        c["linux"]["namespaces"] = json!([{"type": "mount"}]);
        // A hostname needs a UTS namespace of its own.
        c.as_object_mut().unwrap().remove("hostname");
    });
    let pid = b.create_ok(&b.id);
    assert_new(pid, "mount");
    for kind in ["pid", "network", "ipc", "uts", "cgroup", "user"] {
        assert_inherited(pid, kind);
    }
}

#[test]
fn namespaces_cgroup_new() {
    let Some(b) = Bundle::new("namespaces_cgroup_new") else {
        return;
    };
    b.add_namespace(json!({"type": "cgroup"}));
    b.set_args(&["cat", "/proc/self/cgroup"]);
    let pid = b.create_ok(&b.id);
    assert_new(pid, "cgroup");
    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    // Inside its own cgroup namespace the container's cgroup is the root.
    let out = b.ctr_stdout(&b.id);
    let mut seen = 0;
    for l in out.lines() {
        let mut f = l.splitn(3, ':');
        let (ctl, path) = (f.nth(1).unwrap_or(""), f.next().unwrap_or(""));
        if V1_CONTROLLERS.contains(&ctl) {
            seen += 1;
            assert_eq!(
                path, "/",
                "controller {ctl} not rooted at the container's cgroup:\n{out}"
            );
        }
    }
    assert_eq!(seen, V1_CONTROLLERS.len(), "{out}");
}

#[test]
fn namespaces_user_with_mappings() {
    let Some(b) = Bundle::new("namespaces_user_with_mappings") else {
        return;
    };
    b.add_namespace(json!({"type": "user"}));
    b.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    // The rootfs stays root-owned and world-readable; /tmp is 1777.
    b.set_script("id -u; id -g; touch /tmp/owned");
    let pid = b.create_ok(&b.id);
    assert_new(pid, "user");
    for map in ["uid_map", "gid_map"] {
        let m = fs::read_to_string(format!("/proc/{pid}/{map}")).unwrap();
        assert_eq!(words(&m), ["0", "100000", "65536"], "{map}: {m}");
    }
    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    assert_eq!(words(&b.ctr_stdout(&b.id)), ["0", "0"]);
    let md = fs::metadata(b.host_path("/tmp/owned")).expect("container could not write /tmp");
    assert_eq!(
        (md.uid(), md.gid()),
        (100000, 100000),
        "container root is not host uid 100000"
    );
}

#[test]
fn namespaces_time_with_offsets() {
    if skip_on_runc("runc 1.1.5 does not know the time namespace") {
        return;
    }
    let Some(b) = Bundle::new("namespaces_time_with_offsets") else {
        return;
    };
    if !host_has_ns("time") {
        eprintln!("skipping: kernel without time namespaces");
        return;
    }
    b.add_namespace(json!({"type": "time"}));
    b.config(|c| {
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 1000, "nanosecs": 0},
            "boottime": {"secs": 86400, "nanosecs": 0}
        });
    });
    b.set_args(&["cat", "/proc/uptime"]);
    let pid = b.create_ok(&b.id);
    assert_new(pid, "time");
    let offs = fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    let offs: Vec<Vec<String>> = offs.lines().map(words).collect();
    assert!(offs.contains(&words("monotonic 1000 0")), "{offs:?}");
    assert!(offs.contains(&words("boottime 86400 0")), "{offs:?}");

    b.start(&b.id).ok();
    b.wait_status(&b.id, "stopped");
    let uptime = |s: &str| {
        s.split_whitespace()
            .next()
            .and_then(|w| w.parse::<f64>().ok())
    };
    let inside = uptime(&b.ctr_stdout(&b.id)).expect("no uptime from the container");
    let outside = uptime(&fs::read_to_string("/proc/uptime").unwrap()).unwrap();
    let diff = inside - outside;
    assert!(
        (86400.0 - 60.0..86400.0 + 1.0).contains(&diff),
        "boottime offset not applied: {inside} vs {outside}"
    );
}

#[test]
fn namespaces_join_netns_by_path() {
    let Some(b) = Bundle::new("namespaces_join_netns_by_path") else {
        return;
    };
    let ns = NetNs::new();
    b.remove_namespace("network");
    b.add_namespace(json!({"type": "network", "path": ns.path()}));
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    assert_eq!(ns_link(&pid.to_string(), "net"), ns.link());
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
    // Joining must not take the namespace with it.
    assert!(fs::metadata(&ns.path).is_ok_and(|m| m.ino() != 0));
}

#[test]
fn namespaces_join_other_container_by_path() {
    let Some(b) = Bundle::new("namespaces_join_other_container_by_path") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let first = b.other_id("first");
    let p1 = b.create_ok(&first);
    b.config(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("{}-second", b.cgroup_path()));
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "ipc" || n["type"] == "network" {
                let k = proc_name(n["type"].as_str().unwrap()).to_owned();
                n["path"] = json!(format!("/proc/{p1}/ns/{k}"));
            }
        }
    });
    let second = b.other_id("second");
    let p2 = b.create_ok(&second);
    for k in ["ipc", "net"] {
        assert_eq!(
            ns_link(&p2.to_string(), k),
            ns_link(&p1.to_string(), k),
            "{k} not joined"
        );
    }
    assert_ne!(
        ns_link(&p2.to_string(), "uts"),
        ns_link(&p1.to_string(), "uts")
    );
}

#[test]
fn namespaces_path_of_wrong_type_fails() {
    let Some(b) = Bundle::new("namespaces_path_of_wrong_type_fails") else {
        return;
    };
    b.remove_namespace("network");
    b.add_namespace(json!({"type": "network", "path": "/proc/self/ns/ipc"}));
    b.set_args(&["sleep", "1000"]);
    b.create(&b.id).fails();
    b.assert_nothing_left();
    b.assert_template_creates();
}
