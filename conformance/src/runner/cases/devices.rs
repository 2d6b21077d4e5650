//! config-linux.md "Devices" and "Default Devices"; runtime-linux.md "Dev symbolic links".

use super::Case;
use crate::ctx::Ctx;
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use crate::probe::{ENOSPC, Probe};
use serde_json::{Value, json};

const DEVICES: &str =
    "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.";

pub const CASES: &[Case] = &[
    Case {
        name: "devices.default_nodes",
        clause: "config-linux.md#configLinuxDefaultDevices",
        quote: "In addition to any devices configured with this setting, the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty, /dev/ptmx (a bind-mount or symlink of the container's /dev/pts/ptmx).",
        run: default_nodes,
    },
    Case {
        name: "devices.default_usable",
        clause: "config-linux.md#configLinuxDefaultDevices",
        quote: "the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom (usable even when the allowed device list denies everything else)",
        run: default_usable,
    },
    Case {
        name: "devices.dev_symlinks",
        clause: "runtime-linux.md#runtimeLinuxDevSymbolicLinks",
        quote: "runtimes MUST create the following symlinks if the source file exists after processing mounts: /proc/self/fd -> /dev/fd, /proc/self/fd/0 -> /dev/stdin, /proc/self/fd/1 -> /dev/stdout, /proc/self/fd/2 -> /dev/stderr",
        run: dev_symlinks,
    },
    Case {
        name: "devices.char_device",
        clause: "config-linux.md#configLinuxDevices",
        quote: DEVICES,
        run: char_device,
    },
    Case {
        name: "devices.block_device",
        clause: "config-linux.md#configLinuxDevices",
        quote: DEVICES,
        run: block_device,
    },
    Case {
        name: "devices.fifo",
        clause: "config-linux.md#configLinuxDevices",
        quote: DEVICES,
        run: fifo,
    },
    Case {
        name: "devices.outside_dev",
        clause: "config-linux.md#configLinuxDevices",
        quote: "The path MAY be anywhere in the container filesystem, notably outside of /dev.",
        run: outside_dev,
    },
];

fn node<'a>(p: &'a Probe, path: &str) -> R<&'a Value> {
    p.device(path)?
        .or_fail(&format!("{path} missing in the container"))
}

/// Type and major:minor of a node; mode, uid and gid too.
fn ensure_node(n: &Value, kind: &str, major: u64, minor: u64) -> R {
    let path = n["path"].as_str().unwrap_or("?");
    ensure_eq!(n["type"].as_str(), Some(kind), "type of {path}");
    if kind != "p" {
        ensure_eq!(
            (n["major"].as_u64(), n["minor"].as_u64()),
            (Some(major), Some(minor)),
            "major:minor of {path}"
        );
    }
    Ok(())
}

fn default_nodes(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    for (path, minor) in [
        ("/dev/null", 3),
        ("/dev/zero", 5),
        ("/dev/full", 7),
        ("/dev/random", 8),
        ("/dev/urandom", 9),
    ] {
        ensure_node(node(&p, path)?, "c", 1, minor)?;
    }
    ensure_node(node(&p, "/dev/tty")?, "c", 5, 0)?;
    let ptmx = node(&p, "/dev/ptmx")?;
    let ok = match ptmx["type"].as_str() {
        Some("l") => matches!(ptmx["target"].as_str(), Some("pts/ptmx" | "/dev/pts/ptmx")),
        Some("c") => ptmx["major"] == 5 && ptmx["minor"] == 2,
        _ => false,
    };
    ensure!(
        ok,
        "/dev/ptmx is neither a symlink to pts/ptmx nor the ptmx device: {ptmx}"
    );
    Ok(())
}

fn default_usable(ctx: &mut Ctx) -> R {
    // The template's allowed device list starts by denying everything.
    let p = ctx.run_probe(&[
        "write:/dev/null",
        "read:/dev/zero",
        "write:/dev/full",
        "read:/dev/urandom",
        "read:/dev/random",
    ])?;
    ensure_eq!(
        p.errno("write", "/dev/null")?,
        None,
        "write /dev/null (errno)"
    );
    ensure_eq!(
        p.errno("write", "/dev/full")?,
        Some(ENOSPC),
        "write /dev/full (errno)"
    );
    for dev in ["/dev/zero", "/dev/urandom", "/dev/random"] {
        let r = p.result("read", dev)?;
        ensure!(
            r["ok"] == true && r["len"].as_u64().unwrap_or(0) > 0,
            "read {dev}: {r}"
        );
    }
    Ok(())
}

fn dev_symlinks(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    for (path, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let n = node(&p, path)?;
        ensure_eq!(
            (n["type"].as_str(), n["target"].as_str()),
            (Some("l"), Some(target)),
            "{path}"
        );
    }
    Ok(())
}

fn check_device(ctx: &mut Ctx, dev: Value, kind: &str, mode: u64) -> R {
    let path = dev["path"].as_str().unwrap_or("").to_owned();
    ctx.config["linux"]["devices"] = json!([dev.clone()]);
    let stat = format!("stat:{path}");
    let p = ctx.run_probe(&[&stat])?;
    let r = p.result("stat", &path)?;
    ensure!(r["ok"] == true, "{path} missing in the container: {r}");
    let n = &r["node"];
    ensure_node(
        n,
        kind,
        dev["major"].as_u64().unwrap_or(0),
        dev["minor"].as_u64().unwrap_or(0),
    )?;
    ensure_eq!(
        n["mode"].as_u64(),
        Some(mode),
        "mode of {path} (fileMode is decimal)"
    );
    ensure_eq!(
        (n["uid"].as_u64(), n["gid"].as_u64()),
        (dev["uid"].as_u64(), dev["gid"].as_u64()),
        "owner of {path}"
    );
    Ok(())
}

fn char_device(ctx: &mut Ctx) -> R {
    let dev = json!({"path": "/dev/conformance-char", "type": "c", "major": 42, "minor": 1,
                     "fileMode": 0o640, "uid": 1000, "gid": 1001});
    check_device(ctx, dev, "c", 0o640)
}

fn block_device(ctx: &mut Ctx) -> R {
    let dev = json!({"path": "/dev/conformance-block", "type": "b", "major": 42, "minor": 2,
                     "fileMode": 0o660, "uid": 0, "gid": 6});
    check_device(ctx, dev, "b", 0o660)
}

fn fifo(ctx: &mut Ctx) -> R {
    let dev = json!({"path": "/dev/conformance-fifo", "type": "p", "fileMode": 0o600, "uid": 1000, "gid": 1000});
    check_device(ctx, dev, "p", 0o600)
}

fn outside_dev(ctx: &mut Ctx) -> R {
    let dev = json!({"path": "/opt/devices/conformance-null", "type": "c", "major": 1, "minor": 3,
                     "fileMode": 0o666, "uid": 0, "gid": 0});
    check_device(ctx, dev, "c", 0o666)
}
