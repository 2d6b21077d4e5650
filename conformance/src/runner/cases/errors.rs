//! Configs a runtime cannot apply: create must fail and leave the host as if
//! it had never been attempted (runtime.md "Errors"); afterwards the same ID
//! with the starting config must work (the failure was the defect's, and
//! nothing of the failed attempt is in the way).

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::outcome::{OrFail, R, ensure};
use serde_json::json;

const CANNOT_APPLY: &str = "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.";
const INVALID_VALUES: &str =
    "Runtimes MUST generate an error when invalid or unsupported values are encountered.";

pub const CASES: &[Case] = &[
    Case {
        name: "errors.bundle_missing",
        clause: "runtime.md#runtimeCreate",
        quote: "This operation MUST generate an error if it is not provided a path to the bundle ...",
        run: bundle_missing,
    },
    Case {
        name: "errors.config_malformed",
        clause: "config.md#configuration",
        quote: INVALID_VALUES,
        run: config_malformed,
    },
    Case {
        name: "errors.rootfs_missing",
        clause: "config.md#configRoot",
        quote: "A directory MUST exist at the path declared by the field.",
        run: rootfs_missing,
    },
    Case {
        name: "errors.bind_source_missing",
        clause: "runtime.md#runtimeCreate",
        quote: CANNOT_APPLY,
        run: bind_source_missing,
    },
    Case {
        name: "errors.mount_type_unknown",
        clause: "runtime.md#runtimeCreate",
        quote: CANNOT_APPLY,
        run: mount_type_unknown,
    },
    Case {
        name: "errors.namespace_path_wrong_type",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "The runtime MUST generate an error if path is not associated with a namespace of type type.",
        run: namespace_path_wrong_type,
    },
    Case {
        name: "errors.namespace_path_missing",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "The runtime MUST place the container process in the namespace associated with that path.",
        run: namespace_path_missing,
    },
    Case {
        name: "errors.namespace_duplicate",
        clause: "config-linux.md#configLinuxNamespaces",
        quote: "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an error.",
        run: namespace_duplicate,
    },
    Case {
        name: "errors.namespace_type_unknown",
        clause: "config.md#configuration",
        quote: INVALID_VALUES,
        run: namespace_type_unknown,
    },
    Case {
        name: "errors.rlimit_duplicate",
        clause: "config.md#configPOSIXProcess",
        quote: "If rlimits contains duplicated entries with same type, the runtime MUST generate an error.",
        run: rlimit_duplicate,
    },
    Case {
        name: "errors.rlimit_unknown",
        clause: "config.md#configPOSIXProcess",
        quote: "The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.",
        run: rlimit_unknown,
    },
    Case {
        name: "errors.device_path_conflict",
        clause: "config-linux.md#configLinuxDevices",
        quote: "If a file already exists at path that does not match the requested device, the runtime MUST generate an error.",
        run: device_path_conflict,
    },
    Case {
        name: "errors.sysctl_unknown",
        clause: "runtime.md#runtimeCreate",
        quote: CANNOT_APPLY,
        run: sysctl_unknown,
    },
    Case {
        name: "errors.cwd_relative",
        clause: "config.md#configProcess",
        quote: "cwd (string, REQUIRED) is the working directory that will be set for the executable. This value MUST be an absolute path.",
        run: cwd_relative,
    },
    Case {
        name: "errors.args_empty",
        clause: "config.md#configProcess",
        quote: "This specification extends the IEEE standard in that at least one entry is REQUIRED (non-Windows)",
        run: args_empty,
    },
    Case {
        name: "errors.program_not_found",
        clause: "runtime.md#runtimeStart",
        quote: "This operation MUST run the user-specified program as specified by process. (Errors: an operation that cannot do so MUST generate an error.)",
        run: program_not_found,
    },
    Case {
        name: "errors.start_without_process",
        clause: "runtime.md#runtimeStart",
        quote: "This operation MUST generate an error if process was not set.",
        run: start_without_process,
    },
];

/// Create must fail leaving nothing; then the starting config works under the same ID.
pub(super) fn refused(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    ctx.ensure_never_created(&id, &out)?;
    control(ctx, &id)
}

/// For defects in `process`, which a runtime MAY check only at start: either
/// create fails leaving nothing, or start fails without running anything.
fn refused_by_create_or_start(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let out = ctx.create(&id)?;
    if out.success() {
        let st = ctx.start(&id);
        ensure!(
            st.failed_cleanly(),
            "neither create nor start failed: {}",
            st.describe()
        );
        ensure!(
            ctx.output(&id).report().is_err(),
            "the process ran although start failed"
        );
        let _ = ctx.call(&["delete", "--force", &id]);
    } else {
        ctx.ensure_never_created(&id, &out)?;
    }
    control(ctx, &id)
}

fn control(ctx: &mut Ctx, id: &str) -> R {
    ctx.reset_config();
    ctx.set_probe(&[]);
    let out = ctx.create(id)?;
    ensure!(
        out.success(),
        "control: the starting config under the same ID does not create: {}",
        out.describe()
    );
    ctx.start_ok(id)?;
    ctx.wait_status(id, "stopped")?;
    ctx.output(id).report().map(|_| ())
}

fn bundle_missing(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    let missing = ctx
        .dir
        .join("no-such-bundle")
        .to_string_lossy()
        .into_owned();
    let out = ctx.create_with(
        &id,
        CreateOpts {
            bundle_arg: Some(&missing),
            ..Default::default()
        },
    )?;
    ctx.ensure_never_created(&id, &out)?;
    control(ctx, &id)
}

fn config_malformed(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    // create_with would write a valid config over it, so go through `call`.
    let path = ctx.bundle.join("config.json");
    std::fs::write(&path, "{\"ociVersion\": \"1.0.2\", \"process\": ")
        .or_fail("write config.json")?;
    let cg = ctx.cgroup.clone();
    ctx.track_cgroup(&cg);
    let bundle = ctx.bundle.to_string_lossy().into_owned();
    let out = ctx.call(&["create", "--bundle", &bundle, &id]);
    ctx.ensure_never_created(&id, &out)?;
    control(ctx, &id)
}

fn rootfs_missing(ctx: &mut Ctx) -> R {
    ctx.config["root"]["path"] = "no-such-rootfs".into();
    refused(ctx)
}

fn bind_source_missing(ctx: &mut Ctx) -> R {
    let src = ctx
        .dir
        .join("host/no-such-dir")
        .to_string_lossy()
        .into_owned();
    ctx.add_mount(
        json!({"destination": "/mnt", "type": "none", "source": src, "options": ["bind"]}),
    )?;
    refused(ctx)
}

fn mount_type_unknown(ctx: &mut Ctx) -> R {
    ctx.add_mount(json!({"destination": "/mnt", "type": "no-such-fs", "source": "none"}))?;
    refused(ctx)
}

fn namespace_path_wrong_type(ctx: &mut Ctx) -> R {
    ctx.remove_namespace("network")?;
    ctx.add_namespace(json!({"type": "network", "path": "/proc/self/ns/ipc"}))?;
    refused(ctx)
}

fn namespace_path_missing(ctx: &mut Ctx) -> R {
    let missing = ctx
        .dir
        .join("host/no-such-netns")
        .to_string_lossy()
        .into_owned();
    ctx.remove_namespace("network")?;
    ctx.add_namespace(json!({"type": "network", "path": missing}))?;
    refused(ctx)
}

fn namespace_duplicate(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "ipc"}))?;
    refused(ctx)
}

fn namespace_type_unknown(ctx: &mut Ctx) -> R {
    ctx.add_namespace(json!({"type": "no-such-namespace"}))?;
    refused(ctx)
}

fn rlimit_duplicate(ctx: &mut Ctx) -> R {
    ctx.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 1024}
    ]);
    refused_by_create_or_start(ctx)
}

fn rlimit_unknown(ctx: &mut Ctx) -> R {
    ctx.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NO_SUCH_LIMIT", "soft": 1, "hard": 1}]);
    refused_by_create_or_start(ctx)
}

fn device_path_conflict(ctx: &mut Ctx) -> R {
    std::fs::write(ctx.in_rootfs("/etc/not-a-device"), "regular file\n")
        .or_fail("write fixture")?;
    ctx.config["linux"]["devices"] = json!([{"path": "/etc/not-a-device", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
    refused(ctx)
}

fn sysctl_unknown(ctx: &mut Ctx) -> R {
    ctx.config["linux"]["sysctl"] = json!({"net.ipv4.no_such_sysctl_conformance": "1"});
    refused(ctx)
}

fn cwd_relative(ctx: &mut Ctx) -> R {
    ctx.config["process"]["cwd"] = "tmp".into();
    refused_by_create_or_start(ctx)
}

fn args_empty(ctx: &mut Ctx) -> R {
    ctx.config["process"]["args"] = json!([]);
    refused_by_create_or_start(ctx)
}

fn program_not_found(ctx: &mut Ctx) -> R {
    ctx.config["process"]["args"] = json!(["/no/such/program"]);
    refused_by_create_or_start(ctx)
}

fn start_without_process(ctx: &mut Ctx) -> R {
    if let Some(o) = ctx.config.as_object_mut() {
        o.remove("process");
    }
    refused_by_create_or_start(ctx)
}
