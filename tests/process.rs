//! The `process` object and the container process's placement, checked from inside and outside.

mod common;
use common::*;
use serde_json::json;
use std::fs;

fn status_of(b: &Bundle) -> String {
    b.set_args(&["cat", "/proc/self/status"]);
    b.run_ok()
}

#[test]
fn process_args_passed_verbatim() {
    let Some(b) = Bundle::new("process_args_passed_verbatim") else {
        return;
    };
    b.set_args(&[
        "sh",
        "-c",
        "printf '[%s]\\n' \"$0\" \"$@\"",
        "zero",
        "a b",
        "",
        "*",
    ]);
    assert_eq!(b.run_ok(), "[zero]\n[a b]\n[]\n[*]\n");
}

#[test]
fn process_is_pid_1_in_its_pid_namespace() {
    let Some(b) = Bundle::new("process_is_pid_1_in_its_pid_namespace") else {
        return;
    };
    b.set_script("echo $$; cat /proc/1/cmdline | tr '\\0' ' '");
    assert_eq!(
        b.run_ok(),
        "1\nsh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' "
    );
}

#[test]
fn process_env_exact() {
    let Some(b) = Bundle::new("process_env_exact") else {
        return;
    };
    let env = [
        "PATH=/bin",
        "FOO=bar",
        "SPACED=a b  c",
        "EMPTY=",
        "HOME=/home/x",
    ];
    b.config(|c| c["process"]["env"] = json!(env));
    b.set_args(&["env"]);
    let out = b.run_ok();
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    let mut want = env.to_vec();
    want.sort();
    // Nothing from the runtime's own environment (the harness sets RT_IT_HOST_ONLY) may leak in.
    assert_eq!(got, want);
}

#[test]
fn process_cwd() {
    let Some(b) = Bundle::new("process_cwd") else {
        return;
    };
    b.config(|c| c["process"]["cwd"] = json!("/home/tester"));
    b.set_args(&["pwd"]);
    assert_eq!(b.run_ok(), "/home/tester\n");
}

#[test]
fn process_user_and_groups() {
    let Some(b) = Bundle::new("process_user_and_groups") else {
        return;
    };
    b.config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 1001]})
    });
    b.set_script("id -u; id -g; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    let out = b.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["1000"], "{out}");
    assert_eq!(lines[1], ["1000"], "{out}");
    // real, effective, saved and fs IDs all switched.
    assert_eq!(lines[2], ["Uid:", "1000", "1000", "1000", "1000"], "{out}");
    assert_eq!(lines[3], ["Gid:", "1000", "1000", "1000", "1000"], "{out}");
    assert_eq!(lines[4], ["Groups:", "5", "1001"], "{out}");
}

#[test]
fn process_root_has_no_stray_groups() {
    let Some(b) = Bundle::new("process_root_has_no_stray_groups") else {
        return;
    };
    b.set_script("grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    let out = b.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["Uid:", "0", "0", "0", "0"],
            vec!["Gid:", "0", "0", "0", "0"],
            vec!["Groups:"]
        ],
        "{out}"
    );
}

#[test]
fn process_umask() {
    let Some(b) = Bundle::new("process_umask") else {
        return;
    };
    b.config(|c| c["process"]["user"]["umask"] = json!(0o077));
    b.set_script("umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(b.run_ok(), "0077\n600\n");
}

#[test]
fn process_rlimits() {
    let Some(b) = Bundle::new("process_rlimits") else {
        return;
    };
    // Below the host's limits: raising a hard limit needs CAP_SYS_RESOURCE, which this host lacks.
    b.config(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
        ])
    });
    b.set_script("grep -E '^Max (open files|core file size)' /proc/self/limits");
    let out = b.run_ok();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec!["Max", "core", "file", "size", "0", "4096", "bytes"]),
        "{out}"
    );
    assert!(
        rows.contains(&vec!["Max", "open", "files", "256", "512", "files"]),
        "{out}"
    );
}

#[test]
fn process_no_new_privileges() {
    let Some(b) = Bundle::new("process_no_new_privileges") else {
        return;
    };
    for (nnp, want) in [(true, "1"), (false, "0")] {
        b.config(|c| c["process"]["noNewPrivileges"] = json!(nnp));
        assert_eq!(
            status_field(&status_of(&b), "NoNewPrivs"),
            Some(want),
            "noNewPrivileges={nnp}"
        );
    }
}

fn assert_caps(status: &str, sets: &[(&str, &[&str])]) {
    for (field, caps) in sets {
        let got = status_field(status, field).unwrap_or_else(|| panic!("no {field}:\n{status}"));
        let got = u64::from_str_radix(got, 16).unwrap();
        assert_eq!(got, cap_mask(caps), "{field} is {got:#x}, want {caps:?}");
    }
}

#[test]
fn process_capabilities_root() {
    let Some(b) = Bundle::new("process_capabilities_root") else {
        return;
    };
    let set = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE",
    ];
    b.config(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set})
    });
    let s = status_of(&b);
    assert_caps(
        &s,
        &[
            ("CapBnd", &set),
            ("CapEff", &set),
            ("CapPrm", &set),
            ("CapInh", &set),
            ("CapAmb", &set),
        ],
    );
}

#[test]
fn process_capabilities_non_root() {
    let Some(b) = Bundle::new("process_capabilities_non_root") else {
        return;
    };
    // For a non-root user the sets survive execve only through the ambient set.
    let bounding = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETUID",
    ];
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] =
            json!({"bounding": bounding, "effective": kept, "permitted": kept, "inheritable": kept, "ambient": kept})
    });
    let s = status_of(&b);
    assert_caps(
        &s,
        &[
            ("CapBnd", &bounding),
            ("CapEff", &kept),
            ("CapPrm", &kept),
            ("CapInh", &kept),
            ("CapAmb", &kept),
        ],
    );
}

#[test]
fn process_capabilities_empty() {
    let Some(b) = Bundle::new("process_capabilities_empty") else {
        return;
    };
    b.config(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []})
    });
    let s = status_of(&b);
    assert_caps(
        &s,
        &[
            ("CapBnd", &[]),
            ("CapEff", &[]),
            ("CapPrm", &[]),
            ("CapInh", &[]),
            ("CapAmb", &[]),
        ],
    );
}

#[test]
fn process_oom_score_adj() {
    let Some(b) = Bundle::new("process_oom_score_adj") else {
        return;
    };
    // Raising needs no privilege; lowering below the current value needs CAP_SYS_RESOURCE.
    let current: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let want = (current + 500).min(1000);
    b.config(|c| c["process"]["oomScoreAdj"] = json!(want));
    b.set_args(&["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(b.run_ok().trim(), want.to_string());
}

#[test]
fn process_in_its_cgroup() {
    let Some(b) = Bundle::new("process_in_its_cgroup") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = b.cgroup_path();
    for ctl in V1_CONTROLLERS {
        let line = cg
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == *ctl))
            })
            .unwrap_or_else(|| panic!("no {ctl} line:\n{cg}"));
        assert_eq!(
            line.splitn(3, ':').nth(2),
            Some(want.as_str()),
            "{ctl}:\n{cg}"
        );
        let procs = fs::read_to_string(format!("/sys/fs/cgroup/{ctl}{want}/cgroup.procs"))
            .unwrap_or_else(|e| panic!("{ctl} cgroup {want}: {e}"));
        assert!(
            procs.lines().any(|p| p == pid.to_string()),
            "{pid} not in {ctl} cgroup.procs: {procs}"
        );
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn process_path_lookup_uses_container_env() {
    let Some(b) = Bundle::new("process_path_lookup_uses_container_env") else {
        return;
    };
    let tools = b.host_path("/opt/tools");
    fs::create_dir_all(&tools).unwrap();
    fs::write(tools.join("greet"), "#!/bin/sh\necho greet-from-opt\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tools.join("greet"), fs::Permissions::from_mode(0o755)).unwrap();
    b.config(|c| c["process"]["env"] = json!(["PATH=/opt/tools:/bin"]));
    b.set_args(&["greet"]);
    assert_eq!(b.run_ok(), "greet-from-opt\n");
}

/// CVE-2024-21626: no descriptor of the runtime's may reach the container,
/// and a cwd through /proc/self/fd must not land outside the container.
#[test]
fn process_no_runtime_fd_reaches_the_program() {
    let Some(b) = Bundle::new("process_no_runtime_fd_reaches_the_program") else {
        return;
    };
    // ls holds fd 3 on the directory it lists; nothing else may be open.
    b.set_args(&["ls", "/proc/self/fd"]);
    let out = b.run_ok();
    let fds: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "open fds: {out}");
}

#[test]
fn process_cwd_through_proc_fd_stays_inside() {
    let Some(b) = Bundle::new("process_cwd_through_proc_fd_stays_inside") else {
        return;
    };
    b.set_args(&["sh", "-c", "pwd -P; ls /proc/self/cwd/../../../"]);
    for fd in 3..=9 {
        b.config(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}")));
        let id = b.other_id(&fd.to_string());
        let out = b.run(&id, &[]);
        if out.success() {
            // Whatever it is, it must be inside the container's root.
            assert!(
                !out.stdout.contains("unreachable"),
                "fd {fd}: {}",
                out.stdout
            );
            assert!(!out.stdout.contains("rt-it"), "fd {fd}: {}", out.stdout);
        }
    }
    b.assert_nothing_left();
}

/// CVE-2019-5736: a handle on the container process's /proc/PID/exe, taken
/// while it is still the runtime's image, must not open the runtime's
/// binary for writing once that process is gone.
#[test]
fn process_runtime_binary_cannot_be_overwritten_through_proc_exe() {
    let Some(b) = Bundle::new("process_runtime_binary_cannot_be_overwritten_through_proc_exe")
    else {
        return;
    };
    if skip_on_runc("runc 1.1 runs from a sealed memfd: a different error") {
        return;
    }
    use std::os::unix::fs::OpenOptionsExt;
    b.set_args(&["true"]);
    // Until `start`, init is still the runtime's own image.
    let pid = b.create_ok(&b.id);
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(format!("/proc/{pid}/exe"))
        .unwrap();
    // The binary behind the handle lives on a read-only mount...
    let fs_flags = nix::sys::statvfs::fstatvfs(&handle).unwrap().flags();
    assert!(
        fs_flags.contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the runtime runs from a writable mount"
    );
    b.delete_force(&b.id).ok();
    // ...so, once the process is gone, it cannot be opened for writing:
    // EROFS, or ETXTBSY while another test's runtime runs the same file.
    let reopened = fs::OpenOptions::new().write(true).open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&handle)
    ));
    let err = reopened.expect_err("the runtime's binary opened for writing");
    assert!(
        [Some(libc::EROFS), Some(libc::ETXTBSY)].contains(&err.raw_os_error()),
        "{err}"
    );
    b.assert_nothing_left();
}

/// A missing cwd is made inside the rootfs before it turns read-only, as
/// runc does (crun's test_cwd.py cwd-not-exist: its root is read-only).
#[test]
fn process_cwd_made_before_the_root_turns_read_only() {
    let Some(b) = Bundle::new("process_cwd_made_before_the_root_turns_read_only") else {
        return;
    };
    b.config(|c| {
        c["root"]["readonly"] = json!(true);
        c["process"]["cwd"] = json!("/made/here");
    });
    b.set_script("pwd; touch /made/here/x 2>/dev/null || echo read-only");
    assert_eq!(b.run_ok(), "/made/here\nread-only\n");
    assert!(b.rootfs.join("made/here").is_dir());
}

/// A name given twice in the environment keeps its first place and its
/// last value (runc sets each entry in turn); PATH lookup uses that value.
#[test]
fn process_env_duplicates_last_one_wins() {
    let Some(b) = Bundle::new("process_env_duplicates_last_one_wins") else {
        return;
    };
    b.config(|c| {
        c["process"]["env"] = json!(["PATH=/nowhere", "A=1", "B=2", "A=3", "PATH=/bin"]);
    });
    b.set_args(&["env"]);
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["PATH=/bin", "A=3", "B=2", "HOME=/root"], "{out}");
}

/// The container's process leads a session and a process group of its own,
/// as with runc (crun's test_exec.py exec-getpgrp): fields 5 and 6 of
/// /proc/self/stat are its own PID.
#[test]
fn process_leads_its_own_session() {
    let Some(b) = Bundle::new("process_leads_its_own_session") else {
        return;
    };
    b.set_script("exec cut -d' ' -f1,5,6 /proc/self/stat");
    assert_eq!(b.run_ok(), "1 1 1\n");
}
