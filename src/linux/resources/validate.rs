//! Checks of `linux.resources` that need no host: ranges, formats, and
//! values that would inject other settings into a cgroup file.

use super::{R, invalid};
use oci_spec::runtime::LinuxResources;

/// Checks what can be checked without the host: ranges, formats, and
/// values that would inject other settings into a cgroup file.
pub fn validate(res: &LinuxResources) -> R {
    if let Some(m) = res.memory() {
        let f = |n: &str| format!("linux.resources.memory.{n}");
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if v.is_some_and(|v| v < -1) {
                return Err(invalid(
                    f(name),
                    "must be -1 (unlimited) or a number of bytes",
                ));
            }
        }
        if m.swappiness().is_some_and(|s| s > 100) {
            return Err(invalid(f("swappiness"), "must be between 0 and 100"));
        }
        if let (Some(limit), Some(swap)) = (m.limit(), m.swap())
            && limit > 0
            && swap > 0
            && swap < limit
        {
            return Err(invalid(
                f("swap"),
                format!("{swap} is below memory.limit {limit} (swap is the limit of memory+swap)"),
            ));
        }
    }
    if let Some(c) = res.cpu() {
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(v) = v
                && !is_cpu_list(v)
            {
                return Err(invalid(
                    format!("linux.resources.cpu.{name}"),
                    format!("{v:?} is not a list like 0-3,7"),
                ));
            }
        }
        if c.quota().is_some_and(|q| q < -1) {
            return Err(invalid(
                "linux.resources.cpu.quota",
                "must be -1 (unlimited) or positive",
            ));
        }
        if c.idle().is_some_and(|i| !(0..=1).contains(&i)) {
            return Err(invalid("linux.resources.cpu.idle", "must be 0 or 1"));
        }
    }
    if res.pids().is_some_and(|p| p.limit() < -1) {
        return Err(invalid(
            "linux.resources.pids.limit",
            "must be -1 (unlimited) or at least 0",
        ));
    }
    if let Some(b) = res.block_io() {
        validate_block_io(b)?;
    }
    for (i, l) in res.hugepage_limits().iter().flatten().enumerate() {
        if !is_page_size(l.page_size()) {
            return Err(invalid(
                format!("linux.resources.hugepageLimits[{i}].pageSize"),
                format!("{:?} is not a size like 2MB or 1GB", l.page_size()),
            ));
        }
    }
    if let Some(n) = res.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if !is_word(p.name()) {
                return Err(invalid(
                    format!("linux.resources.network.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
        }
    }
    for (dev, limit) in res.rdma().iter().flatten() {
        let field = format!("linux.resources.rdma[{dev:?}]");
        if !is_word(dev) {
            return Err(invalid(field, "is not a device name"));
        }
        if limit.hca_handles().is_none() && limit.hca_objects().is_none() {
            return Err(invalid(field, "needs hcaHandles or hcaObjects"));
        }
    }
    for key in res.unified().iter().flatten().map(|(k, _)| k) {
        validate_unified_key(key)?;
    }
    Ok(())
}

fn validate_block_io(b: &oci_spec::runtime::LinuxBlockIo) -> R {
    let f = |n: &str| format!("linux.resources.blockIO.{n}");
    let weight_ok = |w: Option<u16>| w.is_none_or(|w| w == 0 || (10..=1000).contains(&w));
    if !weight_ok(b.weight()) {
        return Err(invalid(f("weight"), "must be between 10 and 1000"));
    }
    if !weight_ok(b.leaf_weight()) {
        return Err(invalid(f("leafWeight"), "must be between 10 and 1000"));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = f(&format!("weightDevice[{i}]"));
        if d.major() < 0 || d.minor() < 0 {
            return Err(invalid(field, "major and minor must not be negative"));
        }
        if !weight_ok(d.weight()) || !weight_ok(d.leaf_weight()) {
            return Err(invalid(field, "weights must be between 10 and 1000"));
        }
    }
    let throttles = [
        ("throttleReadBpsDevice", b.throttle_read_bps_device()),
        ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
        ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
        ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
    ];
    for (name, list) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            if d.major() < 0 || d.minor() < 0 {
                return Err(invalid(
                    f(&format!("{name}[{i}]")),
                    "major and minor must not be negative",
                ));
            }
        }
    }
    Ok(())
}

/// A `unified` key names one file of the container's own cgroup; the files
/// that move processes or change the cgroup's own structure are rt's.
fn validate_unified_key(key: &str) -> R {
    let field = format!("linux.resources.unified[{key:?}]");
    let plain = !key.is_empty()
        && !key.starts_with('.')
        && key.contains('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain {
        return Err(invalid(field, "is not the name of a cgroup v2 file"));
    }
    const RT_OWNS: &[&str] = &[
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.type",
    ];
    if RT_OWNS.contains(&key) {
        return Err(invalid(
            field,
            "is managed by the runtime, not by the config",
        ));
    }
    Ok(())
}

/// A cpuset list: numbers and ranges separated by commas.
fn is_cpu_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            ends.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// `2MB`, `1GB`, `64KB`: the names the kernel gives hugetlb files.
fn is_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB")
}

/// One word without whitespace, as interface and device names are.
fn is_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validates_without_the_host() {
        assert!(validate(&res(r#"{"memory":{"limit":1048576,"swap":2097152}}"#)).is_ok());
        assert!(validate(&res(r#"{"memory":{"limit":2097152,"swap":1048576}}"#)).is_err());
        assert!(validate(&res(r#"{"memory":{"swappiness":101}}"#)).is_err());
        assert!(validate(&res(r#"{"cpu":{"cpus":"0-1,3"}}"#)).is_ok());
        assert!(validate(&res(r#"{"cpu":{"cpus":"0\n1"}}"#)).is_err());
        assert!(validate(&res(r#"{"pids":{"limit":0}}"#)).is_ok());
        assert!(validate(&res(r#"{"pids":{"limit":-2}}"#)).is_err());
        assert!(validate(&res(r#"{"blockIO":{"weight":5}}"#)).is_err());
        assert!(validate(&res(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#)).is_ok());
        assert!(
            validate(&res(
                r#"{"hugepageLimits":[{"pageSize":"../x","limit":0}]}"#
            ))
            .is_err()
        );
        assert!(validate(&res(r#"{"unified":{"memory.high":"1"}}"#)).is_ok());
        for bad in ["../memory.max", "cgroup.procs", "a/b.c", "nodot"] {
            let json = format!(r#"{{"unified":{{"{bad}":"1"}}}}"#);
            assert!(validate(&res(&json)).is_err(), "{bad}");
        }
        assert!(validate(&res(r#"{"rdma":{"mlx5_1":{}}}"#)).is_err());
    }
}
