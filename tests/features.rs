//! `rt features` must stay true (features.md, features-linux.md): every
//! list is read from the JSON, never copied here, and each listed element
//! is tried in a container; a name the JSON does not list is refused. So
//! whoever extends features.rs extends what these tests check.

mod common;
use common::*;
use serde_json::{Value, json};

fn features(b: &Bundle) -> Value {
    b.rt(&["features"]).ok().json()
}

/// A list of strings of the features JSON (empty when absent).
fn names(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// Creates container `id` from the current config; whether that worked,
/// with stderr. The container is force-deleted again.
fn creates(b: &Bundle, id: &str) -> (bool, String) {
    let out = b.create(id);
    let ok = out.success();
    if ok {
        b.delete_force(id).ok();
    }
    (ok, out.stderr)
}

/// Options a new tmpfs cannot take, whatever the runtime (as in the
/// conformance case): a remount of nothing, id mappings without a user
/// namespace.
const NOT_FOR_NEW_TMPFS: &[&str] = &["remount", "idmap", "ridmap"];

fn mount_with(opt: &str, i: usize, bind_src: &str) -> Value {
    let dst = format!("/mnt/opt-{i}");
    if matches!(opt, "bind" | "rbind") {
        json!({"destination": dst, "type": "bind", "source": bind_src, "options": [opt]})
    } else {
        json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": [opt]})
    }
}

#[test]
fn features_mount_options_are_accepted() {
    let Some(b) = Bundle::new("features_mount_options_are_accepted") else {
        return;
    };
    let listed = names(&features(&b)["mountOptions"]);
    assert!(!listed.is_empty(), "features lists no mountOptions");
    let testable: Vec<&String> = listed
        .iter()
        .filter(|o| !NOT_FOR_NEW_TMPFS.contains(&o.as_str()))
        .collect();
    let src = b.dir.join("bind-source");
    std::fs::create_dir_all(&src).unwrap();
    let src = src.to_str().unwrap().to_owned();
    let base = b.read_config();
    b.config(|c| {
        for (i, o) in testable.iter().enumerate() {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(mount_with(o, i, &src));
        }
    });
    if !creates(&b, &b.other_id("all")).0 {
        // One container per option names the culprits.
        let mut refused = Vec::new();
        for (i, o) in testable.iter().enumerate() {
            let mut c = base.clone();
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(mount_with(o, i, &src));
            b.write_config(&c);
            let (ok, err) = creates(&b, &b.other_id(&format!("opt{i}")));
            if !ok {
                refused.push(format!("{o}: {}", err.trim()));
            }
        }
        panic!("listed mount options refused: {refused:#?}");
    }
    // Not listed: a recursive flag rt does not implement, and nonsense.
    for opt in ["rro", "rnosuid", "no-such-option"] {
        if listed.iter().any(|o| o == opt) {
            continue;
        }
        let mut c = base.clone();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(mount_with(opt, 0, &src));
        b.write_config(&c);
        let (ok, _) = creates(&b, &b.other_id(&format!("unlisted-{opt}")));
        assert!(!ok, "mount option {opt:?} is not listed but was accepted");
    }
    b.assert_nothing_left();
}

/// One container in a new namespace of every listed kind, running every
/// listed hook; from the host each of its namespaces differs from ours.
#[test]
fn features_namespaces_and_hooks_work() {
    let Some(b) = Bundle::new("features_namespaces_and_hooks_work") else {
        return;
    };
    let f = features(&b);
    let kinds = names(&f["linux"]["namespaces"]);
    assert!(!kinds.is_empty(), "features lists no namespaces");
    let hooks = names(&f["hooks"]);
    let log = b.dir.join("hooks.log");
    let in_ctr = "/hook-called";
    b.config(|c| {
        c["linux"]["namespaces"] =
            json!(kinds.iter().map(|k| json!({"type": k})).collect::<Vec<_>>());
        if kinds.iter().any(|k| k == "user") {
            let m = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["uidMappings"] = m.clone();
            c["linux"]["gidMappings"] = m;
        }
        let mut h = json!({});
        for name in &hooks {
            // startContainer runs in the container, after pivot_root.
            let file = match name.as_str() {
                "startContainer" => in_ctr.to_owned(),
                _ => log.display().to_string(),
            };
            let script = format!("echo {name} >> {file}");
            h[name] = json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
        }
        c["hooks"] = h;
    });
    // createContainer and startContainer write as the user namespace's
    // root, which the host's root-owned files do not let in.
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    std::fs::write(b.host_path(in_ctr), "").unwrap();
    std::os::unix::fs::chown(b.host_path(in_ctr), Some(100000), Some(100000)).unwrap();
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id).to_string();
    b.start(&b.id).ok();
    for kind in &kinds {
        let proc_name = if kind == "network" {
            "net"
        } else {
            kind.as_str()
        };
        if !std::path::Path::new(&format!("/proc/self/ns/{proc_name}")).exists() {
            continue;
        }
        assert_ne!(
            ns_link(&pid, proc_name),
            ns_link("self", proc_name),
            "{kind}: the container shares the host's namespace"
        );
    }
    b.delete_force(&b.id).ok();
    let mut called = std::fs::read_to_string(&log).unwrap_or_default();
    called += &std::fs::read_to_string(b.host_path(in_ctr)).unwrap_or_default();
    for name in &hooks {
        assert!(
            called.lines().any(|l| l == name),
            "listed hook {name} never ran: {called:?}"
        );
    }
    b.config(|c| c["linux"]["namespaces"] = json!([{"type": "no-such-namespace"}]));
    let (ok, _) = creates(&b, &b.other_id("unlisted"));
    assert!(!ok, "a namespace type not listed was accepted");
    b.assert_nothing_left();
}

/// Every listed capability this process holds goes into every set; the
/// container's bounding set is exactly those. A name not listed is refused.
#[test]
fn features_capabilities_are_accepted() {
    let Some(b) = Bundle::new("features_capabilities_are_accepted") else {
        return;
    };
    let listed = names(&features(&b)["linux"]["capabilities"]);
    assert!(!listed.is_empty(), "features lists no capabilities");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mine = u64::from_str_radix(status_field(&status, "CapBnd").unwrap(), 16).unwrap();
    // Only what this process holds can be granted (config.md: create fails
    // on a capability it cannot grant).
    let grantable: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|n| {
            let bit = 1u64 << cap_number(n);
            mine & bit == bit
        })
        .collect();
    b.config(|c| {
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            c["process"]["capabilities"][set] = json!(grantable);
        }
    });
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let got = u64::from_str_radix(status_field(&status, "CapBnd").unwrap(), 16).unwrap();
    assert_eq!(got, cap_mask(&grantable), "the container's bounding set");
    b.delete_force(&b.id).ok();
    b.config(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_NO_SUCH_THING"]));
    let (ok, _) = creates(&b, &b.other_id("unlisted"));
    assert!(!ok, "a capability not listed was accepted");
    b.assert_nothing_left();
}

/// Syscalls the shell running the program never makes, one per rule.
const UNUSED_SYSCALLS: &[&str] = &[
    "acct",
    "swapon",
    "swapoff",
    "syslog",
    "vhangup",
    "pivot_root",
    "quotactl",
    "nfsservctl",
    "lookup_dcookie",
    "kexec_load",
    "init_module",
    "delete_module",
    "settimeofday",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
];

const LITTLE_ENDIAN: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
];

fn action_rule(action: &str, syscall: &str) -> Value {
    let mut r = json!({"names": [syscall], "action": action});
    if action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE" {
        r["errnoRet"] = json!(1);
    }
    r
}

/// A profile with every listed action (each on a syscall the program does
/// not make), every listed operator, every listed architecture and every
/// supported flag: the program runs. An action not listed is refused.
#[test]
fn features_seccomp_lists_are_accepted() {
    let Some(b) = Bundle::new("features_seccomp_lists_are_accepted") else {
        return;
    };
    let f = &features(&b)["linux"]["seccomp"];
    if f["enabled"] != json!(true) {
        eprintln!("seccomp not enabled in features");
        return;
    }
    let actions = names(&f["actions"]);
    let operators = names(&f["operators"]);
    assert!(
        actions.len() + operators.len() <= UNUSED_SYSCALLS.len(),
        "more rules than unused syscalls: extend UNUSED_SYSCALLS"
    );
    let mut unused = UNUSED_SYSCALLS.iter();
    let mut rules: Vec<Value> = actions
        .iter()
        // NOTIFY needs a listenerPath (config-linux.md), another feature.
        .filter(|a| !matches!(a.as_str(), "SCMP_ACT_ALLOW" | "SCMP_ACT_NOTIFY"))
        .map(|a| action_rule(a, unused.next().unwrap()))
        .collect();
    for op in &operators {
        let mut r = action_rule("SCMP_ACT_ERRNO", unused.next().unwrap());
        r["args"] = json!([{"index": 0, "value": 12345, "valueTwo": 12345, "op": op}]);
        rules.push(r);
    }
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        // libseccomp cannot mix endianness in one filter: only the
        // little-endian ones, which this x86_64 host's filters can hold.
        "architectures": names(&f["archs"])
            .into_iter()
            .filter(|a| LITTLE_ENDIAN.contains(&a.as_str()))
            .collect::<Vec<_>>(),
        "flags": names(&f["supportedFlags"]),
        "syscalls": rules,
    });
    b.config(|c| c["linux"]["seccomp"] = profile.clone());
    b.set_script("echo seccomp-ok");
    let out = b.run(&b.id, &[]);
    assert!(
        out.success() && out.stdout == "seccomp-ok\n",
        "a profile of the listed names failed: {out:?}"
    );
    // Not listed, of the spec's actions: each is refused.
    let spec_actions = [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ];
    for action in spec_actions
        .iter()
        .filter(|a| !actions.iter().any(|l| l == *a))
    {
        let mut p = profile.clone();
        p["syscalls"] = json!([action_rule(action, "acct")]);
        b.config(|c| c["linux"]["seccomp"] = p);
        let (ok, _) = creates(&b, &b.other_id(&action.to_lowercase().replace('_', "-")));
        assert!(
            !ok,
            "seccomp action {action} is not listed but was accepted"
        );
    }
    b.assert_nothing_left();
}
