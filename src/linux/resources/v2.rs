//! cgroup v2 files, with the conversions from the spec's (v1-shaped) values
//! that runc uses; a value cgroup v2 has no file for is an error.

use super::{R, ResourceError, check_usage, invalid, max_or, write};
use crate::linux::cgroups::CgroupDir;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory};
use std::path::Path;

/// Enables `controller` for the container's cgroup: in the subtree_control
/// of every ancestor below the hierarchy's root. The root's own is the
/// host's to set (every cgroup on the machine would get the controller):
/// when it lacks the controller, that is an error. Returns false when the
/// hierarchy does not have the controller at all.
pub fn enable(field: &str, dir: &CgroupDir, controller: &str) -> Result<bool, ResourceError> {
    let has = |path: &Path, file: &str| {
        std::fs::read_to_string(path.join(file))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == controller)
    };
    if !has(&dir.mountpoint, "cgroup.controllers") {
        return Ok(false);
    }
    if has(&dir.path, "cgroup.controllers") {
        return Ok(true);
    }
    let Ok(below) = dir.path.strip_prefix(&dir.mountpoint) else {
        return Ok(false);
    };
    let mut ancestor = dir.mountpoint.clone();
    let parents: Vec<_> = below.components().collect();
    if !has(&ancestor, "cgroup.subtree_control") {
        return Err(invalid(
            field,
            format!(
                "the {controller} controller is not enabled in {}/cgroup.subtree_control, and rt does not change the host's root cgroup",
                ancestor.display()
            ),
        ));
    }
    for (i, part) in parents.iter().enumerate() {
        if !has(&ancestor, "cgroup.subtree_control") {
            write(
                field,
                &ancestor,
                "cgroup.subtree_control",
                &format!("+{controller}"),
            )?;
        }
        if i + 1 < parents.len() {
            ancestor.push(part);
        }
    }
    Ok(true)
}

/// The spec's swap is memory+swap; cgroup v2's memory.swap.max is swap alone.
fn swap_v2(swap: i64, limit: i64) -> Result<i64, ResourceError> {
    let field = "linux.resources.memory.swap";
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit <= 0 {
        return Err(invalid(field, "a swap limit needs a memory limit"));
    }
    if swap < limit {
        return Err(invalid(
            field,
            "memory+swap must not be below the memory limit",
        ));
    }
    Ok(swap - limit)
}

pub fn memory(dir: &Path, m: &LinuxMemory) -> R {
    let f = |n: &str| format!("linux.resources.memory.{n}");
    let limit = m.limit().unwrap_or(0);
    let swap = swap_v2(m.swap().unwrap_or(0), limit)?;
    if m.check_before_update() == Some(true) && limit > 0 {
        check_usage(dir, "memory.current", limit)?;
    }
    if swap != 0 {
        if !dir.join("memory.swap.max").exists() {
            return Err(invalid(
                f("swap"),
                "memory.swap.max does not exist (the kernel does not account swap)",
            ));
        }
        write(&f("swap"), dir, "memory.swap.max", &max_or(swap))?;
    } else if m.swap().is_some_and(|s| s > 0) && dir.join("memory.swap.max").exists() {
        // memory+swap equal to memory: no swap at all (as runc writes it).
        write(&f("swap"), dir, "memory.swap.max", "0")?;
    }
    if limit != 0 {
        write(&f("limit"), dir, "memory.max", &max_or(limit))?;
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        write(&f("reservation"), dir, "memory.low", &max_or(v))?;
    }
    #[allow(deprecated)]
    if m.kernel().is_some() {
        crate::logging::warn(
            "linux.resources.memory.kernel is ignored, as runc 1.1 does (cgroup v2 has no kernel memory limit)",
        );
    }
    let no_v2 = |name: &str, what: &str| Err(invalid(f(name), format!("cgroup v2 has no {what}")));
    if m.kernel_tcp().is_some_and(|v| v != 0) {
        return no_v2("kernelTCP", "kernel TCP memory limit");
    }
    if m.swappiness().is_some() {
        return no_v2("swappiness", "per-cgroup swappiness");
    }
    if m.disable_oom_killer() == Some(true) {
        return no_v2("disableOOMKiller", "way to disable the OOM killer");
    }
    if m.use_hierarchy() == Some(false) {
        return no_v2("useHierarchy", "non-hierarchical accounting");
    }
    Ok(())
}

/// runc's conversion of cpu shares (2..262144) to cpu.weight (1..10000).
pub fn weight_of_shares(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

pub fn cpu(dir: &Path, c: &LinuxCpu) -> R {
    let f = |n: &str| format!("linux.resources.cpu.{n}");
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(invalid(
            f("realtimeRuntime"),
            "cgroup v2 has no realtime CPU budget",
        ));
    }
    if let Some(i) = c.idle() {
        write(&f("idle"), dir, "cpu.idle", &i.to_string())?;
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        let weight = weight_of_shares(shares);
        write(&f("shares"), dir, "cpu.weight", &weight.to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut value = if quota > 0 {
            quota.to_string()
        } else {
            "max".into()
        };
        if period != 0 {
            value.push_str(&format!(" {period}"));
        }
        write(&f("quota"), dir, "cpu.max", &value)?;
    }
    if let Some(b) = c.burst() {
        write(&f("burst"), dir, "cpu.max.burst", &b.to_string())?;
    }
    Ok(())
}

/// runc's conversion of blkio weights (10..1000) to io.weight (1..10000).
fn io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

pub fn io(dir: &Path, b: &LinuxBlockIo) -> R {
    let f = |n: &str| format!("linux.resources.blockIO.{n}");
    let bfq = dir.join("io.bfq.weight").exists();
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        return Err(invalid(f("leafWeight"), "cgroup v2 has no leaf weights"));
    }
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            write(&f("weight"), dir, "io.bfq.weight", &w.to_string())?;
        } else {
            write(
                &f("weight"),
                dir,
                "io.weight",
                &format!("default {}", io_weight(w)),
            )?;
        }
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let Some(w) = d.weight() else { continue };
        let field = f(&format!("weightDevice[{i}]"));
        let node = format!("{}:{}", d.major(), d.minor());
        if bfq {
            write(&field, dir, "io.bfq.weight", &format!("{node} {w}"))?;
        } else {
            write(
                &field,
                dir,
                "io.weight",
                &format!("{node} {}", io_weight(w)),
            )?;
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "wiops",
        ),
    ];
    for (name, list, key) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            // A rate of 0 removes the v1 rule: v2's "max".
            let rate = match d.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            let value = format!("{}:{} {key}={rate}", d.major(), d.minor());
            write(&f(&format!("{name}[{i}]")), dir, "io.max", &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_as_runc() {
        assert_eq!(weight_of_shares(2), 1);
        assert_eq!(weight_of_shares(1024), 39);
        assert_eq!(weight_of_shares(262144), 10000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10000);
        assert_eq!(swap_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_v2(300, 100).unwrap(), 200);
        assert!(swap_v2(100, 300).is_err());
        assert!(swap_v2(100, 0).is_err());
    }
}
