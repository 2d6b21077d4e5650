//! config-linux.md "Control groups" resources other than devices: the
//! values land in the container's cgroup files (read from the host, in the
//! v1 hierarchy of the controller or else the unified one), are enforced,
//! and a value that cannot be applied fails create leaving nothing.

use super::Case;
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use serde_json::json;
use std::path::{Path, PathBuf};

const CANNOT_APPLY: &str = "If a property cannot be applied, the runtime MUST generate an error. (runtime.md: a new container MUST NOT be created.)";

pub const CASES: &[Case] = &[
    Case {
        name: "resources.memory",
        clause: "config-linux.md#configLinuxMemory",
        quote: "limit (int64, OPTIONAL) - sets limit of memory usage; reservation (int64, OPTIONAL) - sets soft limit of memory usage",
        run: memory,
    },
    Case {
        name: "resources.cpu",
        clause: "config-linux.md#configLinuxCPU",
        quote: "shares (uint64, OPTIONAL) - specifies a relative share of CPU time ...; quota (int64, OPTIONAL) ...; period (uint64, OPTIONAL) ...; cpus (string, OPTIONAL) - list of CPUs the container will run on.",
        run: cpu,
    },
    Case {
        name: "resources.pids_limit",
        clause: "config-linux.md#configLinuxPIDS",
        quote: "limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup",
        run: pids_limit,
    },
    Case {
        name: "resources.pids_enforced",
        clause: "config-linux.md#configLinuxPIDS",
        quote: "limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup",
        run: pids_enforced,
    },
    Case {
        name: "resources.hugepage_limits",
        clause: "config-linux.md#configLinuxHugePageLimits",
        quote: "hugepageLimits (array of objects, OPTIONAL) represents the hugetlb controller which allows to limit the HugeTLB reservations (if supported) or usage (page fault).",
        run: hugepage_limits,
    },
    Case {
        name: "resources.block_io_throttle",
        clause: "config-linux.md#configLinuxBlockIO",
        quote: "throttleReadBpsDevice, throttleWriteBpsDevice (array of objects, OPTIONAL) - specify the list of devices which will be IO rate limited.",
        run: block_io_throttle,
    },
    Case {
        name: "resources.unified",
        clause: "config-linux.md#configLinuxUnified",
        quote: "The runtime MUST apply the configuration as specified... If a controller is not enabled or it is not possible to enable it, the runtime MUST generate an error.",
        run: unified,
    },
    Case {
        name: "resources.refused_value",
        clause: "config-linux.md#configLinuxControlGroups",
        quote: CANNOT_APPLY,
        run: refused_value,
    },
    Case {
        name: "resources.missing_controller",
        clause: "config-linux.md#configLinuxControlGroups",
        quote: CANNOT_APPLY,
        run: missing_controller,
    },
];

/// The file of the container's cgroup: in the v1 hierarchy `v1` when it is
/// mounted, else `v2_file` in the unified hierarchy (or the v2 root).
fn cg_file(ctx: &Ctx, v1: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    let root = Path::new(host::CGROUP_ROOT);
    let rel = ctx.cgroup.trim_start_matches('/');
    if root.join(v1).join("cgroup.procs").exists() {
        return root.join(v1).join(rel).join(v1_file);
    }
    let unified = root.join("unified");
    let base = if unified.join("cgroup.controllers").exists() {
        unified
    } else {
        root.to_path_buf()
    };
    base.join(rel).join(v2_file)
}

fn read(path: &Path) -> R<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .or_fail(&format!("read {}", path.display()))
}

fn memory(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["memory"] =
        json!({"limit": 64 << 20, "reservation": 32 << 20});
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let limit = cg_file(ctx, "memory", "memory.limit_in_bytes", "memory.max");
    ensure_eq!(
        read(&limit)?,
        (64u64 << 20).to_string(),
        "{}",
        limit.display()
    );
    let soft = cg_file(ctx, "memory", "memory.soft_limit_in_bytes", "memory.low");
    ensure_eq!(
        read(&soft)?,
        (32u64 << 20).to_string(),
        "{}",
        soft.display()
    );
    Ok(())
}

fn cpu(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 20000, "period": 100000, "cpus": "0"});
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let v1 = Path::new(host::CGROUP_ROOT)
        .join("cpu/cgroup.procs")
        .exists();
    if v1 {
        let f = |file: &str| cg_file(ctx, "cpu", file, file);
        ensure_eq!(read(&f("cpu.shares"))?, "512", "cpu.shares");
        ensure_eq!(read(&f("cpu.cfs_quota_us"))?, "20000", "cpu.cfs_quota_us");
        ensure_eq!(
            read(&f("cpu.cfs_period_us"))?,
            "100000",
            "cpu.cfs_period_us"
        );
    } else {
        let f = |file: &str| cg_file(ctx, "cpu", file, file);
        // 1 + ((512 - 2) * 9999) / 262142, the conversion the spec's
        // cgroup v2 documentation and runc use.
        ensure_eq!(read(&f("cpu.weight"))?, "20", "cpu.weight");
        ensure_eq!(read(&f("cpu.max"))?, "20000 100000", "cpu.max");
    }
    let cpus = cg_file(ctx, "cpuset", "cpuset.cpus", "cpuset.cpus");
    ensure_eq!(read(&cpus)?, "0", "{}", cpus.display());
    Ok(())
}

fn pids_limit(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["pids"] = json!({"limit": 42});
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let max = cg_file(ctx, "pids", "pids.max", "pids.max");
    ensure_eq!(read(&max)?, "42", "{}", max.display());
    Ok(())
}

/// With a limit of 3, the shell and two sleeps are the tasks: a third fork fails.
fn pids_enforced(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["pids"] = json!({"limit": 3});
    let script =
        r#"echo '{"action":"started"}'; sleep 5 & sleep 5 & /bin/true; echo '{"action":"forked"}'"#;
    ctx.config["process"]["args"] = json!(["/bin/sh", "-c", script]);
    let id = ctx.id.clone();
    ctx.create_ok(&id)?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.output(&id);
    let printed = |what: &str| out.lines.iter().any(|l| l["action"] == what);
    ensure!(printed("started"), "the container's shell did not run");
    ensure!(
        !printed("forked"),
        "a fourth task started under pids.limit 3"
    );
    Ok(())
}

/// A runtime can set hugetlb limits here without changing the host's root
/// cgroup: v1 mounts the controller, or the v2 root (of a hybrid or a v2
/// host) already delegates it.
fn hugetlb_usable() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/hugetlb").exists();
    let delegated = |root: &str| {
        std::fs::read_to_string(format!("{root}/cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
    };
    v1 || delegated("/sys/fs/cgroup/unified") || delegated("/sys/fs/cgroup")
}

fn hugepage_limits(ctx: &mut Ctx) -> R {
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        skip!("no 2 MB huge pages on this host");
    }
    ctx.config["linux"]["resources"]["hugepageLimits"] =
        json!([{"pageSize": "2MB", "limit": 4 << 20}]);
    let id = ctx.id.clone();
    if !hugetlb_usable() {
        // Neither a v1 hugetlb hierarchy nor a v2 root that delegates it:
        // the limit cannot be applied, which MUST be an error.
        let out = ctx.create(&id)?;
        return ctx.ensure_never_created(&id, &out);
    }
    ctx.launch(&id, &["sleep:60"])?;
    let f = cg_file(
        ctx,
        "hugetlb",
        "hugetlb.2MB.limit_in_bytes",
        "hugetlb.2MB.max",
    );
    ensure_eq!(read(&f)?, (4u64 << 20).to_string(), "{}", f.display());
    Ok(())
}

/// The kernel refuses a CFS period below 1 ms.
fn refused_value(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["cpu"] = json!({"period": 100, "quota": 50});
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)?;
    ctx.reset_config();
    ctx.create_ok(&id)?;
    Ok(())
}

/// net_cls is not mounted here (and cgroup v2 has none): network.classID
/// cannot be applied.
fn missing_controller(ctx: &mut Ctx) -> R {
    if Path::new(host::CGROUP_ROOT)
        .join("net_cls/cgroup.procs")
        .exists()
    {
        skip!("net_cls is mounted on this host");
    }
    ctx.config["linux"]["resources"]["network"] = json!({"classID": 1048577});
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)?;
    ctx.reset_config();
    ctx.create_ok(&id)?;
    Ok(())
}

/// The first block device of the host (major, minor), e.g. 8:0 or 254:0.
fn block_device() -> Option<(u64, u64)> {
    let mut devs: Vec<(u64, u64)> = std::fs::read_dir("/sys/dev/block")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (a, b) = name.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        // Loop devices (7) may come and go; partitions cannot be throttled.
        .filter(|(major, minor)| *major != 7 && *minor == 0)
        .collect();
    devs.sort();
    devs.first().copied()
}

fn block_io_throttle(ctx: &mut Ctx) -> R {
    let Some((major, minor)) = block_device() else {
        skip!("no block device on this host");
    };
    ctx.config["linux"]["resources"]["blockIO"] = json!({
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
    });
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let dev = format!("{major}:{minor}");
    let v1 = Path::new(host::CGROUP_ROOT)
        .join("blkio/cgroup.procs")
        .exists();
    if v1 {
        let f = |file: &str| cg_file(ctx, "blkio", file, file);
        let read_bps = read(&f("blkio.throttle.read_bps_device"))?;
        ensure_eq!(read_bps, format!("{dev} 1048576"), "read_bps_device");
        let write_iops = read(&f("blkio.throttle.write_iops_device"))?;
        ensure_eq!(write_iops, format!("{dev} 100"), "write_iops_device");
    } else {
        let max = read(&cg_file(ctx, "blkio", "io.max", "io.max"))?;
        ensure_eq!(
            max,
            format!("{dev} rbps=1048576 wbps=max riops=max wiops=100"),
            "io.max"
        );
    }
    Ok(())
}

/// `unified` keys are cgroup v2 files: set where the controller is on
/// cgroup v2, an error where it is not (pids is a v1 controller on a hybrid
/// host).
fn unified(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["resources"]["unified"] = json!({"pids.max": "7"});
    let id = ctx.id.clone();
    let v2_root = Path::new(host::CGROUP_ROOT).join("cgroup.controllers");
    let v2_pids =
        std::fs::read_to_string(&v2_root).is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"));
    if !v2_pids {
        let out = ctx.create(&id)?;
        ctx.ensure_never_created(&id, &out)?;
        ctx.reset_config();
        ctx.create_ok(&id)?;
        return Ok(());
    }
    ctx.launch(&id, &["sleep:60"])?;
    let max = cg_file(ctx, "pids", "pids.max", "pids.max");
    ensure_eq!(read(&max)?, "7", "{}", max.display());
    Ok(())
}
