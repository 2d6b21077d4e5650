//! What the hooks of create find (config.md: after the runtime environment
//! is created, before pivot_root), and hook entries the spec forbids.

use super::{rec_dir_for, recorded, sh};
use crate::ctx::Ctx;
use crate::outcome::{R, ensure_eq};
use serde_json::json;
use std::time::{Duration, Instant};

/// prestart, createRuntime and createContainer each record whether the
/// container's /proc is mounted (the mounts are done) at its path under
/// the rootfs (pivot_root is not: from the container's root the path would
/// be /proc). The runtime-namespace hooks look at the container's init
/// through the state's pid; createContainer runs in its mount namespace.
pub(super) fn create_hooks_before_pivot_root(ctx: &mut Ctx) -> R {
    let point = ctx.rootfs.join("proc").display().to_string();
    let mut hooks = json!({});
    for step in ["prestart", "createRuntime", "createContainer"] {
        let dir = rec_dir_for(ctx, step)?;
        let mountinfo = match step {
            "createContainer" => "/proc/self/mountinfo".to_owned(),
            _ => "/proc/$pid/mountinfo".to_owned(),
        };
        let script = format!(
            "pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
             if grep -q ' {point} ' {mountinfo}; then echo mounted-not-pivoted; \
             else echo wrong; fi > {dir}/{step}.seen"
        );
        hooks[step] = json!([sh(script)]);
    }
    ctx.config["hooks"] = hooks;
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    ctx.create_ok(&id)?;
    for step in ["prestart", "createRuntime", "createContainer"] {
        ensure_eq!(
            recorded(ctx, &format!("{step}.seen")),
            "mounted-not-pivoted",
            "{step}: the container's mounts done and its root not pivoted yet"
        );
    }
    Ok(())
}

/// A relative hook path: create fails and leaves nothing.
pub(super) fn path_absolute(ctx: &mut Ctx) -> R {
    ctx.config["hooks"] = json!({"createRuntime": [{"path": "bin/true"}]});
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)
}

/// A timeout of 0: create fails and leaves nothing.
pub(super) fn timeout_positive(ctx: &mut Ctx) -> R {
    ctx.config["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]});
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)
}

/// A poststop hook that outlives its timeout is aborted, and as any
/// failing poststop hook only warns: delete succeeds, promptly.
pub(super) fn poststop_timeout(ctx: &mut Ctx) -> R {
    let mut hook = sh("exec sleep 30".to_owned());
    hook["timeout"] = json!(1);
    ctx.config["hooks"] = json!({"poststop": [hook]});
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    ctx.create_ok(&id)?;
    let out = ctx.kill(&id, "KILL");
    crate::outcome::ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    let t = Instant::now();
    let out = ctx.delete(&id);
    let took = t.elapsed();
    crate::outcome::ensure!(
        out.success(),
        "delete failed on a poststop hook's timeout: {}",
        out.describe()
    );
    crate::outcome::ensure!(
        took < Duration::from_secs(10),
        "delete took {took:?} with a 1 s poststop timeout"
    );
    Ok(())
}

/// A startContainer hook (in the container) that outlives its timeout is
/// aborted and fails start promptly; the program does not run.
pub(super) fn start_container_timeout(ctx: &mut Ctx) -> R {
    let mut hook = sh("exec sleep 30".to_owned());
    hook["timeout"] = json!(1);
    ctx.config["hooks"] = json!({"startContainer": [hook]});
    let id = ctx.id.clone();
    let ran = "/program-ran";
    ctx.set_probe(&[&format!("write:{ran}")]);
    ctx.create_ok(&id)?;
    let t = Instant::now();
    let out = ctx.start(&id);
    let took = t.elapsed();
    crate::outcome::ensure!(
        took < Duration::from_secs(10),
        "start took {took:?} with a 1 s startContainer timeout"
    );
    crate::outcome::ensure!(
        out.failed_cleanly(),
        "start should have failed: {}",
        out.describe()
    );
    crate::outcome::ensure!(
        !ctx.in_rootfs(ran).exists(),
        "the program ran although startContainer timed out"
    );
    Ok(())
}
