//! `exec`: a new process in a running container, in all its namespaces and
//! cgroups, with the container's process settings and the command line's.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn running(b: &Bundle) -> u32 {
    b.set_args(&["sleep", "1000"]);
    let pid = b.create_ok(&b.id);
    b.start(&b.id).ok();
    pid
}

#[test]
fn exec_runs_in_the_containers_namespaces_and_cgroup() {
    let Some(b) = Bundle::new("exec_runs_in_the_containers_namespaces_and_cgroup") else {
        return;
    };
    let init = running(&b);
    let script = "for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done; \
                  echo pid=$$; cat /proc/self/cgroup; exit 3";
    let out = b.rt(&["exec", &b.id, "sh", "-c", script]);
    assert_eq!(out.code(), Some(3), "{}", out.stderr);
    for kind in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let want = ns_link(&init.to_string(), kind);
        assert!(
            out.stdout.contains(&want),
            "{kind}: want {want} in {}",
            out.stdout
        );
    }
    // In the container's PID namespace: not its init, but a small PID.
    assert!(!out.stdout.contains("pid=1\n"), "{}", out.stdout);
    let host_cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let pids_line = |s: &str| s.lines().find(|l| l.contains(":pids:")).map(str::to_owned);
    assert_eq!(pids_line(&out.stdout), pids_line(&host_cgroup));
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn exec_applies_command_line_changes() {
    let Some(b) = Bundle::new("exec_applies_command_line_changes") else {
        return;
    };
    running(&b);
    let out = b
        .rt(&[
            "exec",
            "-u",
            "1000:1000",
            "-g",
            "27",
            "-e",
            "FOO=bar",
            "--cwd",
            "/tmp",
            &b.id,
            "sh",
            "-c",
            "id -u; id -g; id -G; pwd; echo $FOO",
        ])
        .ok();
    assert_eq!(out.stdout, "1000\n1000\n1000 27\n/tmp\nbar\n");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn exec_process_file_and_detach_with_pid_file() {
    let Some(b) = Bundle::new("exec_process_file_and_detach_with_pid_file") else {
        return;
    };
    let init = running(&b);
    let process = b.dir.join("process.json");
    let p = json!({"args": ["sleep", "300"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "env": ["PATH=/bin"]});
    std::fs::write(&process, p.to_string()).unwrap();
    let pid_file = b.dir.join("exec.pid");
    b.rt(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--process",
        process.to_str().unwrap(),
        &b.id,
    ])
    .ok();
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\x00300\x00");
    b.delete_force(&b.id).ok();
    assert!(
        wait_until(WAIT, || !pid_alive(pid)),
        "the exec'd process died with the container"
    );
    b.assert_nothing_left();
}

#[test]
fn exec_errors() {
    let Some(b) = Bundle::new("exec_errors") else {
        return;
    };
    let out = b.rt(&["exec", &b.id, "true"]).fails();
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    running(&b);
    let out = b.rt(&["exec", &b.id, "no-such-program"]).fails();
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
    let out = b.rt(&["exec", "-u", "x", &b.id, "true"]).fails();
    assert!(out.stderr.contains("--user"), "{}", out.stderr);
    let out = b.rt(&["exec", &b.id]).fails();
    assert!(out.stderr.contains("command"), "{}", out.stderr);
    b.kill(&b.id, "KILL").ok();
    b.wait_status(&b.id, "stopped");
    let out = b.rt(&["exec", &b.id, "true"]).fails();
    assert!(out.stderr.contains("stopped"), "{}", out.stderr);
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

/// `rt exec` in the background with a pipe for stdin; the caller waits.
fn spawn_exec(b: &Bundle, args: &[&str]) -> std::process::Child {
    std::process::Command::new(rt_bin())
        .arg("--root")
        .arg(&b.state_root)
        .arg("exec")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exec_into_a_paused_container() {
    let Some(b) = Bundle::new("exec_into_a_paused_container") else {
        return;
    };
    running(&b);
    b.rt(&["pause", &b.id]).ok();
    let out = b.rt(&["exec", &b.id, "true"]).fails();
    assert!(out.stderr.contains("paused"), "{}", out.stderr);
    assert!(out.stderr.contains("--ignore-paused"), "{}", out.stderr);
    // With --ignore-paused the process joins the frozen cgroup and runs
    // once the container is resumed.
    let child = spawn_exec(&b, &["--ignore-paused", &b.id, "echo", "thawed"]);
    b.rt(&["resume", &b.id]).ok();
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "thawed\n");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn exec_cap_and_no_new_privs() {
    let Some(b) = Bundle::new("exec_cap_and_no_new_privs") else {
        return;
    };
    b.config(|c| c["process"]["noNewPrivileges"] = json!(false));
    running(&b);
    let status = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&b.id, "cat", "/proc/self/status"]);
        b.rt(&args).ok().stdout
    };
    let base = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let plain = status(&[]);
    assert_eq!(status_field(&plain, "NoNewPrivs"), Some("0"));
    assert_eq!(
        status_field(&plain, "CapEff"),
        Some(&*format!("{:016x}", cap_mask(&base)))
    );
    let more = status(&[
        "--cap",
        "CAP_SYS_ADMIN",
        "--cap",
        "NET_RAW",
        "--no-new-privs",
    ]);
    assert_eq!(status_field(&more, "NoNewPrivs"), Some("1"));
    let want = cap_mask(&base) | cap_mask(&["CAP_SYS_ADMIN", "CAP_NET_RAW"]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(&more, set),
            Some(&*format!("{want:016x}")),
            "{set}"
        );
    }
    let out = b.rt(&["exec", "--cap", "CAP_BOGUS", &b.id, "true"]).fails();
    assert!(out.stderr.contains("--cap"), "{}", out.stderr);
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn exec_cpu_affinity_final() {
    let Some(b) = Bundle::new("exec_cpu_affinity_final") else {
        return;
    };
    // The container's cpuset holds the online CPUs (rt fills it from the root's).
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let online = online.trim().to_string();
    let last = online.rsplit([',', '-']).next().unwrap().to_string();
    b.config(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": last}));
    let init = running(&b);
    let out = b.rt(&["exec", &b.id, "cat", "/proc/self/status"]).ok();
    assert_eq!(status_field(&out.stdout, "Cpus_allowed_list"), Some(&*last));
    // Not for the container's init (config.md).
    let init_status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert_eq!(
        status_field(&init_status, "Cpus_allowed_list"),
        Some(&*online)
    );
    // A CPU the machine lacks: the kernel's refusal, named.
    let process = b.dir.join("affinity.json");
    let p = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "execCPUAffinity": {"final": "1000"}});
    std::fs::write(&process, p.to_string()).unwrap();
    let out = b
        .rt(&["exec", "--process", process.to_str().unwrap(), &b.id])
        .fails();
    assert!(
        out.stderr.contains("process.execCPUAffinity.final"),
        "{}",
        out.stderr
    );
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// CVE-2024-21626 through exec: only stdio reaches the program, and a cwd
/// through /proc/self/fd never lands outside the container.
#[test]
fn exec_no_runtime_fd_and_cwd_stays_inside() {
    let Some(b) = Bundle::new("exec_no_runtime_fd_and_cwd_stays_inside") else {
        return;
    };
    running(&b);
    let out = b.rt(&["exec", &b.id, "ls", "/proc/self/fd"]).ok();
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    // ls holds fd 3 on the directory it lists.
    assert_eq!(fds, ["0", "1", "2", "3"], "open fds: {}", out.stdout);
    for fd in 3..=9 {
        let cwd = format!("/proc/self/fd/{fd}");
        let out = b.rt(&[
            "exec",
            "--cwd",
            &cwd,
            &b.id,
            "sh",
            "-c",
            "pwd -P; ls ../../..",
        ]);
        if out.success() {
            assert!(!out.stdout.contains("rt-it"), "fd {fd}: {}", out.stdout);
            assert!(
                !out.stdout.contains("unreachable"),
                "fd {fd}: {}",
                out.stdout
            );
        } else {
            assert!(
                out.stderr.contains("process.cwd"),
                "fd {fd}: {}",
                out.stderr
            );
        }
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// CVE-2019-5736 through exec: a `#!/proc/self/exe` program makes the
/// exec'd process run the runtime's own binary again, inside the container.
/// That binary must be out of reach there: not executable at all (rt runs
/// from a detached mount, which a path lookup from the container cannot
/// enter), or else on a read-only mount.
#[test]
fn exec_shebang_proc_self_exe_cannot_overwrite_the_runtime() {
    let Some(b) = Bundle::new("exec_shebang_proc_self_exe_cannot_overwrite_the_runtime") else {
        return;
    };
    if skip_on_runc("runc 1.1 runs from a sealed memfd: a different outcome") {
        return;
    }
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let evil = b.rootfs.join("evil");
    // `--root /evil update --resources=- x` would keep the runtime reading
    // the stdin we hold open.
    std::fs::write(&evil, "#!/proc/self/exe --root\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    running(&b);
    let pid_file = b.dir.join("evil.pid");
    let mut child = spawn_exec(
        &b,
        &[
            "--pid-file",
            pid_file.to_str().unwrap(),
            &b.id,
            "/evil",
            "update",
            "--resources=-",
            "x",
        ],
    );
    let mut pid = 0u32;
    let mut exited = None;
    let settled = wait_until(WAIT, || {
        pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let runs = pid != 0
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"/proc/self/exe\0--root\0/evil\0"));
        exited = child.try_wait().unwrap();
        runs || exited.is_some()
    });
    assert!(settled, "the #! program neither ran nor failed (pid {pid})");
    if exited.is_some() {
        // The interpreter could not be opened: the runtime's binary is not
        // reachable from the container at all.
        let (code, _, stderr) = finish(child);
        assert_eq!(code, Some(127), "{stderr}");
        assert!(
            stderr.contains("/evil") && stderr.contains("ENOENT"),
            "{stderr}"
        );
    } else {
        // Inside: opening it for writing through /proc fails with EROFS
        // (which the kernel checks before ETXTBSY).
        let script = "for d in /proc/[0-9]*; do \
                      if tr '\\0' ' ' < $d/cmdline 2>/dev/null | grep -q '^/proc/self/exe --root /evil'; \
                      then p=$d; fi; done; echo found=${p:+yes}; echo x >> $p/exe";
        let out = b.rt(&["exec", &b.id, "sh", "-c", script]);
        assert!(out.stdout.contains("found=yes"), "{}", out.stdout);
        assert!(!out.success(), "wrote the runtime's binary: {}", out.stdout);
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.stderr
        );
        child.stdin.take().unwrap().write_all(b"not json").unwrap();
        let (code, _, _) = finish(child);
        assert_ne!(code, Some(0));
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// `exec --env` overrides the config's value of a name (runc), and the
/// process leads its own session (crun's test_exec.py exec-getpgrp and
/// exec-add-environment_variable).
#[test]
fn exec_env_overrides_and_own_session() {
    let Some(b) = Bundle::new("exec_env_overrides_and_own_session") else {
        return;
    };
    running(&b);
    let script = "echo $PATH; read -r pid comm st ppid pgrp sid rest < /proc/self/stat; \
                  [ $pid = $pgrp ] && [ $pid = $sid ] && echo leader";
    let out = b
        .rt(&[
            "exec",
            "-e",
            "PATH=/usr/bin:/bin",
            &b.id,
            "/bin/sh",
            "-c",
            script,
        ])
        .ok();
    assert_eq!(out.stdout, "/usr/bin:/bin\nleader\n");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
