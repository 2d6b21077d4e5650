//! Compiled programs, cached under the runtime root as crun does, so that
//! creating containers from the same profile compiles it once. An entry is
//! `<root>/.@seccomp-cache/<hash>`: a header, the full key (what the
//! program depends on: the profile's rules, the native architecture, the
//! libseccomp and rt versions) and the program. The hash only names the
//! file: a hit must match the whole key, so a collision is a miss. Entries
//! are written atomically (a temp file renamed into place); a cache that
//! cannot be read or written only costs a compile. At most `MAX_ENTRIES`
//! are kept: the oldest written go first.

use super::arch::Arch;
use super::compile::compile;
use super::{SeccompError, program_from_bytes, program_to_bytes};
use oci_spec::runtime::LinuxSeccomp;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Container IDs cannot hold '@', so no container's directory clashes.
const DIR: &str = ".@seccomp-cache";
const MAGIC: &[u8] = b"rt-seccomp-cache 1\n";
const MAX_ENTRIES: usize = 64;

/// The cache directory of the runtime root `root`.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join(DIR)
}

/// The program for `profile`: from the cache in `dir` when there, else
/// compiled (and stored there).
pub fn program(profile: &LinuxSeccomp, dir: &Path) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let key = key(profile);
    let path = dir.join(format!("{:016x}", fnv1a(&key)));
    if let Some(program) = lookup(&path, &key) {
        return Ok(program);
    }
    let program = compile(profile)?;
    if let Err(e) = store(dir, &path, &key, &program) {
        crate::logging::debug(&format!(
            "seccomp cache {}: not stored: {e}",
            path.display()
        ));
    }
    Ok(program)
}

/// Everything the compiled program depends on. The flags and the listener
/// are not in it: they are applied at load time.
fn key(profile: &LinuxSeccomp) -> Vec<u8> {
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let rules = serde_json::json!({
        "defaultAction": profile.default_action(),
        "defaultErrnoRet": profile.default_errno_ret(),
        "architectures": profile.architectures(),
        "syscalls": profile.syscalls(),
    });
    format!(
        "rt {} {}\nlibseccomp {libseccomp}\narch {}\n{rules}",
        env!("CARGO_PKG_VERSION"),
        env!("RT_COMMIT"),
        Arch::native().name,
    )
    .into_bytes()
}

/// FNV-1a: a stable, dependency-free name for the entry.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn lookup(path: &Path, key: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let data = std::fs::read(path).ok()?;
    let rest = data.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    let (stored, program) = rest.split_at_checked(len)?;
    if stored != key || program.is_empty() || program.len() % size_of::<libc::sock_filter>() != 0 {
        return None;
    }
    Some(program_from_bytes(program))
}

fn store(
    dir: &Path,
    path: &Path,
    key: &[u8],
    program: &[libc::sock_filter],
) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut data = MAGIC.to_vec();
    data.extend_from_slice(&(key.len() as u32).to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(&program_to_bytes(program));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&data))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    prune(dir)
}

/// Keeps the newest `MAX_ENTRIES` entries.
fn prune(dir: &Path) -> std::io::Result<()> {
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= MAX_ENTRIES {
        return Ok(());
    }
    entries.sort();
    for (_, path) in &entries[..entries.len() - MAX_ENTRIES] {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_hit_needs_the_whole_key_and_entries_are_bounded() {
        let dir = std::env::temp_dir().join(format!("rt-seccomp-cache-{}", std::process::id()));
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        let compiled = program(&p, &dir).unwrap();
        let key = key(&p);
        let path = dir.join(format!("{:016x}", fnv1a(&key)));
        let cached = lookup(&path, &key).expect("stored");
        assert_eq!(program_to_bytes(&cached), program_to_bytes(&compiled));
        // The same file under another key (a hash collision) is a miss.
        assert!(lookup(&path, b"another profile").is_none());
        for i in 0..MAX_ENTRIES + 3 {
            let other = dir.join(format!("{i:016x}"));
            store(&dir, &other, format!("k{i}").as_bytes(), &compiled).unwrap();
        }
        let kept = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(kept, MAX_ENTRIES);
    }
}
