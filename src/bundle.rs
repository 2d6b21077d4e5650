//! The bundle: config.json and the root filesystem it names (bundle.md).
//! Loading checks everything that can be checked before any change is made to
//! the host, so bad input fails with nothing to clean up.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    ConfigOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    ConfigParse {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("config.json: {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("config.json: {0}")]
    Hooks(#[from] crate::linux::hooks::HookError),
    #[error("config.json: {0}")]
    Resources(#[from] crate::linux::resources::ResourceError),
    #[error("config.json: {field}: {path}: {source}")]
    Rootfs {
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// Reads and validates `<dir>/config.json` for creating a container.
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| BundleError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let spec = read_config(&dir.join("config.json"))?;
        let rootfs = resolve_rootfs(&dir, &spec)?;
        validate(&spec)?;
        Ok(Bundle { dir, rootfs, spec })
    }
}

/// Parses config.json, naming the field that is wrong (e.g. `linux.namespaces[2].type`).
pub fn read_config(path: &Path) -> Result<Spec, BundleError> {
    read_json(path)
}

/// Parses a JSON file of the spec's (config.json, or `exec --process`'s
/// process), naming the field that is wrong.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BundleError> {
    let data = read_file(path)?;
    if !SPEC_SCHED_FLAGS
        .iter()
        .any(|(spec, _)| contains(&data, spec))
    {
        let mut de = serde_json::Deserializer::from_slice(&data);
        return serde_path_to_error::deserialize(&mut de).map_err(|e| parse_error(path, e));
    }
    parse_patched(path, &data, |_| {})
}

/// A process object for `exec --process`: as runc (Go's zero value), a
/// missing `user` is root.
pub fn read_process(path: &Path) -> Result<oci_spec::runtime::Process, BundleError> {
    parse_patched(path, &read_file(path)?, |v| {
        if let Some(o) = v.as_object_mut() {
            o.entry("user")
                .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
        }
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|source| BundleError::ConfigOpen {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_error(path: &Path, e: serde_path_to_error::Error<serde_json::Error>) -> BundleError {
    let field = e.path().to_string();
    BundleError::ConfigParse {
        path: path.to_path_buf(),
        field: if field == "." { "(top)".into() } else { field },
        message: e.into_inner().to_string(),
    }
}

/// Through a JSON value: the spec's scheduler flags renamed, then `patch`.
fn parse_patched<T: serde::de::DeserializeOwned>(
    path: &Path,
    data: &[u8],
    patch: fn(&mut serde_json::Value),
) -> Result<T, BundleError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| BundleError::ConfigParse {
            path: path.to_path_buf(),
            field: "(top)".into(),
            message: e.to_string(),
        })?;
    rename_scheduler_flags(&mut value);
    patch(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| parse_error(path, e))
}

/// oci-spec 0.10 spells two of the spec's scheduler flags its own way
/// (config.md: SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_DL_OVERRUN): the
/// spec's names are translated to its before parsing.
const SPEC_SCHED_FLAGS: &[(&str, &str)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

fn contains(data: &[u8], needle: &str) -> bool {
    data.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// In a config (process.scheduler.flags) or a process (scheduler.flags).
fn rename_scheduler_flags(value: &mut serde_json::Value) {
    for pointer in ["/process/scheduler/flags", "/scheduler/flags"] {
        let Some(flags) = value.pointer_mut(pointer).and_then(|f| f.as_array_mut()) else {
            continue;
        };
        for flag in flags {
            if let Some((_, theirs)) = SPEC_SCHED_FLAGS.iter().find(|(spec, _)| flag == spec) {
                *flag = serde_json::Value::from(*theirs);
            }
        }
    }
}

fn resolve_rootfs(dir: &Path, spec: &Spec) -> Result<PathBuf, BundleError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "is required"))?;
    let path = dir.join(root.path());
    let meta = std::fs::metadata(&path).map_err(|source| BundleError::Rootfs {
        field: "root.path",
        path: path.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", path.display()),
        ));
    }
    std::fs::canonicalize(&path).map_err(|source| BundleError::Rootfs {
        field: "root.path",
        path,
        source,
    })
}

fn validate(spec: &Spec) -> Result<(), BundleError> {
    validate_oci_version(spec.version())?;
    validate_process(spec)?;
    validate_namespaces(spec)?;
    validate_rlimits(spec)?;
    validate_linux_paths(spec)?;
    crate::linux::hooks::validate(spec.hooks().as_ref())?;
    if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        crate::linux::resources::validate(res)?;
    }
    reject_unsupported(spec)
}

/// config.md: "duplicated entries with same type ... MUST generate an error".
fn validate_rlimits(spec: &Spec) -> Result<(), BundleError> {
    let rlimits = spec.process().as_ref().and_then(|p| p.rlimits().as_ref());
    let mut seen = Vec::new();
    for (i, r) in rlimits.into_iter().flatten().enumerate() {
        if seen.contains(&r.typ()) {
            return Err(invalid(
                format!("process.rlimits[{i}].type"),
                format!("{} is listed twice", r.typ()),
            ));
        }
        seen.push(r.typ());
    }
    Ok(())
}

/// config.md: ociVersion is REQUIRED and "MUST be in SemVer v2.0.0 format";
/// a major version other than 1 is a specification rt does not implement.
fn validate_oci_version(version: &str) -> Result<(), BundleError> {
    if version.is_empty() {
        return Err(invalid("ociVersion", "is required"));
    }
    if !is_semver(version) {
        return Err(invalid(
            "ociVersion",
            format!("{version:?} is not a SemVer 2.0.0 version"),
        ));
    }
    if version.split('.').next() != Some("1") {
        return Err(invalid(
            "ociVersion",
            format!("{version}: rt implements version 1 of the runtime specification"),
        ));
    }
    Ok(())
}

/// SemVer 2.0.0: MAJOR.MINOR.PATCH, numbers without leading zeros, then an
/// optional `-pre.release` and `+build` of dot-separated [0-9A-Za-z-] words.
fn is_semver(v: &str) -> bool {
    let (v, build) = match v.split_once('+') {
        Some((v, b)) => (v, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let number = |n: &str| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|w| word(w) && (!w.bytes().all(|b| b.is_ascii_digit()) || number(w)))
        })
        && build.is_none_or(|b| b.split('.').all(word))
}

/// config-linux.md: maskedPaths and readonlyPaths "MUST be absolute paths in
/// the container namespace"; a relative one is refused rather than guessed at.
fn validate_linux_paths(spec: &Spec) -> Result<(), BundleError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    for (field, paths) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            if !Path::new(p).is_absolute() {
                return Err(invalid(
                    format!("{field}[{i}]"),
                    format!("{p} is not an absolute path"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_process(spec: &Spec) -> Result<(), BundleError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "is required to create a container"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must name a program to run"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec) -> Result<(), BundleError> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux", "is required on Linux"))?;
    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}]"),
                format!("namespace type {} is listed twice", ns.typ()),
            ));
        }
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces",
            "a mount namespace is required (rt never mounts in the host's namespace)",
        ));
    }
    let has = |t| seen.contains(&t);
    if (spec.hostname().is_some() || spec.domainname().is_some()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            "hostname",
            "setting a hostname or domainname needs a uts namespace",
        ));
    }
    let maps_set = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let new_user = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none());
    if maps_set && !new_user {
        return Err(invalid(
            "linux.uidMappings",
            "id mappings need a new user namespace",
        ));
    }
    if new_user && !maps_set {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if linux.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
        return Err(invalid("linux.timeOffsets", "needs a time namespace"));
    }
    Ok(())
}

/// Config fields rt does not implement yet are refused rather than ignored:
/// a container that silently runs without what it asked for is worse than
/// one that does not run.
fn reject_unsupported(spec: &Spec) -> Result<(), BundleError> {
    let linux = spec.linux().as_ref().expect("validated");
    if linux.net_devices().is_some() {
        return Err(invalid("linux.netDevices", "is not supported by rt yet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_version_is_semver_of_major_1() {
        for ok in [
            "1.0.0",
            "1.0.2-dev",
            "1.3.0",
            "1.1.0-rc.1",
            "1.0.0-rc2-dev",
            "1.2.3+build.7",
        ] {
            assert!(validate_oci_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "invalid", "1.0", "1.0.0.0", "01.0.0", "1.02.0", "1.0.0-", "1.0.0-01", "1.0.0+",
            "v1.0.0", "2.0.0",
        ] {
            assert!(validate_oci_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scheduler_flags_take_the_specs_names() {
        let path = std::env::temp_dir().join(format!("rt-sched-flags-{}.json", std::process::id()));
        let process = serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0},
            "scheduler": {"policy": "SCHED_DEADLINE",
                "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_RECLAIM"]}});
        std::fs::write(&path, process.to_string()).unwrap();
        let p: oci_spec::runtime::Process = read_json(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        use oci_spec::runtime::LinuxSchedulerFlag as F;
        assert_eq!(
            p.scheduler().as_ref().unwrap().flags().as_deref(),
            Some(
                &[
                    F::SchedResetOnFork,
                    F::SchedFlagDLOverrun,
                    F::SchedFlagReclaim
                ][..]
            )
        );
    }
}
