//! `rt create`: everything of the container but the program, which waits
//! for `start` (runtime.md "Lifecycle" steps 1-6).

use super::{Error, Result};
use crate::bundle::Bundle;
use crate::cli::{CreateArgs, CreateOpts};
use crate::linux::cgroups;
use crate::linux::console;
use crate::linux::intelrdt::RdtPlan;
use crate::linux::keyring::SessionKeyring;
use crate::process::{ConsoleTo, InitPlan, spawn};
use crate::state::{Record, StateDir, StateJson, Status, proc_stat};
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::OwnedFd;
use std::path::Path;

pub fn run(root: &Path, args: &CreateArgs) -> Result<i32> {
    create_container(root, &args.id, &args.opts, false)?;
    Ok(0)
}

/// A container made by `create_container`, its state directory locked.
pub struct Created {
    pub dir: StateDir,
    pub record: Record,
    /// The pty master, when `attach` was asked and the process has a terminal.
    pub master: Option<OwnedFd>,
}

/// Creates the container. With `attach` and `process.terminal: true` but
/// no --console-socket, the pty master comes back to rt (`run` in the
/// foreground). On failure nothing is left: no state directory, cgroup or
/// process.
pub fn create_container(root: &Path, id: &str, opts: &CreateOpts, attach: bool) -> Result<Created> {
    crate::state::validate_id(id)?;
    let bundle = Bundle::load(&opts.bundle)?;
    let dir = StateDir::create(root, id)?;
    match build(root, &dir, id, &bundle, opts, attach) {
        Ok((record, master)) => Ok(Created {
            dir,
            record,
            master,
        }),
        Err(e) => {
            let _ = dir.destroy();
            // runtime.md: a failed create hook continues the lifecycle at
            // step 12, and poststop hooks follow the destruction.
            let mut record = Record::new(id, &bundle.dir, &bundle.rootfs);
            record.annotations = bundle.spec.annotations().clone().unwrap_or_default();
            record.hooks = bundle.spec.hooks().clone();
            super::delete::run_poststop_hooks(&record);
            Err(e)
        }
    }
}

fn build(
    root: &Path,
    dir: &StateDir,
    id: &str,
    bundle: &Bundle,
    opts: &CreateOpts,
    attach: bool,
) -> Result<(Record, Option<OwnedFd>)> {
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console, console_rt) = match &opts.console_socket {
        Some(path) => (ConsoleTo::Socket(path), None),
        None if attach && terminal => {
            let (rt_end, child_end) =
                console::socketpair().map_err(crate::process::PlanError::from)?;
            (ConsoleTo::Runtime(child_end), Some(rt_end))
        }
        None => (ConsoleTo::Nowhere, None),
    };
    let fifo = make_fifo(&dir.exec_fifo())?;
    let mut plan = InitPlan::new(bundle, opts, root, console, fifo)?;
    if !opts.no_new_keyring {
        plan.process.keyring = Some(SessionKeyring::for_container(id));
    }
    let linux = bundle.spec.linux().as_ref().expect("validated");
    let rdt = linux
        .intel_rdt()
        .as_ref()
        .map(|r| RdtPlan::new(r, id))
        .transpose()?;
    let mut record = Record::new(id, &bundle.dir, &bundle.rootfs);
    record.annotations = bundle.spec.annotations().clone().unwrap_or_default();
    record.hooks = bundle.spec.hooks().clone();
    if let Some(listener) = plan.process.seccomp.as_mut().and_then(|s| s.listener_mut()) {
        listener.set_state(&StateJson::for_hook(&record, Status::Creating, 0));
    }
    if record.hooks.is_some() {
        plan.hooks = Some(record.clone());
        if record.start_waits_for_program() {
            plan.start_fifo = Some(make_fifo(&dir.start_fifo())?);
        }
    }
    let cgroup = cgroups::create(linux.cgroups_path().as_deref(), id)?;
    let device_rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    cgroup.apply_devices(&device_rules)?;
    if let Some(res) = linux.resources() {
        crate::linux::resources::apply(&cgroup.dirs, res)?;
    }
    plan.rootfs.set_cgroup_dirs(cgroup.dirs.clone());
    let pid = spawn(&plan, &cgroup)?;
    crate::logging::debug(&format!("container {id}: init pid {pid} waits for start"));
    record.pid = pid;
    record.pid_start = proc_stat(pid).map_or(0, |s| s.start_time);
    record.status = Status::Created;
    record.own_pid_ns = plan.namespaces.creates(LinuxNamespaceType::Pid);
    record.cgroup_dirs = cgroup.keep().into_iter().map(|d| d.path).collect();
    record.no_new_keyring = opts.no_new_keyring;
    let finish = || -> Result<Option<OwnedFd>> {
        if let Some(rdt) = &rdt {
            record.rdt_dirs = rdt.apply(pid)?;
            record.rdt_groups = rdt.groups();
        }
        dir.save_config(&bundle.spec)?;
        dir.save(&record)?;
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        console_rt
            .map(|socket| console::receive_master(&socket))
            .transpose()
            .map_err(|e| crate::process::PlanError::from(e).into())
    };
    let master = finish();
    if master.is_err() {
        let _ = super::delete::teardown(&record);
    }
    Ok((record, master?))
}

/// A fifo between init and `start` (the exec fifo, the start fifo), which
/// the child gets open read-write: as the exec fifo's reader it never sees
/// end-of-file, so its read blocks until `start` writes a byte.
fn make_fifo(path: &Path) -> Result<OwnedFd> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| {
        Error::Sys {
            op: format!("mkfifo {}", path.display()),
            source: e,
        }
    })?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|source| Error::Io {
            op: "open",
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the PID atomically: callers poll for the file and read it at once.
pub(super) fn write_pid_file(
    path: &Path,
    pid: i32,
) -> std::result::Result<(), crate::state::StateError> {
    let io = |op| {
        move |source| crate::state::StateError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let tmp = path.with_extension("rt-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(io("write pid file"))?;
    std::fs::rename(&tmp, path).map_err(io("rename pid file"))
}
