//! A real registry (Debian's docker-registry) on 127.0.0.1, storage in a
//! test's temp dir, killed when dropped; and skopeo to push to it.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub enum Auth {
    None,
    /// An htpasswd file (bcrypt).
    Htpasswd(PathBuf),
    /// Bearer tokens from our token server, signed by `cert`'s key.
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert: PathBuf,
    },
}

pub struct Registry {
    child: Child,
    pub host: String,
    pub storage: PathBuf,
    log: PathBuf,
}

/// Whether the tools these tests drive are installed (hack/setup.sh
/// installs them).
pub fn tools_missing() -> Option<&'static str> {
    ["docker-registry", "skopeo", "htpasswd", "openssl"]
        .into_iter()
        .find(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a registry serving `storage` (several may share one).
    pub fn start(dir: &Path, storage: &Path, auth: Auth) -> Registry {
        // A port picked by the kernel may be taken again before the
        // registry binds it; try a few.
        for attempt in 0..5 {
            let port = free_port();
            let name = format!("registry-{port}");
            let config = dir.join(format!("{name}.yml"));
            let log = dir.join(format!("{name}.log"));
            fs::write(&config, config_yaml(storage, port, &auth)).unwrap();
            let child = Command::new("docker-registry")
                .args(["serve", config.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(fs::File::create(&log).unwrap())
                .stderr(Stdio::from(
                    fs::OpenOptions::new().append(true).open(&log).unwrap(),
                ))
                .spawn()
                .expect("docker-registry");
            let mut registry = Registry {
                child,
                host: format!("127.0.0.1:{port}"),
                storage: storage.to_path_buf(),
                log,
            };
            if registry.wait_ready() {
                return registry;
            }
            eprintln!("registry on port {port} did not come up (attempt {attempt})");
        }
        panic!("could not start docker-registry");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if TcpStream::connect(&self.host).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The requests served so far, as "METHOD URI STATUS".
    pub fn requests(&self) -> Vec<String> {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("http.response.status="))
            .map(|l| {
                let field = |key: &str| {
                    let start = l.find(key).map(|i| i + key.len()).unwrap_or(l.len());
                    l[start..]
                        .split(' ')
                        .next()
                        .unwrap_or("")
                        .trim_matches('"')
                        .to_string()
                };
                format!(
                    "{} {} {}",
                    field("http.request.method="),
                    field("http.request.uri="),
                    field("http.response.status=")
                )
            })
            .collect()
    }

    /// The data file of a blob in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_yaml(storage: &Path, port: u16, auth: &Auth) -> String {
    let mut y = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    match auth {
        Auth::None => {}
        Auth::Htpasswd(path) => {
            y += &format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                path.display()
            );
        }
        Auth::Token {
            realm,
            service,
            issuer,
            cert,
        } => {
            y += &format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            );
        }
    }
    y
}

/// Writes an htpasswd file with one user.
pub fn htpasswd(path: &Path, user: &str, password: &str) {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "htpasswd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(path, out.stdout).unwrap();
}

/// Pushes `oci:LAYOUT:TAG` to `dest` (host/repo:tag); `docker` converts to
/// Docker schema 2, `all` pushes every platform of an index.
pub fn push(layout: &Path, tag: &str, dest: &str, docker: bool, all: bool) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
    ]);
    if docker {
        cmd.args(["--format", "v2s2"]);
    }
    if all {
        cmd.arg("--all");
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "skopeo copy to {dest}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The manifest the registry holds for `reference` (host/repo:tag), as
/// pushed (skopeo may have recompressed layers), and its digest.
pub fn pushed_manifest(reference: &str) -> (String, serde_json::Value) {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        super::oci::sha256(&out.stdout),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}
