//! runtime.md "State" and "Query State": the fields of `state` and its errors;
//! and the operations' "MUST generate an error if not provided the ID".

use super::Case;
use crate::ctx::{CreateOpts, Ctx, ensure_status, state_pid};
use crate::outcome::{OrFail, R, ensure, ensure_eq};
use serde_json::{Value, json};

pub const CASES: &[Case] = &[
    Case {
        name: "state.required_fields",
        clause: "runtime.md#runtimeState",
        quote: "ociVersion (string, REQUIRED) ... id (string, REQUIRED) ... status (string, REQUIRED) ... pid (int, REQUIRED when status is created or running on Linux) ... bundle (string, REQUIRED) is the absolute path to the container's bundle directory.",
        run: required_fields,
    },
    Case {
        name: "state.bundle_absolute_for_relative_arg",
        clause: "runtime.md#runtimeState",
        quote: "bundle (string, REQUIRED) is the absolute path to the container's bundle directory.",
        run: bundle_absolute_for_relative_arg,
    },
    Case {
        name: "state.annotations",
        clause: "runtime.md#runtimeState",
        quote: "annotations (map, OPTIONAL) contains the list of annotations associated with the container.",
        run: annotations,
    },
    Case {
        name: "state.stopped_fields",
        clause: "runtime.md#runtimeState",
        quote: "stopped: the container process has exited ... id (string, REQUIRED) ... bundle (string, REQUIRED)",
        run: stopped_fields,
    },
    Case {
        name: "state.unknown_id_fails",
        clause: "runtime.md#runtimeQueryState",
        quote: "Attempting to query a container that does not exist MUST generate an error.",
        run: unknown_id_fails,
    },
    Case {
        name: "state.without_id_fails",
        clause: "runtime.md#runtimeQueryState",
        quote: "This operation MUST generate an error if it is not provided the ID of a container.",
        run: state_without_id_fails,
    },
    Case {
        name: "state.start_without_id_fails",
        clause: "runtime.md#runtimeStart",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: start_without_id_fails,
    },
    Case {
        name: "state.kill_without_id_fails",
        clause: "runtime.md#runtimeKill",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: kill_without_id_fails,
    },
    Case {
        name: "state.delete_without_id_fails",
        clause: "runtime.md#runtimeDelete",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: delete_without_id_fails,
    },
    Case {
        name: "state.create_without_id_fails",
        clause: "runtime.md#runtimeCreate",
        quote: "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to associate with the container.",
        run: create_without_id_fails,
    },
];

/// SemVer 2.0.0 core (MAJOR.MINOR.PATCH, optional -pre and +build).
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn check_common(st: &Value, id: &str, bundle: &str) -> R {
    let v = st["ociVersion"]
        .as_str()
        .or_fail("state has no ociVersion string")?;
    ensure!(is_semver(v), "ociVersion {v:?} is not SemVer");
    ensure_eq!(st["id"].as_str(), Some(id), "state id");
    ensure_eq!(st["bundle"].as_str(), Some(bundle), "state bundle");
    Ok(())
}

fn bundle_path(ctx: &Ctx) -> R<String> {
    let p = std::fs::canonicalize(&ctx.bundle).or_fail("canonicalize bundle")?;
    Ok(p.to_string_lossy().into_owned())
}

fn required_fields(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&["sleep:60"]);
    ctx.create(&id)?;
    let st = ctx.state_json(&id)?;
    check_common(&st, &id, &bundle_path(ctx)?)?;
    ensure_status(&st, "created")?;
    state_pid(&st)?;
    ctx.start_ok(&id)?;
    let st = ctx.state_json(&id)?;
    check_common(&st, &id, &bundle_path(ctx)?)?;
    ensure_status(&st, "running")?;
    state_pid(&st)?;
    Ok(())
}

fn bundle_absolute_for_relative_arg(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let dir = ctx.dir.clone();
    let out = ctx.create_with(
        &id,
        CreateOpts {
            cwd: Some(&dir),
            bundle_arg: Some("bundle"),
            ..Default::default()
        },
    )?;
    ensure!(
        out.success(),
        "create --bundle bundle (relative): {}",
        out.describe()
    );
    let st = ctx.state_json(&id)?;
    ensure_eq!(
        st["bundle"].as_str(),
        Some(bundle_path(ctx)?.as_str()),
        "state bundle"
    );
    Ok(())
}

fn annotations(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let ann = json!({ "org.example.conformance": "yes", "org.example.empty": "" });
    ctx.config["annotations"] = ann.clone();
    ctx.set_probe(&[]);
    ctx.create_ok(&id)?;
    let st = ctx.state_json(&id)?;
    ensure_eq!(st["annotations"], ann, "state annotations");
    Ok(())
}

fn stopped_fields(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.run_probe(&[])?;
    let st = ctx.state_json(&id)?;
    check_common(&st, &id, &bundle_path(ctx)?)?;
    ensure_status(&st, "stopped")
}

fn unknown_id_fails(ctx: &mut Ctx) -> R {
    let out = ctx.state("no-such-container");
    ensure!(
        out.failed_cleanly(),
        "state of an unknown container: {}",
        out.describe()
    );
    Ok(())
}

/// `OP` without an ID fails and leaves an existing created container alone.
fn op_without_id_fails(ctx: &mut Ctx, op: &str) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let pid = ctx.create_ok(&id)?;
    let out = ctx.call(&[op]);
    ensure!(
        out.failed_cleanly(),
        "`{op}` without an ID: {}",
        out.describe()
    );
    let st = ctx.state_json(&id)?;
    ensure_status(&st, "created")?;
    ensure_eq!(state_pid(&st)?, pid, "pid of the existing container");
    Ok(())
}

fn state_without_id_fails(ctx: &mut Ctx) -> R {
    op_without_id_fails(ctx, "state")
}

fn start_without_id_fails(ctx: &mut Ctx) -> R {
    op_without_id_fails(ctx, "start")
}

fn kill_without_id_fails(ctx: &mut Ctx) -> R {
    op_without_id_fails(ctx, "kill")
}

fn delete_without_id_fails(ctx: &mut Ctx) -> R {
    op_without_id_fails(ctx, "delete")
}

fn create_without_id_fails(ctx: &mut Ctx) -> R {
    ctx.write_config()?;
    let cg = ctx.cgroup.clone();
    ctx.track_cgroup(&cg);
    let bundle = ctx.bundle.to_string_lossy().into_owned();
    let out = ctx.call(&["create", "--bundle", &bundle]);
    ensure!(
        out.failed_cleanly(),
        "create without an ID: {}",
        out.describe()
    );
    let left = crate::cleanup::visible_entries(&ctx.state_root);
    ensure!(
        left.is_empty(),
        "state left by the refused create: {left:?}"
    );
    let dirs = crate::host::cgroup_dirs(&ctx.cgroup);
    ensure!(
        dirs.is_empty(),
        "cgroups left by the refused create: {dirs:?}"
    );
    Ok(())
}
