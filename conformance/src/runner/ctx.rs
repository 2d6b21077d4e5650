//! One case's world: its bundle, state root, container IDs and cgroups, the
//! runtime calls a case makes, and the cleanup of all of it afterwards.
//!
//! Layout: BASE/<tag>/<case>/{bundle/{config.json,rootfs}, state, logs, host}
//! with cgroups under /rt-conformance/<tag>/<case>[-suffix].

use crate::bundle::{PROBE, base_config, make_rootfs};
use crate::cleanup;
use crate::host;
use crate::outcome::{OrFail, Outcome, R, ensure, fail};
use crate::probe::Probe;
use crate::runtime::{Call, CmdOut, ExtraFd, Runtime, Sink};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup parent of everything this suite creates.
pub const CGROUP_PARENT: &str = "/rt-conformance";

/// How long a container may take to reach a state or print a line.
const WAIT: Duration = Duration::from_secs(10);

pub struct Ctx {
    pub rt: Runtime,
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub state_root: PathBuf,
    logs: PathBuf,
    /// The default container ID.
    pub id: String,
    /// The default cgroupsPath.
    pub cgroup: String,
    /// Written to bundle/config.json by every create.
    pub config: Value,
    ids: Vec<String>,
    cgroups: Vec<String>,
    seq: u32,
}

/// How to call create: from which directory, with which --bundle argument,
/// other options, descriptors and socket activation.
#[derive(Default)]
pub struct CreateOpts<'a> {
    pub cwd: Option<&'a Path>,
    pub bundle_arg: Option<&'a str>,
    pub args: Vec<&'a str>,
    pub extra_fds: Vec<ExtraFd>,
    pub listen_fds: Option<u32>,
}

impl Ctx {
    pub fn new(
        rt: &Runtime,
        base: &Path,
        tag: &str,
        case: &str,
        probe: &Path,
    ) -> Result<Ctx, String> {
        let slug = case.replace('.', "-");
        let dir = base.join(tag).join(&slug);
        if dir.exists() {
            cleanup::remove_tree(&dir)?;
        }
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        let logs = dir.join("logs");
        for d in [&logs, &dir.join("state"), &dir.join("host")] {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        make_rootfs(&rootfs, probe).map_err(|e| format!("rootfs {}: {e}", rootfs.display()))?;
        let cgroup = format!("{CGROUP_PARENT}/{tag}/{slug}");
        Ok(Ctx {
            rt: rt.clone(),
            state_root: dir.join("state"),
            id: format!("{tag}-{slug}"),
            config: base_config("conformance", &cgroup),
            cgroup,
            bundle,
            rootfs,
            logs,
            dir,
            ids: Vec::new(),
            cgroups: Vec::new(),
            seq: 0,
        })
    }

    // ---------------------------------------------------------------- config

    /// Process args: the probe with these actions.
    pub fn set_probe(&mut self, actions: &[&str]) {
        let mut args = vec![PROBE];
        args.extend_from_slice(actions);
        self.config["process"]["args"] = json!(args);
    }

    pub fn write_config(&self) -> R {
        let text = serde_json::to_string_pretty(&self.config).or_fail("serialize config")?;
        fs::write(self.bundle.join("config.json"), text).or_fail("write config.json")
    }

    pub fn add_namespace(&mut self, ns: Value) -> R {
        let list = self.config["linux"]["namespaces"]
            .as_array_mut()
            .or_fail("no namespaces")?;
        list.push(ns);
        Ok(())
    }

    pub fn remove_namespace(&mut self, kind: &str) -> R {
        let list = self.config["linux"]["namespaces"]
            .as_array_mut()
            .or_fail("no namespaces")?;
        list.retain(|n| n["type"] != kind);
        Ok(())
    }

    pub fn add_mount(&mut self, m: Value) -> R {
        let list = self.config["mounts"].as_array_mut().or_fail("no mounts")?;
        list.push(m);
        Ok(())
    }

    /// Another container ID of this case.
    pub fn other_id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id)
    }

    /// Another cgroupsPath of this case (for a second container).
    pub fn other_cgroup(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.cgroup)
    }

    /// A directory for host-side fixtures (bind sources, namespace files).
    pub fn host_dir(&self, name: &str) -> R<PathBuf> {
        let p = self.dir.join("host").join(name);
        fs::create_dir_all(&p).or_fail("create host dir")?;
        Ok(p)
    }

    /// A path inside the rootfs, as seen from the host.
    pub fn in_rootfs(&self, path: &str) -> PathBuf {
        self.rootfs.join(path.trim_start_matches('/'))
    }

    // ---------------------------------------------------------------- runtime calls

    fn sink_paths(&mut self) -> (PathBuf, PathBuf) {
        self.seq += 1;
        let n = self.seq;
        (
            self.logs.join(format!("{n}.out")),
            self.logs.join(format!("{n}.err")),
        )
    }

    /// `RUNTIME --root STATE ARGS...`.
    pub fn call(&mut self, args: &[&str]) -> CmdOut {
        let (out, err) = self.sink_paths();
        let call = Call {
            rt: &self.rt,
            root: &self.state_root,
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: None,
            extra_fds: Vec::new(),
            listen_fds: None,
        };
        call.run(&Sink {
            out: &out,
            err: &err,
            append: false,
        })
    }

    fn ctr_out(&self, id: &str) -> PathBuf {
        self.logs.join(format!("ctr-{id}.out"))
    }

    fn ctr_err(&self, id: &str) -> PathBuf {
        self.logs.join(format!("ctr-{id}.err"))
    }

    /// `create --bundle BUNDLE ID` with the current config; the container's
    /// stdout and stderr (the probe's output) go to per-ID files.
    pub fn create_with(&mut self, id: &str, opts: CreateOpts) -> R<CmdOut> {
        self.write_config()?;
        self.remember(id);
        let bundle = self.bundle.to_string_lossy().into_owned();
        let bundle_arg = opts.bundle_arg.unwrap_or(&bundle);
        let (out, err) = (self.ctr_out(id), self.ctr_err(id));
        let call = Call {
            rt: &self.rt,
            root: &self.state_root,
            args: ["create"]
                .iter()
                .chain(&opts.args)
                .chain(&["--bundle", bundle_arg, id])
                .map(|s| s.to_string())
                .collect(),
            cwd: opts.cwd,
            extra_fds: opts.extra_fds,
            listen_fds: opts.listen_fds,
        };
        Ok(call.run(&Sink {
            out: &out,
            err: &err,
            append: true,
        }))
    }

    pub fn create(&mut self, id: &str) -> R<CmdOut> {
        self.create_with(id, CreateOpts::default())
    }

    /// Creates `id`, which must then be `created`; returns its PID.
    pub fn create_ok(&mut self, id: &str) -> R<u32> {
        let out = self.create(id)?;
        ensure!(out.success(), "create failed: {}", out.describe());
        self.created_pid(id)
    }

    /// The PID of a container that should be `created`.
    pub fn created_pid(&mut self, id: &str) -> R<u32> {
        let st = self.state_json(id)?;
        ensure_status(&st, "created")?;
        state_pid(&st)
    }

    pub fn start(&mut self, id: &str) -> CmdOut {
        self.call(&["start", id])
    }

    pub fn start_ok(&mut self, id: &str) -> R {
        let out = self.start(id);
        ensure!(out.success(), "start failed: {}", out.describe());
        Ok(())
    }

    pub fn state(&mut self, id: &str) -> CmdOut {
        self.call(&["state", id])
    }

    pub fn state_json(&mut self, id: &str) -> R<Value> {
        let out = self.state(id);
        ensure!(out.success(), "state failed: {}", out.describe());
        serde_json::from_str(&out.stdout)
            .map_err(|e| Outcome::Fail(format!("state printed no JSON ({e}): {}", out.describe())))
    }

    pub fn status(&mut self, id: &str) -> R<String> {
        let st = self.state_json(id)?;
        st["status"]
            .as_str()
            .map(str::to_owned)
            .or_fail("state without status")
    }

    /// Polls `state` until the container reaches `want`.
    pub fn wait_status(&mut self, id: &str, want: &str) -> R {
        let mut last = Ok(String::new());
        let ok = host::wait_until(WAIT, || {
            last = self.status(id);
            matches!(&last, Ok(s) if s == want)
        });
        if ok {
            return Ok(());
        }
        match last {
            Ok(s) => fail!("container did not become {want} within {WAIT:?}; last status {s}"),
            Err(e) => Err(e),
        }
    }

    pub fn kill(&mut self, id: &str, sig: &str) -> CmdOut {
        self.call(&["kill", id, sig])
    }

    pub fn delete(&mut self, id: &str) -> CmdOut {
        self.call(&["delete", id])
    }

    // ---------------------------------------------------------------- the probe

    /// What the container `id` printed so far.
    pub fn output(&self, id: &str) -> Probe {
        Probe::parse(&fs::read_to_string(self.ctr_out(id)).unwrap_or_default())
    }

    fn ctr_stderr(&self, id: &str) -> String {
        fs::read_to_string(self.ctr_err(id)).unwrap_or_default()
    }

    /// Waits until the probe in `id` printed a line matching `pred`.
    pub fn wait_line(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> R<Value> {
        let mut found = None;
        host::wait_until(WAIT, || {
            found = self.output(id).lines.into_iter().find(|l| pred(l));
            found.is_some()
        });
        found.ok_or_else(|| {
            Outcome::Fail(format!(
                "the container did not print {what} within {WAIT:?}; its stderr: {:?}",
                self.ctr_stderr(id).trim()
            ))
        })
    }

    /// create, start, wait until stopped: what the probe saw and did.
    pub fn run_probe(&mut self, actions: &[&str]) -> R<Probe> {
        self.set_probe(actions);
        self.run_probe_as_configured()
    }

    /// run_probe with process.args as the case set them.
    pub fn run_probe_as_configured(&mut self) -> R<Probe> {
        let id = self.id.clone();
        self.create_ok(&id)?;
        self.start_ok(&id)?;
        self.wait_status(&id, "stopped")?;
        let p = self.output(&id);
        if p.report().is_err() {
            fail!(
                "the probe printed no report; container stderr: {:?}",
                self.ctr_stderr(&id).trim()
            );
        }
        Ok(p)
    }

    /// create and start `id` running the probe with `actions` (which should
    /// keep it alive, e.g. `sleep:60`); returns its PID once it has reported.
    pub fn launch(&mut self, id: &str, actions: &[&str]) -> R<u32> {
        self.set_probe(actions);
        let pid = self.create_ok(id)?;
        self.start_ok(id)?;
        self.wait_line(id, "its report", |l| l["action"] == "report")?;
        Ok(pid)
    }

    // ---------------------------------------------------------------- leftovers

    /// Remembers a container ID and its cgroup for the cleanup.
    fn remember(&mut self, id: &str) {
        if !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_owned());
        }
        let cg = self.config["linux"]["cgroupsPath"]
            .as_str()
            .map(str::to_owned);
        if let Some(cg) = cg {
            self.track_cgroup(&cg);
        }
    }

    /// A cgroup of ours (under CGROUP_PARENT) to remove after the case.
    pub fn track_cgroup(&mut self, cg: &str) {
        if cg.starts_with(&format!("{CGROUP_PARENT}/")) && !self.cgroups.iter().any(|c| c == cg) {
            self.cgroups.push(cg.to_owned());
        }
    }

    /// Back to the starting config (the probe with no actions).
    pub fn reset_config(&mut self) {
        self.config = base_config("conformance", &self.cgroup);
    }

    /// After a create that had to fail: the environment is as if it had never
    /// been attempted (runtime.md "Errors"): no container `id`, no state,
    /// no cgroup, no process, no mount.
    pub fn ensure_never_created(&mut self, id: &str, out: &CmdOut) -> R {
        ensure!(
            out.failed_cleanly(),
            "create should have failed with an error: {}",
            out.describe()
        );
        let st = self.state(id);
        ensure!(
            !st.success(),
            "the failed create left container {id} behind: {}",
            st.stdout.trim()
        );
        let left = cleanup::visible_entries(&self.state_root);
        ensure!(
            left.is_empty(),
            "the failed create left state behind: {left:?}"
        );
        for cg in self.cgroups.clone() {
            let dirs = host::cgroup_dirs(&cg);
            ensure!(
                dirs.is_empty(),
                "the failed create left cgroups behind: {dirs:?}"
            );
            let pids = host::pids_in_cgroup(&cg);
            ensure!(
                pids.is_empty(),
                "the failed create left processes behind: {pids:?}"
            );
        }
        let m = host::mounts_under(&self.dir);
        ensure!(m.is_empty(), "the failed create left mounts behind: {m:?}");
        Ok(())
    }

    /// Removes everything the case made; returns what could not be removed.
    pub fn finish(mut self) -> Vec<String> {
        for id in std::mem::take(&mut self.ids) {
            let _ = self.call(&["delete", "--force", &id]);
        }
        cleanup::case_leftovers(&self.cgroups, &self.dir)
    }
}

pub fn ensure_status(st: &Value, want: &str) -> R {
    let got = st["status"].as_str();
    ensure!(
        got == Some(want),
        "state status is {got:?}, expected {want:?}"
    );
    Ok(())
}

pub fn state_pid(st: &Value) -> R<u32> {
    let pid = st["pid"]
        .as_u64()
        .or_fail(&format!("state has no pid: {st}"))?;
    ensure!(pid > 0, "state pid is {pid}");
    u32::try_from(pid).or_fail("pid out of range")
}
