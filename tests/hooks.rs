//! Hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): order,
//! the state each one reads, the namespace it runs in, failures and timeouts.

mod common;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A hook that appends "NAME <mount ns> <state JSON>" to `log` (a host path).
fn logging_hook(name: &str, log: &Path) -> Value {
    let script = format!(
        "printf '%s %s %s\\n' {name} \"$(readlink /proc/self/ns/mnt)\" \"$(cat)\" >> {}",
        log.display()
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn log_lines(log: &Path) -> Vec<(String, String, Value)> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let name = parts.next().unwrap().to_string();
            let ns = parts.next().unwrap().to_string();
            let state = serde_json::from_str(parts.next().unwrap()).unwrap();
            (name, ns, state)
        })
        .collect()
}

#[test]
fn hooks_run_in_order_with_their_state() {
    let Some(b) = Bundle::new("hooks_run_in_order_with_their_state") else {
        return;
    };
    let log = b.dir.join("hooks.log");
    // startContainer resolves and runs in the container: it logs inside.
    let inner = "printf 'startContainer - %s\\n' \"$(cat)\" >> /tmp/start.log";
    b.config(|c| {
        c["hooks"] = json!({
            "prestart": [logging_hook("prestart", &log)],
            "createRuntime": [logging_hook("createRuntime", &log)],
            "createContainer": [logging_hook("createContainer", &log)],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", inner]}],
            "poststart": [logging_hook("poststart", &log)],
            "poststop": [logging_hook("poststop", &log)],
        });
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    let pid = b.create_ok(&b.id);
    let host_ns = ns_link("self", "mnt");
    let ctr_ns = ns_link(&pid.to_string(), "mnt");
    let names = |l: &[(String, String, Value)]| l.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    let lines = log_lines(&log);
    assert_eq!(
        names(&lines),
        ["prestart", "createRuntime", "createContainer"]
    );
    for (name, ns, state) in &lines {
        assert_eq!(state["status"], "creating", "{name}");
        assert_eq!(state["id"], b.id.as_str(), "{name}");
        let (want_ns, want_pid) = if name == "createContainer" {
            (&ctr_ns, 1)
        } else {
            (&host_ns, pid)
        };
        assert_eq!(ns, want_ns, "{name} runs in the wrong mount namespace");
        assert_eq!(
            state["pid"], want_pid,
            "{name} gets the pid as its namespace sees it"
        );
    }

    b.start(&b.id).ok();
    let start_log = b.host_path("/tmp/start.log");
    assert!(wait_until(WAIT, || start_log.exists()));
    let inside = fs::read_to_string(&start_log).unwrap();
    let state: Value =
        serde_json::from_str(inside.trim_start_matches("startContainer - ")).unwrap();
    assert_eq!(state["status"], "created");
    let lines = log_lines(&log);
    assert_eq!(lines.last().unwrap().0, "poststart");
    assert_eq!(lines.last().unwrap().2["status"], "running");
    assert_eq!(lines.last().unwrap().2["pid"], pid);

    b.delete_force(&b.id).ok();
    let lines = log_lines(&log);
    assert_eq!(lines.last().unwrap().0, "poststop");
    assert_eq!(lines.last().unwrap().2["status"], "stopped");
    b.assert_nothing_left();
}

#[test]
fn hooks_failing_create_hook_leaves_nothing() {
    let Some(b) = Bundle::new("hooks_failing_create_hook_leaves_nothing") else {
        return;
    };
    let log = b.dir.join("hooks.log");
    for step in ["prestart", "createRuntime", "createContainer"] {
        let _ = fs::remove_file(&log);
        b.config(|c| {
            c["hooks"] = json!({
                step: [{"path": "/bin/sh", "args": ["sh", "-c", "echo broken hook; exit 7"]}],
                "poststop": [logging_hook("poststop", &log)],
            });
        });
        let id = b.other_id(step);
        let out = b.create(&id).fails();
        assert!(out.stderr.contains(step), "{step}: {}", out.stderr);
        assert!(out.stderr.contains("exit status 7"), "{}", out.stderr);
        assert!(out.stderr.contains("broken hook"), "{}", out.stderr);
        // runtime.md: the lifecycle continues at step 12, then poststop.
        let lines = log_lines(&log);
        assert_eq!(lines.len(), 1, "{step}: poststop ran {} times", lines.len());
        b.assert_nothing_left();
        b.assert_state_root_empty();
    }
    b.assert_template_creates();
}

#[test]
fn hooks_timeout_kills_the_hook() {
    let Some(b) = Bundle::new("hooks_timeout_kills_the_hook") else {
        return;
    };
    b.config(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    });
    let started = std::time::Instant::now();
    let out = b.create(&b.id).fails();
    assert!(out.stderr.contains("timed out after 1s"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    b.assert_nothing_left();
}

/// Aborting a hook aborts what it started: a shell's background child too.
#[test]
fn hooks_timeout_kills_the_hooks_children() {
    let Some(b) = Bundle::new("hooks_timeout_kills_the_hooks_children") else {
        return;
    };
    let pid_file = b.dir.join("child.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    b.config(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1}]});
    });
    let out = b.create(&b.id).fails();
    assert!(out.stderr.contains("timed out after 1s"), "{}", out.stderr);
    let pid: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(WAIT, || !pid_alive(pid)),
        "the hook's child {pid} outlived the hook's timeout"
    );
    b.assert_nothing_left();
}

#[test]
fn hooks_poststart_failure_stops_the_container() {
    let Some(b) = Bundle::new("hooks_poststart_failure_stops_the_container") else {
        return;
    };
    b.config(|c| {
        c["hooks"] = json!({"poststart": [{"path": "/bin/false"}]});
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    let pid = b.create_ok(&b.id);
    let out = b.start(&b.id).fails();
    assert!(
        out.stderr.contains("poststart hook /bin/false"),
        "{}",
        out.stderr
    );
    assert!(wait_until(WAIT, || !pid_alive(pid)));
    assert_eq!(b.status(&b.id), "stopped");
    b.delete(&b.id).ok();
    b.assert_nothing_left();
}

#[test]
fn hooks_poststop_failure_only_warns() {
    let Some(b) = Bundle::new("hooks_poststop_failure_only_warns") else {
        return;
    };
    let log = b.dir.join("hooks.log");
    b.config(|c| {
        c["hooks"] = json!({"poststop": [{"path": "/bin/false"}, logging_hook("poststop", &log)]});
        c["process"]["args"] = json!(["true"]);
    });
    let out = b.run(&b.id, &[]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("warning"), "{}", out.stderr);
    assert_eq!(
        log_lines(&log).len(),
        1,
        "the second poststop hook still ran"
    );
    b.assert_nothing_left();
}

#[test]
fn hooks_invalid_entries_are_refused() {
    let Some(b) = Bundle::new("hooks_invalid_entries_are_refused") else {
        return;
    };
    for (hook, field) in [
        (json!({"path": "relative/hook"}), "hooks.createRuntime[0]"),
        (
            json!({"path": "/bin/true", "timeout": 0}),
            "hooks.createRuntime[0]",
        ),
    ] {
        b.config(|c| c["hooks"] = json!({"createRuntime": [hook]}));
        let out = b.create(&b.id).fails();
        assert!(out.stderr.contains(field), "{}", out.stderr);
        b.assert_nothing_left();
        b.assert_state_root_empty();
    }
}

#[test]
fn hooks_config_edits_after_create_do_not_matter() {
    let Some(b) = Bundle::new("hooks_config_edits_after_create_do_not_matter") else {
        return;
    };
    let log = b.dir.join("hooks.log");
    b.config(|c| {
        c["hooks"] = json!({"poststop": [logging_hook("poststop", &log)]});
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    b.create_ok(&b.id);
    // runtime.md step 2: later changes to config.json must not affect it.
    b.config(|c| c["hooks"] = json!({}));
    b.delete_force(&b.id).ok();
    assert_eq!(log_lines(&log).len(), 1);
    b.assert_nothing_left();
}

/// `run` goes through the same lifecycle: its create hooks, poststart once
/// the program runs, and poststop after it deleted the container.
#[test]
fn hooks_run_by_run() {
    let Some(b) = Bundle::new("hooks_run_by_run") else {
        return;
    };
    let log = b.dir.join("hooks.log");
    let steps = [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ];
    b.config(|c| {
        for (step, _) in steps {
            c["hooks"][step] = json!([logging_hook(step, &log)]);
        }
    });
    b.set_script("exit 7");
    assert_eq!(b.run(&b.id, &[]).code(), Some(7));
    let seen: Vec<(String, String)> = log_lines(&log)
        .into_iter()
        .map(|(name, _, st)| (name, st["status"].as_str().unwrap_or("").to_owned()))
        .collect();
    let want: Vec<(String, String)> = steps
        .iter()
        .map(|(s, st)| (s.to_string(), st.to_string()))
        .collect();
    assert_eq!(seen, want);
    b.assert_nothing_left();
}

/// A hook without `env` inherits the runtime's environment (runc and crun
/// do; crun's test_hooks.py test-hook-env-inherit); one with an `env`, even
/// empty, gets exactly that.
#[test]
fn hooks_env_absent_inherits_the_runtimes() {
    let Some(b) = Bundle::new("hooks_env_absent_inherits_the_runtimes") else {
        return;
    };
    let dump = |file: &str| format!("tr '\\0' '\\n' < /proc/$$/environ > {}", file);
    let (inherit, given, empty) = (
        b.dir.join("inherit.env"),
        b.dir.join("given.env"),
        b.dir.join("empty.env"),
    );
    b.config(|c| {
        c["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", dump(inherit.to_str().unwrap())]},
            {"path": "/bin/sh", "args": ["sh", "-c", dump(given.to_str().unwrap())],
             "env": ["ONLY=this"]},
            {"path": "/bin/sh", "args": ["sh", "-c", dump(empty.to_str().unwrap())], "env": []},
        ]});
        c["process"]["args"] = json!(["true"]);
    });
    b.create_ok(&b.id);
    // The harness runs rt with RT_IT_HOST_ONLY=leak.
    let inherited = fs::read_to_string(&inherit).unwrap();
    assert!(
        inherited.lines().any(|l| l == "RT_IT_HOST_ONLY=leak"),
        "{inherited}"
    );
    let given = fs::read_to_string(&given).unwrap();
    assert!(
        given
            .lines()
            .all(|l| l == "ONLY=this" || l.starts_with("PWD=")),
        "{given}"
    );
    assert!(given.contains("ONLY=this"), "{given}");
    let empty = fs::read_to_string(&empty).unwrap();
    assert!(empty.lines().all(|l| l.starts_with("PWD=")), "{empty}");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// The hooks the container's init runs (createContainer, startContainer)
/// inherit the process's environment instead, as runc's init has taken it
/// on by then (youki's contest start_container_env_inherit).
#[test]
fn hooks_in_the_container_inherit_the_process_env() {
    let Some(b) = Bundle::new("hooks_in_the_container_inherit_the_process_env") else {
        return;
    };
    let log = b.dir.join("created.env");
    // /proc/self through the shell's own descriptor: before pivot_root the
    // hook sees the host's /proc, where its $$ means another process.
    let dump =
        |file: &str| format!("exec 3< /proc/self/environ; tr '\\0' '\\n' <&3 > {file}; true");
    b.config(|c| {
        c["hooks"] = json!({
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", dump(log.to_str().unwrap())]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", dump("/tmp/start.env")]}],
        });
        c["process"]["env"] = json!(["PATH=/bin", "ONE=one", "ONE=two"]);
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let start = b.host_path("/tmp/start.env");
    assert!(wait_until(WAIT, || start.exists()));
    for env in [
        fs::read_to_string(&log).unwrap(),
        fs::read_to_string(&start).unwrap(),
    ] {
        let mut lines: Vec<&str> = env.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["ONE=two", "PATH=/bin"]);
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
