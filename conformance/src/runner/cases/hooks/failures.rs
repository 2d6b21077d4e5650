//! Failing hooks (runtime.md "Lifecycle"): a create hook or startContainer
//! that fails, or outlives its timeout, fails the operation and leaves no
//! container; poststart fails start; poststop only warns.

use super::{REC_IN_CTR, STEPS, ensure_order, rec_dir_for, recorder, set_hooks, sh};
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{R, ensure, ensure_eq};
use serde_json::json;
use std::time::{Duration, Instant};

/// A createRuntime hook that outlives its timeout fails the create.
pub(super) fn timeout(ctx: &mut Ctx) -> R {
    let mut hook = sh("exec sleep 30".to_owned());
    hook["timeout"] = json!(1);
    ctx.config["hooks"] = json!({"createRuntime": [hook]});
    let id = ctx.id.clone();
    let t = Instant::now();
    let out = ctx.create(&id)?;
    let took = t.elapsed();
    ensure!(
        took < Duration::from_secs(10),
        "create took {took:?} with a 1 s hook timeout"
    );
    ctx.ensure_never_created(&id, &out)
}

pub(super) fn prestart_fails(ctx: &mut Ctx) -> R {
    create_step_fails(ctx, 0)
}

pub(super) fn create_runtime_fails(ctx: &mut Ctx) -> R {
    create_step_fails(ctx, 1)
}

pub(super) fn create_container_fails(ctx: &mut Ctx) -> R {
    create_step_fails(ctx, 2)
}

/// Every hook records, STEPS[failing] then exits 1: create fails and leaves
/// nothing, the later create hooks are skipped, poststop still runs.
fn create_step_fails(ctx: &mut Ctx, failing: usize) -> R {
    let bad = STEPS[failing];
    set_hooks(ctx, |step, dir| {
        recorder(dir, step, if step == bad { "exit 1" } else { "" })
    })?;
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)?;
    let mut want = STEPS[..=failing].to_vec();
    want.push("poststop");
    ensure_order(ctx, &want, "by the failed create")?;
    ctx.reset_config();
    ctx.create_ok(&id).map(drop)
}

pub(super) fn start_container_fails(ctx: &mut Ctx) -> R {
    let ran = format!("{REC_IN_CTR}/program-ran");
    start_step_fails(ctx, "startContainer", &[&format!("write:{ran}")])?;
    ensure!(
        !ctx.in_rootfs(&ran).exists(),
        "the program ran although startContainer failed"
    );
    Ok(())
}

pub(super) fn poststart_fails(ctx: &mut Ctx) -> R {
    start_step_fails(ctx, "poststart", &["sleep:60"])
}

/// The hook of `step` exits 1: start fails and the container is stopped
/// (or already destroyed).
fn start_step_fails(ctx: &mut Ctx, step: &str, program: &[&str]) -> R {
    let dir = rec_dir_for(ctx, step)?;
    ctx.config["hooks"] = json!({});
    ctx.config["hooks"][step] = json!([recorder(&dir, step, "exit 1")]);
    let id = ctx.id.clone();
    ctx.set_probe(program);
    let pid = ctx.create_ok(&id)?;
    let out = ctx.start(&id);
    ensure!(
        out.failed_cleanly(),
        "start should have failed: {}",
        out.describe()
    );
    ensure_order(ctx, &[step], "by the failed start")?;
    ensure!(
        host::wait_until(Duration::from_secs(5), || !host::pid_alive(pid)),
        "the container process {pid} still runs after the failed start"
    );
    let st = ctx.state(&id);
    if st.success() {
        ensure_eq!(ctx.status(&id)?, "stopped", "status after the failed start");
    }
    Ok(())
}

/// Two poststop hooks, the first failing: delete succeeds, the second runs.
pub(super) fn poststop_fails(ctx: &mut Ctx) -> R {
    let dir = rec_dir_for(ctx, "poststop")?;
    ctx.config["hooks"] = json!({"poststop": [
        recorder(&dir, "failing", "exit 1"),
        recorder(&dir, "poststop", ""),
    ]});
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    ctx.create_ok(&id)?;
    let out = ctx.kill(&id, "KILL");
    ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id);
    ensure!(
        out.success(),
        "delete failed on a poststop hook's failure: {}",
        out.describe()
    );
    ensure_order(ctx, &["failing", "poststop"], "by delete")?;
    let st = ctx.state(&id);
    ensure!(!st.success(), "the container is still there after delete");
    Ok(())
}
