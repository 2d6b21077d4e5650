//! config-linux.md "Namespaces", "User namespace mappings", "Offset for Time
//! Namespace"; config.md "Hostname" and "Domainname".

use super::Case;
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use crate::probe::strings;
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt;

const NEW_NS: &str =
    "If path is not specified, the runtime MUST create a new container namespace of type type.";

pub const CASES: &[Case] = &[
    Case {
        name: "namespaces.pid_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: pid_new,
    },
    Case {
        name: "namespaces.network_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: network_new,
    },
    Case {
        name: "namespaces.ipc_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: ipc_new,
    },
    Case {
        name: "namespaces.uts_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: uts_new,
    },
    Case {
        name: "namespaces.mount_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: mount_new,
    },
    Case {
        name: "namespaces.cgroup_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: cgroup_new,
    },
    Case {
        name: "namespaces.user_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: user_new,
    },
    Case {
        name: "namespaces.time_new",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: NEW_NS,
        run: time_new,
    },
    Case {
        name: "namespaces.unlisted_inherited",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.",
        run: unlisted_inherited,
    },
    Case {
        name: "namespaces.pid_isolated",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "pid processes inside the container will only be able to see other processes inside the same container or inside the same pid namespace.",
        run: pid_isolated,
    },
    Case {
        name: "namespaces.network_isolated",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "network the container will have its own network stack.",
        run: network_isolated,
    },
    Case {
        name: "namespaces.mount_isolated",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "mount the container will have an isolated mount table.",
        run: mount_isolated,
    },
    Case {
        name: "namespaces.cgroup_isolated_view",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "cgroup the container will have an isolated view of the cgroup hierarchy.",
        run: cgroup_isolated_view,
    },
    Case {
        name: "namespaces.join_path",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "The runtime MUST place the container process in the namespace associated with that path.",
        run: join_path,
    },
    Case {
        name: "namespaces.join_other_container",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "The runtime MUST place the container process in the namespace associated with that path.",
        run: join_other_container,
    },
    Case {
        name: "namespaces.user_mappings",
        clause: "config-linux.md#configLinuxUserNamespaceMappings",
        quote: "uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container. gidMappings ... the gid mappings",
        run: user_mappings,
    },
    Case {
        name: "namespaces.user_mappings_multiple",
        clause: "config-linux.md#configLinuxUserNamespaceMappings",
        quote: "containerID ... is the starting uid/gid in the container. hostID ... is the starting uid/gid on the host to be mapped to containerID. size ... is the number of ids to be mapped.",
        run: user_mappings_multiple,
    },
    Case {
        name: "namespaces.user_nonroot_process",
        clause: "config.md#configPOSIXUser",
        quote: "uid (int, REQUIRED) specifies the user ID in the container namespace. gid (int, REQUIRED) specifies the group ID in the container namespace.",
        run: user_nonroot_process,
    },
    Case {
        name: "namespaces.time_offsets",
        clause: "config-linux.md#configLinuxTimeOffset",
        quote: "timeOffsets (object, OPTIONAL) sets the offset for Time Namespace. ... secs (int64, OPTIONAL) - is the offset of clock (in seconds) in the container.",
        run: time_offsets,
    },
    Case {
        name: "namespaces.hostname",
        clause: "config.md#configHostname",
        quote: "hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running inside the container.",
        run: hostname,
    },
    Case {
        name: "namespaces.domainname",
        clause: "config.md#configDomainname",
        quote: "domainname (string, OPTIONAL) specifies the container's domainname as seen by processes running inside the container.",
        run: domainname,
    },
];

/// Config type → name under /proc/PID/ns.
fn proc_name(kind: &str) -> &str {
    match kind {
        "network" => "net",
        "mount" => "mnt",
        k => k,
    }
}

fn host_has(kind: &str) -> bool {
    host::ns_link("self", proc_name(kind)).is_some()
}

/// A new namespace of `kind`: inside differs from the runner's, and the host
/// sees the container process in the same one the probe reports.
fn new_ns(ctx: &mut Ctx, kind: &str, extra: impl FnOnce(&mut Ctx) -> R) -> R {
    if !host_has(kind) {
        skip!("this kernel has no {kind} namespaces");
    }
    ctx.remove_namespace(kind)?;
    ctx.add_namespace(json!({"type": kind}))?;
    extra(ctx)?;
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let name = proc_name(kind);
    let p = ctx.output(&id);
    let inside = p.report()?["ns"][name].as_str().map(str::to_owned);
    let mine = host::ns_link("self", name);
    ensure!(
        inside.is_some() && inside != mine,
        "{name} namespace inside {inside:?}, the runtime's {mine:?}"
    );
    let outside = host::ns_link(&pid.to_string(), name);
    ensure_eq!(
        outside,
        inside,
        "{name} namespace of pid {pid} seen from the host"
    );
    Ok(())
}

fn none(_: &mut Ctx) -> R {
    Ok(())
}

fn pid_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "pid", none)
}

fn network_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "network", none)
}

fn ipc_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "ipc", none)
}

fn uts_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "uts", none)
}

fn mount_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "mount", none)
}

fn cgroup_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "cgroup", none)
}

fn user_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "user", |c| {
        set_mappings(
            c,
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        Ok(())
    })
}

fn time_new(ctx: &mut Ctx) -> R {
    new_ns(ctx, "time", none)
}

fn set_mappings(ctx: &mut Ctx, m: Value) {
    ctx.config["linux"]["uidMappings"] = m.clone();
    ctx.config["linux"]["gidMappings"] = m;
}

fn unlisted_inherited(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["namespaces"] = json!([{"type": "mount"}]);
    // Without a UTS namespace of its own a hostname would change the host's.
    if let Some(o) = ctx.config.as_object_mut() {
        o.remove("hostname");
    }
    let p = ctx.run_probe(&[])?;
    let ns = &p.report()?["ns"];
    for kind in ["cgroup", "ipc", "net", "pid", "user", "uts", "time"] {
        let mine = host::ns_link("self", kind);
        if mine.is_none() {
            continue;
        }
        ensure_eq!(
            ns[kind].as_str().map(str::to_owned),
            mine,
            "{kind} namespace (not listed)"
        );
    }
    let mnt = ns["mnt"].as_str().map(str::to_owned);
    ensure!(
        mnt != host::ns_link("self", "mnt"),
        "the listed mount namespace is the runtime's"
    );
    Ok(())
}

fn pid_isolated(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let rep = p.report()?;
    ensure_eq!(
        rep["pid"].as_u64(),
        Some(1),
        "the process's pid in its namespace"
    );
    let pids = crate::probe::numbers(&rep["proc_pids"]);
    ensure_eq!(pids, vec![1], "processes visible in the container's /proc");
    Ok(())
}

fn network_isolated(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let ifaces = strings(&p.report()?["net_ifaces"]);
    ensure_eq!(ifaces, vec!["lo".to_string()], "network interfaces inside");
    Ok(())
}

/// The container's mounts are made in its namespace: none of them shows on the host.
fn mount_isolated(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let p = ctx.output(&id);
    ensure!(
        p.mounts()?.iter().any(|m| m.point == "/proc"),
        "no /proc inside the container"
    );
    let leaked = host::mounts_under(&ctx.rootfs);
    ensure!(
        leaked.is_empty(),
        "container mounts visible on the host: {leaked:?}"
    );
    Ok(())
}

fn cgroup_isolated_view(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "cgroup"}))?;
    let p = ctx.run_probe(&[])?;
    let lines = strings(&p.report()?["cgroup"]);
    ensure!(!lines.is_empty(), "no /proc/self/cgroup inside");
    for l in &lines {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        // The container's own cgroup is the root of its view; one it was
        // not moved into shows as outside ("/.." ...), never as a host path.
        ensure!(
            path == "/" || path.starts_with("/.."),
            "cgroup line {l:?} shows a host path"
        );
    }
    let devices = lines
        .iter()
        .find(|l| l.split(':').nth(1) == Some("devices"));
    if let Some(l) = devices {
        ensure!(
            l.ends_with(":/"),
            "devices cgroup (the container's own) not at the root: {l}"
        );
    }
    Ok(())
}

fn join_path(ctx: &mut Ctx) -> R {
    let file = ctx.host_dir("ns")?.join("net");
    std::fs::write(&file, "").or_fail("create netns file")?;
    let st = std::process::Command::new("unshare")
        .arg(format!("--net={}", file.display()))
        .arg("true")
        .status()
        .or_fail("run unshare")?;
    ensure!(st.success(), "unshare --net={} failed", file.display());
    let ino = std::fs::metadata(&file).or_fail("stat netns")?.ino();
    ctx.remove_namespace("network")?;
    ctx.add_namespace(json!({"type": "network", "path": file.to_string_lossy()}))?;
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.report()?["ns"]["net"].as_str(),
        Some(format!("net:[{ino}]").as_str()),
        "network namespace"
    );
    Ok(())
}

fn join_other_container(ctx: &mut Ctx) -> R {
    let first = ctx.other_id("first");
    let p1 = ctx.launch(&first, &["sleep:60"])?;
    ctx.config["linux"]["cgroupsPath"] = ctx.other_cgroup("second").into();
    for kind in ["ipc", "uts", "network"] {
        ctx.remove_namespace(kind)?;
        let path = format!("/proc/{p1}/ns/{}", proc_name(kind));
        ctx.add_namespace(json!({"type": kind, "path": path}))?;
    }
    if let Some(o) = ctx.config.as_object_mut() {
        o.remove("hostname");
    }
    let p = ctx.run_probe(&[])?;
    let ns = &p.report()?["ns"];
    for name in ["ipc", "uts", "net"] {
        let want = host::ns_link(&p1.to_string(), name);
        ensure_eq!(
            ns[name].as_str().map(str::to_owned),
            want,
            "{name} namespace of the joining container"
        );
    }
    ensure!(
        ns["pid"].as_str().map(str::to_owned) != host::ns_link(&p1.to_string(), "pid"),
        "pid namespace joined though not asked"
    );
    Ok(())
}

fn words(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn user_mappings(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "user"}))?;
    ctx.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    ctx.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    let p = ctx.run_probe(&["write:/tmp/owned"])?;
    let rep = p.report()?;
    ensure_eq!(
        words(rep["uid_map"].as_str().unwrap_or("")),
        words("0 100000 65536"),
        "uid_map"
    );
    ensure_eq!(
        words(rep["gid_map"].as_str().unwrap_or("")),
        words("0 200000 65536"),
        "gid_map"
    );
    ensure_eq!(
        crate::probe::numbers(&rep["uids"]),
        vec![0; 4],
        "uids inside"
    );
    ensure_eq!(
        p.errno("write", "/tmp/owned")?,
        None,
        "write /tmp/owned (errno)"
    );
    let md = std::fs::metadata(ctx.in_rootfs("/tmp/owned")).or_fail("stat /tmp/owned")?;
    ensure_eq!(
        (md.uid(), md.gid()),
        (100000, 200000),
        "host owner of a file the container's root made"
    );
    Ok(())
}

fn user_mappings_multiple(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "user"}))?;
    let m = json!([
        {"containerID": 0, "hostID": 300000, "size": 1000},
        {"containerID": 1000, "hostID": 301000, "size": 1000}
    ]);
    set_mappings(ctx, m);
    let p = ctx.run_probe(&[])?;
    let rep = p.report()?;
    let want = words("0 300000 1000\n1000 301000 1000");
    ensure_eq!(
        words(rep["uid_map"].as_str().unwrap_or("")),
        want,
        "uid_map"
    );
    ensure_eq!(
        words(rep["gid_map"].as_str().unwrap_or("")),
        want,
        "gid_map"
    );
    Ok(())
}

fn user_nonroot_process(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "user"}))?;
    set_mappings(
        ctx,
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    ctx.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let rep = ctx.output(&id);
    let rep = rep.report()?;
    ensure_eq!(
        crate::probe::numbers(&rep["uids"]),
        vec![1000; 4],
        "uids inside"
    );
    ensure_eq!(
        crate::probe::numbers(&rep["gids"]),
        vec![1000; 4],
        "gids inside"
    );
    let host_uid = host::status_field(pid, "Uid").or_fail("host status")?;
    ensure_eq!(
        host_uid.split_whitespace().next(),
        Some("101000"),
        "uid seen from the host"
    );
    Ok(())
}

fn time_offsets(ctx: &mut Ctx) -> R {
    if !host_has("time") {
        skip!("this kernel has no time namespaces");
    }
    ctx.add_namespace(json!({"type": "time"}))?;
    ctx.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 1000, "nanosecs": 0},
        "boottime": {"secs": 86400, "nanosecs": 0}
    });
    let before = clock(libc::CLOCK_BOOTTIME);
    let p = ctx.run_probe(&[])?;
    let after = clock(libc::CLOCK_MONOTONIC);
    let clocks = &p.report()?["clocks"];
    let boot = clocks["boottime"].as_f64().or_fail("no boottime")?;
    let mono = clocks["monotonic"].as_f64().or_fail("no monotonic")?;
    // Inside = host + offset, and host time went on by at most a few seconds.
    ensure!(
        (before + 86400.0..before + 86400.0 + 10.0).contains(&boot),
        "boottime inside {boot}, host {before} (+86400 expected)"
    );
    ensure!(
        (after + 1000.0 - 10.0..after + 1000.0).contains(&mono),
        "monotonic inside {mono}, host {after} (+1000 expected)"
    );
    Ok(())
}

fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn uts_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
}

fn hostname(ctx: &mut Ctx) -> R {
    let host_before = uts_name();
    ctx.config["hostname"] = "conformance-host".into();
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.report()?["hostname"].as_str(),
        Some("conformance-host"),
        "hostname inside"
    );
    ensure_eq!(uts_name(), host_before, "the host's hostname");
    Ok(())
}

fn domainname(ctx: &mut Ctx) -> R {
    ctx.config["domainname"] = "conformance.test".into();
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.report()?["domainname"].as_str(),
        Some("conformance.test"),
        "domainname inside"
    );
    Ok(())
}
