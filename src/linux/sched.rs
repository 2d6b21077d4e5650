//! How the process is scheduled: process.scheduler (sched_setattr),
//! process.ioPriority (ioprio_set) and process.execCPUAffinity
//! (sched_setaffinity), checked before anything is made and applied by the
//! process to itself, so that its program inherits them across execve.

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    Scheduler,
};

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("process.scheduler.{field}: {message}")]
    Scheduler {
        field: &'static str,
        message: String,
    },
    #[error("process.scheduler: sched_setattr {policy}: {source}{hint}")]
    SetAttr {
        policy: String,
        source: nix::Error,
        hint: &'static str,
    },
    #[error("process.ioPriority: {0}")]
    IoPriority(String),
    #[error("process.ioPriority: ioprio_set {class} {priority}: {source}")]
    IoPrioSet {
        class: String,
        priority: i64,
        source: nix::Error,
    },
    #[error("process.execCPUAffinity.{field}: {message}")]
    Affinity {
        field: &'static str,
        message: String,
    },
    #[error("process.execCPUAffinity.{field} {cpus}: sched_setaffinity: {source}")]
    SetAffinity {
        field: &'static str,
        cpus: String,
        source: nix::Error,
    },
}

/// struct sched_attr of sched_setattr(2), in its 56-byte version (with the
/// utilization clamps).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// process.scheduler, checked with runc's rules.
#[derive(Clone, Debug)]
pub struct SchedPlan {
    name: String,
    attr: SchedAttr,
}

impl SchedPlan {
    pub fn new(s: &Scheduler) -> Result<SchedPlan, SchedError> {
        use LinuxSchedulerPolicy as P;
        let bad = |field, message: String| SchedError::Scheduler { field, message };
        let nice = s.nice().unwrap_or(0);
        if !(-20..=19).contains(&nice) {
            return Err(bad("nice", format!("{nice} is outside -20..19")));
        }
        let priority = s.priority().unwrap_or(0);
        let realtime = matches!(s.policy(), P::SchedFifo | P::SchedRr);
        if priority != 0 && !realtime {
            return Err(bad(
                "priority",
                "only SCHED_FIFO and SCHED_RR take a priority".into(),
            ));
        }
        let priority = u32::try_from(priority)
            .map_err(|_| bad("priority", format!("{priority} is negative")))?;
        let deadline_params = [s.runtime(), s.deadline(), s.period()];
        if *s.policy() != P::SchedDeadline && deadline_params.iter().any(|v| v.unwrap_or(0) != 0) {
            return Err(bad(
                "runtime",
                "runtime, deadline and period are for SCHED_DEADLINE only".into(),
            ));
        }
        let policy = match s.policy() {
            P::SchedOther => libc::SCHED_OTHER,
            P::SchedFifo => libc::SCHED_FIFO,
            P::SchedRr => libc::SCHED_RR,
            P::SchedBatch => libc::SCHED_BATCH,
            // Reserved by Linux and never implemented: sched_setattr says EINVAL.
            P::SchedIso => 4,
            P::SchedIdle => libc::SCHED_IDLE,
            P::SchedDeadline => 6,
        };
        let flags = s
            .flags()
            .iter()
            .flatten()
            .fold(0u64, |acc, f| acc | flag(*f));
        Ok(SchedPlan {
            name: s.policy().to_string(),
            attr: SchedAttr {
                size: std::mem::size_of::<SchedAttr>() as u32,
                policy: policy as u32,
                flags,
                nice,
                priority,
                runtime: s.runtime().unwrap_or(0),
                deadline: s.deadline().unwrap_or(0),
                period: s.period().unwrap_or(0),
                util_min: 0,
                util_max: 0,
            },
        })
    }

    pub fn apply(&self) -> Result<(), SchedError> {
        // SAFETY: sched_setattr reads `attr`, whose size field is its size.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_setattr,
                0,
                &self.attr as *const SchedAttr,
                0,
            )
        };
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(|source| SchedError::SetAttr {
                policy: self.name.clone(),
                source,
                hint: self.hint(source),
            })
    }

    /// Why the kernel may refuse a real-time policy that root asked for.
    fn hint(&self, err: nix::Error) -> &'static str {
        let realtime = [libc::SCHED_FIFO, libc::SCHED_RR, 6].contains(&(self.attr.policy as i32));
        if realtime && err == nix::Error::EPERM {
            " (a real-time policy needs CAP_SYS_NICE and, under the cgroup v1 cpu controller, \
             a budget in linux.resources.cpu.realtimeRuntime)"
        } else {
            ""
        }
    }
}

fn flag(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag as F;
    match f {
        F::SchedResetOnFork => 0x01,
        F::SchedFlagReclaim => 0x02,
        F::SchedFlagDLOverrun => 0x04,
        F::SchedFlagKeepPolicy => 0x08,
        F::SchedFlagKeepParams => 0x10,
        F::SchedFlagUtilClampMin => 0x20,
        F::SchedFlagUtilClampMax => 0x40,
    }
}

/// process.ioPriority as ioprio_set(2) takes it.
#[derive(Clone, Debug)]
pub struct IoPrioPlan {
    class: IOPriorityClass,
    priority: i64,
}

impl IoPrioPlan {
    pub fn new(p: &LinuxIOPriority) -> Result<IoPrioPlan, SchedError> {
        if !(0..=7).contains(&p.priority()) {
            return Err(SchedError::IoPriority(format!(
                "priority {} is outside 0..7",
                p.priority()
            )));
        }
        Ok(IoPrioPlan {
            class: p.class(),
            priority: p.priority(),
        })
    }

    fn value(&self) -> i64 {
        const CLASS_SHIFT: i64 = 13;
        let class = match self.class {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        (class << CLASS_SHIFT) | self.priority
    }

    pub fn apply(&self) -> Result<(), SchedError> {
        const IOPRIO_WHO_PROCESS: i64 = 1;
        // SAFETY: ioprio_set takes no pointers.
        let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, self.value()) };
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(|source| SchedError::IoPrioSet {
                class: self.class.to_string(),
                priority: self.priority,
                source,
            })
    }
}

/// process.execCPUAffinity: `initial` for the process while it joins the
/// container's cgroups, `final` once it is in them.
#[derive(Clone, Debug, Default)]
pub struct AffinityPlan {
    initial: Option<CpuList>,
    last: Option<CpuList>,
}

#[derive(Clone, Debug)]
struct CpuList {
    text: String,
    cpus: Vec<usize>,
}

impl AffinityPlan {
    pub fn new(a: &ExecCPUAffinity) -> Result<AffinityPlan, SchedError> {
        let list = |field, s: Option<&String>| {
            s.filter(|s| !s.is_empty())
                .map(|s| {
                    parse_list(s)
                        .map(|cpus| CpuList {
                            text: s.clone(),
                            cpus,
                        })
                        .map_err(|message| SchedError::Affinity { field, message })
                })
                .transpose()
        };
        Ok(AffinityPlan {
            initial: list("initial", a.initial().as_ref())?,
            last: list("final", a.cpu_affinity_final().as_ref())?,
        })
    }

    /// Applies `initial` to `pid` (the child, before it joins the cgroups).
    pub fn apply_initial(&self, pid: i32) -> Result<(), SchedError> {
        apply_list("initial", self.initial.as_ref(), pid)
    }

    /// Applies `final` to the calling process, right before its execve.
    pub fn apply_final(&self) -> Result<(), SchedError> {
        apply_list("final", self.last.as_ref(), 0)
    }
}

fn apply_list(field: &'static str, list: Option<&CpuList>, pid: i32) -> Result<(), SchedError> {
    let Some(list) = list else {
        return Ok(());
    };
    let mut set = nix::sched::CpuSet::new();
    for cpu in &list.cpus {
        set.set(*cpu).map_err(|source| SchedError::SetAffinity {
            field,
            cpus: list.text.clone(),
            source,
        })?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set).map_err(|source| {
        SchedError::SetAffinity {
            field,
            cpus: list.text.clone(),
            source,
        }
    })
}

/// A list such as `0-3,7` (CPUs or memory nodes), as numbers.
pub fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    const MAX: usize = 8192;
    let bad = || format!("{s:?} is not a list such as 0-3,7");
    let mut out = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if lo > hi || hi >= MAX {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: serde_json::Value) -> Result<SchedPlan, SchedError> {
        SchedPlan::new(&serde_json::from_value(json).unwrap())
    }

    #[test]
    fn scheduler_attr_is_built_from_every_field() {
        let p = sched(serde_json::json!({
            "policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20, "period": 30,
            // oci-spec's names (bundle::read_json translates the spec's).
            "flags": ["SCHED_FLAG_RECLAIM", "SCHED_FLAG_D_L_OVERRUN"]
        }))
        .unwrap();
        assert_eq!(p.attr.policy, 6);
        assert_eq!(p.attr.flags, 0x06);
        assert_eq!(
            (p.attr.runtime, p.attr.deadline, p.attr.period),
            (10, 20, 30)
        );
        assert_eq!(p.attr.size, 56);
        let p = sched(serde_json::json!({"policy": "SCHED_FIFO", "priority": 10})).unwrap();
        assert_eq!((p.attr.policy, p.attr.priority), (1, 10));
        let p = sched(serde_json::json!({"policy": "SCHED_BATCH", "nice": -5,
            "flags": ["SCHED_RESET_ON_FORK"]}))
        .unwrap();
        assert_eq!((p.attr.policy, p.attr.nice, p.attr.flags), (3, -5, 1));
    }

    #[test]
    fn scheduler_rules_are_runcs() {
        let err = |j| sched(j).unwrap_err().to_string();
        assert!(err(serde_json::json!({"policy": "SCHED_OTHER", "nice": 20})).contains("nice"));
        assert!(
            err(serde_json::json!({"policy": "SCHED_BATCH", "priority": 1})).contains("priority")
        );
        assert!(
            err(serde_json::json!({"policy": "SCHED_RR", "runtime": 1}))
                .starts_with("process.scheduler.runtime")
        );
    }

    #[test]
    fn io_priority_value() {
        let p = |class: &str, priority| {
            IoPrioPlan::new(
                &serde_json::from_value(serde_json::json!({"class": class, "priority": priority}))
                    .unwrap(),
            )
        };
        assert_eq!(p("IOPRIO_CLASS_RT", 0).unwrap().value(), 1 << 13);
        assert_eq!(p("IOPRIO_CLASS_BE", 7).unwrap().value(), (2 << 13) | 7);
        assert_eq!(p("IOPRIO_CLASS_IDLE", 0).unwrap().value(), 3 << 13);
        assert!(p("IOPRIO_CLASS_BE", 8).is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-3,7").unwrap(), [0, 1, 2, 3, 7]);
        assert_eq!(parse_list("5").unwrap(), [5]);
        assert_eq!(parse_list("1,1,0").unwrap(), [0, 1]);
        for bad in ["", "3-1", "a", "1-", "0,,1", "99999"] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
    }
}
