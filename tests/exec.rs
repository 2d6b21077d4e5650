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
