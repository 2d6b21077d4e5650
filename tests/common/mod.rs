//! Harness for the root integration tests: builds a busybox bundle per test,
//! drives the runtime's runc-compatible command line, and cleans up after itself.
//!
//! The binary under test is `$RT_BIN`, else the crate's own `rt` binary.
//! Every test uses its own bundle, state root (`--root`), container IDs and
//! cgroup (`/rt-test/<unique>`), so tests can run in parallel threads.

#![allow(dead_code)]

pub mod console;

use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BASE_DIR: &str = "/tmp/rt-it";
pub const CGROUP_PARENT: &str = "rt-test";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Upper bound for any single runtime invocation; a hang is a failure, not a stuck suite.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn geteuid() -> u32;
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    fn umount2(target: *const std::ffi::c_char, flags: i32) -> i32;
}
const MNT_DETACH: i32 = 2;

pub fn rt_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RT_BIN") {
        return PathBuf::from(p);
    }
    match option_env!("CARGO_BIN_EXE_rt") {
        Some(p) => PathBuf::from(p),
        None => panic!("set RT_BIN to the runtime binary under test"),
    }
}

/// True when the binary under test is runc, which breaks the spec in a few
/// places; the tests asserting the spec there skip themselves.
pub fn is_runc() -> bool {
    rt_bin().file_name().is_some_and(|n| n == "runc")
}

pub fn is_root() -> bool {
    unsafe { geteuid() == 0 }
}

/// Returns true (and says why) when a spec-mandated test must be skipped on runc.
/// `RT_IT_NO_SKIP=1` runs them anyway, to see them fail on runc.
pub fn skip_on_runc(why: &str) -> bool {
    if is_runc() && std::env::var_os("RT_IT_NO_SKIP").is_none() {
        eprintln!("skipped on runc: {why}");
        return true;
    }
    false
}

/// Sends `sig` to one process we know by PID.
pub fn send_signal(pid: u32, sig: i32) -> bool {
    unsafe { libc_kill(pid as i32, sig) == 0 }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Alive and not a zombie (an unreaped container init counts as gone).
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')))
        }
        Err(_) => false,
    }
}

/// Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, name=systemd, unified),
/// or /sys/fs/cgroup itself on a cgroup v2 host (its subdirectories are cgroups).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    if is_cgroup2_host() {
        return vec![PathBuf::from(CGROUP_ROOT)];
    }
    let mut v: Vec<PathBuf> = fs::read_dir(CGROUP_ROOT)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// True on a cgroup v2 only host (the VM of hack/vm-cgroup2.sh).
pub fn is_cgroup2_host() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// The v1 controllers this machine mounts (HOST.md); the container must be in its cgroup for each.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

/// PIDs of all processes whose /proc/<pid>/cgroup names `cgpath` in any hierarchy.
pub fn pids_in_cgroup(cgpath: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cg) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        let hit = cg.lines().any(|l| {
            let p = l.splitn(3, ':').nth(2).unwrap_or("");
            p == cgpath || p.starts_with(&format!("{cgpath}/"))
        });
        if hit && pid_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Namespace link of a process, e.g. "net:[4026531833]".
pub fn ns_link(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Mount points (host mount namespace) at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape_mount))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Cap mask as shown in /proc/<pid>/status for a list of capability names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| m | (1u64 << cap_number(n)))
}

pub fn cap_number(name: &str) -> u32 {
    const CAPS: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let short = name.strip_prefix("CAP_").unwrap_or(name);
    CAPS.iter()
        .position(|c| *c == short)
        .unwrap_or_else(|| panic!("unknown cap {name}")) as u32
}

/// Value of a "Key:\tvalue" line in a /proc/<pid>/status text.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

// ---------------------------------------------------------------- command output

#[derive(Debug)]
pub struct Out {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// Panics with the command's output unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.success(),
            "`{}` failed: {:?}\nstdout: {}\nstderr: {}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
    /// Panics unless it exited non-zero and said something on stderr.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            !self.success(),
            "`{}` should have failed\nstdout: {}\nstderr: {}",
            self.what,
            self.stdout,
            self.stderr
        );
        assert!(
            self.code().is_some(),
            "`{}` died from a signal: {:?}",
            self.what,
            self.status
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "`{}` failed without a word on stderr",
            self.what
        );
        self
    }
}

fn wait_timeout(child: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------- the bundle

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn busybox_applets() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .filter(|a| !a.is_empty() && a != "busybox" && !a.contains('/'))
            .collect()
    })
}

/// A per-test bundle, state root and set of containers; everything it made is removed on drop.
pub struct Bundle {
    pub name: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub state_root: PathBuf,
    /// The default container ID (unique on the host, in case the runtime keys anything global by ID).
    pub id: String,
    ids: RefCell<Vec<String>>,
    cgroups: RefCell<Vec<String>>,
    pids: RefCell<Vec<u32>>,
    children: RefCell<Vec<Child>>,
    seq: Cell<u32>,
}

impl Bundle {
    /// None (after saying why) when not root: the caller just returns.
    pub fn new(test: &str) -> Option<Bundle> {
        if !is_root() {
            eprintln!("skipping {test}: the runtime tests need root");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{test}-{}-{n}", std::process::id());
        let dir = PathBuf::from(BASE_DIR).join(&name);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove stale bundle");
        }
        let rootfs = dir.join("rootfs");
        for d in [
            "bin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "etc",
            "root",
            "home/tester",
        ] {
            // Retried: a finishing test may remove an empty /tmp/rt-it under our feet.
            let p = rootfs.join(d);
            let ok = (0..20).any(|_| fs::create_dir_all(&p).is_ok() && p.is_dir());
            assert!(ok, "cannot create {}", p.display());
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (apt-get install busybox-static)");
        for a in busybox_applets() {
            let _ = symlink("/bin/busybox", rootfs.join("bin").join(a));
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\ntty:x:5:\ntester:x:1000:\n",
        )
        .unwrap();

        let b = Bundle {
            state_root: dir.join("state"),
            id: name.clone(),
            name,
            dir,
            rootfs,
            ids: RefCell::new(Vec::new()),
            cgroups: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
            children: RefCell::new(Vec::new()),
            seq: Cell::new(0),
        };
        let mut cfg = base_config();
        cfg["linux"]["cgroupsPath"] = json!(b.cgroup_path());
        b.write_config(&cfg);
        Some(b)
    }

    /// "/rt-test/<unique>": the cgroupsPath of the template config.
    pub fn cgroup_path(&self) -> String {
        format!("/{CGROUP_PARENT}/{}", self.name)
    }

    /// A second container ID for tests that need more than one.
    pub fn other_id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn read_config(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.config_path()).unwrap()).unwrap()
    }

    pub fn write_config(&self, v: &Value) {
        fs::write(self.config_path(), serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    /// Edits config.json in place.
    pub fn config(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.read_config();
        f(&mut v);
        self.write_config(&v);
    }

    pub fn set_args(&self, args: &[&str]) {
        self.config(|c| c["process"]["args"] = json!(args));
    }

    /// Runs `sh -c script` in the container.
    pub fn set_script(&self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    pub fn remove_namespace(&self, kind: &str) {
        self.config(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != kind);
        });
    }

    pub fn add_namespace(&self, ns: Value) {
        self.config(|c| c["linux"]["namespaces"].as_array_mut().unwrap().push(ns));
    }

    pub fn add_mount(&self, m: Value) {
        self.config(|c| c["mounts"].as_array_mut().unwrap().push(m));
    }

    /// Path of a file inside the rootfs, as seen from the host.
    pub fn host_path(&self, in_container: &str) -> PathBuf {
        self.rootfs.join(in_container.trim_start_matches('/'))
    }

    // ------------------------------------------------------------ invoking the runtime

    fn next_log(&self) -> (PathBuf, PathBuf) {
        let n = self.seq.get();
        self.seq.set(n + 1);
        (
            self.dir.join(format!("cmd-{n}.out")),
            self.dir.join(format!("cmd-{n}.err")),
        )
    }

    pub fn remember(&self, id: &str) {
        if id.is_empty() {
            return;
        }
        // The config may be deliberately broken; then the template's cgroup is the one to watch.
        let cg = fs::read_to_string(self.config_path())
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|c| c["linux"]["cgroupsPath"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.cgroup_path());
        if !self.ids.borrow().iter().any(|i| i == id) {
            self.ids.borrow_mut().push(id.to_owned());
        }
        if cg.starts_with(&format!("/{CGROUP_PARENT}/")) && !self.cgroups.borrow().contains(&cg) {
            self.cgroups.borrow_mut().push(cg);
        }
    }

    fn command(&self, global: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new(rt_bin());
        c.arg("--root")
            .arg(&self.state_root)
            .args(global)
            .args(args);
        c.stdin(Stdio::null());
        // Marker for tests that the runtime's own environment does not leak into containers.
        c.env("RT_IT_HOST_ONLY", "leak");
        c
    }

    fn exec(&self, mut cmd: Command, what: String, out: &Path, err: &Path, append: bool) -> Out {
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(p)
                .unwrap()
        };
        cmd.stdout(open(out)).stderr(open(err));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", rt_bin().display()));
        let status = wait_timeout(&mut child, &what, CMD_TIMEOUT);
        Out {
            what,
            status,
            stdout: fs::read_to_string(out).unwrap_or_default(),
            stderr: fs::read_to_string(err).unwrap_or_default(),
        }
    }

    /// `RT --root STATE <global...> <args...>`, output captured through files.
    pub fn rt_with(&self, global: &[&str], args: &[&str]) -> Out {
        let (o, e) = self.next_log();
        let what = format!("rt {} {}", global.join(" "), args.join(" "));
        self.exec(self.command(global, args), what, &o, &e, false)
    }

    pub fn rt(&self, args: &[&str]) -> Out {
        self.rt_with(&[], args)
    }

    /// `create --bundle DIR ID`; the container inherits create's stdout/stderr, which go
    /// to files (appended, so a refused duplicate cannot clobber the first container's output).
    pub fn create(&self, id: &str) -> Out {
        self.remember(id);
        let dir = self.dir.to_str().unwrap().to_owned();
        let cmd = self.command(&[], &["create", "--bundle", &dir, id]);
        let what = format!("rt create --bundle {dir} {id}");
        let out = self.exec(
            cmd,
            what,
            &self.ctr_out_path(id),
            &self.ctr_err_path(id),
            true,
        );
        if out.success()
            && let Some(pid) = self.state(id).ok().json()["pid"].as_u64()
        {
            self.pids.borrow_mut().push(pid as u32);
        }
        out
    }

    /// `create --bundle BUNDLE_ARG ID` run from `cwd` (for relative bundle paths).
    pub fn create_in(&self, cwd: &str, bundle_arg: &str, id: &str) -> Out {
        self.remember(id);
        let (o, e) = (self.ctr_out_path(id), self.ctr_err_path(id));
        let mut cmd = self.command(&[], &["create", "--bundle", bundle_arg, id]);
        cmd.current_dir(cwd);
        self.exec(
            cmd,
            format!("(cd {cwd}; rt create --bundle {bundle_arg} {id})"),
            &o,
            &e,
            true,
        )
    }

    /// Creates the container and returns its PID.
    #[track_caller]
    pub fn create_ok(&self, id: &str) -> u32 {
        self.create(id).ok();
        self.pid(id)
    }

    pub fn ctr_out_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("ctr-{}.out", id.replace('/', "_")))
    }
    pub fn ctr_err_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("ctr-{}.err", id.replace('/', "_")))
    }
    /// What a created/started container wrote to its stdout so far.
    pub fn ctr_stdout(&self, id: &str) -> String {
        fs::read_to_string(self.ctr_out_path(id)).unwrap_or_default()
    }

    pub fn start(&self, id: &str) -> Out {
        self.rt(&["start", id])
    }

    pub fn state(&self, id: &str) -> Out {
        self.rt(&["state", id])
    }

    #[track_caller]
    pub fn state_json(&self, id: &str) -> Value {
        self.state(id).ok().json()
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state_json(id)["status"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    #[track_caller]
    pub fn pid(&self, id: &str) -> u32 {
        let st = self.state_json(id);
        st["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no pid in state {st}")) as u32
    }

    /// Waits (up to 10 s) for the container to reach `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        let ok = wait_until(Duration::from_secs(10), || {
            last = self.status(id);
            last == status
        });
        assert!(
            ok,
            "container {id} did not become {status}; last status {last}"
        );
    }

    pub fn kill(&self, id: &str, sig: &str) -> Out {
        self.rt(&["kill", id, sig])
    }

    pub fn delete(&self, id: &str) -> Out {
        self.rt(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Out {
        self.rt(&["delete", "--force", id])
    }

    pub fn list(&self, args: &[&str]) -> Out {
        let mut a = vec!["list"];
        a.extend_from_slice(args);
        self.rt(&a)
    }

    /// `run [extra...] --bundle DIR ID` in the foreground.
    pub fn run(&self, id: &str, extra: &[&str]) -> Out {
        self.remember(id);
        let dir = self.dir.to_str().unwrap().to_owned();
        let mut a = vec!["run"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--bundle", &dir, id]);
        self.rt(&a)
    }

    /// Runs the default container to completion and returns its stdout; asserts exit 0.
    #[track_caller]
    pub fn run_ok(&self) -> String {
        self.run(&self.id, &[]).ok().stdout
    }

    /// Starts `run --bundle DIR ID` in the background; output goes to ctr_out_path / ctr_err_path.
    /// Returns the PID of the runtime process (killed on drop if still there).
    pub fn spawn_run(&self, id: &str) -> u32 {
        self.remember(id);
        let dir = self.dir.to_str().unwrap().to_owned();
        let mut cmd = self.command(&[], &["run", "--bundle", &dir, id]);
        cmd.stdout(File::create(self.ctr_out_path(id)).unwrap())
            .stderr(File::create(self.ctr_err_path(id)).unwrap());
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        self.children.borrow_mut().push(child);
        pid
    }

    /// Waits for a background `run` started by spawn_run.
    #[track_caller]
    pub fn wait_spawned(&self, pid: u32) -> ExitStatus {
        let mut kids = self.children.borrow_mut();
        let i = kids
            .iter()
            .position(|c| c.id() == pid)
            .expect("not our child");
        let mut child = kids.remove(i);
        drop(kids);
        wait_timeout(&mut child, "rt run (background)", CMD_TIMEOUT)
    }

    // ------------------------------------------------------------ leftovers

    /// Asserts the runtime left nothing of the containers this bundle made:
    /// no state dir, no cgroup dirs, no live process, no mount under the bundle.
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        for id in self.ids.borrow().iter() {
            let p = self.state_root.join(id);
            assert!(!p.exists(), "state dir {} still exists", p.display());
        }
        for cg in self.cgroups.borrow().iter() {
            for h in cgroup_hierarchies() {
                let p = h.join(cg.trim_start_matches('/'));
                assert!(!p.exists(), "cgroup {} still exists", p.display());
            }
            let pids = pids_in_cgroup(cg);
            assert!(pids.is_empty(), "processes {pids:?} still in cgroup {cg}");
        }
        for pid in self.pids.borrow().iter() {
            assert!(!pid_alive(*pid), "container process {pid} still alive");
        }
        let m = mounts_under(&self.dir);
        assert!(m.is_empty(), "mounts left under the bundle: {m:?}");
    }

    /// Control for failure tests: with the template config restored, the same bundle
    /// creates (and force-deletes) a container, so the failure was due to the defect.
    #[track_caller]
    pub fn assert_template_creates(&self) {
        let mut cfg = base_config();
        cfg["linux"]["cgroupsPath"] = json!(self.cgroup_path());
        cfg["process"]["args"] = json!(["sleep", "1000"]);
        self.write_config(&cfg);
        let id = self.other_id("control");
        self.create_ok(&id);
        assert_eq!(self.status(&id), "created");
        self.delete_force(&id).ok();
        self.assert_nothing_left();
    }

    /// Nothing in the state root at all (for failed creates, whatever the
    /// ID), but rt's runtime-wide caches (`.@NAME`: no container ID has '@').
    #[track_caller]
    pub fn assert_state_root_empty(&self) {
        if let Ok(rd) = fs::read_dir(&self.state_root) {
            let names: Vec<_> = rd
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with(".@"))
                .collect();
            assert!(names.is_empty(), "state root not empty: {names:?}");
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Always ask: the runtime may keep state somewhere other than <root>/<id>.
        for id in self.ids.borrow().clone() {
            let (o, e) = self.next_log();
            let mut c = self.command(&[], &["delete", "--force", &id]);
            if let (Ok(fo), Ok(fe)) = (File::create(&o), File::create(&e)) {
                c.stdout(fo).stderr(fe);
            }
            if let Ok(mut ch) = c.spawn() {
                let deadline = Instant::now() + Duration::from_secs(10);
                while ch.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = ch.kill();
                let _ = ch.wait();
            }
        }
        for mut ch in self.children.borrow_mut().drain(..) {
            let _ = ch.kill();
            let _ = ch.wait();
        }
        // Container processes are ours too; only those still in our cgroup (no PID-reuse victims).
        for cg in self.cgroups.borrow().iter() {
            for pid in pids_in_cgroup(cg) {
                send_signal(pid, SIGKILL);
            }
        }
        for cg in self.cgroups.borrow().iter() {
            let rel = cg.trim_start_matches('/');
            assert!(rel.starts_with("rt-test/"), "refusing to touch cgroup {cg}");
            for h in cgroup_hierarchies() {
                let p = h.join(rel);
                if p.exists() {
                    wait_until(Duration::from_secs(3), || {
                        fs::remove_dir(&p).is_ok() || !p.exists()
                    });
                }
            }
        }
        for h in cgroup_hierarchies() {
            // Other tests may still use the parent: EBUSY/ENOTEMPTY is fine.
            let _ = fs::remove_dir(h.join(CGROUP_PARENT));
        }
        for m in mounts_under(&self.dir) {
            if let Ok(c) = std::ffi::CString::new(m) {
                unsafe { umount2(c.as_ptr(), MNT_DETACH) };
            }
        }
        if mounts_under(&self.dir).is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "not removing {}: mounts remain under it",
                self.dir.display()
            );
        }
        let _ = fs::remove_dir(BASE_DIR);
    }
}

impl Out {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {:?}", self.what, self.stdout))
    }
}

/// A persistent network namespace bound on a file (`unshare --net=FILE`), removed on drop.
pub struct NetNs {
    pub path: PathBuf,
}

impl NetNs {
    pub fn new() -> NetNs {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = PathBuf::from(BASE_DIR).join(format!("netns-{}-{n}", std::process::id()));
        let ok =
            (0..20).any(|_| fs::create_dir_all(BASE_DIR).is_ok() && File::create(&path).is_ok());
        assert!(ok, "cannot create {}", path.display());
        let st = Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "unshare --net={} failed",
            path.display()
        );
        NetNs { path }
    }
    pub fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
    /// "net:[inode]" as a /proc/<pid>/ns/net link would show it.
    pub fn link(&self) -> String {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", fs::metadata(&self.path).unwrap().ino())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(self.path.to_string_lossy().into_owned()) {
            unsafe { umount2(c.as_ptr(), MNT_DETACH) };
        }
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(BASE_DIR);
    }
}

/// The config `runc spec` writes, adjusted for tests: no terminal, writable root, our hostname.
pub fn base_config() -> Value {
    let mut v: Value = serde_json::from_str(RUNC_SPEC).unwrap();
    v["process"]["terminal"] = json!(false);
    v["root"]["readonly"] = json!(false);
    v["hostname"] = json!("rt-test");
    v
}

const RUNC_SPEC: &str = r#"{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": { "uid": 0, "gid": 0 },
		"args": [ "sh" ],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": true },
	"hostname": "runc",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] },
		{ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		  "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
			{ "type": "uts" }, { "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}"#;

/// One line of /proc/<pid>/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub root: String,
    pub point: String,
    pub opts: Vec<String>,
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub superopts: Vec<String>,
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
            Some(MountInfo {
                root: unescape_mount(pre.get(3)?),
                point: unescape_mount(pre.get(4)?),
                opts: split(pre.get(5)?),
                optional: pre[6..].iter().map(|s| s.to_string()).collect(),
                fstype: post.first()?.to_string(),
                source: post.get(1).unwrap_or(&"").to_string(),
                superopts: split(post.get(2).unwrap_or(&"")),
            })
        })
        .collect()
}

/// The topmost mount at `point` (the last one listed wins, as for path lookup).
pub fn find_mount<'a>(mounts: &'a [MountInfo], point: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.point == point)
}
