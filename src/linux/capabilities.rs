//! The five capability sets of `process.capabilities`.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("process.capabilities.{set}: {cap} is not in this host's bounding set")]
    NotInBounding { set: &'static str, cap: String },
    #[error("process.capabilities.{set}: {cap} is not known to this host's kernel")]
    Unknown { set: &'static str, cap: String },
    #[error("capabilities: {op} {set}: {source}")]
    Apply {
        op: &'static str,
        set: &'static str,
        source: caps::errors::CapsError,
    },
}

/// The sets to apply, checked against what this host can grant.
#[derive(Clone, Debug, Default)]
pub struct CapPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapPlan {
    pub fn new(spec: Option<&LinuxCapabilities>) -> Result<CapPlan, CapsError> {
        let host = caps::read(None, CapSet::Bounding).unwrap_or_default();
        let set = |name: &'static str, list: Option<&oci_spec::runtime::Capabilities>| {
            let mut out = CapsHashSet::new();
            for cap in list.into_iter().flatten() {
                let full = format!("CAP_{cap}");
                let c = Capability::from_str(&full).map_err(|_| CapsError::Unknown {
                    set: name,
                    cap: full.clone(),
                })?;
                if !host.contains(&c) {
                    return Err(CapsError::NotInBounding {
                        set: name,
                        cap: full,
                    });
                }
                out.insert(c);
            }
            Ok(out)
        };
        let Some(c) = spec else {
            return Ok(CapPlan::default());
        };
        Ok(CapPlan {
            bounding: set("bounding", c.bounding().as_ref())?,
            effective: set("effective", c.effective().as_ref())?,
            permitted: set("permitted", c.permitted().as_ref())?,
            inheritable: set("inheritable", c.inheritable().as_ref())?,
            ambient: set("ambient", c.ambient().as_ref())?,
        })
    }

    /// Drops what is not in the bounding set. Needs CAP_SETPCAP, so it runs
    /// before the switch to the container's user.
    pub fn apply_bounding(&self) -> Result<(), CapsError> {
        // Only what this kernel knows: newer capabilities are not there to drop.
        for cap in caps::runtime::thread_all_supported() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|source| CapsError::Apply {
                    op: "drop",
                    set: "bounding",
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Sets the other four sets, after the switch to the container's user
    /// (which kept its permitted set through PR_SET_KEEPCAPS). Order matters:
    /// inheritable and effective while permitted is still full, then
    /// permitted (which must cover effective), ambient last (it needs both).
    pub fn apply_sets(&self) -> Result<(), CapsError> {
        let apply = |set: CapSet, name: &'static str, caps: &CapsHashSet| {
            caps::set(None, set, caps).map_err(|source| CapsError::Apply {
                op: "set",
                set: name,
                source,
            })
        };
        apply(CapSet::Inheritable, "inheritable", &self.inheritable)?;
        apply(CapSet::Effective, "effective", &self.effective)?;
        apply(CapSet::Permitted, "permitted", &self.permitted)?;
        caps::clear(None, CapSet::Ambient).map_err(|source| CapsError::Apply {
            op: "clear",
            set: "ambient",
            source,
        })?;
        for cap in &self.ambient {
            // The kernel allows an ambient capability only if it is also
            // permitted and inheritable; runc's default spec asks for ambient
            // without inheritable, and runc then leaves ambient empty too.
            if !(self.inheritable.contains(cap) && self.permitted.contains(cap)) {
                crate::logging::debug(&format!(
                    "ambient {cap} skipped: not both permitted and inheritable"
                ));
                continue;
            }
            caps::raise(None, CapSet::Ambient, *cap).map_err(|source| CapsError::Apply {
                op: "raise",
                set: "ambient",
                source,
            })?;
        }
        Ok(())
    }
}
