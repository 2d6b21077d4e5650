//! The bundle: config.json and the root filesystem it names (bundle.md).
//! Loading checks everything that can be checked before any change is made to
//! the host, so bad input fails with nothing to clean up.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
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
    let file = File::open(path).map_err(|source| BundleError::ConfigOpen {
        path: path.to_path_buf(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(file));
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        BundleError::ConfigParse {
            path: path.to_path_buf(),
            field: if field == "." { "(top)".into() } else { field },
            message: e.into_inner().to_string(),
        }
    })
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
    validate_process(spec)?;
    validate_namespaces(spec)?;
    validate_rlimits(spec)?;
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
/// a container that silently runs without its seccomp profile is worse than
/// one that does not run.
fn reject_unsupported(spec: &Spec) -> Result<(), BundleError> {
    let unsupported = |field: &str| invalid(field, "is not supported by rt yet");
    let process = spec.process().as_ref().expect("validated");
    let process_fields = [
        (
            "process.apparmorProfile",
            process.apparmor_profile().is_some(),
        ),
        ("process.selinuxLabel", process.selinux_label().is_some()),
        ("process.ioPriority", process.io_priority().is_some()),
        ("process.scheduler", process.scheduler().is_some()),
        (
            "process.execCPUAffinity",
            process.exec_cpu_affinity().is_some(),
        ),
    ];
    if let Some((field, _)) = process_fields.iter().find(|(_, set)| *set) {
        return Err(unsupported(field));
    }
    let linux = spec.linux().as_ref().expect("validated");
    let linux_fields = [
        ("linux.mountLabel", linux.mount_label().is_some()),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        ("linux.netDevices", linux.net_devices().is_some()),
    ];
    if let Some((field, _)) = linux_fields.iter().find(|(_, set)| *set) {
        return Err(unsupported(field));
    }
    Ok(())
}
