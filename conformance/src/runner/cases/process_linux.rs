//! config.md "Linux Process" (scheduler, ioPriority) and
//! config-linux.md "Personality", "Memory policy", "IntelRdt".

use super::Case;
use crate::ctx::Ctx;
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use serde_json::json;

pub const CASES: &[Case] = &[
    Case {
        name: "process_linux.scheduler",
        clause: "config.md#configLinuxProcess",
        quote: "scheduler (object, OPTIONAL) is an object describing the scheduler properties for the process. policy (string, REQUIRED) represents the scheduling policy. nice (int32, OPTIONAL) is the nice value for the process.",
        run: scheduler,
    },
    Case {
        name: "process_linux.io_priority",
        clause: "config.md#configLinuxProcess",
        quote: "ioPriority (object, OPTIONAL) configures the I/O priority settings for the container's processes within the process group.",
        run: io_priority,
    },
    Case {
        name: "process_linux.personality_linux32",
        clause: "config-linux.md#configLinuxPersonality",
        quote: "LINUX32 will set the uname system call to show a 32 bit CPU type, such as i686.",
        run: personality_linux32,
    },
    Case {
        name: "process_linux.memory_policy",
        clause: "config-linux.md#configLinuxMemoryPolicy",
        quote: "memoryPolicy (object, OPTIONAL) sets the NUMA memory policy for the container.",
        run: memory_policy,
    },
    Case {
        name: "process_linux.intel_rdt_without_resctrl_fails",
        clause: "config-linux.md#configLinuxIntelRdt",
        quote: "If no mounted resctrl pseudo-filesystem is available in the runtime mount namespace, the runtime MUST generate an error.",
        run: intel_rdt_without_resctrl_fails,
    },
];

fn scheduler(ctx: &mut Ctx) -> R {
    ctx.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let sched = ctx.output(&id).report()?["sched"].clone();
    ensure_eq!(
        sched["policy"].as_i64(),
        Some(3),
        "policy inside (SCHED_BATCH)"
    );
    ensure_eq!(sched["nice"].as_i64(), Some(5), "nice inside");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).or_fail("read stat")?;
    let fields: Vec<&str> = stat[stat.rfind(')').or_fail("stat")? + 2..]
        .split(' ')
        .collect();
    ensure_eq!(fields[19 - 3], "5", "nice seen from the host");
    ensure_eq!(fields[41 - 3], "3", "policy seen from the host");
    Ok(())
}

fn io_priority(ctx: &mut Ctx) -> R {
    ctx.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.report()?["ioprio"].as_i64(),
        Some((2 << 13) | 6),
        "ioprio_get inside (best effort, 6)"
    );
    Ok(())
}

fn personality_linux32(ctx: &mut Ctx) -> R {
    if std::env::consts::ARCH != "x86_64" {
        skip!("LINUX32 is checked on x86_64");
    }
    ctx.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let p = ctx.run_probe(&[])?;
    let persona = p.report()?["personality"]
        .as_i64()
        .or_fail("no personality")?;
    ensure_eq!(persona & 0xff, 8, "personality inside (PER_LINUX32)");
    Ok(())
}

fn memory_policy(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    let p = ctx.run_probe(&["read:/proc/self/numa_maps"])?;
    let maps = p.result("read", "/proc/self/numa_maps")?["data"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(
        maps.lines().any(|l| l.contains(" bind:0 ")),
        "no mapping bound to node 0 in numa_maps:\n{maps}"
    );
    Ok(())
}

fn intel_rdt_without_resctrl_fails(ctx: &mut Ctx) -> R {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").or_fail("read mountinfo")?;
    if mounts.contains(" - resctrl ") {
        skip!("resctrl is mounted on this host");
    }
    ctx.config["linux"]["intelRdt"] = json!({"closID": "rt-conformance", "schemata": ["L3:0=f"]});
    super::errors::refused(ctx)
}
