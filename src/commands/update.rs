//! `rt update`: new resource limits for a live container, from the spec's
//! linux.resources JSON (`--resources FILE` or `-`) or runc's flags,
//! written with the same code `create` uses. The container's saved config
//! keeps the result, so a later update builds on it: each section the update
//! touches (memory, cpu, ...) is applied whole, merged with what was set
//! before (an update of memory+swap alone still knows the memory limit).

use super::{Error, Result};
use crate::cli::UpdateArgs;
use crate::linux::{cgroups, resources};
use crate::state::{StateDir, Status};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::io::Read;
use std::path::Path;

pub fn run(root: &Path, args: &UpdateArgs) -> Result<i32> {
    let mut res = match &args.resources {
        Some(path) => read_resources(path)?,
        None => from_flags(args)?,
    };
    if res.devices().is_some() {
        return Err(Error::Usage(
            "update: devices cannot be changed on a live container".into(),
        ));
    }
    resources::validate(&res)?;
    let dir = StateDir::open(root, &args.id)?;
    let record = dir.load()?;
    if !matches!(
        record.live_status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        return Err(Error::Refused(format!(
            "cannot update container {}: it is not running",
            args.id
        )));
    }
    unlimited_swap_too(&mut res, &record.cgroup_dirs);
    let mut spec = dir.load_config()?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let (merged, touched) = merge(linux.resources().as_ref(), &res)?;
    resources::apply(&cgroups::dirs_of(&record.cgroup_dirs)?, &touched)?;
    linux.set_resources(Some(merged));
    spec.set_linux(Some(linux));
    dir.save_config(&spec)?;
    Ok(0)
}

/// As runc: a memory limit of -1 (unlimited) without a swap setting makes
/// memory+swap unlimited too where the kernel accounts swap; the old
/// memory+swap limit would otherwise stay below the memory limit.
fn unlimited_swap_too(res: &mut LinuxResources, dirs: &[std::path::PathBuf]) {
    let Some(mut m) = *res.memory() else {
        return;
    };
    let memsw = |d: &std::path::PathBuf| d.join("memory.memsw.limit_in_bytes").exists();
    if m.limit() == Some(-1) && m.swap().is_none() && dirs.iter().any(memsw) {
        m.set_swap(Some(-1));
        res.set_memory(Some(m));
    }
}

/// The saved resources with the update's values on top (field by field),
/// and the same restricted to the sections the update names.
fn merge(
    saved: Option<&LinuxResources>,
    update: &LinuxResources,
) -> Result<(LinuxResources, LinuxResources)> {
    let to_value = |r: &LinuxResources| serde_json::to_value(r).expect("resources serialize");
    let mut merged = saved.map_or_else(|| serde_json::json!({}), to_value);
    let update = to_value(update);
    deep_merge(&mut merged, &update);
    let mut touched = serde_json::Map::new();
    for key in update.as_object().into_iter().flat_map(|o| o.keys()) {
        touched.insert(key.clone(), merged[key].clone());
    }
    let back = |v: serde_json::Value| {
        serde_json::from_value(v)
            .map_err(|e| Error::Usage(format!("update: merged resources are invalid: {e}")))
    };
    Ok((back(merged)?, back(touched.into())?))
}

fn deep_merge(into: &mut serde_json::Value, from: &serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    continue;
                }
                deep_merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn read_resources(path: &Path) -> Result<LinuxResources> {
    let mut data = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut data).map(|_| ())
    } else {
        std::fs::read(path).map(|d| data = d)
    };
    read.map_err(|source| Error::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        Error::Usage(format!(
            "update --resources {}: {}: {}",
            path.display(),
            e.path(),
            e.inner()
        ))
    })
}

fn from_flags(args: &UpdateArgs) -> Result<LinuxResources> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        return Err(Error::Usage(
            "update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by rt".into(),
        ));
    }
    let mut res = LinuxResources::default();
    let bytes =
        |flag: &str, v: &Option<String>| v.as_deref().map(|v| parse_bytes(flag, v)).transpose();
    let limit = bytes("--memory", &args.memory)?;
    let reservation = bytes("--memory-reservation", &args.memory_reservation)?;
    let swap = bytes("--memory-swap", &args.memory_swap)?;
    let kernel = bytes("--kernel-memory", &args.kernel_memory)?;
    let kernel_tcp = bytes("--kernel-memory-tcp", &args.kernel_memory_tcp)?;
    if [limit, reservation, swap, kernel_tcp]
        .iter()
        .any(Option::is_some)
    {
        let mut m = LinuxMemory::default();
        m.set_limit(limit);
        m.set_reservation(reservation);
        m.set_swap(swap);
        m.set_kernel_tcp(kernel_tcp);
        res.set_memory(Some(m));
    }
    if kernel.is_some() {
        crate::logging::warn("update --kernel-memory is ignored, as runc 1.1 does");
    }
    let cpu_set = args.cpu_share.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_period.is_some()
        || args.cpu_rt_runtime.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some();
    if cpu_set {
        let mut c = LinuxCpu::default();
        c.set_shares(args.cpu_share);
        c.set_quota(args.cpu_quota);
        c.set_period(args.cpu_period);
        c.set_realtime_runtime(args.cpu_rt_runtime);
        c.set_realtime_period(args.cpu_rt_period);
        c.set_cpus(args.cpuset_cpus.clone());
        c.set_mems(args.cpuset_mems.clone());
        res.set_cpu(Some(c));
    }
    if let Some(limit) = args.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        res.set_pids(Some(p));
    }
    if let Some(w) = args.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(res)
}

/// A byte count as runc takes it: `-1`, or a number with an optional binary
/// unit (`512m`, `1G`, `64KiB`).
fn parse_bytes(flag: &str, v: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "update {flag}: {v:?} is not a size (like 512m or -1)"
        ))
    };
    if v == "-1" {
        return Ok(-1);
    }
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = v[digits.len()..].to_ascii_lowercase();
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let n: i64 = digits.trim().parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    n.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_field_by_field() {
        let saved: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":100,"reservation":50},"pids":{"limit":10}}"#,
        )
        .unwrap();
        let update: LinuxResources = serde_json::from_str(r#"{"memory":{"swap":200}}"#).unwrap();
        let (merged, touched) = merge(Some(&saved), &update).unwrap();
        let m = merged.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.reservation(), m.swap()),
            (Some(100), Some(50), Some(200))
        );
        assert_eq!(merged.pids().as_ref().unwrap().limit(), 10);
        assert!(touched.pids().is_none());
        assert_eq!(touched.memory().as_ref().unwrap().limit(), Some(100));
    }

    #[test]
    fn parses_sizes_as_runc() {
        assert_eq!(parse_bytes("--memory", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("--memory", "1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "2kb").unwrap(), 2048);
        assert_eq!(parse_bytes("--memory", "-1").unwrap(), -1);
        for bad in ["", "m", "-2", "1x", "99999999999p"] {
            assert!(parse_bytes("--memory", bad).is_err(), "{bad}");
        }
    }
}
