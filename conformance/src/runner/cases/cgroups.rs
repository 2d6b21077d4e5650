//! config-linux.md "Cgroups Path" and "Allowed Device list" (v1 devices
//! controller); runtime.md "Delete" for cgroups the container did not create.
//!
//! Device 42 ("demo/sample use") has no driver: opening a node of it fails
//! with ENXIO when the device cgroup lets the open through and EPERM when it
//! does not, so the probe can tell the rules apart without touching hardware.

use super::Case;
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use crate::probe::{ENXIO, EPERM};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const ALLOW_LIST: &str = "devices (array of objects, OPTIONAL) configures the allowed device list. The runtime MUST apply entries in the listed order.";

pub const CASES: &[Case] = &[
    Case {
        name: "cgroups.path_absolute",
        clause: "config-linux.md#configLinuxCgroupsPath",
        quote: "In the case of an absolute path (starting with /), the runtime MUST take the path to be relative to the cgroups mount point. ... The cgroups will be created if they don't exist.",
        run: path_absolute,
    },
    Case {
        name: "cgroups.preexisting_parent_kept",
        clause: "runtime.md#runtimeDelete",
        quote: "Note that resources associated with the container, but not created by this container, MUST NOT be deleted.",
        run: preexisting_parent_kept,
    },
    Case {
        name: "devcgroup.deny_all",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: ALLOW_LIST,
        run: deny_all,
    },
    Case {
        name: "devcgroup.allow_one",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: ALLOW_LIST,
        run: allow_one,
    },
    Case {
        name: "devcgroup.wildcard_minor",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: "major, minor (int64, OPTIONAL) - major, minor numbers for the device. Unset values mean \"all\", mapping to * in the filesystem API.",
        run: wildcard_minor,
    },
    Case {
        name: "devcgroup.listed_order",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: ALLOW_LIST,
        run: listed_order,
    },
    Case {
        name: "devcgroup.wildcard_hole",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: "The runtime MUST apply entries in the listed order. (runtime.md: If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.)",
        run: wildcard_hole,
    },
    Case {
        name: "devcgroup.access_read_only",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: "access (string, OPTIONAL) - cgroup permissions for device. A composition of r (read), w (write), and m (mknod).",
        run: access_read_only,
    },
    Case {
        name: "devcgroup.mknod",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: "access (string, OPTIONAL) - cgroup permissions for device. A composition of r (read), w (write), and m (mknod).",
        run: mknod,
    },
    Case {
        name: "devcgroup.host_view",
        clause: "config-linux.md#configLinuxDeviceAllowedlist",
        quote: ALLOW_LIST,
        run: host_view,
    },
];

/// The runner's own path in each hierarchy: where an untouched process stays.
fn own_cgroups() -> Vec<(String, String)> {
    host::proc_cgroups(std::process::id())
}

fn is_v2_host() -> bool {
    Path::new(host::CGROUP_ROOT)
        .join("cgroup.controllers")
        .exists()
}

/// The v1 devices hierarchy, or the cgroup v2 root.
fn devices_hierarchy() -> PathBuf {
    let root = Path::new(host::CGROUP_ROOT);
    if is_v2_host() {
        root.to_path_buf()
    } else {
        root.join("devices")
    }
}

fn path_absolute(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let cg = ctx.cgroup.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let mine = own_cgroups();
    // The hierarchy that enforces linux.resources.devices: v1 devices, or
    // the only one of a cgroup v2 host (its eBPF device program).
    let v2 = is_v2_host();
    let mut in_devices = false;
    for (ctl, path) in host::proc_cgroups(pid) {
        let stayed = mine.iter().any(|(c, p)| *c == ctl && *p == path);
        ensure!(
            path == cg || stayed,
            "hierarchy {ctl:?}: container at {path}, want {cg}"
        );
        let devices = match v2 {
            true => ctl.is_empty(),
            false => ctl.split(',').any(|c| c == "devices"),
        };
        in_devices |= devices && path == cg;
    }
    ensure!(
        in_devices,
        "not in {cg} of the devices hierarchy (needed for linux.resources.devices)"
    );
    let procs = devices_hierarchy()
        .join(cg.trim_start_matches('/'))
        .join("cgroup.procs");
    let text = std::fs::read_to_string(&procs).or_fail("read cgroup.procs")?;
    ensure!(
        text.lines().any(|l| l.trim() == pid.to_string()),
        "{pid} not in {}",
        procs.display()
    );
    Ok(())
}

fn preexisting_parent_kept(ctx: &mut Ctx) -> R {
    let parent = ctx.other_cgroup("parent");
    let devices = devices_hierarchy();
    let parent_dir = devices.join(parent.trim_start_matches('/'));
    ctx.track_cgroup(&parent);
    std::fs::create_dir_all(&parent_dir).or_fail("create the parent cgroup")?;
    let child = format!("{parent}/container");
    ctx.config["linux"]["cgroupsPath"] = json!(child);
    ctx.run_probe(&[])?;
    let id = ctx.id.clone();
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete: {}", out.describe());
    ensure!(
        !devices.join(child.trim_start_matches('/')).exists(),
        "the container's own cgroup survived delete"
    );
    ensure!(
        parent_dir.is_dir(),
        "delete removed the pre-existing parent cgroup {parent}"
    );
    Ok(())
}

/// Nodes of device 42 made in the rootfs by the host (not through
/// linux.devices, which a runtime may also add to the allowed list).
const NODES: &[(&str, u32)] = &[("/opt/dev42-1", 1), ("/opt/dev42-2", 2)];

fn make_nodes(ctx: &Ctx) -> R {
    for (path, minor) in NODES {
        let p = ctx.in_rootfs(path);
        std::fs::create_dir_all(p.parent().or_fail("no parent")?).or_fail("mkdir")?;
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).or_fail("path")?;
        // SAFETY: valid C string; creates a node in our own rootfs.
        let rc =
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(42, *minor)) };
        ensure!(
            rc == 0,
            "mknod {}: {}",
            p.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// The allowed device list `rules` after a deny-all, and the probe's open of
/// each node with `mode`; returns each open's errno.
fn opens(ctx: &mut Ctx, rules: Value, mode: &str) -> R<Vec<Option<i64>>> {
    make_nodes(ctx)?;
    let mut list = vec![json!({"allow": false, "access": "rwm"})];
    list.extend(rules.as_array().cloned().unwrap_or_default());
    ctx.config["linux"]["resources"]["devices"] = json!(list);
    let actions: Vec<String> = NODES
        .iter()
        .map(|(p, _)| format!("open:{p}:{mode}"))
        .collect();
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    let p = ctx.run_probe(&actions)?;
    NODES
        .iter()
        .map(|(path, _)| p.errno("open", &format!("{path}:{mode}")))
        .collect()
}

fn allowed(e: Option<i64>) -> bool {
    e == Some(ENXIO)
}

fn denied(e: Option<i64>) -> bool {
    e == Some(EPERM)
}

fn deny_all(ctx: &mut Ctx) -> R {
    let e = opens(ctx, json!([]), "rw")?;
    ensure!(
        e.iter().all(|x| denied(*x)),
        "opens of 42:1, 42:2 gave errno {e:?}, want EPERM (denied)"
    );
    Ok(())
}

fn allow_one(ctx: &mut Ctx) -> R {
    let e = opens(
        ctx,
        json!([{"allow": true, "type": "c", "major": 42, "minor": 1, "access": "rw"}]),
        "rw",
    )?;
    ensure!(
        allowed(e[0]) && denied(e[1]),
        "opens of 42:1, 42:2 gave errno {e:?}, want [ENXIO (allowed), EPERM]"
    );
    Ok(())
}

fn wildcard_minor(ctx: &mut Ctx) -> R {
    let e = opens(
        ctx,
        json!([{"allow": true, "type": "c", "major": 42, "access": "rw"}]),
        "rw",
    )?;
    ensure!(
        e.iter().all(|x| allowed(*x)),
        "opens of 42:1, 42:2 gave errno {e:?}, want ENXIO (allowed)"
    );
    Ok(())
}

fn listed_order(ctx: &mut Ctx) -> R {
    let rules = json!([
        {"allow": true, "type": "c", "major": 42, "minor": 1, "access": "rw"},
        {"allow": false, "type": "c", "major": 42, "minor": 1, "access": "rw"},
        {"allow": true, "type": "c", "major": 42, "minor": 2, "access": "rw"}
    ]);
    let e = opens(ctx, rules, "rw")?;
    ensure!(
        denied(e[0]) && allowed(e[1]),
        "opens of 42:1, 42:2 gave errno {e:?}, want [EPERM (denied last), ENXIO]"
    );
    Ok(())
}

/// Cgroup v1 cannot deny one device inside an allowed wildcard: the runtime
/// must either manage it or refuse the config, not run with 42:2 allowed.
fn wildcard_hole(ctx: &mut Ctx) -> R {
    make_nodes(ctx)?;
    ctx.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "access": "rw"},
        {"allow": false, "type": "c", "major": 42, "minor": 2, "access": "rw"}
    ]);
    let id = ctx.id.clone();
    ctx.set_probe(&["open:/opt/dev42-1:rw", "open:/opt/dev42-2:rw"]);
    let out = ctx.create(&id)?;
    if !out.success() {
        return ctx.ensure_never_created(&id, &out);
    }
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let p = ctx.output(&id);
    let e = [
        p.errno("open", "/opt/dev42-1:rw")?,
        p.errno("open", "/opt/dev42-2:rw")?,
    ];
    ensure!(
        allowed(e[0]) && denied(e[1]),
        "opens of 42:1, 42:2 gave errno {e:?}, want [ENXIO, EPERM (denied last)]"
    );
    Ok(())
}

fn access_read_only(ctx: &mut Ctx) -> R {
    let rules = json!([{"allow": true, "type": "c", "major": 42, "access": "r"}]);
    let reads = opens(ctx, rules.clone(), "r")?;
    ensure!(
        reads.iter().all(|x| allowed(*x)),
        "read opens gave errno {reads:?}, want ENXIO (allowed)"
    );
    // A second container with the same rules, opening for writing.
    let id = ctx.id.clone();
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete: {}", out.describe());
    for (path, _) in NODES {
        std::fs::remove_file(ctx.in_rootfs(path)).or_fail("remove node")?;
    }
    let writes = opens(ctx, rules, "w")?;
    ensure!(
        writes.iter().all(|x| denied(*x)),
        "write opens gave errno {writes:?}, want EPERM (denied)"
    );
    Ok(())
}

/// Only the positive side: runtimes add "c *:* m" to their default rules, so
/// a mknod that the listed entries do not allow is not reliably refused.
fn mknod(ctx: &mut Ctx) -> R {
    let caps = json!(["CAP_MKNOD"]);
    ctx.config["process"]["capabilities"] =
        json!({"bounding": caps, "permitted": caps, "effective": caps});
    ctx.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "minor": 3, "access": "m"}
    ]);
    let p = ctx.run_probe(&["mknod:/dev/n3:c:42:3", "open:/dev/n3:rw"])?;
    ensure_eq!(
        p.errno("mknod", "/dev/n3:c:42:3")?,
        None,
        "mknod of 42:3, allowed with m (errno)"
    );
    ensure!(
        denied(p.errno("open", "/dev/n3:rw")?),
        "42:3 opens although only m was allowed"
    );
    Ok(())
}

fn host_view(ctx: &mut Ctx) -> R {
    let list = Path::new(host::CGROUP_ROOT).join("devices");
    if !list.join("devices.list").exists() {
        skip!("no cgroup v1 devices controller on this host");
    }
    ctx.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "minor": 7, "access": "rw"}
    ]);
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let path = list
        .join(ctx.cgroup.trim_start_matches('/'))
        .join("devices.list");
    let text = std::fs::read_to_string(&path).or_fail("read devices.list")?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    ensure!(
        !lines.contains(&"a *:* rwm"),
        "{} still allows everything",
        path.display()
    );
    ensure!(
        lines.contains(&"c 42:7 rw"),
        "{} lacks c 42:7 rw: {lines:?}",
        path.display()
    );
    Ok(())
}
