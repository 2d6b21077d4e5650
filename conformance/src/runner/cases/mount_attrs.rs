//! config.md "Linux mount options": the recursive (`r*`, AT_RECURSIVE)
//! options, `nosymfollow`, id-mapped mounts (`idmap`, `ridmap`,
//! uidMappings/gidMappings); config-linux.md "Default Devices" in a user
//! namespace.

use super::Case;
use super::errors::refused;
use super::mounts::{bind, dir_with_submount, mount_of};
use crate::ctx::Ctx;
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use crate::probe::{EACCES, ENOSPC, EROFS, Probe};
use serde_json::{Value, json};
use std::path::PathBuf;

const IDMAP: &str = "idmap | SHOULD | Indicates that the mount MUST have an idmapping applied. If uidMappings or gidMappings are specified for the mount, the runtime MUST use those values for the mount's mapping. If they are not specified, the runtime MAY use the container's user namespace mapping";

pub const CASES: &[Case] = &[
    Case {
        name: "mounts.recursive_ro",
        clause: "config.md#configLinuxMountOptions",
        quote: "rro | SHOULD | Recursive `ro` (AT_RECURSIVE, mount_setattr(2))",
        run: recursive_ro,
    },
    Case {
        name: "mounts.recursive_flags",
        clause: "config.md#configLinuxMountOptions",
        quote: "rnosuid, rnodev, rnoexec, rnoatime | SHOULD | Recursive nosuid, nodev, noexec, noatime",
        run: recursive_flags,
    },
    Case {
        name: "mounts.recursive_later_wins",
        clause: "config.md#configLinuxMountOptions",
        quote: "rrw | SHOULD | Recursive `rw`; rstrictatime | SHOULD | Recursive `strictatime`",
        run: recursive_later_wins,
    },
    Case {
        name: "mounts.nosymfollow",
        clause: "config.md#configLinuxMountOptions",
        quote: "nosymfollow | SHOULD | (Introduced in kernel 5.10, util-linux 2.38)",
        run: nosymfollow,
    },
    Case {
        name: "mounts.idmap_mappings",
        clause: "config.md#configPOSIXMounts",
        quote: "uidMappings (array of type LinuxIDMapping, OPTIONAL) The mapping to convert UIDs from the source file system to the destination mount point.",
        run: idmap_mappings,
    },
    Case {
        name: "mounts.idmap_container_userns",
        clause: "config.md#configLinuxMountOptions",
        quote: IDMAP,
        run: idmap_container_userns,
    },
    Case {
        name: "mounts.idmap_without_mapping_fails",
        clause: "config.md#configLinuxMountOptions",
        quote: "If there are no uidMappings and gidMappings specified and the container isn't using user namespaces, an error MUST be returned.",
        run: idmap_without_mapping_fails,
    },
    Case {
        name: "devices.user_namespace",
        clause: "config-linux.md#configLinuxDefaultDevices",
        quote: "the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty (with a user namespace too, where mknod is not allowed)",
        run: devices_user_namespace,
    },
];

/// The probe's view of `/mnt/tree` (the fixture bound with `opts`) and its submount.
fn submount_opts(ctx: &mut Ctx, opts: &[&str], actions: &[&str]) -> R<(Probe, Vec<Vec<String>>)> {
    let src = dir_with_submount(ctx)?;
    ctx.add_mount(bind(&src, "/mnt/tree", opts))?;
    let p = ctx.run_probe(actions)?;
    let ms = p.mounts()?;
    let both = ["/mnt/tree", "/mnt/tree/sub"]
        .iter()
        .map(|pt| mount_of(&ms, pt).map(|m| m.opts.clone()))
        .collect::<R<Vec<_>>>()?;
    Ok((p, both))
}

fn recursive_ro(ctx: &mut Ctx) -> R {
    let (p, both) = submount_opts(ctx, &["rbind", "rro"], &["write:/mnt/tree/sub/x"])?;
    for opts in &both {
        ensure!(opts.iter().any(|o| o == "ro"), "not read-only: {opts:?}");
    }
    ensure_eq!(
        p.errno("write", "/mnt/tree/sub/x")?,
        Some(EROFS),
        "write in the submount (errno)"
    );
    Ok(())
}

fn recursive_flags(ctx: &mut Ctx) -> R {
    let src_prog = ctx.in_rootfs("/probe");
    let opts = ["rbind", "rnosuid", "rnodev", "rnoexec", "rnoatime"];
    let src = dir_with_submount(ctx)?;
    std::fs::copy(&src_prog, src.join("sub/prog")).or_fail("copy")?;
    ctx.add_mount(bind(&src, "/mnt/tree", &opts))?;
    let p = ctx.run_probe(&["access-x:/mnt/tree/sub/prog"])?;
    let ms = p.mounts()?;
    for pt in ["/mnt/tree", "/mnt/tree/sub"] {
        let m = mount_of(&ms, pt)?;
        for o in ["nosuid", "nodev", "noexec", "noatime"] {
            ensure!(m.has_opt(o), "{pt} lacks {o}: {:?}", m.opts);
        }
    }
    ensure_eq!(
        p.errno("access-x", "/mnt/tree/sub/prog")?,
        Some(EACCES),
        "access(X_OK) in the submount (errno)"
    );
    Ok(())
}

fn recursive_later_wins(ctx: &mut Ctx) -> R {
    let opts = ["rbind", "rro", "rrw", "rnoatime", "rstrictatime"];
    let (_, both) = submount_opts(ctx, &opts, &[])?;
    for o in &both {
        let has = |s: &str| o.iter().any(|x| x == s);
        ensure!(
            has("rw") && !has("noatime") && !has("relatime"),
            "rrw and rstrictatime (the later options) not in effect: {o:?}"
        );
    }
    Ok(())
}

fn nosymfollow(ctx: &mut Ctx) -> R {
    let src = ctx.host_dir("links")?;
    std::fs::write(src.join("target"), "x").or_fail("write fixture")?;
    std::os::unix::fs::symlink("target", src.join("link")).or_fail("symlink")?;
    ctx.add_mount(bind(&src, "/mnt/nofollow", &["bind", "nosymfollow"]))?;
    ctx.add_mount(bind(&src, "/mnt/follow", &["bind"]))?;
    let p = ctx.run_probe(&["read:/mnt/nofollow/link", "read:/mnt/follow/link"])?;
    ensure_eq!(
        p.errno("read", "/mnt/nofollow/link")?,
        Some(libc::ELOOP as i64),
        "read through a symlink on the nosymfollow mount (errno)"
    );
    ensure_eq!(
        p.errno("read", "/mnt/follow/link")?,
        None,
        "read through a symlink elsewhere (errno)"
    );
    Ok(())
}

/// A host directory with `user` owned by 1000:1000 and `root` by 0:0.
fn owned_files(ctx: &Ctx) -> R<PathBuf> {
    let src = ctx.host_dir("ids")?;
    for (name, id) in [("user", 1000), ("root", 0)] {
        let p = src.join(name);
        std::fs::write(&p, name).or_fail("write fixture")?;
        std::os::unix::fs::chown(&p, Some(id), Some(id)).or_fail("chown fixture")?;
    }
    Ok(src)
}

fn owner(p: &Probe, path: &str) -> R<(Option<u64>, Option<u64>)> {
    let r = p.result("stat", path)?;
    ensure!(r["ok"] == true, "stat {path}: {r}");
    Ok((r["node"]["uid"].as_u64(), r["node"]["gid"].as_u64()))
}

fn idmap_mappings(ctx: &mut Ctx) -> R {
    let src = owned_files(ctx)?;
    let map = json!([{"containerID": 1000, "hostID": 2000, "size": 10}]);
    let mut m: Value = bind(&src, "/mnt/ids", &["bind", "idmap"]);
    m["uidMappings"] = map.clone();
    m["gidMappings"] = map;
    ctx.add_mount(m)?;
    let p = ctx.run_probe(&["stat:/mnt/ids/user"])?;
    // mount_setattr(2): source id 1000 is id 1000 of the mapping's namespace, 2000 outside it.
    ensure_eq!(
        owner(&p, "/mnt/ids/user")?,
        (Some(2000), Some(2000)),
        "owner of a file owned by 1000:1000 on the source"
    );
    Ok(())
}

fn idmap_container_userns(ctx: &mut Ctx) -> R {
    let src = owned_files(ctx)?;
    for d in ["/mnt/ids", "/mnt/plain"] {
        std::fs::create_dir_all(ctx.in_rootfs(d)).or_fail("mkdir in rootfs")?;
    }
    ctx.add_namespace(json!({"type": "user"}))?;
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    ctx.config["linux"]["uidMappings"] = map.clone();
    ctx.config["linux"]["gidMappings"] = map;
    ctx.add_mount(bind(&src, "/mnt/ids", &["rbind", "idmap"]))?;
    ctx.add_mount(bind(&src, "/mnt/plain", &["rbind"]))?;
    let p = ctx.run_probe(&[
        "stat:/mnt/ids/root",
        "stat:/mnt/ids/user",
        "stat:/mnt/plain/root",
    ])?;
    ensure_eq!(
        owner(&p, "/mnt/ids/root")?,
        (Some(0), Some(0)),
        "owner of a root-owned file on the id-mapped mount"
    );
    ensure_eq!(
        owner(&p, "/mnt/ids/user")?,
        (Some(1000), Some(1000)),
        "owner of a 1000-owned file on the id-mapped mount"
    );
    ensure_eq!(
        owner(&p, "/mnt/plain/root")?,
        (Some(65534), Some(65534)),
        "owner of a root-owned file without idmap (the overflow id)"
    );
    Ok(())
}

fn idmap_without_mapping_fails(ctx: &mut Ctx) -> R {
    let src = ctx.host_dir("src")?;
    ctx.add_mount(bind(&src, "/mnt/ids", &["bind", "idmap"]))?;
    refused(ctx)
}

fn devices_user_namespace(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "user"}))?;
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    ctx.config["linux"]["uidMappings"] = map.clone();
    ctx.config["linux"]["gidMappings"] = map;
    let p = ctx.run_probe(&["write:/dev/null", "read:/dev/zero", "write:/dev/full"])?;
    for (path, major, minor) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let n = p
            .device(path)?
            .or_fail(&format!("{path} missing in the container"))?;
        ensure_eq!(
            (n["type"].as_str(), n["major"].as_u64(), n["minor"].as_u64()),
            (Some("c"), Some(major), Some(minor)),
            "{path}"
        );
    }
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
    let r = p.result("read", "/dev/zero")?;
    ensure!(r["ok"] == true, "read /dev/zero: {r}");
    Ok(())
}
