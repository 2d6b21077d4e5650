//! What `rt events` reports: the container's usage read from its cgroup
//! files (runc's stats JSON, see `types`), and its OOM events.
//!
//! Each controller is read where `resources` writes it: the v1 hierarchy
//! that holds it, otherwise the unified (v2) one, so a hybrid host reports
//! hugetlb from cgroup2 and the rest from v1. A file the kernel does not
//! provide (a controller not enabled, an older kernel) reads as zero, as
//! runc reports it.

mod oom;
pub mod types;
mod v1;
mod v2;

pub use oom::OomWatch;

use crate::linux::cgroups::CgroupDir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use types::{NetworkInterface, Stats};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what:?} is not a number")]
    Parse { path: PathBuf, what: String },
}

type Result<T> = std::result::Result<T, StatsError>;

/// A cgroup file's text, or None when the kernel does not provide it.
fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StatsError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn number(path: &Path, what: &str) -> Result<u64> {
    what.parse().map_err(|_| StatsError::Parse {
        path: path.to_path_buf(),
        what: what.to_string(),
    })
}

/// A file of one number; `max` (v2's unlimited) is `u64::MAX`; 0 when absent.
fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let path = dir.join(file);
    match read_opt(&path)? {
        None => Ok(0),
        Some(s) if s.trim() == "max" => Ok(u64::MAX),
        Some(s) => number(&path, s.trim()),
    }
}

/// A flat-keyed file (`key value` per line: cpu.stat, memory.stat, ...).
fn read_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    let path = dir.join(file);
    let mut map = BTreeMap::new();
    for line in read_opt(&path)?.unwrap_or_default().lines() {
        if let Some((k, v)) = line.split_once(' ') {
            map.insert(k.to_string(), number(&path, v.trim())?);
        }
    }
    Ok(map)
}

/// A file of numbers separated by whitespace (cpuacct.usage_percpu).
fn read_list(dir: &Path, file: &str) -> Result<Vec<u64>> {
    let path = dir.join(file);
    read_opt(&path)?
        .unwrap_or_default()
        .split_whitespace()
        .map(|n| number(&path, n))
        .collect()
}

/// A cpuset list (`0-3,7`) expanded.
fn cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// The hugepage sizes of this kernel, named as hugetlb files name them
/// (`hugepages-2048kB` is `2MB`).
fn hugepage_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect();
    sizes.sort();
    sizes
}

/// Where a controller's files are for this container.
enum Source<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn source<'a>(dirs: &'a [CgroupDir], v1_name: &str) -> Option<Source<'a>> {
    if let Some(d) = dirs
        .iter()
        .find(|d| d.controllers.iter().any(|c| c == v1_name))
    {
        return Some(Source::V1(&d.path));
    }
    dirs.iter()
        .find(|d| d.controllers.is_empty())
        .map(|d| Source::V2(&d.path))
}

/// Reads every controller's usage; `pid` (the container's init) names the
/// network namespace whose interfaces are reported.
pub fn collect(dirs: &[CgroupDir], pid: i32) -> Result<Stats> {
    let mut s = Stats::default();
    match source(dirs, "cpuacct") {
        Some(Source::V1(d)) => v1::cpuacct(d, &mut s.cpu.usage)?,
        Some(Source::V2(d)) => v2::cpu(d, &mut s.cpu)?,
        None => {}
    }
    if let Some(Source::V1(d)) = source(dirs, "cpu") {
        v1::throttling(d, &mut s.cpu.throttling)?;
    }
    match source(dirs, "cpuset") {
        Some(Source::V1(d)) => v1::cpuset(d, &mut s.cpuset)?,
        Some(Source::V2(d)) => v2::cpuset(d, &mut s.cpuset)?,
        None => {}
    }
    match source(dirs, "memory") {
        Some(Source::V1(d)) => v1::memory(d, &mut s.memory)?,
        Some(Source::V2(d)) => v2::memory(d, &mut s.memory)?,
        None => {}
    }
    if let Some(Source::V1(d) | Source::V2(d)) = source(dirs, "pids") {
        s.pids.current = read_u64(d, "pids.current")?;
        s.pids.limit = match read_u64(d, "pids.max")? {
            u64::MAX => 0,
            n => n,
        };
    }
    match source(dirs, "blkio") {
        Some(Source::V1(d)) => v1::blkio(d, &mut s.blkio)?,
        Some(Source::V2(d)) => v2::io(d, &mut s.blkio)?,
        None => {}
    }
    for size in hugepage_sizes() {
        let entry = match source(dirs, "hugetlb") {
            Some(Source::V1(d)) => v1::hugetlb(d, &size)?,
            Some(Source::V2(d)) => v2::hugetlb(d, &size)?,
            None => None,
        };
        if let Some(e) = entry {
            s.hugetlb.insert(size, e);
        }
    }
    s.network_interfaces = network_interfaces(pid);
    Ok(s)
}

/// The interfaces of the container's network namespace but `lo`, from
/// /proc/PID/net/dev; None when there are none (runc's null).
fn network_interfaces(pid: i32) -> Option<Vec<NetworkInterface>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let list: Vec<NetworkInterface> = text.lines().skip(2).filter_map(parse_net_dev).collect();
    (!list.is_empty()).then_some(list)
}

fn parse_net_dev(line: &str) -> Option<NetworkInterface> {
    let (name, rest) = line.split_once(':')?;
    let name = name.trim();
    if name == "lo" {
        return None;
    }
    let n: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    if n.len() < 12 {
        return None;
    }
    Some(NetworkInterface {
        name: name.to_string(),
        rx_bytes: n[0],
        rx_packets: n[1],
        rx_errors: n[2],
        rx_dropped: n[3],
        tx_bytes: n[8],
        tx_packets: n[9],
        tx_errors: n[10],
        tx_dropped: n[11],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_net_dev() {
        assert_eq!(cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        let l = "  eth0: 100 2 0 0 0 0 0 0 200 3 1 0 0 0 0 0";
        let i = parse_net_dev(l).unwrap();
        assert_eq!(
            (i.name.as_str(), i.rx_bytes, i.tx_bytes, i.tx_errors),
            ("eth0", 100, 200, 1)
        );
        assert!(parse_net_dev("    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0").is_none());
    }
}
