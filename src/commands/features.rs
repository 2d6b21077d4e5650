//! `rt features`: what rt implements, as features.md and features-linux.md
//! describe it. Built from the same tables the implementation uses (mount
//! options, hook steps, capabilities, memory policies), so it cannot claim
//! more than rt does.

use super::Result;
use crate::linux::hooks::Step;
use crate::linux::{mempolicy, mounts, seccomp};
use serde_json::json;

const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

pub fn run() -> Result<i32> {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    let features = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": Step::ALL.map(Step::name),
        "mountOptions": mounts::RECOGNIZED,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": seccomp::features(),
            // What rt implements, whatever this host has (features-linux.md).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "memoryPolicy": {
                "modes": mempolicy::MODES,
                "flags": mempolicy::FLAGS
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": false}
        },
        "annotations": {
            "org.opencontainers.rt.version": env!("CARGO_PKG_VERSION"),
            "org.opencontainers.rt.commit": env!("RT_COMMIT")
        }
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&features).expect("features serialize")
    );
    Ok(0)
}
