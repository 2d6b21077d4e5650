//! Helpers shared by the integration tests.

pub mod layer;
pub mod oci;
pub mod proxy;
pub mod registry;
pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temp directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rt-bundle-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// rt-bundle with a clean environment: HOME in `home`, no auth files
/// from the machine, no proxy.
pub fn rt_bundle(home: &Path, args: &[&str]) -> Output {
    rt_bundle_env(home, args, &[])
}

pub fn rt_bundle_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rt-bundle"));
    cmd.args(args).env("HOME", home);
    for var in [
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_RUNTIME_DIR",
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "rt-bundle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with a one-line message containing `want`.
pub fn fails_with(out: &Output, want: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "rt-bundle succeeded; stderr: {err}");
    assert!(err.contains(want), "want {want:?} in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "want one line: {err}");
    assert!(err.starts_with("rt-bundle: "), "{err}");
    err
}

/// Asserts that a failed run left neither `dir` nor a staging directory
/// next to it.
pub fn nothing_left(dir: &Path) {
    assert!(!dir.exists(), "{} was created", dir.display());
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    for e in std::fs::read_dir(parent).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !n.starts_with(&format!(".{name}.rt-bundle")),
            "left behind: {n}"
        );
    }
}

pub fn config_json(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

/// The busybox base layer, built once per test run.
pub fn busybox_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| layer::busybox().tar())
}

/// Skips a test (with the reason on stderr) when the registry tools are
/// missing.
pub fn registry_tools() -> bool {
    match registry::tools_missing() {
        Some(tool) => {
            eprintln!("skipping: {tool} is not installed (hack/setup.sh installs it)");
            false
        }
        None => true,
    }
}
