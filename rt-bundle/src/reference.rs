//! Image references as docker reads them: `alpine` is
//! `docker.io/library/alpine:latest`, the first component is a registry only
//! when it looks like a host (a dot, a port, `localhost` or uppercase), a tag
//! follows the last `:` after the last `/`, and a digest follows `@`.

use std::fmt;

use crate::digest::Digest;

pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference {reference:?}: {why}")]
    Invalid { reference: String, why: String },
    #[error("invalid reference {reference:?}: {source}")]
    Digest {
        reference: String,
        source: crate::digest::Error,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The registry as written (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository path, `library/alpine` for an official Hub image.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, Error> {
        let invalid = |why: &str| Error::Invalid {
            reference: input.to_string(),
            why: why.to_string(),
        };
        if input.is_empty() {
            return Err(invalid("empty"));
        }
        if input.len() == 64 && input.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(
                "a bare image ID is not a reference; use name@sha256:...",
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d.parse().map_err(|source| Error::Digest {
                    reference: input.to_string(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        if name.len() > MAX_NAME {
            return Err(invalid("name longer than 255 characters"));
        }
        let (registry, path) = split_registry(name);
        if !valid_registry(registry) {
            return Err(invalid("registry must be host[:port]"));
        }
        if path.to_lowercase() != path {
            return Err(invalid("repository name must be lowercase"));
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(invalid(
                "repository path components are [a-z0-9] separated by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// What to ask the registry's manifest endpoint for: the digest when
    /// there is one (docker ignores a tag given with it), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The host to talk to: Docker Hub's API is not at docker.io.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (_, Some(d)) => write!(f, "@{d}"),
            (Some(t), None) => write!(f, ":{t}"),
            (None, None) => write!(f, ":latest"),
        }
    }
}

/// Splits `name:tag`, where the tag is after the last colon that follows the
/// last slash (a colon before it belongs to a registry port).
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let after_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[after_slash..].rfind(':') {
        Some(i) => (&s[..after_slash + i], Some(&s[after_slash + i + 1..])),
        None => (s, None),
    }
}

fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            let registry = if first == "index.docker.io" {
                DOCKER_HUB
            } else {
                first
            };
            (registry, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `host[:port]` with DNS-style labels, or a bracketed IPv6 address.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, Some(p)),
        _ => (registry, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_short_names() {
        let r = parse("alpine");
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(
            parse("library/alpine:3.20").to_string(),
            "docker.io/library/alpine:3.20"
        );
        assert_eq!(
            parse("docker.io/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            parse("index.docker.io/user/app:v1").to_string(),
            "docker.io/user/app:v1"
        );
        assert_eq!(parse("user/app").repository, "user/app");
    }

    #[test]
    fn registries_with_ports() {
        let r = parse("127.0.0.1:5000/a/b:tag");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b");
        assert_eq!(r.tag.as_deref(), Some("tag"));
        let r = parse("localhost/x");
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.manifest_reference(), "latest");
        let r = parse("localhost:5000/x");
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
        assert_eq!(parse("[::1]:5000/x").registry, "[::1]:5000");
        assert_eq!(parse("Registry/x").registry, "Registry");
    }

    #[test]
    fn digests() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = parse(&format!("alpine@{d}"));
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{d}"));
        let r = parse(&format!("quay.io/a/b:1.0@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.manifest_reference(), d);
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-x",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "alpine@sha256:abc",
            "host:port/x",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "a/../b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(valid_component("a-b"));
        assert!(valid_component("a--b"));
        assert!(valid_component("a__b"));
    }
}
