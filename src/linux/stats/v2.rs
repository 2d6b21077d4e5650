//! cgroup v2 usage files, converted to runc's (v1-shaped) stats as runc does.

use super::types::{Blkio, BlkioEntry, Cpu, CpuSet, Hugetlb, Memory};
use super::{Result, cpu_list, number, read_keyed, read_opt, read_u64};
use std::path::Path;

pub fn cpu(dir: &Path, c: &mut Cpu) -> Result<()> {
    let stat = read_keyed(dir, "cpu.stat")?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    c.usage.total = get("usage_usec") * 1000;
    c.usage.user = get("user_usec") * 1000;
    c.usage.kernel = get("system_usec") * 1000;
    c.throttling.periods = get("nr_periods");
    c.throttling.throttled_periods = get("nr_throttled");
    c.throttling.throttled_time = get("throttled_usec") * 1000;
    Ok(())
}

pub fn cpuset(dir: &Path, c: &mut CpuSet) -> Result<()> {
    c.cpus = cpu_list(&read_opt(&dir.join("cpuset.cpus.effective"))?.unwrap_or_default());
    c.mems = cpu_list(&read_opt(&dir.join("cpuset.mems.effective"))?.unwrap_or_default());
    Ok(())
}

pub fn memory(dir: &Path, m: &mut Memory) -> Result<()> {
    m.raw = read_keyed(dir, "memory.stat")?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = read_keyed(dir, "memory.events")?;
    m.usage.usage = read_u64(dir, "memory.current")?;
    m.usage.limit = read_u64(dir, "memory.max")?;
    m.usage.max = read_u64(dir, "memory.peak")?;
    m.usage.failcnt = events.get("max").copied().unwrap_or(0);
    // runc reports v2 swap as v1's memsw: memory and swap together.
    if dir.join("memory.swap.current").exists() {
        m.swap.usage = read_u64(dir, "memory.swap.current")?.saturating_add(m.usage.usage);
        m.swap.limit = read_u64(dir, "memory.swap.max")?.saturating_add(m.usage.limit);
        m.swap.failcnt = read_keyed(dir, "memory.swap.events")?
            .get("max")
            .copied()
            .unwrap_or(0);
    }
    Ok(())
}

/// io.stat lines `MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...`, as runc's
/// service bytes and serviced entries.
pub fn io(dir: &Path, b: &mut Blkio) -> Result<()> {
    let path = dir.join("io.stat");
    for line in read_opt(&path)?.unwrap_or_default().lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (major, minor) = (number(&path, major)?, number(&path, minor)?);
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: number(&path, v)?,
            });
        }
    }
    Ok(())
}

pub fn hugetlb(dir: &Path, size: &str) -> Result<Option<Hugetlb>> {
    let current = format!("hugetlb.{size}.current");
    if !dir.join(&current).exists() {
        return Ok(None);
    }
    let events = read_keyed(dir, &format!("hugetlb.{size}.events"))?;
    Ok(Some(Hugetlb {
        usage: read_u64(dir, &current)?,
        max: 0,
        failcnt: events.get("max").copied().unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat_becomes_runc_entries() {
        let dir = std::env::temp_dir().join(format!("rt-stats-v2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("io.stat"),
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        let mut b = Blkio::default();
        io(&dir, &mut b).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let e = |op: &str, value| BlkioEntry {
            major: 8,
            minor: 0,
            op: op.into(),
            value,
        };
        assert_eq!(
            b.io_service_bytes_recursive,
            vec![e("Read", 10), e("Write", 20)]
        );
        assert_eq!(b.io_serviced_recursive, vec![e("Read", 1), e("Write", 2)]);
    }
}
