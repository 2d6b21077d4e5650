//! config.md "Root" and "Extensibility"; config-linux.md "Sysctl", "Masked
//! Paths", "Readonly Paths", "Rootfs Mount Propagation".

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::host::{self, MountInfo, find_mount};
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use crate::probe::{EROFS, Probe};
use serde_json::json;
use std::path::{Path, PathBuf};

const ROOT_PATH: &str =
    "On POSIX platforms, path is either an absolute path or a relative path to the bundle.";
const MASKED: &str = "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.";
const READONLY: &str = "readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container.";
const SYSCTL: &str = "sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.";

pub const CASES: &[Case] = &[
    Case {
        name: "root.readonly",
        clause: "config.md#configRoot",
        quote: "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container, defaults to false.",
        run: root_readonly,
    },
    Case {
        name: "root.writable_by_default",
        clause: "config.md#configRoot",
        quote: "readonly (bool, OPTIONAL) ... defaults to false.",
        run: root_writable_by_default,
    },
    Case {
        name: "root.path_absolute",
        clause: "config.md#configRoot",
        quote: ROOT_PATH,
        run: root_path_absolute,
    },
    Case {
        name: "root.path_relative_to_bundle",
        clause: "config.md#configRoot",
        quote: ROOT_PATH,
        run: root_path_relative,
    },
    Case {
        name: "config.unknown_properties_ignored",
        clause: "config.md#configExtensibility",
        quote: "Runtimes MAY log unknown properties but MUST otherwise ignore them. That includes not generating errors if they encounter an unknown property.",
        run: unknown_properties_ignored,
    },
    Case {
        name: "sysctl.network",
        clause: "config-linux.md#configLinuxSysctl",
        quote: SYSCTL,
        run: sysctl_network,
    },
    Case {
        name: "sysctl.ipc",
        clause: "config-linux.md#configLinuxSysctl",
        quote: SYSCTL,
        run: sysctl_ipc,
    },
    Case {
        name: "masked.file",
        clause: "config-linux.md#configLinuxMaskedPaths",
        quote: MASKED,
        run: masked_file,
    },
    Case {
        name: "masked.directory",
        clause: "config-linux.md#configLinuxMaskedPaths",
        quote: MASKED,
        run: masked_directory,
    },
    Case {
        name: "masked.proc_file",
        clause: "config-linux.md#configLinuxMaskedPaths",
        quote: MASKED,
        run: masked_proc_file,
    },
    Case {
        name: "readonly.proc_sys",
        clause: "config-linux.md#configLinuxReadonlyPaths",
        quote: READONLY,
        run: readonly_proc_sys,
    },
    Case {
        name: "readonly.directory",
        clause: "config-linux.md#configLinuxReadonlyPaths",
        quote: READONLY,
        run: readonly_directory,
    },
    Case {
        name: "readonly.file",
        clause: "config-linux.md#configLinuxReadonlyPaths",
        quote: READONLY,
        run: readonly_file,
    },
    Case {
        name: "propagation.rootfs_shared",
        clause: "config-linux.md#configLinuxRootfsMountPropagation",
        quote: "shared: the rootfs mount belongs to a new peer group.",
        run: rootfs_shared,
    },
    Case {
        name: "propagation.rootfs_slave",
        clause: "config-linux.md#configLinuxRootfsMountPropagation",
        quote: "slave: the rootfs mount receives propagation events from the host (e.g. if something is mounted on the host it will also appear in the container) but not the other way around.",
        run: rootfs_slave,
    },
    Case {
        name: "propagation.rootfs_private",
        clause: "config-linux.md#configLinuxRootfsMountPropagation",
        quote: "private: the rootfs mount doesn't receive mount propagation events from the host",
        run: rootfs_private,
    },
    Case {
        name: "propagation.rootfs_unbindable",
        clause: "config-linux.md#configLinuxRootfsMountPropagation",
        quote: "unbindable: the rootfs mount is a private mount that cannot be bind-mounted.",
        run: rootfs_unbindable,
    },
];

fn root_readonly(ctx: &mut Ctx) -> R {
    ctx.config["root"]["readonly"] = json!(true);
    let p = ctx.run_probe(&["write:/written", "write:/dev/shm/written"])?;
    let root = find_mount(&p.mounts()?, "/")
        .or_fail("no / mount inside")?
        .clone();
    ensure!(root.has_opt("ro"), "/ is mounted {:?}", root.opts);
    ensure_eq!(
        p.errno("write", "/written")?,
        Some(EROFS),
        "write on the read-only root (errno)"
    );
    ensure_eq!(
        p.errno("write", "/dev/shm/written")?,
        None,
        "write on /dev/shm under a read-only root (errno)"
    );
    Ok(())
}

fn root_writable_by_default(ctx: &mut Ctx) -> R {
    if let Some(r) = ctx.config["root"].as_object_mut() {
        r.remove("readonly");
    }
    let p = ctx.run_probe(&["write:/written"])?;
    ensure_eq!(
        p.errno("write", "/written")?,
        None,
        "write on the root (errno)"
    );
    ensure!(
        ctx.in_rootfs("/written").exists(),
        "the write did not land in the bundle's rootfs"
    );
    Ok(())
}

fn root_path_absolute(ctx: &mut Ctx) -> R {
    ctx.config["root"]["path"] = json!(ctx.rootfs.to_string_lossy());
    let p = ctx.run_probe(&["write:/written"])?;
    ensure_eq!(
        p.errno("write", "/written")?,
        None,
        "write on the root (errno)"
    );
    ensure!(
        ctx.in_rootfs("/written").exists(),
        "the container's root is not root.path"
    );
    Ok(())
}

fn root_path_relative(ctx: &mut Ctx) -> R {
    let custom = ctx.bundle.join("custom-root");
    std::fs::rename(&ctx.rootfs, &custom).or_fail("rename rootfs")?;
    ctx.rootfs = custom;
    ctx.config["root"]["path"] = json!("custom-root");
    let id = ctx.id.clone();
    ctx.set_probe(&["write:/written"]);
    let out = ctx.create_with(
        &id,
        CreateOpts {
            cwd: Some(Path::new("/")),
            ..Default::default()
        },
    )?;
    ensure!(out.success(), "create: {}", out.describe());
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure!(
        ctx.in_rootfs("/written").exists(),
        "the container's root is not BUNDLE/custom-root"
    );
    Ok(())
}

fn unknown_properties_ignored(ctx: &mut Ctx) -> R {
    ctx.config["org.example.unknown"] = json!({"nested": [1, 2, 3]});
    ctx.config["process"]["org.example.unknown"] = json!(true);
    ctx.config["linux"]["org.example.unknown"] = json!("x");
    ctx.config["mounts"][0]["org.example.unknown"] = json!(1);
    ctx.run_probe(&[]).map(|_| ())
}

fn sysctl_of(p: &Probe, name: &str) -> R<String> {
    let r = p.result("sysctl", name)?;
    ensure!(r["ok"] == true, "read sysctl {name}: {r}");
    Ok(r["value"].as_str().unwrap_or("").to_owned())
}

fn host_sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Sets the sysctls, reads them inside, and checks the host's values did not move.
fn check_sysctls(ctx: &mut Ctx, set: &[(&str, &str)]) -> R {
    let before: Vec<String> = set.iter().map(|(n, _)| host_sysctl(n)).collect();
    ctx.config["linux"]["sysctl"] = json!({});
    for ((n, v), b) in set.iter().zip(&before) {
        if b.is_empty() {
            skip!("this host has no sysctl {n}");
        }
        ctx.config["linux"]["sysctl"][*n] = json!(v);
    }
    let actions: Vec<String> = set.iter().map(|(n, _)| format!("sysctl:{n}")).collect();
    let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
    let p = ctx.run_probe(&actions)?;
    for ((n, v), b) in set.iter().zip(&before) {
        ensure_eq!(sysctl_of(&p, n)?, *v, "{n} inside");
        ensure_eq!(host_sysctl(n), *b, "{n} on the host");
    }
    Ok(())
}

fn sysctl_network(ctx: &mut Ctx) -> R {
    check_sysctls(
        ctx,
        &[("net.ipv4.ip_forward", "1"), ("net.core.somaxconn", "321")],
    )
}

fn sysctl_ipc(ctx: &mut Ctx) -> R {
    check_sysctls(ctx, &[("kernel.msgmax", "12345")])
}

fn add_path(ctx: &mut Ctx, list: &str, path: &str) -> R {
    let l = ctx.config["linux"][list]
        .as_array_mut()
        .or_fail("no such list")?;
    l.push(json!(path));
    Ok(())
}

fn write_fixture(ctx: &Ctx, path: &str, content: &str) -> R<PathBuf> {
    let p = ctx.in_rootfs(path);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).or_fail("mkdir")?;
    }
    std::fs::write(&p, content).or_fail("write fixture")?;
    Ok(p)
}

/// A masked file cannot be read: reading fails, or gives nothing of its content.
fn ensure_unreadable(p: &Probe, path: &str, secret: &str) -> R {
    let r = p.result("read", path)?;
    let data = r["data"].as_str().unwrap_or("");
    ensure!(
        r["ok"] != true || !data.contains(secret),
        "{path} still readable: {data:?}"
    );
    Ok(())
}

fn masked_file(ctx: &mut Ctx) -> R {
    write_fixture(ctx, "/etc/secret", "secret-content\n")?;
    add_path(ctx, "maskedPaths", "/etc/secret")?;
    let p = ctx.run_probe(&["read:/etc/secret"])?;
    ensure_unreadable(&p, "/etc/secret", "secret-content")
}

fn masked_directory(ctx: &mut Ctx) -> R {
    write_fixture(ctx, "/secretdir/file", "secret-content\n")?;
    add_path(ctx, "maskedPaths", "/secretdir")?;
    let p = ctx.run_probe(&["ls:/secretdir", "read:/secretdir/file"])?;
    let ls = p.result("ls", "/secretdir")?;
    ensure!(
        ls["ok"] != true || ls["entries"].as_array().is_some_and(Vec::is_empty),
        "masked directory lists {}",
        ls["entries"]
    );
    ensure_unreadable(&p, "/secretdir/file", "secret-content")
}

/// /proc/timer_list is world-readable and non-empty unless masked (the template masks it).
fn masked_proc_file(ctx: &mut Ctx) -> R {
    let host_text = std::fs::read_to_string("/proc/timer_list").unwrap_or_default();
    if host_text.is_empty() {
        skip!("this kernel has no readable /proc/timer_list");
    }
    let p = ctx.run_probe(&["read:/proc/timer_list"])?;
    ensure_unreadable(&p, "/proc/timer_list", "Timer List")
}

fn readonly_proc_sys(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&["write:/proc/sys/kernel/hostname"])?;
    ensure_eq!(
        p.errno("write", "/proc/sys/kernel/hostname")?,
        Some(EROFS),
        "write under /proc/sys (errno)"
    );
    Ok(())
}

fn readonly_directory(ctx: &mut Ctx) -> R {
    write_fixture(ctx, "/data/file", "x")?;
    add_path(ctx, "readonlyPaths", "/data")?;
    let p = ctx.run_probe(&["write:/data/new", "write:/data/file", "write:/tmp/new"])?;
    ensure_eq!(
        p.errno("write", "/data/new")?,
        Some(EROFS),
        "create a file in a read-only directory (errno)"
    );
    ensure_eq!(
        p.errno("write", "/data/file")?,
        Some(EROFS),
        "write a file in a read-only directory (errno)"
    );
    ensure_eq!(
        p.errno("write", "/tmp/new")?,
        None,
        "write elsewhere (errno)"
    );
    Ok(())
}

fn readonly_file(ctx: &mut Ctx) -> R {
    write_fixture(ctx, "/etc/ro-file", "x")?;
    add_path(ctx, "readonlyPaths", "/etc/ro-file")?;
    let p = ctx.run_probe(&["write:/etc/ro-file", "read:/etc/ro-file"])?;
    ensure_eq!(
        p.errno("write", "/etc/ro-file")?,
        Some(EROFS),
        "write a read-only file (errno)"
    );
    ensure_eq!(
        p.errno("read", "/etc/ro-file")?,
        None,
        "read a read-only file (errno)"
    );
    Ok(())
}

/// The container's `/` after starting with `rootfsPropagation` = `prop`.
fn root_mount(ctx: &mut Ctx, prop: &str) -> R<MountInfo> {
    ctx.config["linux"]["rootfsPropagation"] = json!(prop);
    let p = ctx.run_probe(&[])?;
    Ok(find_mount(&p.mounts()?, "/")
        .or_fail("no / mount inside")?
        .clone())
}

fn rootfs_shared(ctx: &mut Ctx) -> R {
    let m = root_mount(ctx, "shared")?;
    ensure!(
        m.propagation("shared"),
        "/ is not shared: optional fields {:?}",
        m.optional
    );
    Ok(())
}

fn rootfs_unbindable(ctx: &mut Ctx) -> R {
    let m = root_mount(ctx, "unbindable")?;
    ensure!(
        m.propagation("unbindable"),
        "/ is not unbindable: optional fields {:?}",
        m.optional
    );
    Ok(())
}

/// With the rootfs on a shared host mount, mounts `late` under it on the host
/// while the container runs and reports whether the container saw it.
fn host_mount_seen(ctx: &mut Ctx, prop: &str) -> R<bool> {
    let rootfs = ctx.rootfs.clone();
    host::mount(&rootfs, &rootfs, None, libc::MS_BIND).or_fail("bind the rootfs on itself")?;
    host::mount(Path::new("none"), &rootfs, None, libc::MS_SHARED)
        .or_fail("make the rootfs shared")?;
    std::fs::create_dir_all(rootfs.join("mnt/late")).or_fail("mkdir")?;
    ctx.config["linux"]["rootfsPropagation"] = json!(prop);
    let id = ctx.id.clone();
    ctx.launch(&id, &["wait-signal:USR1", "mounts"])?;
    ctx.wait_line(&id, "ready", |l| l["ready"] == true)?;
    host::mount(
        Path::new("tmpfs"),
        &rootfs.join("mnt/late"),
        Some("tmpfs"),
        0,
    )
    .or_fail("mount on the host")?;
    let out = ctx.kill(&id, "SIGUSR1");
    ensure!(out.success(), "kill: {}", out.describe());
    let line = ctx.wait_line(&id, "its mounts", |l| l["action"] == "mounts")?;
    let lines = crate::probe::strings(&line["mountinfo"]);
    // Neither slave nor private lets the container's own mounts out to the host.
    let late = rootfs.join("mnt/late").to_string_lossy().into_owned();
    let root = rootfs.to_string_lossy().into_owned();
    let leaked: Vec<String> = host::mounts_under(&rootfs)
        .into_iter()
        .filter(|m| *m != late && *m != root)
        .collect();
    ensure!(
        leaked.is_empty(),
        "container mounts propagated to the host: {leaked:?}"
    );
    Ok(host::parse_mountinfo(&lines)
        .iter()
        .any(|m| m.point == "/mnt/late"))
}

fn rootfs_slave(ctx: &mut Ctx) -> R {
    ensure!(
        host_mount_seen(ctx, "slave")?,
        "a mount made on the host under the rootfs did not appear inside"
    );
    Ok(())
}

fn rootfs_private(ctx: &mut Ctx) -> R {
    ensure!(
        !host_mount_seen(ctx, "private")?,
        "a mount made on the host under the rootfs appeared inside"
    );
    Ok(())
}
