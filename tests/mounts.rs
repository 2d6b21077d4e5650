//! Mounts, root filesystem, hostname, masked/readonly paths and default devices.

mod common;
use common::*;
use serde_json::json;
use std::fs;

fn has(v: &[String], s: &str) -> bool {
    v.iter().any(|o| o == s)
}

/// The container's own mount table (run to completion, printed to stdout).
fn container_mounts(b: &Bundle) -> Vec<MountInfo> {
    b.set_args(&["cat", "/proc/self/mountinfo"]);
    parse_mountinfo(&b.run_ok())
}

#[test]
fn mounts_template_filesystems() {
    let Some(b) = Bundle::new("mounts_template_filesystems") else {
        return;
    };
    let m = container_mounts(&b);
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let e = find_mount(&m, point).unwrap_or_else(|| panic!("{point} not mounted: {m:#?}"));
        assert_eq!(e.fstype, fstype, "{point}: {e:?}");
    }
    let sys = find_mount(&m, "/sys").unwrap();
    assert!(
        has(&sys.opts, "ro") && has(&sys.opts, "nosuid") && has(&sys.opts, "nodev"),
        "{sys:?}"
    );
    let shm = find_mount(&m, "/dev/shm").unwrap();
    assert!(
        has(&shm.opts, "noexec") && has(&shm.superopts, "size=65536k"),
        "{shm:?}"
    );
    let pts = find_mount(&m, "/dev/pts").unwrap();
    assert!(
        has(&pts.superopts, "ptmxmode=666")
            && has(&pts.superopts, "mode=620")
            && has(&pts.superopts, "gid=5"),
        "{pts:?}"
    );
    // The host's mounts must not be visible, only the rootfs and what the config asks for.
    assert!(
        find_mount(&m, "/tmp/rt-it").is_none() && !m.iter().any(|e| e.point.starts_with("/work")),
        "{m:#?}"
    );
}

#[test]
fn mounts_tmpfs_size_and_mode() {
    let Some(b) = Bundle::new("mounts_tmpfs_size_and_mode") else {
        return;
    };
    b.add_mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "size=1m", "mode=1770"]}),
    );
    b.set_script("stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo");
    let out = b.run_ok();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1770"), "{out}");
    let m = parse_mountinfo(lines.next().unwrap_or(""));
    let e = m
        .first()
        .unwrap_or_else(|| panic!("/scratch not mounted: {out}"));
    assert_eq!(e.fstype, "tmpfs");
    assert!(
        has(&e.superopts, "size=1024k") && has(&e.superopts, "mode=1770"),
        "{e:?}"
    );
    assert!(has(&e.opts, "nosuid") && has(&e.opts, "nodev"), "{e:?}");
}

#[test]
fn mounts_bind_dir_and_file() {
    let Some(b) = Bundle::new("mounts_bind_dir_and_file") else {
        return;
    };
    let shared = b.dir.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("in"), "from-host\n").unwrap();
    let file = b.dir.join("file.txt");
    fs::write(&file, "bound-file\n").unwrap();
    b.add_mount(json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]}));
    b.add_mount(json!({"destination": "/etc/bound.txt", "type": "bind", "source": file, "options": ["bind"]}));
    b.set_script("cat /shared/in /etc/bound.txt; echo from-container > /shared/out");
    assert_eq!(b.run_ok(), "from-host\nbound-file\n");
    assert_eq!(
        fs::read_to_string(shared.join("out")).unwrap(),
        "from-container\n"
    );
    b.assert_nothing_left();
}

#[test]
fn mounts_ro_bind() {
    let Some(b) = Bundle::new("mounts_ro_bind") else {
        return;
    };
    let src = b.dir.join("rosrc");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("existing"), "keep\n").unwrap();
    b.add_mount(
        json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    b.set_script("cat /ro/existing; if echo x > /ro/new 2>/dev/null; then echo writable; else echo readonly; fi");
    assert_eq!(b.run_ok(), "keep\nreadonly\n");
    assert!(!src.join("new").exists());
}

#[test]
fn mounts_root_readonly() {
    let Some(b) = Bundle::new("mounts_root_readonly") else {
        return;
    };
    b.config(|c| c["root"]["readonly"] = json!(true));
    b.set_script(
        "if touch /x 2>/dev/null; then echo rw; else echo ro; fi; \
         if touch /dev/shm/x; then echo shm-rw; fi; awk '$5 == \"/\"' /proc/self/mountinfo",
    );
    let out = b.run_ok();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("ro"), "{out}");
    assert_eq!(lines.next(), Some("shm-rw"), "{out}");
    let root = parse_mountinfo(&lines.collect::<Vec<_>>().join("\n"));
    assert!(root.last().is_some_and(|r| has(&r.opts, "ro")), "{out}");
    assert!(!b.host_path("/x").exists());
}

#[test]
fn mounts_root_writable_by_default() {
    let Some(b) = Bundle::new("mounts_root_writable_by_default") else {
        return;
    };
    b.set_script("echo data > /written");
    b.run_ok();
    assert_eq!(
        fs::read_to_string(b.host_path("/written")).unwrap(),
        "data\n"
    );
}

#[test]
fn mounts_hostname() {
    let Some(b) = Bundle::new("mounts_hostname") else {
        return;
    };
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    b.set_args(&["hostname"]);
    assert_eq!(b.run_ok(), "rt-test\n");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before
    );
}

#[test]
fn mounts_masked_paths() {
    let Some(b) = Bundle::new("mounts_masked_paths") else {
        return;
    };
    fs::write(b.host_path("/etc/secret"), "secret\n").unwrap();
    fs::create_dir(b.host_path("/root/secretdir")).unwrap();
    fs::write(b.host_path("/root/secretdir/inner"), "x").unwrap();
    b.config(|c| {
        let mp = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        mp.push(json!("/etc/secret"));
        mp.push(json!("/root/secretdir"));
        mp.push(json!("/does/not/exist"));
    });
    b.set_script(
        "echo \"[$(cat /etc/secret)]\"; echo \"[$(ls -A /root/secretdir)]\"; \
         echo \"[$(ls -A /sys/firmware)]\"; echo \"[$(head -c 16 /proc/kcore | wc -c)]\"",
    );
    assert_eq!(b.run_ok(), "[]\n[]\n[]\n[0]\n");
    // Masking hides; it must not touch the files themselves.
    assert_eq!(
        fs::read_to_string(b.host_path("/etc/secret")).unwrap(),
        "secret\n"
    );
    assert!(b.host_path("/root/secretdir/inner").exists());
}

#[test]
fn mounts_readonly_paths() {
    let Some(b) = Bundle::new("mounts_readonly_paths") else {
        return;
    };
    fs::create_dir(b.host_path("/root/rodir")).unwrap();
    b.config(|c| {
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/root/rodir"))
    });
    b.set_script(
        "touch /root/rodir/f 2>/dev/null && echo rodir-rw || echo rodir-ro; \
         touch /root/f && echo root-rw; \
         (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo procsys-rw || echo procsys-ro",
    );
    assert_eq!(b.run_ok(), "rodir-ro\nroot-rw\nprocsys-ro\n");
}

#[test]
fn mounts_default_devices() {
    let Some(b) = Bundle::new("mounts_default_devices") else {
        return;
    };
    b.set_script(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t %T' /dev/$d; done; \
         echo x > /dev/null && echo null-writable; head -c 3 /dev/zero | wc -c; \
         echo x 2>/dev/null > /dev/full || echo full-enospc",
    );
    let out = b.run_ok();
    let want = [
        ("null", "1 3"),
        ("zero", "1 5"),
        ("full", "1 7"),
        ("random", "1 8"),
        ("urandom", "1 9"),
        ("tty", "5 0"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    for (i, (d, mm)) in want.iter().enumerate() {
        assert_eq!(
            lines.get(i).copied(),
            Some(format!("/dev/{d} character special file {mm}").as_str()),
            "{out}"
        );
    }
    assert_eq!(&lines[6..], ["null-writable", "3", "full-enospc"], "{out}");
}

#[test]
fn mounts_dev_symlinks_and_ptmx() {
    let Some(b) = Bundle::new("mounts_dev_symlinks_and_ptmx") else {
        return;
    };
    b.set_script("for l in fd stdin stdout stderr; do readlink /dev/$l; done; stat -L -c '%F %t %T' /dev/ptmx");
    assert_eq!(
        b.run_ok(),
        "/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\ncharacter special file 5 2\n"
    );
}

#[test]
fn mounts_rootfs_propagation_shared() {
    // config-linux.md rootfsPropagation; runc 1.1.5 leaves the root mount private.
    if skip_on_runc("runc 1.1.5 ignores rootfsPropagation shared") {
        return;
    }
    let Some(b) = Bundle::new("mounts_rootfs_propagation_shared") else {
        return;
    };
    b.config(|c| c["linux"]["rootfsPropagation"] = json!("shared"));
    let m = container_mounts(&b);
    let root = find_mount(&m, "/").expect("no root mount");
    assert!(
        root.optional.iter().any(|o| o.starts_with("shared:")),
        "root mount not shared: {root:?}"
    );
}

#[test]
fn mounts_rootfs_propagation_private_by_default() {
    let Some(b) = Bundle::new("mounts_rootfs_propagation_private_by_default") else {
        return;
    };
    let m = container_mounts(&b);
    let root = find_mount(&m, "/").expect("no root mount");
    // A shared root would leak the container's mounts back to the host.
    assert!(
        !root.optional.iter().any(|o| o.starts_with("shared:")),
        "{root:?}"
    );
    b.assert_nothing_left();
}

#[test]
fn mounts_tmpfs_tmpcopyup_keeps_the_image_content() {
    let Some(b) = Bundle::new("mounts_tmpfs_tmpcopyup_keeps_the_image_content") else {
        return;
    };
    // runc's extension, which podman puts on every tmpfs.
    let dir = b.host_path("/data");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/file"), "image content\n").unwrap();
    std::os::unix::fs::symlink("sub/file", dir.join("link")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    b.add_mount(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["rw", "nosuid", "nodev", "tmpcopyup"]}),
    );
    b.set_script(
        "cat /data/link; stat -c %a /data; grep ' /data ' /proc/mounts | cut -d' ' -f3; \
         echo new > /data/sub/file",
    );
    assert_eq!(b.run_ok(), "image content\n750\ntmpfs\n");
    // The writes went to the tmpfs, not to the image.
    assert_eq!(
        fs::read_to_string(dir.join("sub/file")).unwrap(),
        "image content\n"
    );
    b.assert_nothing_left();
}

/// CVE-2019-19921 / CVE-2021-30465 class: a mount target that is a symlink
/// out of the rootfs is resolved inside it; nothing outside is touched.
#[test]
fn mounts_symlinked_target_stays_inside_rootfs() {
    let Some(b) = Bundle::new("mounts_symlinked_target_stays_inside_rootfs") else {
        return;
    };
    let outside = b.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, b.host_path("/escape")).unwrap();
    b.add_mount(json!({"destination": "/escape/mnt", "type": "tmpfs", "source": "tmpfs"}));
    b.set_script("touch /escape/mnt/written && echo done");
    // rt refuses a target whose symlink dangles inside the root; runc makes
    // the directory inside the root. Either way, nothing outside.
    let out = b.run(&b.id, &[]);
    if out.success() {
        let inside = b.host_path(outside.to_str().unwrap()).join("mnt");
        assert!(inside.is_dir(), "the target should be {}", inside.display());
    }
    assert!(
        !outside.join("mnt").exists(),
        "the mount target was made outside the rootfs"
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "something was written outside"
    );
    b.assert_nothing_left();
}

/// A mount target that is a dangling symlink is made where the link points,
/// inside the root, as runc and crun do (crun's test_mounts.py
/// mount-symlink-not-existing); a link climbing above `/` stays inside.
#[test]
fn mounts_dangling_symlink_target_is_made_inside_rootfs() {
    let Some(b) = Bundle::new("mounts_dangling_symlink_target_is_made_inside_rootfs") else {
        return;
    };
    std::os::unix::fs::symlink("../../../foo/bar/here", b.host_path("/etc/not-existing")).unwrap();
    b.add_mount(json!({"destination": "/etc/not-existing", "type": "bind",
                       "source": "/etc/hostname", "options": ["bind", "ro"]}));
    b.set_script("grep -c ' /foo/bar/here ' /proc/self/mountinfo; cat /etc/not-existing");
    let host = fs::read_to_string("/etc/hostname").unwrap();
    assert_eq!(b.run_ok(), format!("1\n{host}"));
    assert!(b.host_path("/foo/bar/here").is_file());
    assert!(!b.dir.join("foo").exists(), "made outside the rootfs");
    b.assert_nothing_left();
}
