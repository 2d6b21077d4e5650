//! runtime.md: the lifecycle (create → created, start → running, exit →
//! stopped, delete) and the errors each operation must give in the wrong state.

use super::Case;
use crate::ctx::{Ctx, ensure_status, state_pid};
use crate::host;
use crate::outcome::{R, ensure, ensure_eq};
use std::fs;
use std::time::Duration;

pub const CASES: &[Case] = &[
    Case {
        name: "lifecycle.create_gives_created",
        clause: "runtime.md#runtimeState",
        quote: "created: the runtime has finished the create operation, and the container process has neither exited nor executed the user-specified program",
        run: create_gives_created,
    },
    Case {
        name: "lifecycle.create_does_not_run_program",
        clause: "runtime.md#runtimeCreate",
        quote: "process.args MUST NOT be applied until triggered by the start operation.",
        run: create_does_not_run_program,
    },
    Case {
        name: "lifecycle.config_changes_after_create_ignored",
        clause: "runtime.md#runtimeLifecycle",
        quote: "Any updates to config.json after this step MUST NOT affect the container.",
        run: config_changes_after_create_ignored,
    },
    Case {
        name: "lifecycle.start_runs_program",
        clause: "runtime.md#runtimeStart",
        quote: "This operation MUST run the user-specified program as specified by process.",
        run: start_runs_program,
    },
    Case {
        name: "lifecycle.exit_gives_stopped",
        clause: "runtime.md#runtimeState",
        quote: "stopped: the container process has exited",
        run: exit_gives_stopped,
    },
    Case {
        name: "lifecycle.start_running_fails",
        clause: "runtime.md#runtimeStart",
        quote: "Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error.",
        run: start_running_fails,
    },
    Case {
        name: "lifecycle.start_stopped_fails",
        clause: "runtime.md#runtimeStart",
        quote: "Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error.",
        run: start_stopped_fails,
    },
    Case {
        name: "lifecycle.start_unknown_id_fails",
        clause: "runtime.md#runtimeStart",
        quote: "Attempting to start a container that is not created MUST ... generate an error.",
        run: start_unknown_id_fails,
    },
    Case {
        name: "lifecycle.kill_running_sends_signal",
        clause: "runtime.md#runtimeKill",
        quote: "This operation MUST send the specified signal to the container process.",
        run: kill_running_sends_signal,
    },
    Case {
        name: "lifecycle.kill_term_stops",
        clause: "runtime.md#runtimeKill",
        quote: "This operation MUST send the specified signal to the container process. (10. The container process exits ... due to ... the runtime's kill operation)",
        run: kill_term_stops,
    },
    Case {
        name: "lifecycle.kill_created",
        clause: "runtime.md#runtimeKill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST ... generate an error (a created one takes signals).",
        run: kill_created,
    },
    Case {
        name: "lifecycle.kill_stopped_fails",
        clause: "runtime.md#runtimeKill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error.",
        run: kill_stopped_fails,
    },
    Case {
        name: "lifecycle.kill_unknown_id_fails",
        clause: "runtime.md#runtimeKill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST ... generate an error.",
        run: kill_unknown_id_fails,
    },
    Case {
        name: "lifecycle.delete_created_fails",
        clause: "runtime.md#runtimeDelete",
        quote: "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
        run: delete_created_fails,
    },
    Case {
        name: "lifecycle.delete_running_fails",
        clause: "runtime.md#runtimeDelete",
        quote: "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
        run: delete_running_fails,
    },
    Case {
        name: "lifecycle.delete_stopped_removes_resources",
        clause: "runtime.md#runtimeDelete",
        quote: "Deleting a container MUST delete the resources that were created during the create step.",
        run: delete_stopped_removes_resources,
    },
    Case {
        name: "lifecycle.id_reusable_after_delete",
        clause: "runtime.md#runtimeDelete",
        quote: "Once a container is deleted its ID MAY be used by a subsequent container.",
        run: id_reusable_after_delete,
    },
    Case {
        name: "lifecycle.create_duplicate_id_fails",
        clause: "runtime.md#runtimeCreate",
        quote: "If the ID provided is not unique across all containers within the scope of the runtime ... the implementation MUST generate an error and a new container MUST NOT be created.",
        run: create_duplicate_id_fails,
    },
    Case {
        name: "lifecycle.same_runtime_operates_container",
        clause: "runtime.md#runtimeScopeContainer",
        quote: "The entity using a runtime to create a container MUST be able to use the operations defined in this specification against that same container.",
        run: same_runtime_operates_container,
    },
];

/// The command line of a process on the host, arguments split.
fn cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn reports(ctx: &Ctx, id: &str) -> usize {
    ctx.output(id)
        .lines
        .iter()
        .filter(|l| l["action"] == "report")
        .count()
}

fn create_gives_created(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    ctx.create(&id)?;
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "created")?;
    let pid = state_pid(&st)?;
    ensure!(
        host::pid_alive(pid),
        "state pid {pid} of the created container is not alive"
    );
    std::thread::sleep(Duration::from_millis(100));
    ensure_status(&ctx.state_json(&id)?, "created")
}

fn create_does_not_run_program(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&["write:/tmp/ran"]);
    ctx.create_ok(&id)?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(
        reports(ctx, &id) == 0,
        "the program ran before start: it printed its report"
    );
    ensure!(
        !ctx.in_rootfs("/tmp/ran").exists(),
        "the program ran before start: /tmp/ran exists"
    );
    // Control: the same container does run it once started.
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure!(
        ctx.in_rootfs("/tmp/ran").exists(),
        "the program did not run after start either"
    );
    Ok(())
}

fn config_changes_after_create_ignored(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.config["hostname"] = "before".into();
    ctx.set_probe(&[]);
    ctx.create_ok(&id)?;
    ctx.config["hostname"] = "after".into();
    ctx.config["process"]["env"] = serde_json::json!(["CHANGED=1"]);
    ctx.set_probe(&["write:/tmp/changed-args"]);
    ctx.write_config()?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let p = ctx.output(&id);
    let rep = p.report()?;
    ensure_eq!(rep["hostname"].as_str(), Some("before"), "hostname");
    ensure!(
        !rep["env"].to_string().contains("CHANGED=1"),
        "the changed env reached the process: {}",
        rep["env"]
    );
    ensure!(
        !ctx.in_rootfs("/tmp/changed-args").exists(),
        "the changed args ran"
    );
    Ok(())
}

fn start_runs_program(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "running")?;
    ensure_eq!(state_pid(&st)?, pid, "state pid after start");
    let args = cmdline(pid);
    ensure_eq!(
        args,
        vec!["/probe".to_string(), "sleep:60".into()],
        "command line of the state's pid"
    );
    Ok(())
}

fn exit_gives_stopped(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:0.3"])?;
    ctx.wait_status(&id, "stopped")?;
    ensure!(
        !host::pid_alive(pid),
        "stopped, but process {pid} is still alive"
    );
    Ok(())
}

fn start_running_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let out = ctx.start(&id);
    ensure!(
        out.failed_cleanly(),
        "start of a running container: {}",
        out.describe()
    );
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "running")?;
    ensure_eq!(state_pid(&st)?, pid, "pid after the failed start");
    std::thread::sleep(Duration::from_millis(100));
    ensure_eq!(reports(ctx, &id), 1, "times the program ran");
    Ok(())
}

fn start_stopped_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.run_probe(&[])?;
    let out = ctx.start(&id);
    ensure!(
        out.failed_cleanly(),
        "start of a stopped container: {}",
        out.describe()
    );
    ensure_status(&ctx.state_json(&id)?, "stopped")?;
    std::thread::sleep(Duration::from_millis(100));
    ensure_eq!(reports(ctx, &id), 1, "times the program ran");
    Ok(())
}

fn start_unknown_id_fails(ctx: &mut Ctx) -> R {
    let out = ctx.start("no-such-container");
    ensure!(
        out.failed_cleanly(),
        "start of an unknown container: {}",
        out.describe()
    );
    Ok(())
}

fn kill_running_sends_signal(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.launch(&id, &["wait-signal:USR1,USR2", "sleep:60"])?;
    ctx.wait_line(&id, "ready", |l| l["ready"] == true)?;
    let out = ctx.kill(&id, "SIGUSR2");
    ensure!(out.success(), "kill: {}", out.describe());
    let got = ctx.wait_line(&id, "the signal it got", |l| l["signal"].is_number())?;
    ensure_eq!(
        got["signal"].as_i64(),
        Some(i64::from(libc::SIGUSR2)),
        "signal received"
    );
    ensure_status(&ctx.state_json(&id)?, "running")
}

fn kill_term_stops(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.launch(&id, &["wait-signal:TERM"])?;
    ctx.wait_line(&id, "ready", |l| l["ready"] == true)?;
    let out = ctx.kill(&id, "SIGTERM");
    ensure!(out.success(), "kill: {}", out.describe());
    let got = ctx.wait_line(&id, "the signal it got", |l| l["signal"].is_number())?;
    ensure_eq!(
        got["signal"].as_i64(),
        Some(i64::from(libc::SIGTERM)),
        "signal received"
    );
    ctx.wait_status(&id, "stopped")
}

fn kill_created(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    let pid = ctx.create_ok(&id)?;
    let out = ctx.kill(&id, "SIGKILL");
    ensure!(
        out.success(),
        "kill of a created container: {}",
        out.describe()
    );
    ctx.wait_status(&id, "stopped")?;
    ensure!(!host::pid_alive(pid), "process {pid} survived SIGKILL");
    ensure_eq!(reports(ctx, &id), 0, "times the program ran");
    Ok(())
}

fn kill_stopped_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.run_probe(&[])?;
    let out = ctx.kill(&id, "SIGKILL");
    ensure!(
        out.failed_cleanly(),
        "kill of a stopped container: {}",
        out.describe()
    );
    ensure_status(&ctx.state_json(&id)?, "stopped")
}

fn kill_unknown_id_fails(ctx: &mut Ctx) -> R {
    let out = ctx.kill("no-such-container", "SIGKILL");
    ensure!(
        out.failed_cleanly(),
        "kill of an unknown container: {}",
        out.describe()
    );
    Ok(())
}

fn delete_created_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let pid = ctx.create_ok(&id)?;
    let out = ctx.delete(&id);
    ensure!(
        out.failed_cleanly(),
        "delete of a created container: {}",
        out.describe()
    );
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "created")?;
    ensure_eq!(state_pid(&st)?, pid, "pid after the failed delete");
    ensure!(host::pid_alive(pid), "the container process died");
    // No effect: the container still starts and runs its program.
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure_eq!(reports(ctx, &id), 1, "times the program ran");
    Ok(())
}

fn delete_running_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let out = ctx.delete(&id);
    ensure!(
        out.failed_cleanly(),
        "delete of a running container: {}",
        out.describe()
    );
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "running")?;
    ensure_eq!(state_pid(&st)?, pid, "pid after the failed delete");
    ensure!(host::pid_alive(pid), "the container process died");
    ensure!(
        !host::cgroup_dirs(&ctx.cgroup).is_empty(),
        "the container's cgroup is gone"
    );
    Ok(())
}

fn delete_stopped_removes_resources(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    ctx.create_ok(&id)?;
    ensure!(
        !host::cgroup_dirs(&ctx.cgroup).is_empty(),
        "create made no cgroup at {}",
        ctx.cgroup
    );
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id);
    ensure!(
        out.success(),
        "delete of a stopped container: {}",
        out.describe()
    );
    let st = ctx.state(&id);
    ensure!(
        !st.success(),
        "state still answers after delete: {}",
        st.stdout.trim()
    );
    let dirs = host::cgroup_dirs(&ctx.cgroup);
    ensure!(dirs.is_empty(), "cgroups left after delete: {dirs:?}");
    let left = crate::cleanup::visible_entries(&ctx.state_root);
    ensure!(left.is_empty(), "state left after delete: {left:?}");
    let m = host::mounts_under(&ctx.dir);
    ensure!(m.is_empty(), "mounts left after delete: {m:?}");
    Ok(())
}

fn id_reusable_after_delete(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.run_probe(&[])?;
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete: {}", out.describe());
    ctx.config["hostname"] = "second".into();
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        p.lines.iter().filter(|l| l["action"] == "report").count(),
        2,
        "reports of the two containers"
    );
    ensure_eq!(
        p.lines.last().map(|l| l["hostname"].clone()),
        Some("second".into()),
        "second container's hostname"
    );
    Ok(())
}

fn create_duplicate_id_fails(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let pid = ctx.create_ok(&id)?;
    let second = ctx.other_cgroup("dup");
    ctx.config["linux"]["cgroupsPath"] = second.clone().into();
    let out = ctx.create(&id)?;
    ensure!(
        out.failed_cleanly(),
        "second create with the same ID: {}",
        out.describe()
    );
    let dirs = host::cgroup_dirs(&second);
    ensure!(dirs.is_empty(), "the refused create made cgroups {dirs:?}");
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "created")?;
    ensure_eq!(state_pid(&st)?, pid, "the first container's pid");
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure_eq!(reports(ctx, &id), 1, "times the program ran");
    Ok(())
}

/// Two containers side by side, each operated by its ID, neither disturbing the other.
fn same_runtime_operates_container(ctx: &mut Ctx) -> R {
    let (a, b) = (ctx.id.clone(), ctx.other_id("b"));
    ctx.set_probe(&["sleep:60"]);
    let pa = ctx.create_ok(&a)?;
    ctx.config["linux"]["cgroupsPath"] = ctx.other_cgroup("b").into();
    let pb = ctx.create_ok(&b)?;
    ensure!(pa != pb, "both containers have pid {pa}");
    ctx.start_ok(&b)?;
    ensure_status(&ctx.state_json(&a)?, "created")?;
    ensure_status(&ctx.state_json(&b)?, "running")?;
    let out = ctx.kill(&b, "SIGKILL");
    ensure!(out.success(), "kill: {}", out.describe());
    ctx.wait_status(&b, "stopped")?;
    ensure_status(&ctx.state_json(&a)?, "created")?;
    let out = ctx.delete(&b);
    ensure!(out.success(), "delete: {}", out.describe());
    ensure!(host::pid_alive(pa), "deleting {b} killed {a}");
    Ok(())
}
