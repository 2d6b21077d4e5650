//! `rt exec`: run another process in a created or running container, as
//! runc does: the process comes from `--process` or from the container's own
//! config with the command line's changes; it joins every namespace and
//! cgroup of the container.

use super::foreground::Attached;
use super::run::forward_signals_until_exit;
use super::{Error, Result};
use crate::bundle::read_process;
use crate::cli::ExecArgs;
use crate::linux::console;
use crate::linux::keyring::SessionKeyring;
use crate::linux::lsm::LsmPlan;
use crate::linux::namespaces::NamespacePlan;
use crate::process::{ConsoleTo, ExecPlan, PlanError, ProcessPlan, spawn_exec};
use crate::state::{StateDir, StateJson, Status};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process, Spec};
use std::path::Path;
use std::str::FromStr;

pub fn run(root: &Path, args: &ExecArgs) -> Result<i32> {
    check_lsm_flags(args)?;
    let dir = StateDir::open(root, &args.id)?;
    let record = dir.load()?;
    match record.live_status() {
        Status::Created | Status::Running => {}
        Status::Paused if args.ignore_paused => {}
        Status::Paused => {
            return refused("cannot exec in a paused container (use --ignore-paused to override)");
        }
        Status::Stopped => return refused("cannot exec in a stopped container"),
        Status::Creating => return refused("cannot exec in a container that is being created"),
    }
    let spec = dir.load_config()?;
    let process = process_for(args, &spec)?;
    let kinds = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|ns| ns.typ());
    // As runc: a terminal without --console-socket, in the foreground, is
    // attached to rt's own stdio.
    let attach =
        process.terminal().unwrap_or(false) && args.console_socket.is_none() && !args.detach;
    let (console, console_rt) = match (&args.console_socket, attach) {
        (Some(path), _) => (ConsoleTo::Socket(path), None),
        (None, true) => {
            let (rt_end, child_end) = console::socketpair().map_err(PlanError::from)?;
            (ConsoleTo::Runtime(child_end), Some(rt_end))
        }
        (None, false) => (ConsoleTo::Nowhere, None),
    };
    let mut process_plan = ProcessPlan::new(
        &process,
        spec.linux().as_ref(),
        root,
        console,
        args.preserve_fds,
    )?
    .with_exec_affinity(&process)?;
    if !record.no_new_keyring {
        process_plan.keyring = Some(SessionKeyring::for_exec(&record.id));
    }
    let mut plan = ExecPlan {
        namespaces: NamespacePlan::join_process(record.pid, kinds).map_err(PlanError::from)?,
        process: process_plan,
        cgroup_dirs: record.cgroup_dirs.clone(),
        rdt_groups: record.rdt_groups.clone(),
    };
    if let Some(listener) = plan.process.seccomp.as_mut().and_then(|s| s.listener_mut()) {
        listener.set_state(&StateJson::for_hook(&record, record.live_status(), 0));
    }
    // Other commands may run on the container while the process does.
    drop(dir);
    if !args.detach {
        // Blocked before the fork so that no signal for the process is lost.
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None).map_err(|source| {
            Error::Sys {
                op: "sigprocmask".into(),
                source,
            }
        })?;
    }
    let pid = spawn_exec(&plan)?;
    drop(plan);
    let attached = console_rt
        .map(|socket| {
            let master = console::receive_master(&socket).map_err(PlanError::from)?;
            Attached::new(master)
        })
        .transpose();
    let mut attached = match attached {
        Ok(attached) => attached,
        Err(e) => {
            // SAFETY: kill takes no pointers; the process is our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(e);
        }
    };
    if let Some(path) = &args.pid_file {
        super::create::write_pid_file(path, pid)?;
    }
    if args.detach {
        return Ok(0);
    }
    match &mut attached {
        Some(a) => {
            let code = a.run_until_exit(Pid::from_raw(pid))?;
            a.drain();
            Ok(code)
        }
        None => forward_signals_until_exit(Pid::from_raw(pid)),
    }
}

/// `--apparmor` and `--process-label`, checked against the host's LSMs
/// under their own names before they replace the process's labels.
fn check_lsm_flags(args: &ExecArgs) -> Result<()> {
    LsmPlan::new(
        args.apparmor.as_deref().map(|p| ("--apparmor", p)),
        args.process_label
            .as_deref()
            .map(|l| ("--process-label", l)),
    )
    .map_err(PlanError::from)?;
    Ok(())
}

/// `--process FILE` as it is, or the container's process with the command
/// line's changes (runc's `exec` semantics).
fn process_for(args: &ExecArgs, spec: &Spec) -> Result<Process> {
    let mut p = match &args.process {
        Some(path) => read_process(path)?,
        None => {
            if args.command.is_empty() {
                return Err(invalid("args", "give a command or --process"));
            }
            let mut p = spec.process().clone().unwrap_or_default();
            p.set_args(Some(args.command.clone()));
            p.set_terminal(Some(args.tty));
            p.set_console_size(None);
            p
        }
    };
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must name a program to run"));
    }
    apply_overrides(args, &mut p)?;
    if !p.cwd().is_absolute() {
        return Err(invalid("process.cwd", "must be an absolute path"));
    }
    Ok(p)
}

fn apply_overrides(args: &ExecArgs, p: &mut Process) -> Result<()> {
    if !args.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(args.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(spec) = &args.user {
        let (uid, gid) = parse_user(spec)?;
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !args.additional_gids.is_empty() {
        user.set_additional_gids(Some(args.additional_gids.clone()));
    }
    p.set_user(user);
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &args.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    add_caps(&args.cap, p)
}

/// `--cap` adds to the bounding, effective and permitted sets, as runc.
fn add_caps(names: &[String], p: &mut Process) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut caps = p.capabilities().clone().unwrap_or_default();
    for name in names {
        let cap = Capability::from_str(name.trim_start_matches("CAP_"))
            .map_err(|_| invalid("--cap", format!("unknown capability {name:?}")))?;
        let mut bounding = caps.bounding().clone().unwrap_or_default();
        let mut effective = caps.effective().clone().unwrap_or_default();
        let mut permitted = caps.permitted().clone().unwrap_or_default();
        bounding.insert(cap);
        effective.insert(cap);
        permitted.insert(cap);
        caps.set_bounding(Some(bounding));
        caps.set_effective(Some(effective));
        caps.set_permitted(Some(permitted));
    }
    p.set_capabilities(Some(caps));
    Ok(())
}

/// `UID[:GID]`, numeric as in runc.
fn parse_user(spec: &str) -> Result<(u32, Option<u32>)> {
    let bad = || invalid("--user", format!("{spec:?} is not UID[:GID]"));
    let (uid, gid) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Usage(format!("exec: {field}: {}", message.into()))
}

fn refused<T>(msg: &str) -> Result<T> {
    Err(Error::Refused(msg.to_string()))
}
