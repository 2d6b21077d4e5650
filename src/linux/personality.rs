//! linux.personality: the execution domain (personality(2)). The spec
//! defines the LINUX and LINUX32 domains and no flags yet.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

#[derive(Debug, thiserror::Error)]
pub enum PersonalityError {
    #[error("linux.personality.flags: {0:?} is not supported (the spec defines no flags)")]
    Flag(String),
    #[error("linux.personality: personality({0:#x}): {1}")]
    Set(u64, nix::Error),
}

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

#[derive(Clone, Copy, Debug)]
pub struct Personality(u64);

impl Personality {
    pub fn new(p: &LinuxPersonality) -> Result<Personality, PersonalityError> {
        if let Some(flag) = p.flags().iter().flatten().next() {
            return Err(PersonalityError::Flag(flag.clone()));
        }
        Ok(Personality(match p.domain() {
            LinuxPersonalityDomain::PerLinux => PER_LINUX,
            LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
        }))
    }

    /// Kept across execve: the program runs with it.
    pub fn apply(self) -> Result<(), PersonalityError> {
        // SAFETY: personality takes no pointers.
        let r = unsafe { libc::personality(self.0 as libc::c_ulong) };
        nix::errno::Errno::result(r)
            .map(drop)
            .map_err(|e| PersonalityError::Set(self.0, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(j: serde_json::Value) -> Result<Personality, PersonalityError> {
        Personality::new(&serde_json::from_value(j).unwrap())
    }

    #[test]
    fn domains_and_flags() {
        assert_eq!(parse(serde_json::json!({"domain": "LINUX"})).unwrap().0, 0);
        assert_eq!(
            parse(serde_json::json!({"domain": "LINUX32"})).unwrap().0,
            8
        );
        let err = parse(serde_json::json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}));
        assert!(
            err.unwrap_err()
                .to_string()
                .starts_with("linux.personality.flags")
        );
    }
}
