//! config.md "Mounts" and "Linux mount options"; config-linux.md "Default Filesystems".

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::host::{self, MountInfo, find_mount};
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use crate::probe::{EACCES, ENOENT, EROFS, Probe};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const OPTIONS: &str = "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux (mount(8) semantics).";

pub const CASES: &[Case] = &[
    Case {
        name: "mounts.default_filesystems",
        clause: "config-linux.md#configLinuxDefaultFilesystems",
        quote: "The following filesystems SHOULD be made available in each container's filesystem: /proc proc, /sys sysfs, /dev/pts devpts, /dev/shm tmpfs",
        run: default_filesystems,
    },
    Case {
        name: "mounts.listed_order",
        clause: "config.md#configMounts",
        quote: "The runtime MUST mount entries in the listed order.",
        run: listed_order,
    },
    Case {
        name: "mounts.tmpfs_options_and_data",
        clause: "config.md#configLinuxMountOptions",
        quote: "Runtimes SHOULD treat unknown options as filesystem-specific ones and pass those as a comma-separated string to the fifth (const void *data) argument of mount(2). (nosuid, nodev, noexec: MUST)",
        run: tmpfs_options_and_data,
    },
    Case {
        name: "mounts.ro_option",
        clause: "config.md#configLinuxMountOptions",
        quote: OPTIONS,
        run: ro_option,
    },
    Case {
        name: "mounts.atime_options",
        clause: "config.md#configLinuxMountOptions",
        quote: OPTIONS,
        run: atime_options,
    },
    Case {
        name: "mounts.noexec_enforced",
        clause: "config.md#configLinuxMountOptions",
        quote: OPTIONS,
        run: noexec_enforced,
    },
    Case {
        name: "mounts.bind_dir",
        clause: "config.md#configMounts",
        quote: "source ... can also be a file or directory name for bind mounts ... A mount is a bind mount if it has either bind or rbind in the options.",
        run: bind_dir,
    },
    Case {
        name: "mounts.bind_file",
        clause: "config.md#configMounts",
        quote: "source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts or a dummy.",
        run: bind_file,
    },
    Case {
        name: "mounts.bind_ro",
        clause: "config.md#configLinuxMountOptions",
        quote: OPTIONS,
        run: bind_ro,
    },
    Case {
        name: "mounts.bind_source_relative_to_bundle",
        clause: "config.md#configMounts",
        quote: "Path values for bind mounts are either absolute or relative to the bundle.",
        run: bind_source_relative_to_bundle,
    },
    Case {
        name: "mounts.rbind_recursive",
        clause: "config.md#configLinuxMountOptions",
        quote: "rbind | MUST | Recursive bind mount",
        run: rbind_recursive,
    },
    Case {
        name: "mounts.bind_not_recursive",
        clause: "config.md#configLinuxMountOptions",
        quote: "bind | MUST | Bind mount (mount(8): submounts are not included)",
        run: bind_not_recursive,
    },
    Case {
        name: "mounts.bind_shared",
        clause: "config.md#configLinuxMountOptions",
        quote: "shared | MUST ... rshared | MUST | Bind mount propagation",
        run: bind_shared,
    },
    Case {
        name: "mounts.bind_private",
        clause: "config.md#configLinuxMountOptions",
        quote: "private | MUST | Bind mount propagation",
        run: bind_private,
    },
    Case {
        name: "mounts.bind_unbindable",
        clause: "config.md#configLinuxMountOptions",
        quote: "unbindable | MUST | Bind mount propagation",
        run: bind_unbindable,
    },
    Case {
        name: "mounts.destination_created",
        clause: "config.md#configMounts",
        quote: "destination (string, REQUIRED) Destination of mount point: path inside container.",
        run: destination_created,
    },
    Case {
        name: "mounts.destination_relative",
        clause: "config.md#configMounts",
        quote: "For compatibility with old tools and configurations, it MAY be a relative path, in which case it MUST be interpreted as relative to \"/\".",
        run: destination_relative,
    },
    Case {
        name: "mounts.sysfs_ro",
        clause: "config.md#configLinuxMountOptions",
        quote: "ro | MUST (the template mounts /sys with nosuid, noexec, nodev, ro)",
        run: sysfs_ro,
    },
    Case {
        name: "mounts.devpts_new_instance",
        clause: "config-linux.md#configLinuxDefaultFilesystems",
        quote: "/dev/pts devpts (mounted with newinstance, ptmxmode=0666, mode=0620, gid=5)",
        run: devpts_new_instance,
    },
    Case {
        name: "mounts.mqueue",
        clause: "config.md#configPOSIXMounts",
        quote: "type (string, OPTIONAL) The type of the filesystem to be mounted. Linux: filesystem types supported by the kernel as listed in /proc/filesystems",
        run: mqueue,
    },
    Case {
        name: "mounts.cgroup_ro",
        clause: "config.md#configPOSIXMounts",
        quote: "type ... filesystem types supported by the kernel (the template mounts cgroup at /sys/fs/cgroup with ro)",
        run: cgroup_ro,
    },
];

pub(super) fn mount_of<'a>(ms: &'a [MountInfo], point: &str) -> R<&'a MountInfo> {
    find_mount(ms, point).or_fail(&format!("nothing mounted at {point} inside the container"))
}

fn tmpfs(dst: &str, opts: &[&str]) -> Value {
    json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts})
}

pub(super) fn bind(src: &Path, dst: &str, opts: &[&str]) -> Value {
    json!({"destination": dst, "type": "none", "source": src.to_string_lossy(), "options": opts})
}

fn default_filesystems(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let ms = p.mounts()?;
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        ensure_eq!(
            mount_of(&ms, point)?.fstype,
            fstype,
            "filesystem at {point}"
        );
    }
    Ok(())
}

fn listed_order(ctx: &mut Ctx) -> R {
    for m in [
        tmpfs("/mnt/a", &["size=1m"]),
        tmpfs("/mnt/a/b", &["size=1m"]),
        tmpfs("/mnt/c", &["size=1m"]),
        tmpfs("/mnt/c", &["size=2m"]),
    ] {
        ctx.add_mount(m)?;
    }
    let p = ctx.run_probe(&[])?;
    let ms = p.mounts()?;
    let pos = |pt: &str| ms.iter().position(|m| m.point == pt);
    let (a, b) = (
        pos("/mnt/a").or_fail("no /mnt/a")?,
        pos("/mnt/a/b").or_fail("/mnt/a/b hidden or missing")?,
    );
    ensure!(a < b, "/mnt/a/b mounted before /mnt/a");
    let c = mount_of(&ms, "/mnt/c")?;
    ensure!(
        c.has_superopt("size=2048k"),
        "the later of two mounts on /mnt/c is not on top: {:?}",
        c.superopts
    );
    Ok(())
}

fn tmpfs_options_and_data(ctx: &mut Ctx) -> R {
    let opts = [
        "nosuid",
        "nodev",
        "noexec",
        "mode=1770",
        "size=2m",
        "uid=1000",
        "gid=1000",
        "nr_inodes=100",
    ];
    ctx.add_mount(tmpfs("/mnt/t", &opts))?;
    let p = ctx.run_probe(&["stat:/mnt/t"])?;
    let m = mount_of(&p.mounts()?, "/mnt/t")?.clone();
    for o in ["nosuid", "nodev", "noexec"] {
        ensure!(
            m.has_opt(o),
            "{o} missing from the mount options {:?}",
            m.opts
        );
    }
    for o in [
        "size=2048k",
        "nr_inodes=100",
        "mode=1770",
        "uid=1000",
        "gid=1000",
    ] {
        ensure!(
            m.has_superopt(o),
            "{o} missing from the filesystem options {:?}",
            m.superopts
        );
    }
    let node = &p.result("stat", "/mnt/t")?["node"];
    ensure_eq!(
        (node["mode"].as_u64(), node["uid"].as_u64()),
        (Some(0o1770), Some(1000)),
        "mode and owner of the tmpfs root"
    );
    Ok(())
}

fn ro_option(ctx: &mut Ctx) -> R {
    ctx.add_mount(tmpfs("/mnt/ro", &["ro"]))?;
    let p = ctx.run_probe(&["write:/mnt/ro/x"])?;
    ensure!(
        mount_of(&p.mounts()?, "/mnt/ro")?.has_opt("ro"),
        "/mnt/ro not read-only"
    );
    ensure_eq!(
        p.errno("write", "/mnt/ro/x")?,
        Some(EROFS),
        "write on a ro mount (errno)"
    );
    Ok(())
}

fn atime_options(ctx: &mut Ctx) -> R {
    ctx.add_mount(tmpfs("/mnt/noatime", &["noatime"]))?;
    ctx.add_mount(tmpfs("/mnt/strict", &["strictatime"]))?;
    ctx.add_mount(tmpfs("/mnt/nodiratime", &["nodiratime"]))?;
    let p = ctx.run_probe(&[])?;
    let ms = p.mounts()?;
    ensure!(
        mount_of(&ms, "/mnt/noatime")?.has_opt("noatime"),
        "noatime not applied"
    );
    let s = mount_of(&ms, "/mnt/strict")?;
    ensure!(
        !s.has_opt("relatime") && !s.has_opt("noatime"),
        "strictatime not applied: {:?}",
        s.opts
    );
    ensure!(
        mount_of(&ms, "/mnt/nodiratime")?.has_opt("nodiratime"),
        "nodiratime not applied"
    );
    Ok(())
}

/// A host directory holding an executable, bound twice: with noexec it cannot run.
fn noexec_enforced(ctx: &mut Ctx) -> R {
    let src = ctx.host_dir("exec")?;
    std::fs::copy(ctx.in_rootfs("/probe"), src.join("prog")).or_fail("copy")?;
    ctx.add_mount(bind(&src, "/mnt/noexec", &["bind", "noexec"]))?;
    ctx.add_mount(bind(&src, "/mnt/exec", &["bind"]))?;
    let p = ctx.run_probe(&["access-x:/mnt/noexec/prog", "access-x:/mnt/exec/prog"])?;
    ensure_eq!(
        p.errno("access-x", "/mnt/noexec/prog")?,
        Some(EACCES),
        "access(X_OK) on the noexec mount (errno)"
    );
    ensure_eq!(
        p.errno("access-x", "/mnt/exec/prog")?,
        None,
        "access(X_OK) on the mount without noexec (errno)"
    );
    Ok(())
}

fn fixture_dir(ctx: &Ctx, name: &str) -> R<PathBuf> {
    let d = ctx.host_dir(name)?;
    std::fs::write(d.join("hello"), "hello from the host\n").or_fail("write fixture")?;
    Ok(d)
}

fn read_data(p: &Probe, path: &str) -> R<String> {
    let r = p.result("read", path)?;
    ensure!(r["ok"] == true, "read {path}: {r}");
    Ok(r["data"].as_str().unwrap_or("").to_owned())
}

fn bind_dir(ctx: &mut Ctx) -> R {
    let src = fixture_dir(ctx, "data")?;
    ctx.add_mount(bind(&src, "/mnt/data", &["bind"]))?;
    let p = ctx.run_probe(&["read:/mnt/data/hello", "write:/mnt/data/from-container"])?;
    ensure_eq!(
        read_data(&p, "/mnt/data/hello")?,
        "hello from the host\n",
        "bound file content"
    );
    ensure!(
        src.join("from-container").exists(),
        "a write through the bind mount did not reach the host"
    );
    Ok(())
}

fn bind_file(ctx: &mut Ctx) -> R {
    let src = fixture_dir(ctx, "file")?.join("hello");
    ctx.add_mount(bind(&src, "/etc/bound-file", &["bind"]))?;
    let p = ctx.run_probe(&["read:/etc/bound-file"])?;
    ensure_eq!(
        read_data(&p, "/etc/bound-file")?,
        "hello from the host\n",
        "bound file content"
    );
    Ok(())
}

fn bind_ro(ctx: &mut Ctx) -> R {
    let src = fixture_dir(ctx, "data")?;
    ctx.add_mount(bind(&src, "/mnt/data", &["bind", "ro"]))?;
    let p = ctx.run_probe(&["read:/mnt/data/hello", "write:/mnt/data/x"])?;
    read_data(&p, "/mnt/data/hello")?;
    ensure_eq!(
        p.errno("write", "/mnt/data/x")?,
        Some(EROFS),
        "write on a ro bind mount (errno)"
    );
    Ok(())
}

fn bind_source_relative_to_bundle(ctx: &mut Ctx) -> R {
    let src = ctx.bundle.join("bundle-data");
    std::fs::create_dir_all(&src).or_fail("mkdir")?;
    std::fs::write(src.join("hello"), "relative\n").or_fail("write fixture")?;
    ctx.add_mount(json!({"destination": "/mnt/data", "type": "none", "source": "bundle-data", "options": ["bind"]}))?;
    let id = ctx.id.clone();
    ctx.set_probe(&["read:/mnt/data/hello"]);
    // Run from elsewhere: the source is relative to the bundle, not to the caller.
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
    ensure_eq!(
        read_data(&ctx.output(&id), "/mnt/data/hello")?,
        "relative\n",
        "content"
    );
    Ok(())
}

/// A host directory with a tmpfs mounted on its `sub`, holding `in-sub`.
pub(super) fn dir_with_submount(ctx: &Ctx) -> R<PathBuf> {
    let src = ctx.host_dir("tree")?;
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).or_fail("mkdir")?;
    host::mount(Path::new("tmpfs"), &sub, Some("tmpfs"), 0)
        .or_fail("mount tmpfs on the fixture")?;
    std::fs::write(sub.join("in-sub"), "x").or_fail("write fixture")?;
    Ok(src)
}

fn rbind_recursive(ctx: &mut Ctx) -> R {
    let src = dir_with_submount(ctx)?;
    ctx.add_mount(bind(&src, "/mnt/tree", &["rbind"]))?;
    let p = ctx.run_probe(&["read:/mnt/tree/sub/in-sub"])?;
    ensure_eq!(
        p.errno("read", "/mnt/tree/sub/in-sub")?,
        None,
        "read a file of the submount (errno)"
    );
    Ok(())
}

fn bind_not_recursive(ctx: &mut Ctx) -> R {
    let src = dir_with_submount(ctx)?;
    ctx.add_mount(bind(&src, "/mnt/tree", &["bind"]))?;
    let p = ctx.run_probe(&["read:/mnt/tree/sub/in-sub"])?;
    ensure_eq!(
        p.errno("read", "/mnt/tree/sub/in-sub")?,
        Some(ENOENT),
        "read a file of the submount (errno)"
    );
    Ok(())
}

/// A host directory that is a shared mount, so propagation options have something to act on.
fn shared_dir(ctx: &Ctx) -> R<PathBuf> {
    let d = fixture_dir(ctx, "shared")?;
    host::mount(&d, &d, None, libc::MS_BIND).or_fail("bind the fixture on itself")?;
    host::mount(Path::new("none"), &d, None, libc::MS_SHARED).or_fail("make the fixture shared")?;
    Ok(d)
}

fn propagation_of(ctx: &mut Ctx, opt: &str) -> R<MountInfo> {
    let src = shared_dir(ctx)?;
    ctx.add_mount(bind(&src, "/mnt/prop", &["bind", opt]))?;
    let p = ctx.run_probe(&[])?;
    Ok(mount_of(&p.mounts()?, "/mnt/prop")?.clone())
}

fn bind_shared(ctx: &mut Ctx) -> R {
    let m = propagation_of(ctx, "rshared")?;
    ensure!(
        m.propagation("shared"),
        "not shared: optional fields {:?}",
        m.optional
    );
    Ok(())
}

fn bind_private(ctx: &mut Ctx) -> R {
    let m = propagation_of(ctx, "private")?;
    ensure!(
        !m.propagation("shared") && !m.propagation("master"),
        "not private: optional fields {:?}",
        m.optional
    );
    Ok(())
}

fn bind_unbindable(ctx: &mut Ctx) -> R {
    let m = propagation_of(ctx, "unbindable")?;
    ensure!(
        m.propagation("unbindable"),
        "not unbindable: optional fields {:?}",
        m.optional
    );
    Ok(())
}

fn destination_created(ctx: &mut Ctx) -> R {
    ctx.add_mount(tmpfs("/new/deep/dir", &["size=1m"]))?;
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        mount_of(&p.mounts()?, "/new/deep/dir")?.fstype,
        "tmpfs",
        "filesystem at /new/deep/dir"
    );
    Ok(())
}

fn destination_relative(ctx: &mut Ctx) -> R {
    ctx.add_mount(tmpfs("rel/dir", &["size=1m"]))?;
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        mount_of(&p.mounts()?, "/rel/dir")?.fstype,
        "tmpfs",
        "filesystem at /rel/dir"
    );
    Ok(())
}

fn sysfs_ro(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let m = mount_of(&p.mounts()?, "/sys")?.clone();
    ensure_eq!(m.fstype, "sysfs", "filesystem at /sys");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        ensure!(m.has_opt(o), "/sys lacks {o}: {:?}", m.opts);
    }
    Ok(())
}

fn devpts_new_instance(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let m = mount_of(&p.mounts()?, "/dev/pts")?.clone();
    ensure_eq!(m.fstype, "devpts", "filesystem at /dev/pts");
    for o in ["ptmxmode=666", "mode=620", "gid=5"] {
        ensure!(m.has_superopt(o), "/dev/pts lacks {o}: {:?}", m.superopts);
    }
    let host_text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let host_lines: Vec<&str> = host_text.lines().collect();
    let host_pts: Vec<String> = host::parse_mountinfo(&host_lines)
        .into_iter()
        .filter(|h| h.fstype == "devpts")
        .map(|h| h.dev)
        .collect();
    ensure!(
        !host_pts.contains(&m.dev),
        "/dev/pts is the host's devpts ({}), not a new instance",
        m.dev
    );
    Ok(())
}

fn mqueue(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let m = mount_of(&p.mounts()?, "/dev/mqueue")?.clone();
    ensure_eq!(m.fstype, "mqueue", "filesystem at /dev/mqueue");
    for o in ["nosuid", "nodev", "noexec"] {
        ensure!(m.has_opt(o), "/dev/mqueue lacks {o}: {:?}", m.opts);
    }
    Ok(())
}

fn cgroup_ro(ctx: &mut Ctx) -> R {
    let p = ctx.run_probe(&[])?;
    let ms = p.mounts()?;
    let cg: Vec<&MountInfo> = ms
        .iter()
        .filter(|m| m.point == "/sys/fs/cgroup" || m.point.starts_with("/sys/fs/cgroup/"))
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect();
    ensure!(
        !cg.is_empty(),
        "no cgroup filesystem at or under /sys/fs/cgroup"
    );
    for m in cg {
        ensure!(
            m.has_opt("ro"),
            "{} ({}) is not read-only: {:?}",
            m.point,
            m.fstype,
            m.opts
        );
    }
    Ok(())
}
