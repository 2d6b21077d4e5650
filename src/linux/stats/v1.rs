//! cgroup v1 usage files, read as runc 1.1 reads them.

use super::types::{Blkio, BlkioEntry, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Throttling};
use super::{Result, cpu_list, number, read_keyed, read_list, read_opt, read_u64};
use std::path::Path;

pub fn cpuacct(dir: &Path, u: &mut CpuUsage) -> Result<()> {
    u.total = read_u64(dir, "cpuacct.usage")?;
    u.percpu = read_list(dir, "cpuacct.usage_percpu")?;
    u.percpu_kernel = read_list(dir, "cpuacct.usage_percpu_sys")?;
    u.percpu_user = read_list(dir, "cpuacct.usage_percpu_user")?;
    // cpuacct.stat counts clock ticks.
    // SAFETY: sysconf takes no pointers.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    };
    let stat = read_keyed(dir, "cpuacct.stat")?;
    let ns = |k: &str| {
        stat.get(k)
            .copied()
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            / hz
    };
    u.user = ns("user");
    u.kernel = ns("system");
    Ok(())
}

pub fn throttling(dir: &Path, t: &mut Throttling) -> Result<()> {
    let stat = read_keyed(dir, "cpu.stat")?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    t.periods = get("nr_periods");
    t.throttled_periods = get("nr_throttled");
    t.throttled_time = get("throttled_time");
    Ok(())
}

pub fn cpuset(dir: &Path, c: &mut CpuSet) -> Result<()> {
    c.cpus = cpu_list(&read_opt(&dir.join("cpuset.cpus"))?.unwrap_or_default());
    c.mems = cpu_list(&read_opt(&dir.join("cpuset.mems"))?.unwrap_or_default());
    c.cpu_exclusive = read_u64(dir, "cpuset.cpu_exclusive")?;
    c.mem_hardwall = read_u64(dir, "cpuset.mem_hardwall")?;
    c.mem_exclusive = read_u64(dir, "cpuset.mem_exclusive")?;
    c.memory_migrate = read_u64(dir, "cpuset.memory_migrate")?;
    c.memory_spread_page = read_u64(dir, "cpuset.memory_spread_page")?;
    c.memory_spread_slab = read_u64(dir, "cpuset.memory_spread_slab")?;
    c.memory_pressure = read_u64(dir, "cpuset.memory_pressure")?;
    c.sched_load_balance = read_u64(dir, "cpuset.sched_load_balance")?;
    let level = dir.join("cpuset.sched_relax_domain_level");
    if let Some(text) = read_opt(&level)? {
        let text = text.trim();
        c.sched_relax_domain_level = text.parse().map_err(|_| super::StatsError::Parse {
            path: level.clone(),
            what: text.to_string(),
        })?;
    }
    Ok(())
}

/// memory.* (usage), memory.memsw.* (swap), memory.kmem.* and
/// memory.kmem.tcp.*: each an entry of usage, max usage, failcnt, limit.
fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    Ok(MemoryEntry {
        limit: read_u64(dir, &format!("{prefix}limit_in_bytes"))?,
        usage: read_u64(dir, &format!("{prefix}usage_in_bytes"))?,
        max: read_u64(dir, &format!("{prefix}max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &format!("{prefix}failcnt"))?,
    })
}

pub fn memory(dir: &Path, m: &mut Memory) -> Result<()> {
    m.raw = read_keyed(dir, "memory.stat")?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = entry(dir, "memory.")?;
    m.swap = entry(dir, "memory.memsw.")?;
    m.kernel = entry(dir, "memory.kmem.")?;
    m.kernel_tcp = entry(dir, "memory.kmem.tcp.")?;
    Ok(())
}

/// Lines `MAJ:MIN Op value` (and a last `Total value`, skipped).
fn blkio_entries(dir: &Path, file: &str) -> Result<Vec<BlkioEntry>> {
    let path = dir.join(file);
    let mut out = Vec::new();
    for line in read_opt(&path)?.unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dev, op, value] = f[..] else { continue };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        out.push(BlkioEntry {
            major: number(&path, major)?,
            minor: number(&path, minor)?,
            op: op.to_string(),
            value: number(&path, value)?,
        });
    }
    Ok(out)
}

pub fn blkio(dir: &Path, b: &mut Blkio) -> Result<()> {
    // Without CFQ only the throttle files count I/O (as runc falls back).
    let cfq = dir.join("blkio.io_service_bytes_recursive").exists();
    let f = |name: &str| match cfq {
        true => format!("blkio.{name}"),
        false => format!("blkio.throttle.{name}"),
    };
    b.io_service_bytes_recursive = blkio_entries(dir, &f("io_service_bytes_recursive"))?;
    b.io_serviced_recursive = blkio_entries(dir, &f("io_serviced_recursive"))?;
    if cfq {
        b.io_queued_recursive = blkio_entries(dir, "blkio.io_queued_recursive")?;
        b.io_service_time_recursive = blkio_entries(dir, "blkio.io_service_time_recursive")?;
        b.io_wait_time_recursive = blkio_entries(dir, "blkio.io_wait_time_recursive")?;
        b.io_merged_recursive = blkio_entries(dir, "blkio.io_merged_recursive")?;
        b.io_time_recursive = blkio_entries(dir, "blkio.time_recursive")?;
        b.sectors_recursive = blkio_entries(dir, "blkio.sectors_recursive")?;
    }
    Ok(())
}

pub fn hugetlb(dir: &Path, size: &str) -> Result<Option<Hugetlb>> {
    let usage = format!("hugetlb.{size}.usage_in_bytes");
    if !dir.join(&usage).exists() {
        return Ok(None);
    }
    Ok(Some(Hugetlb {
        usage: read_u64(dir, &usage)?,
        max: read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
    }))
}
