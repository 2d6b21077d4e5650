//! Platforms (`os/arch[/variant]`) and picking one manifest out of an index.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid --platform {0:?}: want os/arch[/variant], e.g. linux/arm64/v8")]
    Invalid(String),
    #[error("this machine's architecture {0:?} has no OCI name; pass --platform")]
    UnknownHost(&'static str),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(Error::Invalid(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// The platform this binary runs on, named as Go (and so OCI) names it.
    pub fn host() -> Result<Platform, Error> {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "riscv64" => ("riscv64", None),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "loongarch64" => ("loong64", None),
            other => return Err(Error::UnknownHost(other)),
        };
        Ok(Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        })
    }

    /// Whether an image built for `other` runs here. A variant we do not ask
    /// for matches any; arm64's default variant is v8, so a missing one
    /// means v8.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        let normalize = |v: &Option<String>| match (self.architecture.as_str(), v.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            _ => v.clone(),
        };
        match &self.variant {
            None => true,
            Some(_) => normalize(&self.variant) == normalize(&other.variant),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/amd64").unwrap().variant, None);
        for bad in ["", "linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching() {
        let p = |s| Platform::parse(s).unwrap();
        assert!(p("linux/amd64").matches(&p("linux/amd64")));
        assert!(p("linux/arm").matches(&p("linux/arm/v6")));
        assert!(!p("linux/arm/v7").matches(&p("linux/arm/v6")));
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
        assert!(
            Platform::host()
                .unwrap()
                .matches(&Platform::host().unwrap())
        );
    }
}
