//! Credentials from the auth files podman and docker write on `login`:
//! `--authfile` if given, else $REGISTRY_AUTH_FILE,
//! $XDG_RUNTIME_DIR/containers/auth.json,
//! $XDG_CONFIG_HOME/containers/auth.json (~/.config/...), then
//! $DOCKER_CONFIG/config.json (~/.docker/config.json). The first file with
//! an entry for the registry wins. Credential helpers (`credHelpers`,
//! `credsStore`) are not run.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::auth::Credentials;
use crate::reference::DOCKER_HUB;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("auth file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("auth file {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("auth file {path}: entry {key:?}: `auth` is not base64 of user:password")]
    Entry { path: PathBuf, key: String },
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
}

/// The credentials for `registry`/`repository`, if any file has them.
/// An explicit `authfile` must exist; the default locations may not.
pub fn lookup(
    authfile: Option<&Path>,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, Error> {
    let files = match authfile {
        Some(f) => vec![f.to_path_buf()],
        None => default_files(),
    };
    for path in files {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound && authfile.is_none() => continue,
            Err(source) => return Err(Error::Read { path, source }),
        };
        let file: AuthFile = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        if let Some(creds) = find(&file, &path, registry, repository)? {
            return Ok(Some(creds));
        }
    }
    Ok(None)
}

fn default_files() -> Vec<PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let config = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    let docker = env("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker")));
    [
        env("REGISTRY_AUTH_FILE"),
        env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
        config.map(|d| d.join("containers/auth.json")),
        docker.map(|d| d.join("config.json")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The most specific entry: podman allows `registry/namespace` keys, and
/// docker writes Docker Hub as `https://index.docker.io/v1/`.
fn find(
    file: &AuthFile,
    path: &Path,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, Error> {
    let full = format!("{registry}/{repository}");
    let best = file
        .auths
        .iter()
        .filter_map(|(key, entry)| {
            let k = normalize_key(key);
            let matches = full == k || full.starts_with(&format!("{k}/"));
            matches.then_some((k.len(), key, entry))
        })
        .max_by_key(|(len, _, _)| *len);
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let bad = || Error::Entry {
        path: path.to_path_buf(),
        key: key.clone(),
    };
    let decoded = STANDARD.decode(auth.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    Credentials::parse(&text).map(Some).map_err(|_| bad())
}

/// `https://index.docker.io/v1/` → `docker.io`; `quay.io/org/` → `quay.io/org`.
fn normalize_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => match other.split_once('/') {
            Some(("index.docker.io" | "registry-1.docker.io", rest)) => {
                format!("{DOCKER_HUB}/{rest}")
            }
            _ => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> AuthFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn finds_the_most_specific_entry() {
        let f = file(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"},
                "quay.io":{"auth":"cXVheTpxcHc="},
                "quay.io/team":{"auth":"dGVhbTp0cHc="},
                "localhost:5000":{}
            }}"#,
        );
        let p = Path::new("auth.json");
        let user = |r, repo| find(&f, p, r, repo).unwrap().map(|c| c.user);
        assert_eq!(user("docker.io", "library/alpine").as_deref(), Some("hub"));
        assert_eq!(user("quay.io", "other/x").as_deref(), Some("quay"));
        assert_eq!(user("quay.io", "team/x").as_deref(), Some("team"));
        assert_eq!(user("quay.io", "teamx/x").as_deref(), Some("quay"));
        assert_eq!(user("localhost:5000", "x"), None);
        assert_eq!(user("ghcr.io", "x"), None);
    }

    #[test]
    fn rejects_bad_entries() {
        let f = file(r#"{"auths":{"r.io":{"auth":"!!!"}}}"#);
        let err = find(&f, Path::new("a.json"), "r.io", "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.json") && err.contains("r.io"), "{err}");
    }

    #[test]
    fn explicit_file_must_exist() {
        let err = lookup(Some(Path::new("/nonexistent/auth.json")), "r.io", "x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/auth.json"));
    }
}
