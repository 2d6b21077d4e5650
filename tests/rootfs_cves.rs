//! Regression tests for the malicious-rootfs CVE class: each builds a
//! rootfs (in the test's own bundle) that tries to make the runtime act on
//! something outside it or on a file it should not touch, then checks from
//! the host that nothing outside changed and that the container either
//! failed to be created, cleanly, or came up safe.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::Path;

fn core_pattern() -> String {
    fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
}

/// The template without its /dev tmpfs: the rootfs's own /dev is used.
fn use_rootfs_dev(b: &Bundle) {
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/dev");
    });
}

/// CVE-2025-31133: maskedPaths are bind mounts of /dev/null. A /dev/null
/// that is a symlink to a procfs file, a regular (host) file or another
/// device would turn a masked path into that file. rt refuses to mask with
/// anything but the real 1:3 device.
#[test]
fn cve_2025_31133_dev_null_replaced() {
    let Some(b) = Bundle::new("cve_2025_31133_dev_null_replaced") else {
        return;
    };
    let before = core_pattern();
    let host_file = b.dir.join("host-file");
    fs::write(&host_file, "host\n").unwrap();
    // /dev comes from a directory the image controls: rt makes no nodes there.
    let dev = b.dir.join("evil-dev");
    let template = b.read_config();
    for (i, what) in [
        "symlink to core_pattern",
        "symlink to a host file",
        "the zero device",
        "regular file",
    ]
    .into_iter()
    .enumerate()
    {
        let _ = fs::remove_dir_all(&dev);
        fs::create_dir(&dev).unwrap();
        let null = dev.join("null");
        match i {
            0 => symlink("/proc/sys/kernel/core_pattern", &null).unwrap(),
            1 => symlink(&host_file, &null).unwrap(),
            2 => nix::sys::stat::mknod(
                &null,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(1, 5),
            )
            .unwrap(),
            _ => fs::write(&null, "not a device").unwrap(),
        }
        b.write_config(&template);
        b.add_mount(json!({"destination": "/dev", "type": "bind", "source": dev,
                           "options": ["rbind"]}));
        b.set_script("echo pwned > /proc/keys; cat /proc/keys");
        let out = b.create(&b.other_id(&format!("n{i}"))).fails();
        assert!(out.stderr.contains("/dev/null"), "{what}: {}", out.stderr);
        b.assert_state_root_empty();
        b.assert_nothing_left();
    }
    assert_eq!(core_pattern(), before);
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host\n");
    assert_eq!(
        fs::read_to_string(dev.join("null")).unwrap(),
        "not a device"
    );
}

/// The same attack through the rootfs's own /dev: rt replaces the image's
/// /dev/null with the real device, and the masked path is that device.
#[test]
fn cve_2025_31133_rootfs_dev_null_symlink_is_replaced() {
    let Some(b) = Bundle::new("cve_2025_31133_rootfs_dev_null_symlink_is_replaced") else {
        return;
    };
    let before = core_pattern();
    use_rootfs_dev(&b);
    symlink("/proc/sys/kernel/core_pattern", b.host_path("/dev/null")).unwrap();
    b.set_script("stat -c '%F %t:%T' /proc/keys; wc -c < /proc/keys; echo x > /proc/keys");
    assert_eq!(b.run_ok(), "character special file 1:3\n0\n");
    assert_eq!(core_pattern(), before);
    b.assert_nothing_left();
}

/// CVE-2025-52565: with a terminal, the pty is bound over /dev/console. A
/// /dev/console that is a symlink to /proc/sysrq-trigger or to a host file
/// must not carry the bind there (a bind over a /proc file made before
/// readonlyPaths and maskedPaths would hand the container a writable one).
#[test]
fn cve_2025_52565_dev_console_symlink() {
    let Some(b) = Bundle::new("cve_2025_52565_dev_console_symlink") else {
        return;
    };
    let host_file = b.dir.join("host-file");
    fs::write(&host_file, "host\n").unwrap();
    use_rootfs_dev(&b);
    b.config(|c| c["process"]["terminal"] = json!(true));
    // The results go to a file: the pty is only drained.
    b.set_script(
        "{ stat -c '%t' /dev/console; grep -E ' /(proc/sysrq-trigger|dev/console) ' /proc/self/mountinfo | cut -d' ' -f5,9; } > /result",
    );
    let template = b.read_config();
    for (i, target) in ["/proc/sysrq-trigger", host_file.to_str().unwrap()]
        .iter()
        .enumerate()
    {
        b.write_config(&template);
        let _ = fs::remove_file(b.host_path("/dev/console"));
        let _ = fs::remove_file(b.host_path("/result"));
        symlink(target, b.host_path("/dev/console")).unwrap();
        let socket = b.dir.join(format!("console-{i}.sock"));
        let listener = UnixListener::bind(&socket).unwrap();
        let receiver = std::thread::spawn(move || console::receive_master(&listener).1);
        let id = b.other_id(&format!("c{i}"));
        b.remember(&id);
        b.rt(&[
            "create",
            "--console-socket",
            socket.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ])
        .ok();
        let master = receiver.join().unwrap();
        b.start(&id).ok();
        b.wait_status(&id, "stopped");
        drop(master);
        b.delete(&id).ok();
        let result = fs::read_to_string(b.host_path("/result")).unwrap();
        let mut lines = result.lines();
        // Unix98 pty slaves have major 136 (0x88).
        assert_eq!(lines.next(), Some("88"), "{target}: {result}");
        let rest: Vec<&str> = lines.collect();
        assert!(
            rest.contains(&"/dev/console devpts"),
            "{target}: the pty is not at /dev/console: {result}"
        );
        assert!(
            !rest.contains(&"/proc/sysrq-trigger devpts"),
            "{target}: the pty was bound over /proc/sysrq-trigger: {result}"
        );
    }
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host\n");
    b.assert_nothing_left();
}

/// CVE-2025-52881: sysctls are writes to /proc/sys files. A rootfs
/// symlink that steers a volume onto /proc/sys/kernel would turn the write
/// into one to the volume's file; rt writes only below the procfs mount's
/// root, crossing no mount, and fails cleanly instead.
#[test]
fn cve_2025_52881_sysctl_redirected_by_mount() {
    let Some(b) = Bundle::new("cve_2025_52881_sysctl_redirected_by_mount") else {
        return;
    };
    let host_domain = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let volume = b.dir.join("volume");
    fs::create_dir(&volume).unwrap();
    fs::write(volume.join("domainname"), "volume file\n").unwrap();
    symlink("/proc/sys/kernel", b.host_path("/data")).unwrap();
    b.add_mount(
        json!({"destination": "/data", "type": "bind", "source": volume,
                       "options": ["rbind"]}),
    );
    b.config(|c| c["linux"]["sysctl"] = json!({"kernel.domainname": "evil"}));
    let out = b.create(&b.id).fails();
    assert!(
        out.stderr.contains("linux.sysctl kernel.domainname"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_to_string(volume.join("domainname")).unwrap(),
        "volume file\n"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain
    );
    b.assert_state_root_empty();
    b.assert_nothing_left();
}

/// A rootfs whose /proc is a symlink: refused, as runc does (procfs must be
/// mounted on an ordinary directory), before any sysctl or oomScoreAdj
/// write could go through it; the host and the symlink's target untouched.
#[test]
fn cve_2025_52881_rootfs_proc_symlink_is_refused() {
    let Some(b) = Bundle::new("cve_2025_52881_rootfs_proc_symlink_is_refused") else {
        return;
    };
    let host_domain = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    fs::remove_dir(b.host_path("/proc")).unwrap();
    fs::create_dir(b.host_path("/fakeproc")).unwrap();
    symlink("/fakeproc", b.host_path("/proc")).unwrap();
    b.config(|c| {
        c["linux"]["sysctl"] = json!({"kernel.domainname": "inside"});
        c["process"]["oomScoreAdj"] = json!(321);
    });
    let out = b.run(&b.id, &[]).fails();
    assert!(out.stderr.contains("ordinary directory"), "{}", out.stderr);
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain
    );
    assert!(
        fs::read_dir(b.host_path("/fakeproc"))
            .unwrap()
            .next()
            .is_none()
    );
    b.assert_state_root_empty();
    b.assert_nothing_left();
}

/// CVE-2019-19921 / CVE-2021-30465: mount destinations that lead out of
/// the rootfs through absolute and `..` symlinks, for a directory bind, a
/// file bind and a tmpfs. (mounts.rs has the basic tmpfs case.)
#[test]
fn cve_2021_30465_symlinked_mount_targets() {
    let Some(b) = Bundle::new("cve_2021_30465_symlinked_mount_targets") else {
        return;
    };
    let outside = b.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    let escape_name = format!("rt-escape-{}", b.name);
    let host_escape = Path::new("/tmp").join(&escape_name);
    symlink(&outside, b.host_path("/abs")).unwrap();
    symlink("../../../../../../../../tmp", b.host_path("/up")).unwrap();
    let src_dir = b.dir.join("src-dir");
    fs::create_dir(&src_dir).unwrap();
    let src_file = b.dir.join("src-file");
    fs::write(&src_file, "bound\n").unwrap();
    b.add_mount(
        json!({"destination": "/abs/dir", "type": "bind", "source": src_dir,
                       "options": ["rbind"]}),
    );
    b.add_mount(
        json!({"destination": "/abs/file", "type": "bind", "source": src_file,
                       "options": ["bind"]}),
    );
    b.add_mount(
        json!({"destination": format!("/up/{escape_name}"), "type": "tmpfs",
                       "source": "tmpfs"}),
    );
    b.set_script("cat /abs/file");
    let out = b.run(&b.id, &[]);
    // Created inside the rootfs (where the symlinks lead from its root),
    // or refused: never outside.
    if out.success() {
        assert_eq!(out.stdout, "bound\n");
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "written outside"
    );
    assert!(
        !host_escape.exists(),
        "{} made on the host",
        host_escape.display()
    );
    assert_eq!(fs::read_dir(&src_dir).unwrap().count(), 0);
    b.assert_nothing_left();
}
