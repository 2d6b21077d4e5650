//! linux.memoryPolicy: the NUMA memory policy (set_mempolicy(2)), set by
//! the process for itself and inherited by its program.

use super::sched::parse_list;
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

#[derive(Debug, thiserror::Error)]
pub enum MemPolicyError {
    #[error("linux.memoryPolicy.{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("linux.memoryPolicy: set_mempolicy {mode} nodes {nodes:?}: {source}")]
    Set {
        mode: String,
        nodes: String,
        source: nix::Error,
    },
}

#[derive(Clone, Debug)]
pub struct MemPolicy {
    mode: MemoryPolicyModeType,
    nodes_text: String,
    /// mode | flags, as set_mempolicy takes them.
    mode_flags: i32,
    mask: Vec<libc::c_ulong>,
}

/// The modes and flags rt takes, as `features` lists them.
pub const MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

const MPOL_F_STATIC_NODES: i32 = 1 << 15;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;

impl MemPolicy {
    pub fn new(p: &LinuxMemoryPolicy) -> Result<MemPolicy, MemPolicyError> {
        use MemoryPolicyModeType as M;
        let bad = |field, message: &str| MemPolicyError::Invalid {
            field,
            message: message.to_string(),
        };
        let text = p.nodes().clone().unwrap_or_default();
        let nodes = if text.is_empty() {
            Vec::new()
        } else {
            parse_list(&text).map_err(|m| bad("nodes", &m))?
        };
        let mode = match p.mode() {
            M::MpolDefault => 0,
            M::MpolPreferred => 1,
            M::MpolBind => 2,
            M::MpolInterleave => 3,
            M::MpolLocal => 4,
            M::MpolPreferredMany => 5,
            M::MpolWeightedInterleave => 6,
        };
        // set_mempolicy(2): which modes take nodes.
        match p.mode() {
            M::MpolDefault | M::MpolLocal if !nodes.is_empty() => {
                return Err(bad("nodes", &format!("{} takes no nodes", p.mode())));
            }
            M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
                if nodes.is_empty() =>
            {
                return Err(bad("nodes", &format!("{} needs nodes", p.mode())));
            }
            _ => {}
        }
        let mut flags = 0;
        for f in p.flags().iter().flatten() {
            flags |= match f {
                MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
                MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
                MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            };
        }
        let both = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES;
        if flags & both == both {
            return Err(bad(
                "flags",
                "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
            ));
        }
        Ok(MemPolicy {
            mode: p.mode(),
            nodes_text: text,
            mode_flags: mode | flags,
            mask: node_mask(&nodes),
        })
    }

    pub fn apply(&self) -> Result<(), MemPolicyError> {
        let bits = (self.mask.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
        let mask = if self.mask.is_empty() {
            std::ptr::null()
        } else {
            self.mask.as_ptr()
        };
        // SAFETY: the kernel reads maxnode - 1 bits from `mask`, which holds `bits`.
        let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, self.mode_flags, mask, bits + 1) };
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(|source| MemPolicyError::Set {
                mode: self.mode.to_string(),
                nodes: self.nodes_text.clone(),
                source,
            })
    }
}

fn node_mask(nodes: &[usize]) -> Vec<libc::c_ulong> {
    let word = libc::c_ulong::BITS as usize;
    let mut mask = vec![0; nodes.last().map_or(0, |n| n / word + 1)];
    for n in nodes {
        mask[n / word] |= 1 << (n % word);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(j: serde_json::Value) -> Result<MemPolicy, MemPolicyError> {
        MemPolicy::new(&serde_json::from_value(j).unwrap())
    }

    #[test]
    fn modes_nodes_and_flags() {
        let p = parse(
            serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-1,65",
            "flags": ["MPOL_F_STATIC_NODES"]}),
        )
        .unwrap();
        assert_eq!(p.mode_flags, 3 | (1 << 15));
        assert_eq!(p.mask, [0b11, 0b10]);
        let p = parse(serde_json::json!({"mode": "MPOL_LOCAL"})).unwrap();
        assert_eq!((p.mode_flags, p.mask.len()), (4, 0));
        let p = parse(serde_json::json!({"mode": "MPOL_PREFERRED"})).unwrap();
        assert_eq!(p.mode_flags, 1);
    }

    #[test]
    fn every_listed_mode_and_flag_is_taken() {
        for mode in MODES {
            let nodes = if matches!(*mode, "MPOL_DEFAULT" | "MPOL_LOCAL") {
                None
            } else {
                Some("0")
            };
            let p = parse(serde_json::json!({"mode": mode, "nodes": nodes}));
            assert!(p.is_ok(), "{mode}");
            assert_eq!(p.unwrap().mode.to_string(), *mode);
        }
        for flag in FLAGS {
            let p = parse(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]}));
            assert!(p.is_ok(), "{flag}");
        }
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let err = |j| parse(j).unwrap_err().to_string();
        assert!(err(serde_json::json!({"mode": "MPOL_BIND"})).contains("nodes: MPOL_BIND needs"));
        assert!(err(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"})).contains("nodes"));
        assert!(err(serde_json::json!({"mode": "MPOL_BIND", "nodes": "x"})).contains("nodes"));
        assert!(
            err(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}))
            .starts_with("linux.memoryPolicy.flags")
        );
    }
}
