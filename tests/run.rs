//! `run`: create + start + wait (+ delete), exit status, detach, --keep, signal forwarding.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn run_returns_exit_status() {
    let Some(b) = Bundle::new("run_returns_exit_status") else {
        return;
    };
    for code in [0, 3, 255] {
        b.set_script(&format!("exit {code}"));
        let id = b.other_id(&code.to_string());
        assert_eq!(b.run(&id, &[]).code(), Some(code), "exit {code}");
    }
    b.assert_nothing_left();
}

#[test]
fn run_signal_death_is_128_plus_n() {
    let Some(b) = Bundle::new("run_signal_death_is_128_plus_n") else {
        return;
    };
    // As pid 1 of a PID namespace sh could not be killed by its own signal.
    b.remove_namespace("pid");
    for (sig, code) in [("KILL", 137), ("TERM", 143)] {
        b.set_script(&format!("kill -{sig} $$"));
        let id = b.other_id(sig);
        let out = b.run(&id, &[]);
        assert_eq!(out.code(), Some(code), "SIG{sig}: {out:?}");
    }
    b.assert_nothing_left();
}

#[test]
fn run_passes_stdout_and_stderr() {
    let Some(b) = Bundle::new("run_passes_stdout_and_stderr") else {
        return;
    };
    b.set_script("echo to-stdout; echo to-stderr >&2");
    let out = b.run(&b.id, &[]).ok();
    assert_eq!(out.stdout, "to-stdout\n");
    assert!(out.stderr.contains("to-stderr"), "{:?}", out.stderr);
    assert!(!out.stdout.contains("to-stderr") && !out.stderr.contains("to-stdout"));
}

#[test]
fn run_deletes_container_afterwards() {
    let Some(b) = Bundle::new("run_deletes_container_afterwards") else {
        return;
    };
    b.set_script("exit 3");
    assert_eq!(b.run(&b.id, &[]).code(), Some(3));
    b.state(&b.id).fails();
    assert!(!b.state_root.join(&b.id).exists());
    b.assert_nothing_left();
}

#[test]
fn run_detach_leaves_running() {
    let Some(b) = Bundle::new("run_detach_leaves_running") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let t = Instant::now();
    b.run(&b.id, &["-d"]).ok();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "run -d waited for the container"
    );
    assert_eq!(b.status(&b.id), "running");
    let pid = b.pid(&b.id);
    assert!(pid_alive(pid));
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
    assert!(!pid_alive(pid));
}

#[test]
fn run_keep_leaves_stopped() {
    let Some(b) = Bundle::new("run_keep_leaves_stopped") else {
        return;
    };
    b.set_script("exit 5");
    assert_eq!(b.run(&b.id, &["--keep"]).code(), Some(5));
    assert_eq!(b.status(&b.id), "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn run_forwards_sigterm() {
    let Some(b) = Bundle::new("run_forwards_sigterm") else {
        return;
    };
    // pid-1 sh ignores an untrapped TERM, so exit 42 proves the signal reached the trap.
    b.set_script("trap 'exit 42' TERM; echo ready > /tmp/ready; while :; do sleep 0.05; done");
    let run_pid = b.spawn_run(&b.id);
    assert!(
        wait_until(Duration::from_secs(10), || b
            .host_path("/tmp/ready")
            .exists()),
        "container never got ready"
    );
    assert!(send_signal(run_pid, SIGTERM));
    let st = b.wait_spawned(run_pid);
    assert_eq!(
        st.code(),
        Some(42),
        "{st:?}; stderr: {}",
        std::fs::read_to_string(b.ctr_err_path(&b.id)).unwrap_or_default()
    );
    b.assert_nothing_left();
}
