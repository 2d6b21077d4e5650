//! config.md "Process", "POSIX process", "Linux Process", "User";
//! runtime-linux.md "File descriptors".

use super::Case;
use crate::ctx::{CreateOpts, Ctx};
use crate::host::{self, cap_mask, cap_names};
use crate::outcome::{OrFail, R, ensure, ensure_eq, skip};
use crate::probe::{EPERM, numbers, strings};
use crate::runtime::{ExtraFd, HOST_ENV_MARKER};
use serde_json::{Value, json};

const CAPS: &str = "capabilities (object, OPTIONAL) is an object containing arrays that specifies the sets of capabilities for the process.";

pub const CASES: &[Case] = &[
    Case {
        name: "process.args_verbatim",
        clause: "config.md#configProcess",
        quote: "args (array of strings, OPTIONAL) with similar semantics to IEEE Std 1003.1-2008 execvp's argv.",
        run: args_verbatim,
    },
    Case {
        name: "process.args_path_lookup",
        clause: "config.md#configProcess",
        quote: "at least one entry is REQUIRED (non-Windows), and that entry is used with the same semantics as execvp's file.",
        run: args_path_lookup,
    },
    Case {
        name: "process.env_exact",
        clause: "config.md#configProcess",
        quote: "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.",
        run: env_exact,
    },
    Case {
        name: "process.cwd",
        clause: "config.md#configProcess",
        quote: "cwd (string, REQUIRED) is the working directory that will be set for the executable.",
        run: cwd,
    },
    Case {
        name: "process.user_ids",
        clause: "config.md#configPOSIXUser",
        quote: "uid (int, REQUIRED) specifies the user ID in the container namespace. gid (int, REQUIRED) specifies the group ID in the container namespace.",
        run: user_ids,
    },
    Case {
        name: "process.additional_gids",
        clause: "config.md#configPOSIXUser",
        quote: "additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be added to the process.",
        run: additional_gids,
    },
    Case {
        name: "process.no_additional_gids",
        clause: "config.md#configPOSIXUser",
        quote: "additionalGids (array of ints, OPTIONAL) specifies additional group IDs ... to be added to the process (none given: none added).",
        run: no_additional_gids,
    },
    Case {
        name: "process.umask",
        clause: "config.md#configPOSIXUser",
        quote: "umask (int, OPTIONAL) specifies the umask of the user.",
        run: umask,
    },
    Case {
        name: "process.rlimits",
        clause: "config.md#configPOSIXProcess",
        quote: "soft ... rlim.rlim_cur MUST match the configured value. hard ... rlim.rlim_max MUST match the configured value.",
        run: rlimits,
    },
    Case {
        name: "process.no_new_privileges",
        clause: "config.md#configLinuxProcess",
        quote: "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.",
        run: no_new_privileges,
    },
    Case {
        name: "process.capabilities_root",
        clause: "config.md#configLinuxProcess",
        quote: CAPS,
        run: capabilities_root,
    },
    Case {
        name: "process.capabilities_non_root",
        clause: "config.md#configLinuxProcess",
        quote: CAPS,
        run: capabilities_non_root,
    },
    Case {
        name: "process.capabilities_empty",
        clause: "config.md#configLinuxProcess",
        quote: CAPS,
        run: capabilities_empty,
    },
    Case {
        name: "process.capabilities_enforced",
        clause: "config.md#configLinuxProcess",
        quote: "effective (array of strings, OPTIONAL) the effective field is an array of effective capabilities that are kept for the process.",
        run: capabilities_enforced,
    },
    Case {
        name: "process.oom_score_adj_set",
        clause: "config.md#configLinuxProcess",
        quote: "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.",
        run: oom_score_adj_set,
    },
    Case {
        name: "process.oom_score_adj_unset",
        clause: "config.md#configLinuxProcess",
        quote: "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.",
        run: oom_score_adj_unset,
    },
    Case {
        name: "process.only_stdio_fds",
        clause: "runtime-linux.md#runtimeLinuxFileDescriptors",
        quote: "By default, only the stdin, stdout and stderr file descriptors are kept open for the application by the runtime.",
        run: only_stdio_fds,
    },
];

fn report(p: &crate::probe::Probe) -> R<Value> {
    p.report().cloned()
}

fn args_verbatim(ctx: &mut Ctx) -> R {
    let args = [
        "/probe",
        "two words",
        "",
        "ünïcödé",
        "--flag=x",
        "$HOME",
        "a\"b'c",
    ];
    ctx.config["process"]["args"] = json!(args);
    let p = ctx.run_probe_as_configured()?;
    ensure_eq!(
        strings(&report(&p)?["args"]),
        args.map(String::from).to_vec(),
        "argv"
    );
    Ok(())
}

fn args_path_lookup(ctx: &mut Ctx) -> R {
    let dir = ctx.in_rootfs("/opt/conformance/bin");
    std::fs::create_dir_all(&dir).or_fail("mkdir")?;
    std::fs::copy(ctx.in_rootfs("/probe"), dir.join("conformance-probe")).or_fail("copy probe")?;
    ctx.config["process"]["env"] = json!(["PATH=/no/such/dir:/opt/conformance/bin:/bin"]);
    ctx.config["process"]["args"] = json!(["conformance-probe", "x"]);
    let p = ctx.run_probe_as_configured()?;
    ensure_eq!(
        strings(&report(&p)?["args"]),
        vec!["conformance-probe".to_string(), "x".into()],
        "argv"
    );
    Ok(())
}

fn env_exact(ctx: &mut Ctx) -> R {
    let env = [
        "PATH=/bin",
        "HOME=/root",
        "WITH_SPACE=a b",
        "EMPTY=",
        "EQUALS=x=y",
    ];
    ctx.config["process"]["env"] = json!(env);
    let p = ctx.run_probe(&[])?;
    let mut got = strings(&report(&p)?["env"]);
    got.sort();
    let mut want: Vec<String> = env.map(String::from).to_vec();
    want.sort();
    ensure!(
        !got.iter().any(|e| e == HOST_ENV_MARKER),
        "the runtime's own environment leaked in: {got:?}"
    );
    ensure_eq!(got, want, "environment");
    Ok(())
}

fn cwd(ctx: &mut Ctx) -> R {
    ctx.config["process"]["cwd"] = "/home/tester".into();
    let p = ctx.run_probe(&[])?;
    ensure_eq!(
        report(&p)?["cwd"].as_str(),
        Some("/home/tester"),
        "working directory"
    );
    Ok(())
}

fn user_ids(ctx: &mut Ctx) -> R {
    ctx.config["process"]["user"] = json!({"uid": 1000, "gid": 1001});
    let p = ctx.run_probe(&[])?;
    let rep = report(&p)?;
    ensure_eq!(
        numbers(&rep["uids"]),
        vec![1000; 4],
        "real, effective, saved, fs uid"
    );
    ensure_eq!(
        numbers(&rep["gids"]),
        vec![1001; 4],
        "real, effective, saved, fs gid"
    );
    Ok(())
}

fn additional_gids(ctx: &mut Ctx) -> R {
    ctx.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 2000, 3000]});
    let p = ctx.run_probe(&[])?;
    let mut groups = numbers(&report(&p)?["groups"]);
    groups.retain(|g| *g != 1000);
    groups.sort_unstable();
    ensure_eq!(
        groups,
        vec![5, 2000, 3000],
        "supplementary groups (besides the gid)"
    );
    Ok(())
}

/// The runtime runs with the runner's supplementary group RUNNER_GROUP: the
/// process must not keep it.
fn no_additional_gids(ctx: &mut Ctx) -> R {
    ctx.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let p = ctx.run_probe(&[])?;
    let groups = numbers(&report(&p)?["groups"]);
    ensure!(
        groups.iter().all(|g| *g == 1000),
        "supplementary groups not asked for: {groups:?}"
    );
    Ok(())
}

fn umask(ctx: &mut Ctx) -> R {
    ctx.config["process"]["user"]["umask"] = json!(0o027);
    let p = ctx.run_probe(&[])?;
    ensure_eq!(report(&p)?["umask"].as_u64(), Some(0o027), "umask");
    Ok(())
}

/// The runner's hard limit for `res`: a config cannot raise it (no CAP_SYS_RESOURCE here).
fn hard_limit(res: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    unsafe { libc::getrlimit(res, &mut r) };
    r.rlim_max
}

fn rlimits(ctx: &mut Ctx) -> R {
    if hard_limit(libc::RLIMIT_NOFILE) < 2048 || hard_limit(libc::RLIMIT_NPROC) < 500 {
        skip!("the runner's own hard limits are too low to test with");
    }
    let want = [
        ("RLIMIT_NOFILE", 1500u64, 2048u64),
        ("RLIMIT_NPROC", 400, 500),
        ("RLIMIT_CORE", 0, 4096),
        ("RLIMIT_MSGQUEUE", 8192, 16384),
    ];
    ctx.config["process"]["rlimits"] = want
        .iter()
        .map(|(t, s, h)| json!({"type": t, "soft": s, "hard": h}))
        .collect();
    let p = ctx.run_probe(&[])?;
    let got = &report(&p)?["rlimits"];
    for (t, s, h) in want {
        ensure_eq!(numbers(&got[t]), vec![s, h], "{t} [soft, hard]");
    }
    Ok(())
}

fn no_new_privileges(ctx: &mut Ctx) -> R {
    ctx.config["process"]["noNewPrivileges"] = json!(true);
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    ensure_eq!(
        ctx.output(&id).report()?["no_new_privs"].as_i64(),
        Some(1),
        "PR_GET_NO_NEW_PRIVS inside"
    );
    ensure_eq!(
        host::status_field(pid, "NoNewPrivs").as_deref(),
        Some("1"),
        "NoNewPrivs seen from the host"
    );
    Ok(())
}

/// Sets the five sets, runs the probe (kept alive), and compares each set
/// inside and in the host's /proc/PID/status.
fn check_caps(ctx: &mut Ctx, sets: &[(&str, &[&str])]) -> R {
    let mut caps = json!({});
    for (set, names) in sets {
        caps[*set] = json!(names);
    }
    ctx.config["process"]["capabilities"] = caps;
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    let p = ctx.output(&id);
    let inside = &p.report()?["caps"];
    for (set, names) in sets {
        let want = cap_mask(names);
        let got = inside[*set].as_u64().or_fail("probe without caps")?;
        ensure!(
            got == want,
            "{set} set inside: {:?}, want {:?}",
            cap_names(got),
            cap_names(want)
        );
        let key = status_key(set);
        let host_v = host::status_field(pid, key).and_then(|v| u64::from_str_radix(&v, 16).ok());
        ensure_eq!(host_v, Some(want), "{key} seen from the host");
    }
    Ok(())
}

fn status_key(set: &str) -> &'static str {
    match set {
        "bounding" => "CapBnd",
        "effective" => "CapEff",
        "permitted" => "CapPrm",
        "inheritable" => "CapInh",
        _ => "CapAmb",
    }
}

/// As root, execve makes permitted = bounding ∪ inheritable (and effective =
/// permitted), so only such configs can be honoured; inheritable and ambient
/// can still differ.
fn capabilities_root(ctx: &mut Ctx) -> R {
    let full: &[&str] = &[
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
    ];
    check_caps(
        ctx,
        &[
            ("bounding", full),
            ("permitted", full),
            ("effective", full),
            ("inheritable", &["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            ("ambient", &["CAP_NET_BIND_SERVICE"]),
        ],
    )
}

/// For another user the sets survive execve only through the ambient set.
fn capabilities_non_root(ctx: &mut Ctx) -> R {
    ctx.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let kept: &[&str] = &["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    check_caps(
        ctx,
        &[
            (
                "bounding",
                &[
                    "CAP_CHOWN",
                    "CAP_KILL",
                    "CAP_NET_BIND_SERVICE",
                    "CAP_SETUID",
                ],
            ),
            ("permitted", kept),
            ("effective", kept),
            ("inheritable", kept),
            ("ambient", kept),
        ],
    )
}

fn capabilities_empty(ctx: &mut Ctx) -> R {
    check_caps(
        ctx,
        &[
            ("bounding", &[]),
            ("permitted", &[]),
            ("effective", &[]),
            ("inheritable", &[]),
            ("ambient", &[]),
        ],
    )
}

/// chown needs CAP_CHOWN and sethostname CAP_SYS_ADMIN: granted one works, the other is refused.
fn capabilities_enforced(ctx: &mut Ctx) -> R {
    let set = json!(["CAP_CHOWN"]);
    ctx.config["process"]["capabilities"] = json!({"bounding": set, "permitted": set, "effective": set, "inheritable": [], "ambient": []});
    std::fs::write(ctx.in_rootfs("/tmp/owned"), "x").or_fail("write fixture")?;
    let p = ctx.run_probe(&["chown:/tmp/owned:1000:1000", "sethostname:not-allowed"])?;
    ensure_eq!(
        p.errno("chown", "/tmp/owned:1000:1000")?,
        None,
        "chown with CAP_CHOWN (errno)"
    );
    ensure_eq!(
        p.errno("sethostname", "not-allowed")?,
        Some(EPERM),
        "sethostname without CAP_SYS_ADMIN (errno)"
    );
    Ok(())
}

fn oom_score_adj_set(ctx: &mut Ctx) -> R {
    ctx.config["process"]["oomScoreAdj"] = json!(500);
    let id = ctx.id.clone();
    let pid = ctx.launch(&id, &["sleep:60"])?;
    ensure_eq!(
        ctx.output(&id).report()?["oom_score_adj"].as_i64(),
        Some(500),
        "oom_score_adj inside"
    );
    let host_v = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .or_fail("read oom_score_adj")?;
    ensure_eq!(host_v.trim(), "500", "oom_score_adj seen from the host");
    Ok(())
}

fn oom_score_adj_unset(ctx: &mut Ctx) -> R {
    if let Some(p) = ctx.config["process"].as_object_mut() {
        p.remove("oomScoreAdj");
    }
    let p = ctx.run_probe(&[])?;
    let want = i64::from(crate::RUNNER_OOM_SCORE_ADJ);
    ensure_eq!(
        p.report()?["oom_score_adj"].as_i64(),
        Some(want),
        "oom_score_adj (the runtime caller's)"
    );
    Ok(())
}

/// The runtime is started with an extra descriptor 7 open: the process must not get it.
fn only_stdio_fds(ctx: &mut Ctx) -> R {
    let id = ctx.id.clone();
    ctx.set_probe(&[]);
    let file = std::fs::File::open(ctx.in_rootfs("/etc/passwd")).or_fail("open fixture")?;
    let out = ctx.create_with(
        &id,
        CreateOpts {
            extra_fds: vec![ExtraFd { file, target: 7 }],
            ..Default::default()
        },
    )?;
    ensure!(out.success(), "create: {}", out.describe());
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped")?;
    let p = ctx.output(&id);
    ensure_eq!(
        numbers(&p.report()?["fds"]),
        vec![0, 1, 2],
        "open descriptors of the process"
    );
    Ok(())
}
