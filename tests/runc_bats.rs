//! Behaviours that runc's own integration tests (runc's
//! tests/integration/*.bats) check and where rt once differed: one test
//! each, named after the bats test it follows. They pass against runc too
//! (`RT_BIN=/usr/sbin/runc`).

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// delete.bats "runc delete --force in cgroupv1 with subcgroups" (and the
/// v2 one): cgroups that the container's processes made below its own
/// (here from outside, in memory and freezer as the bats test does, or the
/// unified hierarchy on a v2 host) go with it, processes and all.
#[test]
fn bats_delete_force_removes_sub_cgroups() {
    let Some(b) = Bundle::new("bats_delete_force_removes_sub_cgroups") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    let init = b.create_ok(&b.id);
    b.start(&b.id).ok();
    b.rt(&["exec", "-d", &b.id, "sleep", "2000"]).ok();
    let cg = b.cgroup_path();
    let mut sleeper = None;
    assert!(wait_until(WAIT, || {
        sleeper = pids_in_cgroup(&cg).into_iter().find(|&p| p != init);
        sleeper.is_some()
    }));
    let sleeper = sleeper.unwrap();
    let subs: Vec<PathBuf> = cgroup_hierarchies()
        .into_iter()
        .filter(|h| is_cgroup2_host() || h.ends_with("memory") || h.ends_with("freezer"))
        .map(|h| h.join(cg.trim_start_matches('/')).join("foo"))
        .collect();
    assert!(!subs.is_empty(), "no hierarchy to make a sub-cgroup in");
    for sub in &subs {
        fs::create_dir(sub).unwrap();
        fs::write(sub.join("cgroup.procs"), sleeper.to_string()).unwrap();
    }
    let ps = b.rt(&["ps", "--format", "json", &b.id]).ok();
    let mut listed: Vec<u32> = serde_json::from_str(&ps.stdout).unwrap();
    listed.sort();
    assert_eq!(listed, {
        let mut v = vec![init, sleeper];
        v.sort();
        v
    });

    let deleted = b.delete_force(&b.id);
    let left: Vec<&PathBuf> = subs.iter().filter(|s| s.exists()).collect();
    for s in &left {
        send_signal(sleeper, 9);
        wait_until(WAIT, || fs::remove_dir(s).is_ok());
    }
    deleted.ok();
    assert!(left.is_empty(), "sub-cgroups left: {left:?}");
    assert!(wait_until(WAIT, || !pid_alive(sleeper)));
    b.assert_nothing_left();
}

/// spec.bats: `spec` writes runc's default config, which has a cgroup
/// namespace only on a cgroup v2 host (delete.bats adds one on v1, and a
/// duplicated namespace is an error).
#[test]
fn bats_spec_cgroup_namespace_only_on_cgroup2() {
    let dir = std::env::temp_dir().join(format!("rt-bats-spec-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(rt_bin())
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = fs::read_to_string(dir.join("config.json"));
    fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{out:?}");
    let cfg: serde_json::Value = serde_json::from_str(&text.unwrap()).unwrap();
    let mut want = vec!["pid", "network", "ipc", "uts", "mount"];
    if is_cgroup2_host() {
        want.push("cgroup");
    }
    let got: Vec<&str> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
}

/// cwd.bats "runc create can chdir if runc has access" and "runc exec
/// --user with no access to cwd": the cwd is entered before the user
/// changes, so a directory only root may search works for another user.
#[test]
fn bats_cwd_entered_before_the_user_changes() {
    let Some(b) = Bundle::new("bats_cwd_entered_before_the_user_changes") else {
        return;
    };
    let home = b.rootfs.join("root");
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    b.config(|c| {
        c["process"]["cwd"] = json!("/root");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    b.set_args(&["sh", "-c", "pwd; sleep 1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    assert!(wait_until(WAIT, || b.ctr_stdout(&b.id) == "/root\n"));
    // Its owner alone (42) may search it; root without CAP_DAC_OVERRIDE
    // may not, but enters it before the capabilities drop.
    std::os::unix::fs::chown(&home, Some(42), Some(42)).unwrap();
    let out = b.rt(&["exec", "--user", "0", &b.id, "pwd"]).ok();
    assert_eq!(out.stdout, "/root\n");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// mounts.bats "runc run [ro /dev mount]": a read-only /dev tmpfs still gets
/// its devices and console first, then is read-only.
#[test]
fn bats_ro_dev_tmpfs() {
    let Some(b) = Bundle::new("bats_ro_dev_tmpfs") else {
        return;
    };
    b.config(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    b.set_script("grep '^tmpfs /dev ' /proc/mounts; test -c /dev/null && echo null; touch /dev/x || echo refused");
    let out = b.run_ok();
    let mut lines = out.lines();
    let dev = lines.next().unwrap_or_default();
    assert!(dev.contains(" ro,"), "{out}");
    assert_eq!(lines.collect::<Vec<_>>(), ["null", "refused"], "{out}");
    b.assert_nothing_left();
}

/// mask.bats "mask paths [prohibit symlink /proc]" (and /sys): proc and
/// sysfs are never mounted through a symlink; nothing is left behind.
#[test]
fn bats_proc_and_sys_refuse_a_symlink() {
    let Some(b) = Bundle::new("bats_proc_and_sys_refuse_a_symlink") else {
        return;
    };
    for dir in ["proc", "sys"] {
        let p = b.rootfs.join(dir);
        fs::remove_dir(&p).unwrap();
        std::os::unix::fs::symlink("/symlink", &p).unwrap();
        let id = b.other_id(dir);
        let out = b.create(&id).fails();
        assert!(
            out.stderr.contains("must be mounted on ordinary directory"),
            "{}",
            out.stderr
        );
        assert!(!b.rootfs.join("symlink").exists());
        b.assert_state_root_empty();
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
    }
    b.assert_nothing_left();
}

/// dev.bats "runc run/update [device cgroup deny]": a `linux.devices` node
/// is only as usable as the device cgroup says, before and after `update`.
#[test]
fn bats_listed_device_obeys_the_device_cgroup() {
    let Some(b) = Bundle::new("bats_listed_device_obeys_the_device_cgroup") else {
        return;
    };
    b.config(|c| {
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYSLOG"));
        }
    });
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.start(&b.id).ok();
    let denied = |b: &Bundle| {
        for script in ["hostname | tee /dev/kmsg", "head -n 1 /dev/kmsg"] {
            let out = b.rt(&["exec", &b.id, "sh", "-c", script]).fails();
            assert!(out.stderr.contains("Operation not permitted"), "{out:?}");
        }
    };
    denied(&b);
    b.rt(&["update", "--pids-limit", "42", &b.id]).ok();
    denied(&b);
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// cgroups.bats "runc run/create should refuse pre-existing frozen cgroup":
/// joining it would freeze the container's process (and `create`) at once.
#[test]
fn bats_frozen_cgroup_is_refused() {
    let Some(b) = Bundle::new("bats_frozen_cgroup_is_refused") else {
        return;
    };
    let rel = b.cgroup_path();
    let (dir, file, frozen, thawed) = match is_cgroup2_host() {
        true => (PathBuf::from("/sys/fs/cgroup"), "cgroup.freeze", "1", "0"),
        false => (
            PathBuf::from("/sys/fs/cgroup/freezer"),
            "freezer.state",
            "FROZEN",
            "THAWED",
        ),
    };
    let dir = dir.join(rel.trim_start_matches('/'));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(file), frozen).unwrap();
    b.set_args(&["true"]);
    let out = b.create(&b.id);
    let _ = fs::write(dir.join(file), thawed);
    let out = out.fails();
    assert!(
        out.stderr
            .contains("container's cgroup unexpectedly frozen"),
        "{}",
        out.stderr
    );
    b.assert_state_root_empty();
    fs::remove_dir(&dir).unwrap();
    b.assert_nothing_left();
}

/// update.bats "update cgroup v1/v2 common limits": `update --memory -1`
/// lifts the memory limit even with a memory+swap limit set (which it lifts
/// too, as runc, where the kernel accounts swap).
#[test]
fn bats_update_memory_unlimited() {
    let Some(b) = Bundle::new("bats_update_memory_unlimited") else {
        return;
    };
    let memsw = PathBuf::from("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    b.config(|c| {
        c["linux"]["resources"]["memory"] = match memsw {
            true => json!({"limit": 33554432, "swap": 50331648}),
            false => json!({"limit": 33554432}),
        };
    });
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    b.rt(&["update", "--memory", "-1", &b.id]).ok();
    let read = |file: &str| {
        let dir = match is_cgroup2_host() {
            true => PathBuf::from("/sys/fs/cgroup"),
            false => PathBuf::from("/sys/fs/cgroup/memory"),
        };
        fs::read_to_string(dir.join(b.cgroup_path().trim_start_matches('/')).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    if is_cgroup2_host() {
        assert_eq!(read("memory.max"), "max");
    } else {
        let unlimited = read("memory.limit_in_bytes").parse::<u64>().unwrap();
        assert!(unlimited > 1 << 60, "{unlimited}");
        if memsw {
            assert_eq!(read("memory.memsw.limit_in_bytes"), unlimited.to_string());
        }
    }
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}

/// tty.bats "runc run [tty owner] ({u,g}id != 0)": the container's pty
/// belongs to its user (the group stays devpts' gid=5); and, as runc's
/// fixStdioPermissions, so do stdio pipes, so the user may reopen
/// /dev/stdout.
#[test]
fn bats_stdio_belongs_to_the_user() {
    let Some(b) = Bundle::new("bats_stdio_belongs_to_the_user") else {
        return;
    };
    b.config(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["user"] = json!({"uid": 1000, "gid": 100});
    });
    b.set_script("stat -c %u:%g $(tty)");
    let out = b.run_ok();
    assert_eq!(out.trim(), "1000:5", "{out:?}");

    b.config(|c| c["process"]["terminal"] = json!(false));
    b.set_script("stat -L -c %u /proc/self/fd/1; echo reopened > /dev/stdout");
    // Through pipes (Bundle's commands write to files, which stay the host's).
    let id = b.other_id("pipe");
    b.remember(&id);
    let out = std::process::Command::new(rt_bin())
        .arg("--root")
        .arg(&b.state_root)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000\nreopened\n");
    b.assert_nothing_left();
}

/// tty.bats "runc exec [tty consolesize]": a `--process` file without
/// `user` runs as root (Go's zero value in runc).
#[test]
fn bats_exec_process_without_user_is_root() {
    let Some(b) = Bundle::new("bats_exec_process_without_user_is_root") else {
        return;
    };
    b.set_args(&["sleep", "1000"]);
    b.create_ok(&b.id);
    let process = b.dir.join("process.json");
    fs::write(&process, r#"{"args": ["id", "-u"], "cwd": "/"}"#).unwrap();
    let out = b
        .rt(&["exec", "--process", process.to_str().unwrap(), &b.id])
        .ok();
    assert_eq!(out.stdout, "0\n");
    b.delete_force(&b.id).ok();
    b.assert_nothing_left();
}
