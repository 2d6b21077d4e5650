//! cgroup v1 files, written as runc 1.1 writes them (the same order, and
//! 0 meaning "not set" for the memory and cpu numbers).

use super::{R, check_usage, invalid, read_u64, write};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory};
use std::path::Path;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub fn memory(dir: &Path, m: &LinuxMemory) -> R {
    let f = |n: &str| format!("linux.resources.memory.{n}");
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // runc: unlimited memory without a swap setting is unlimited swap too.
    if limit == -1 && swap == 0 && dir.join(MEMSW).exists() {
        swap = -1;
    }
    if swap != 0 && !dir.join(MEMSW).exists() {
        return Err(invalid(
            f("swap"),
            format!("{MEMSW} does not exist (the kernel does not account swap)"),
        ));
    }
    if m.check_before_update() == Some(true) && limit > 0 {
        check_usage(dir, "memory.usage_in_bytes", limit)?;
    }
    let set_limit = || match limit {
        0 => Ok(()),
        v => write(&f("limit"), dir, LIMIT, &v.to_string()),
    };
    let set_swap = || match swap {
        0 => Ok(()),
        v => write(&f("swap"), dir, MEMSW, &v.to_string()),
    };
    // The kernel keeps memory+swap >= memory at every step: raise swap
    // first when the new swap is above the current memory limit.
    let swap_first =
        limit != 0 && swap != 0 && (swap == -1 || read_u64(&f("limit"), dir, LIMIT)? < swap as u64);
    if swap_first {
        set_swap()?;
        set_limit()?;
    } else {
        set_limit()?;
        set_swap()?;
    }
    #[allow(deprecated)]
    if m.kernel().is_some() {
        crate::logging::warn(
            "linux.resources.memory.kernel is ignored, as runc 1.1 does (the kernel deprecated kernel memory limits)",
        );
    }
    if let Some(v) = m.kernel_tcp().filter(|v| *v != 0) {
        write(
            &f("kernelTCP"),
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &v.to_string(),
        )?;
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        write(
            &f("reservation"),
            dir,
            "memory.soft_limit_in_bytes",
            &v.to_string(),
        )?;
    }
    if let Some(off) = m.disable_oom_killer() {
        write(&f("disableOOMKiller"), dir, "memory.oom_control", bit(off))?;
    }
    if let Some(v) = m.swappiness() {
        write(&f("swappiness"), dir, "memory.swappiness", &v.to_string())?;
    }
    if let Some(on) = m.use_hierarchy() {
        write(&f("useHierarchy"), dir, "memory.use_hierarchy", bit(on))?;
    }
    Ok(())
}

fn bit(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

pub fn cpu(dir: &Path, c: &LinuxCpu) -> R {
    let f = |n: &str| format!("linux.resources.cpu.{n}");
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        write(&f("shares"), dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps out-of-range shares silently.
        let got = read_u64(&f("shares"), dir, "cpu.shares")?;
        if got != shares {
            return Err(invalid(
                f("shares"),
                format!("{shares} is out of the kernel's range (it would set {got})"),
            ));
        }
    }
    // A shorter period can fail against the current quota; then it is
    // written again once the quota is set (as runc does).
    let period = c.period().filter(|p| *p != 0).map(|p| p.to_string());
    let mut period_failed = None;
    if let Some(p) = &period {
        match write(&f("period"), dir, "cpu.cfs_period_us", p) {
            Err(e) if c.quota().is_some_and(|q| q != 0) => period_failed = Some(e),
            other => other?,
        }
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        write(&f("quota"), dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let (Some(p), Some(_)) = (&period, period_failed) {
            write(&f("period"), dir, "cpu.cfs_period_us", p)?;
        }
    }
    if let Some(b) = c.burst() {
        write(&f("burst"), dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        write(
            &f("realtimePeriod"),
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        write(
            &f("realtimeRuntime"),
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
        )?;
    }
    if let Some(i) = c.idle() {
        write(&f("idle"), dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

pub fn blkio(dir: &Path, b: &LinuxBlockIo) -> R {
    let f = |n: &str| format!("linux.resources.blockIO.{n}");
    // Without CFQ the weights are BFQ's, under other names (as runc does).
    let (weight, weight_device) = if dir.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(&f("weight"), dir, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(&f("leafWeight"), dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = f(&format!("weightDevice[{i}]"));
        let node = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            write(&field, dir, weight_device, &format!("{node} {w}"))?;
        }
        if let Some(w) = d.leaf_weight() {
            write(
                &field,
                dir,
                "blkio.leaf_weight_device",
                &format!("{node} {w}"),
            )?;
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "read_bps_device",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "write_bps_device",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "read_iops_device",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "write_iops_device",
        ),
    ];
    for (name, list, file) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let value = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            write(
                &f(&format!("{name}[{i}]")),
                dir,
                &format!("blkio.throttle.{file}"),
                &value,
            )?;
        }
    }
    Ok(())
}
