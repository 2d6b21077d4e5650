//! features.md: what `features` prints must be true of the runtime. Each
//! case reads the Features structure and tries what it lists in config.json.

use super::Case;
use crate::ctx::Ctx;
use crate::host;
use crate::outcome::{OrFail, Outcome, R, ensure, ensure_eq, fail};
use serde_json::{Value, json};

pub const CASES: &[Case] = &[
    Case {
        name: "features.valid_json",
        clause: "features.md#featuresSpecificationVersion",
        quote: "ociVersionMin (string, REQUIRED) ... ociVersionMax (string, REQUIRED) ... The value MUST NOT be less than the value of the ociVersionMin property. The Features structure MUST NOT contain properties that are not defined in this version of the Open Container Initiative Runtime Specification.",
        run: valid_json,
    },
    Case {
        name: "features.oci_version_min_accepted",
        clause: "features.md#featuresSpecificationVersion",
        quote: "ociVersionMin: The runtime MUST accept this value as the ociVersion property of config.json.",
        run: oci_version_min_accepted,
    },
    Case {
        name: "features.oci_version_max_accepted",
        clause: "features.md#featuresSpecificationVersion",
        quote: "ociVersionMax: The runtime MUST accept this value as the ociVersion property of config.json.",
        run: oci_version_max_accepted,
    },
    Case {
        name: "features.hooks_supported",
        clause: "features.md#featuresHooks",
        quote: "The runtime MUST support the elements in this array as the hooks property of config.json.",
        run: hooks_supported,
    },
    Case {
        name: "features.mount_options_recognized",
        clause: "features.md#featuresMountOptions",
        quote: "The runtime MUST recognize the elements in this array as the options of mounts objects in config.json.",
        run: mount_options_recognized,
    },
    Case {
        name: "features.namespaces_creatable",
        clause: "features-linux.md#linuxFeaturesNamespaces",
        quote: "namespaces (array of strings, OPTIONAL) The recognized names of the namespaces.",
        run: namespaces_creatable,
    },
    Case {
        name: "features.capabilities_accepted",
        clause: "features-linux.md#linuxFeaturesCapabilities",
        quote: "capabilities (array of strings, OPTIONAL) The recognized names of the capabilities.",
        run: capabilities_accepted,
    },
];

/// The properties features.md and features-linux.md define (schema/features-*.json).
const TOP_LEVEL: &[&str] = &[
    "ociVersionMin",
    "ociVersionMax",
    "hooks",
    "mountOptions",
    "annotations",
    "potentiallyUnsafeConfigAnnotations",
    "linux",
];
const LINUX: &[&str] = &[
    "namespaces",
    "capabilities",
    "cgroup",
    "seccomp",
    "apparmor",
    "selinux",
    "intelRdt",
    "mountExtensions",
    "netDevices",
    "memoryPolicy",
];

/// Mount options a tmpfs mount cannot take at creation, and why.
const NOT_FOR_NEW_TMPFS: &[(&str, &str)] = &[
    (
        "remount",
        "MS_REMOUNT of a mount point that has no mount yet: EINVAL",
    ),
    ("idmap", "needs a user namespace and mount mappings"),
    ("ridmap", "needs a user namespace and mount mappings"),
];

/// `features`, parsed; a runtime without the command fails here.
pub(super) fn features(ctx: &mut Ctx) -> R<Value> {
    let out = ctx.call(&["features"]);
    ensure!(out.success(), "features failed: {}", out.describe());
    let v: Value = serde_json::from_str(&out.stdout)
        .or_fail(&format!("features printed no JSON: {}", out.describe()))?;
    ensure!(v.is_object(), "features printed {v}, not an object");
    Ok(v)
}

/// A list of strings of the structure (empty when absent or null).
pub(super) fn names(v: &Value) -> R<Vec<String>> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(v.clone()).or_fail(&format!("not an array of strings: {v}"))
}

/// "1.0.2-dev" → (1, 0, 2, false): pre-releases sort before the release.
fn version_key(v: &str) -> R<(u64, u64, u64, bool)> {
    let (core, pre) = match v.split_once('-') {
        Some((c, _)) => (c, true),
        None => (v, false),
    };
    let n: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .or_fail(&format!("{v:?} is not a semantic version"))?;
    ensure!(n.len() == 3, "{v:?} is not MAJOR.MINOR.PATCH");
    Ok((n[0], n[1], n[2], !pre))
}

fn valid_json(ctx: &mut Ctx) -> R {
    let f = features(ctx)?;
    let min = f["ociVersionMin"]
        .as_str()
        .or_fail("no ociVersionMin string")?;
    let max = f["ociVersionMax"]
        .as_str()
        .or_fail("no ociVersionMax string")?;
    ensure!(
        version_key(max)? >= version_key(min)?,
        "ociVersionMax {max} is less than ociVersionMin {min}"
    );
    unknown_keys(&f, TOP_LEVEL, "")?;
    if f["linux"].is_object() {
        unknown_keys(&f["linux"], LINUX, "linux.")?;
    }
    Ok(())
}

fn unknown_keys(v: &Value, known: &[&str], prefix: &str) -> R {
    let obj = v.as_object().or_fail("not an object")?;
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("{prefix}{k}"))
        .collect();
    ensure!(
        unknown.is_empty(),
        "properties the spec does not define: {unknown:?}"
    );
    Ok(())
}

fn oci_version_min_accepted(ctx: &mut Ctx) -> R {
    version_accepted(ctx, "ociVersionMin")
}

fn oci_version_max_accepted(ctx: &mut Ctx) -> R {
    version_accepted(ctx, "ociVersionMax")
}

fn version_accepted(ctx: &mut Ctx, key: &str) -> R {
    let f = features(ctx)?;
    let v = f[key].as_str().or_fail(&format!("no {key} string"))?;
    ctx.config["ociVersion"] = json!(v);
    let p = ctx.run_probe(&[])?;
    p.report()?;
    Ok(())
}

/// Every listed hook appends its name to a host file; all of them must run.
fn hooks_supported(ctx: &mut Ctx) -> R {
    let listed = names(&features(ctx)?["hooks"])?;
    let log = ctx.host_dir("hooks")?.join("called");
    // startContainer runs in the container: it logs into the rootfs.
    let in_ctr = "/hook-called";
    let mut hooks = json!({});
    for name in &listed {
        let file = match name.as_str() {
            "startContainer" => in_ctr.to_owned(),
            _ => log.display().to_string(),
        };
        let script = format!("echo {name} >> {file}");
        hooks[name] = json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
    }
    ctx.config["hooks"] = hooks;
    let id = ctx.id.clone();
    ctx.launch(&id, &["sleep:60"])?;
    let out = ctx.kill(&id, "KILL");
    ensure!(out.success(), "kill failed: {}", out.describe());
    ctx.wait_status(&id, "stopped")?;
    let out = ctx.delete(&id);
    ensure!(out.success(), "delete failed: {}", out.describe());
    let mut called = std::fs::read_to_string(&log).unwrap_or_default();
    called += &std::fs::read_to_string(ctx.in_rootfs(in_ctr)).unwrap_or_default();
    let missing: Vec<&String> = listed
        .iter()
        .filter(|n| !called.lines().any(|l| l == n.as_str()))
        .collect();
    ensure!(missing.is_empty(), "listed hooks never called: {missing:?}");
    Ok(())
}

/// One mount per listed option (a tmpfs, a bind mount for bind and rbind),
/// all in one container; on failure each option alone finds the culprits.
fn mount_options_recognized(ctx: &mut Ctx) -> R {
    let listed = names(&features(ctx)?["mountOptions"])?;
    let testable: Vec<&String> = listed
        .iter()
        .filter(|o| !NOT_FOR_NEW_TMPFS.iter().any(|(n, _)| n == o))
        .collect();
    let src = ctx.host_dir("bind-source")?;
    let mounts: Vec<Value> = testable
        .iter()
        .enumerate()
        .map(|(i, o)| mount_with(o, i, &src.display().to_string()))
        .collect();
    let base = ctx.config.clone();
    if try_mounts(ctx, &mounts, "all")? {
        return Ok(());
    }
    let mut refused = Vec::new();
    for (m, o) in mounts.iter().zip(&testable) {
        ctx.config = base.clone();
        if !try_mounts(ctx, std::slice::from_ref(m), o)? {
            refused.push(o.as_str());
        }
    }
    ensure!(
        !refused.is_empty(),
        "create failed with all options, but with none alone"
    );
    fail!(
        "create refused the listed mount options {refused:?} (skipped as not for a new tmpfs: {NOT_FOR_NEW_TMPFS:?})"
    )
}

fn mount_with(opt: &str, i: usize, bind_src: &str) -> Value {
    let dst = format!("/mnt/opt-{i}");
    if matches!(opt, "bind" | "rbind") {
        json!({"destination": dst, "type": "bind", "source": bind_src, "options": [opt]})
    } else {
        json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": [opt]})
    }
}

/// Creates a container with these extra mounts; whether create worked.
fn try_mounts(ctx: &mut Ctx, mounts: &[Value], what: &str) -> R<bool> {
    for m in mounts {
        ctx.add_mount(m.clone())?;
    }
    let id = ctx.other_id(&what.replace(['_', '.'], "-"));
    let out = ctx.create(&id)?;
    let ok = out.success();
    let del = ctx.call(&["delete", "--force", &id]);
    ensure!(
        !ok || del.success(),
        "delete --force failed: {}",
        del.describe()
    );
    Ok(ok)
}

/// One container per listed namespace the host has, each in a new one.
fn namespaces_creatable(ctx: &mut Ctx) -> R {
    let listed = names(&features(ctx)?["linux"]["namespaces"])?;
    ensure!(!listed.is_empty(), "features lists no namespaces");
    let base = ctx.config.clone();
    for kind in &listed {
        let proc_name = if kind == "network" { "net" } else { kind };
        let mine = host::ns_link("self", proc_name);
        if mine.is_none() {
            continue;
        }
        ctx.config = base.clone();
        ctx.remove_namespace(kind)?;
        ctx.add_namespace(json!({"type": kind}))?;
        if kind == "user" {
            let m = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            ctx.config["linux"]["uidMappings"] = m.clone();
            ctx.config["linux"]["gidMappings"] = m;
        }
        let id = ctx.other_id(kind);
        ctx.set_probe(&["sleep:60"]);
        let pid = match ctx.create_ok(&id) {
            Ok(pid) => pid,
            Err(Outcome::Fail(m)) => fail!("{kind}: {m}"),
            Err(e) => return Err(e),
        };
        let theirs = host::ns_link(&pid.to_string(), proc_name);
        let del = ctx.call(&["delete", "--force", &id]);
        ensure!(
            theirs != mine,
            "{kind}: the container shares the runtime's namespace"
        );
        ensure!(del.success(), "delete --force: {}", del.describe());
    }
    Ok(())
}

/// All listed capabilities in every set: the container gets them all. Only
/// those this runner holds can be granted (config.md: capabilities that
/// cannot be granted make create fail), so the others are left out.
fn capabilities_accepted(ctx: &mut Ctx) -> R {
    let listed = names(&features(ctx)?["linux"]["capabilities"])?;
    ensure!(!listed.is_empty(), "features lists no capabilities");
    let mine = bounding_set(std::process::id())?;
    let grantable: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|n| {
            let bit = host::cap_mask(&[n]);
            bit != 0 && mine & bit == bit
        })
        .collect();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        ctx.config["process"]["capabilities"][set] = json!(grantable);
    }
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let got = bounding_set(pid)?;
    ensure_eq!(
        host::cap_names(got),
        host::cap_names(host::cap_mask(&grantable)),
        "bounding set of the container"
    );
    Ok(())
}

fn bounding_set(pid: u32) -> R<u64> {
    let hex = host::status_field(pid, "CapBnd").or_fail("no CapBnd")?;
    u64::from_str_radix(&hex, 16).or_fail("CapBnd")
}
