//! config.md "POSIX-platform Hooks" and runtime.md "Lifecycle": when each
//! hook runs, what it reads on stdin, where its path resolves and where it
//! executes, its args, env and timeout, and what a failing hook does.
//!
//! Every hook is a small shell script that records into the rootfs's
//! /tmp/hooks: hooks on the host write there by its host path, hooks in the
//! container (startContainer, after pivot_root) by /tmp/hooks, so one
//! directory holds the call order and what each hook saw.

mod config;
mod failures;

use super::Case;
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use config::*;
use failures::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const ORDER: &str = "Hooks MUST be called in the listed order.";
const STATE: &str = "The state of the container MUST be passed to hooks over stdin so that they may do work appropriate to the current state of the container.";
const CREATE_FAILS: &str = "If any {prestart,createRuntime,createContainer} hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12. (12: the container MUST be destroyed; 13: the poststop hooks MUST be invoked.)";

pub const CASES: &[Case] = &[
    Case {
        name: "hooks.listed_order",
        clause: "config.md#configHooks",
        quote: ORDER,
        run: listed_order,
    },
    Case {
        name: "hooks.start_container_before_program",
        clause: "config.md#configHooksStartContainer",
        quote: "The startContainer hooks MUST be called before the user-specified process is executed as part of the start operation.",
        run: start_container_before_program,
    },
    Case {
        name: "hooks.poststart_after_program",
        clause: "config.md#configHooksPoststart",
        quote: "The poststart hooks MUST be called after the user-specified process is executed but before the start operation returns.",
        run: poststart_after_program,
    },
    Case {
        name: "hooks.poststop_after_delete",
        clause: "config.md#configHooksPoststop",
        quote: "The poststop hooks MUST be called after the container is deleted but before the delete operation returns.",
        run: poststop_after_delete,
    },
    Case {
        name: "hooks.state_status",
        clause: "runtime.md#runtimeState",
        quote: STATE,
        run: state_status,
    },
    Case {
        name: "hooks.state_pid",
        clause: "runtime.md#runtimeState",
        quote: "pid: For hooks executed in the runtime namespace, it is the pid as seen by the runtime. For hooks executed in the container namespace, it is the pid as seen by the container.",
        run: state_pid_per_namespace,
    },
    Case {
        name: "hooks.create_container_path_runtime_ns",
        clause: "config.md#configHooksCreateContainer",
        quote: "The createContainer hooks' path MUST resolve in the runtime namespace.",
        run: create_container_path_runtime_ns,
    },
    Case {
        name: "hooks.start_container_path_container_ns",
        clause: "config.md#configHooksStartContainer",
        quote: "The startContainer hooks' path MUST resolve in the container namespace.",
        run: start_container_path_container_ns,
    },
    Case {
        name: "hooks.runtime_namespace",
        clause: "config.md#configHooks",
        quote: "The prestart, createRuntime, poststart and poststop hooks MUST be executed in the runtime namespace.",
        run: runtime_namespace,
    },
    Case {
        name: "hooks.container_namespace",
        clause: "config.md#configHooks",
        quote: "The createContainer and startContainer hooks MUST be executed in the container namespace.",
        run: container_namespace,
    },
    Case {
        name: "hooks.args_and_env",
        clause: "config.md#configHooks",
        quote: "args (array of strings, OPTIONAL) with the same semantics as execv's argv; env (array of strings, OPTIONAL) with the same semantics as environ.",
        run: args_and_env,
    },
    Case {
        name: "hooks.timeout",
        clause: "config.md#configHooks",
        quote: "timeout (int, OPTIONAL) is the number of seconds before aborting the hook.",
        run: timeout,
    },
    Case {
        name: "hooks.create_hooks_before_pivot_root",
        clause: "config.md#configHooksCreateRuntime",
        quote: "The createRuntime hooks MUST be called as part of the create operation after the runtime environment has been created (according to the configuration in config.json) but before the pivot_root or any equivalent operation has been executed. (The same for prestart and createContainer.)",
        run: create_hooks_before_pivot_root,
    },
    Case {
        name: "hooks.path_absolute",
        clause: "config.md#configHooks",
        quote: "This specification extends the IEEE standard in that path MUST be absolute.",
        run: path_absolute,
    },
    Case {
        name: "hooks.timeout_positive",
        clause: "config.md#configHooks",
        quote: "timeout (int, OPTIONAL) is the number of seconds before aborting the hook. If set, timeout MUST be greater than zero.",
        run: timeout_positive,
    },
    Case {
        name: "hooks.poststop_timeout",
        clause: "runtime.md#runtimeLifecycle",
        quote: "timeout: the number of seconds before aborting the hook. If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
        run: poststop_timeout,
    },
    Case {
        name: "hooks.start_container_timeout",
        clause: "runtime.md#runtimeLifecycle",
        quote: "timeout: the number of seconds before aborting the hook. If any startContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: start_container_timeout,
    },
    Case {
        name: "hooks.prestart_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: CREATE_FAILS,
        run: prestart_fails,
    },
    Case {
        name: "hooks.create_runtime_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: CREATE_FAILS,
        run: create_runtime_fails,
    },
    Case {
        name: "hooks.create_container_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: CREATE_FAILS,
        run: create_container_fails,
    },
    Case {
        name: "hooks.start_container_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: "If any startContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: start_container_fails,
    },
    Case {
        name: "hooks.poststart_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: "If any poststart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: poststart_fails,
    },
    Case {
        name: "hooks.poststop_fails",
        clause: "runtime.md#runtimeLifecycle",
        quote: "If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
        run: poststop_fails,
    },
];

/// The hooks in the order config.md lists them (and the lifecycle calls them).
const STEPS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where hooks record, as the container sees it.
const REC_IN_CTR: &str = "/tmp/hooks";

/// The recording directory as the host sees it (created on first use).
fn rec_dir(ctx: &Ctx) -> R<PathBuf> {
    let d = ctx.in_rootfs(REC_IN_CTR);
    fs::create_dir_all(&d).or_fail("create the hooks' directory")?;
    Ok(d)
}

/// The recording directory as the hook of `step` names it: only
/// startContainer runs after pivot_root, where the host path is gone.
fn rec_dir_for(ctx: &Ctx, step: &str) -> R<String> {
    let host = rec_dir(ctx)?;
    Ok(if step == "startContainer" {
        REC_IN_CTR.to_owned()
    } else {
        host.to_string_lossy().into_owned()
    })
}

/// `/bin/sh -c SCRIPT`: the host's sh, or busybox's for startContainer.
fn sh(script: String) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// A hook that appends its name to `order` and keeps its mount and pid
/// namespaces, its parent's (the runtime's) mount namespace and its stdin
/// (the state), then runs `then`.
fn recorder(dir: &str, name: &str, then: &str) -> Value {
    sh(format!(
        "echo {name} >> {dir}/order; \
         readlink /proc/self/ns/mnt > {dir}/{name}.mnt; \
         readlink /proc/self/ns/pid > {dir}/{name}.pidns; \
         readlink /proc/$PPID/ns/mnt > {dir}/{name}.parent-mnt; \
         cat > {dir}/{name}.state; {then}"
    ))
}

/// `hook` (a recorder) waits a while first: a runtime that does not wait
/// for the startContainer hooks lets poststart, or the program, overtake it.
fn slowed(mut hook: Value) -> Value {
    let script = hook["args"][2].as_str().unwrap_or_default().to_owned();
    hook["args"][2] = json!(format!("sleep 0.3; {script}"));
    hook
}

/// config.hooks with one hook per step, made by `hook(step, its dir)`.
fn set_hooks(ctx: &mut Ctx, hook: impl Fn(&str, &str) -> Value) -> R {
    let mut hooks = json!({});
    for step in STEPS {
        hooks[step] = json!([hook(step, &rec_dir_for(ctx, step)?)]);
    }
    ctx.config["hooks"] = hooks;
    Ok(())
}

fn record_all(ctx: &mut Ctx) -> R {
    set_hooks(ctx, |step, dir| recorder(dir, step, ""))
}

/// What the hooks wrote to `file` of the recording directory ("" when none did).
fn recorded(ctx: &Ctx, file: &str) -> String {
    let path = ctx.in_rootfs(REC_IN_CTR).join(file);
    fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The hooks called so far, in call order.
fn order(ctx: &Ctx) -> Vec<String> {
    recorded(ctx, "order").lines().map(str::to_owned).collect()
}

fn ensure_order(ctx: &Ctx, want: &[&str], when: &str) -> R {
    ensure_eq!(order(ctx), want, "hooks called {when}");
    Ok(())
}

fn hook_state(ctx: &Ctx, name: &str) -> R<Value> {
    let text = recorded(ctx, &format!("{name}.state"));
    ensure!(!text.is_empty(), "the {name} hook read no state on stdin");
    serde_json::from_str(&text).or_fail(&format!("{name} hook's stdin is not JSON ({text:?})"))
}

/// What the host saw of the container while it lived.
struct Seen {
    pid: u32,
    mnt: Option<String>,
    pidns: Option<String>,
}

/// create, start, kill and delete a probe, with the hooks the case set.
fn full_lifecycle(ctx: &mut Ctx) -> R<Seen> {
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let proc = pid.to_string();
    let seen = Seen {
        pid,
        mnt: host::ns_link(&proc, "mnt"),
        pidns: host::ns_link(&proc, "pid"),
    };
    let out = ctx.kill(&id, "KILL");
    ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete failed: {}", out.describe());
    Ok(seen)
}

fn listed_order(ctx: &mut Ctx) -> R {
    set_hooks(ctx, |step, dir| match step {
        "startContainer" => slowed(recorder(dir, step, "")),
        _ => recorder(dir, step, ""),
    })?;
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    ctx.create_ok(&id)?;
    ensure_order(ctx, &STEPS[..3], "by create")?;
    ctx.start_ok(&id)?;
    ensure_order(ctx, &STEPS[..5], "by start")?;
    let out = ctx.kill(&id, "KILL");
    ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    ensure_order(ctx, &STEPS[..5], "once stopped (before delete)")?;
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete failed: {}", out.describe());
    ensure_order(ctx, &STEPS, "by delete")
}

/// The startContainer hook looks for the file the program writes first.
fn start_container_before_program(ctx: &mut Ctx) -> R {
    let ran = format!("{REC_IN_CTR}/program-ran");
    let check = format!(
        "[ -e {ran} ] && echo after > {REC_IN_CTR}/seen || echo before > {REC_IN_CTR}/seen"
    );
    let dir = rec_dir_for(ctx, "startContainer")?;
    ctx.config["hooks"] = json!({"startContainer": [recorder(&dir, "startContainer", &check)]});
    let id = ctx.id.clone();
    ctx.set_probe(&[&format!("write:{ran}")]);
    ctx.create_ok(&id)?;
    ensure_order(ctx, &[], "by create")?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure_order(ctx, &["startContainer"], "by start")?;
    ensure_eq!(
        recorded(ctx, "seen"),
        "before",
        "the program had run when startContainer was called"
    );
    ensure!(
        ctx.in_rootfs(&ran).exists(),
        "the program did not run after the startContainer hook"
    );
    Ok(())
}

/// The poststart hook reads the command line of the state's pid: the
/// program's once it is executed, the runtime's before. A slow
/// startContainer hook delays that exec.
fn poststart_after_program(ctx: &mut Ctx) -> R {
    let dir = rec_dir_for(ctx, "poststart")?;
    let cmdline = format!(
        "pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' {dir}/poststart.state); \
         tr '\\0' ' ' < /proc/$pid/cmdline > {dir}/poststart.cmdline"
    );
    ctx.config["hooks"] = json!({
        "startContainer": [slowed(sh("true".to_owned()))],
        "poststart": [recorder(&dir, "poststart", &cmdline)],
    });
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    ctx.create_ok(&id)?;
    ensure_order(ctx, &[], "by create")?;
    ctx.start_ok(&id)?;
    // No waiting: the hook must have run by the time start returned.
    ensure_order(ctx, &["poststart"], "by the time start returned")?;
    ensure_eq!(
        recorded(ctx, "poststart.cmdline"),
        "/probe sleep:60",
        "command line of the container process when poststart ran"
    );
    Ok(())
}

/// The poststop hook lists which of the container's cgroups still exist.
fn poststop_after_delete(ctx: &mut Ctx) -> R {
    let dirs: Vec<String> = host::cgroup_hierarchies()
        .iter()
        .map(|h| {
            h.join(ctx.cgroup.trim_start_matches('/'))
                .display()
                .to_string()
        })
        .collect();
    let dir = rec_dir_for(ctx, "poststop")?;
    let check = format!(
        "for d in {}; do [ -d $d ] && echo $d; done > {dir}/cgroups-left; true",
        dirs.join(" ")
    );
    ctx.config["hooks"] = json!({"poststop": [recorder(&dir, "poststop", &check)]});
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let out = ctx.kill(&id, "KILL");
    ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    ensure_order(ctx, &[], "before delete")?;
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete failed: {}", out.describe());
    ensure_order(ctx, &["poststop"], "by the time delete returned")?;
    let left = recorded(ctx, "cgroups-left");
    ensure!(
        left.is_empty(),
        "the container's cgroups still existed when poststop ran: {left}"
    );
    Ok(())
}

fn state_status(ctx: &mut Ctx) -> R {
    record_all(ctx)?;
    full_lifecycle(ctx)?;
    let want = [
        "creating", "creating", "creating", "created", "running", "stopped",
    ];
    for (step, status) in STEPS.iter().zip(want) {
        let st = hook_state(ctx, step)?;
        ensure_eq!(st["status"].as_str(), Some(status), "{step}: status");
        ensure_eq!(st["id"].as_str(), Some(ctx.id.as_str()), "{step}: id");
        let bundle = ctx.bundle.to_string_lossy();
        ensure_eq!(st["bundle"].as_str(), Some(&*bundle), "{step}: bundle");
        ensure!(
            st["ociVersion"].is_string(),
            "{step}: no ociVersion in {st}"
        );
    }
    Ok(())
}

fn state_pid_per_namespace(ctx: &mut Ctx) -> R {
    record_all(ctx)?;
    let seen = full_lifecycle(ctx)?;
    // The container has a pid namespace: its process is 1 there.
    let want = [seen.pid, seen.pid, 1, 1, seen.pid];
    for (step, pid) in STEPS.iter().zip(want) {
        let st = hook_state(ctx, step)?;
        ensure_eq!(st["pid"].as_u64(), Some(u64::from(pid)), "{step}: pid");
    }
    Ok(())
}

/// A script that exists only on the host.
fn create_container_path_runtime_ns(ctx: &mut Ctx) -> R {
    let script = ctx.host_dir("hooks")?.join("create-container.sh");
    let dir = rec_dir_for(ctx, "createContainer")?;
    write_script(&script, &format!("echo ran > {dir}/createContainer.ran"))?;
    ensure!(
        !ctx.in_rootfs(&script.to_string_lossy()).exists(),
        "the hook script is in the rootfs too"
    );
    ctx.config["hooks"] = json!({"createContainer": [{"path": script}]});
    let id = ctx.id.clone();
    ctx.create_ok(&id)?;
    ensure_eq!(
        recorded(ctx, "createContainer.ran"),
        "ran",
        "the createContainer hook at a host-only path ran"
    );
    Ok(())
}

/// A script that exists only in the rootfs.
fn start_container_path_container_ns(ctx: &mut Ctx) -> R {
    let path = "/conformance-start-container-hook.sh";
    ensure!(!Path::new(path).exists(), "{path} exists on the host");
    let dir = rec_dir_for(ctx, "startContainer")?;
    write_script(
        &ctx.in_rootfs(path),
        &format!("echo ran > {dir}/startContainer.ran"),
    )?;
    ctx.config["hooks"] = json!({"startContainer": [{"path": path}]});
    let id = ctx.id.clone();
    ctx.create_ok(&id)?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    ensure_eq!(
        recorded(ctx, "startContainer.ran"),
        "ran",
        "the startContainer hook at a rootfs-only path ran"
    );
    Ok(())
}

fn write_script(path: &Path, body: &str) -> R {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).or_fail("write the hook script")?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).or_fail("chmod the hook script")
}

/// The runtime namespace is the runtime's, which need not be the runner's:
/// the crun wrapper runs crun in a mount namespace of its own. So a hook's
/// mount namespace is compared with its parent's (the runtime) and must not
/// be the container's; its pid namespace is the runner's.
fn runtime_namespace(ctx: &mut Ctx) -> R {
    record_all(ctx)?;
    let seen = full_lifecycle(ctx)?;
    let pidns = host::ns_link("self", "pid");
    for step in ["prestart", "createRuntime", "poststart", "poststop"] {
        let runtime_mnt = Some(recorded(ctx, &format!("{step}.parent-mnt")));
        ensure!(
            runtime_mnt != seen.mnt,
            "{step}: its parent is in the container's mount namespace"
        );
        check_ns(ctx, step, &runtime_mnt, &pidns, "the runtime's")?;
    }
    Ok(())
}

fn container_namespace(ctx: &mut Ctx) -> R {
    record_all(ctx)?;
    let seen = full_lifecycle(ctx)?;
    for step in ["createContainer", "startContainer"] {
        check_ns(ctx, step, &seen.mnt, &seen.pidns, "the container's")?;
    }
    Ok(())
}

fn check_ns(ctx: &Ctx, step: &str, mnt: &Option<String>, pidns: &Option<String>, whose: &str) -> R {
    let got = recorded(ctx, &format!("{step}.mnt"));
    ensure_eq!(Some(got), *mnt, "{step}: mount namespace, want {whose}");
    let got = recorded(ctx, &format!("{step}.pidns"));
    ensure_eq!(Some(got), *pidns, "{step}: pid namespace, want {whose}");
    Ok(())
}

/// Each hook copies its own argv and environ, read through descriptors the
/// shell opens on itself (a child's /proc/self would be the child). The
/// final `true` keeps the shell from exec'ing its last command in place,
/// which would replace the argv and environ being read.
fn args_and_env(ctx: &mut Ctx) -> R {
    set_hooks(ctx, |step, dir| {
        let script = format!(
            "exec 3< /proc/self/cmdline 4< /proc/self/environ; \
             tr '\\0' '\\n' <&3 > {dir}/{step}.args; tr '\\0' '\\n' <&4 > {dir}/{step}.env; true"
        );
        json!({
            "path": "/bin/sh",
            "args": hook_argv(step, script),
            "env": [format!("HOOK={step}"), "SPACED=a b"],
            "timeout": 10,
        })
    })?;
    let hooks = ctx.config["hooks"].clone();
    full_lifecycle(ctx)?;
    for step in STEPS {
        let want_args: Vec<String> =
            serde_json::from_value(hooks[step][0]["args"].clone()).or_fail("args")?;
        let args: Vec<String> = recorded(ctx, &format!("{step}.args"))
            .lines()
            .map(str::to_owned)
            .collect();
        ensure_eq!(args, want_args, "{step}: argv");
        let env = recorded(ctx, &format!("{step}.env"));
        ensure_eq!(env, format!("HOOK={step}\nSPACED=a b"), "{step}: environ");
    }
    Ok(())
}

/// An argv whose argv0 is neither "sh" nor the path. The container's
/// /bin/sh is busybox, which picks its applet by argv0 unless argv0 starts
/// with "busybox": then argv[1] names the applet.
fn hook_argv(step: &str, script: String) -> Value {
    if step == "startContainer" {
        json!([
            format!("busybox-{step}"),
            "sh",
            "-c",
            script,
            "x",
            "two words"
        ])
    } else {
        json!([format!("hook-{step}"), "-c", script, "x", "two words"])
    }
}
