//! config.md's recursive mount attributes (`rro`, `rnosuid`, ...,
//! mount_setattr with AT_RECURSIVE), `nosymfollow`, id-mapped bind mounts
//! (`idmap`, `ridmap`, a mount's uidMappings/gidMappings), unknown options,
//! and devices inside a user namespace.

mod common;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

fn has(v: &[String], s: &str) -> bool {
    v.iter().any(|o| o == s)
}

fn bind(src: &Path, dst: &str, opts: &[&str]) -> Value {
    json!({"destination": dst, "type": "bind", "source": src, "options": opts})
}

/// A host directory under the bundle with a tmpfs on its `sub` (removed
/// with the bundle), each holding a file.
fn tree_with_submount(b: &Bundle) -> PathBuf {
    let src = b.dir.join("tree");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("top"), "top\n").unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(src.join("sub"))
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs on the fixture");
    fs::write(src.join("sub/inner"), "inner\n").unwrap();
    symlink("inner", src.join("sub/link")).unwrap();
    src
}

#[test]
fn mount_attrs_recursive_apply_to_submounts() {
    let Some(b) = Bundle::new("mount_attrs_recursive_apply_to_submounts") else {
        return;
    };
    let src = tree_with_submount(&b);
    b.add_mount(bind(
        &src,
        "/rec",
        &["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime"],
    ));
    // The plain options act on the top mount only: the contrast.
    b.add_mount(bind(&src, "/top", &["rbind", "ro", "nosuid"]));
    b.set_script(
        "cat /rec/sub/inner; touch /rec/sub/x 2>/dev/null && echo rec-rw || echo rec-ro; \
         touch /top/sub/x && echo top-sub-rw; grep -E ' /(rec|top)(/sub)? ' /proc/self/mountinfo",
    );
    let out = b.run_ok();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("inner"), "{out}");
    assert_eq!(lines.next(), Some("rec-ro"), "{out}");
    assert_eq!(lines.next(), Some("top-sub-rw"), "{out}");
    let m = parse_mountinfo(&lines.collect::<Vec<_>>().join("\n"));
    for point in ["/rec", "/rec/sub"] {
        let e = find_mount(&m, point).unwrap_or_else(|| panic!("{point} missing: {out}"));
        for o in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
            assert!(has(&e.opts, o), "{point} lacks {o}: {e:?}");
        }
    }
    let top_sub = find_mount(&m, "/top/sub").expect("/top/sub");
    assert!(has(&top_sub.opts, "rw"), "{top_sub:?}");
    // The host's own submount is untouched.
    let host = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    let sub = src.join("sub");
    let h = find_mount(&host, sub.to_str().unwrap()).expect("host submount");
    assert!(has(&h.opts, "rw") && !has(&h.opts, "noexec"), "{h:?}");
    assert!(src.join("sub/x").exists(), "the write through /top/sub");
    unmount_fixture(&src);
    b.assert_nothing_left();
}

#[test]
fn mount_attrs_symfollow_and_atime_later_options_win() {
    let Some(b) = Bundle::new("mount_attrs_symfollow_and_atime_later_options_win") else {
        return;
    };
    let src = tree_with_submount(&b);
    b.add_mount(bind(
        &src,
        "/nofollow",
        &[
            "rbind",
            "rnosymfollow",
            "rro",
            "rrw",
            "rnoatime",
            "rstrictatime",
        ],
    ));
    b.add_mount(
        json!({"destination": "/flat", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosymfollow"]}),
    );
    b.set_script(
        "cat /nofollow/sub/link 2>/dev/null || echo no-follow; ln -s /etc/passwd /flat/l; \
         cat /flat/l 2>/dev/null || echo flat-no-follow; \
         grep -E ' /(nofollow|nofollow/sub|flat) ' /proc/self/mountinfo",
    );
    let out = b.run_ok();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("no-follow"), "{out}");
    assert_eq!(lines.next(), Some("flat-no-follow"), "{out}");
    let m = parse_mountinfo(&lines.collect::<Vec<_>>().join("\n"));
    for point in ["/nofollow", "/nofollow/sub"] {
        let e = find_mount(&m, point).unwrap_or_else(|| panic!("{point}: {out}"));
        assert!(has(&e.opts, "nosymfollow") && has(&e.opts, "rw"), "{e:?}");
        // strictatime shows as neither relatime nor noatime.
        assert!(
            !has(&e.opts, "noatime") && !has(&e.opts, "relatime"),
            "{e:?}"
        );
    }
    assert!(has(&find_mount(&m, "/flat").unwrap().opts, "nosymfollow"));
    unmount_fixture(&src);
    b.assert_nothing_left();
}

fn unmount_fixture(src: &Path) {
    let st = Command::new("umount")
        .arg(src.join("sub"))
        .status()
        .unwrap();
    assert!(st.success(), "umount the fixture");
}

#[test]
fn mount_attrs_unknown_bind_option_fails_naming_it() {
    let Some(b) = Bundle::new("mount_attrs_unknown_bind_option_fails_naming_it") else {
        return;
    };
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    b.add_mount(bind(&src, "/x", &["rbind", "no-such-option"]));
    let out = b.create(&b.id).fails();
    assert!(out.stderr.contains("no-such-option"), "{}", out.stderr);
    b.assert_state_root_empty();
    b.assert_nothing_left();
}

/// A host directory with files owned by 1000:1000 and 0:0.
fn owned_files(b: &Bundle) -> PathBuf {
    let src = b.dir.join("ids");
    fs::create_dir(&src).unwrap();
    for (name, id) in [("user", 1000), ("root", 0)] {
        let p = src.join(name);
        fs::write(&p, name).unwrap();
        std::os::unix::fs::chown(&p, Some(id), Some(id)).unwrap();
    }
    src
}

#[test]
fn mount_idmap_own_mappings() {
    let Some(b) = Bundle::new("mount_idmap_own_mappings") else {
        return;
    };
    let src = owned_files(&b);
    let map = json!([{"containerID": 1000, "hostID": 2000, "size": 10}]);
    let mut m = bind(&src, "/ids", &["bind", "idmap"]);
    m["uidMappings"] = map.clone();
    m["gidMappings"] = map;
    b.add_mount(m);
    b.add_mount(bind(&src, "/plain", &["bind"]));
    b.set_script("stat -c '%n %u:%g' /ids/user /ids/root /plain/user");
    // Disk id 1000 is id 1000 of the mapping's namespace, host id 2000;
    // disk id 0 has no mapping (the overflow id).
    assert_eq!(
        b.run_ok(),
        "/ids/user 2000:2000\n/ids/root 65534:65534\n/plain/user 1000:1000\n"
    );
    let md = fs::metadata(src.join("user")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 1000), "the host file changed");
    b.assert_nothing_left();
}

#[test]
fn mount_idmap_uses_the_container_user_namespace() {
    let Some(b) = Bundle::new("mount_idmap_uses_the_container_user_namespace") else {
        return;
    };
    let src = owned_files(&b);
    // The container's root (host 100000) cannot create them in the rootfs.
    fs::create_dir(b.host_path("/ids")).unwrap();
    fs::create_dir(b.host_path("/plain")).unwrap();
    b.add_namespace(json!({"type": "user"}));
    b.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    b.add_mount(bind(&src, "/ids", &["rbind", "ridmap"]));
    b.add_mount(bind(&src, "/plain", &["rbind"]));
    b.set_script("stat -c '%n %u:%g' /ids/root /ids/user /plain/root; echo hi > /ids/new");
    assert_eq!(
        b.run_ok(),
        "/ids/root 0:0\n/ids/user 1000:1000\n/plain/root 65534:65534\n"
    );
    // The container's root wrote as disk id 0 through the mapping.
    let md = fs::metadata(src.join("new")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
    b.assert_nothing_left();
}

#[test]
fn mount_idmap_invalid_configs_fail_cleanly() {
    let Some(b) = Bundle::new("mount_idmap_invalid_configs_fail_cleanly") else {
        return;
    };
    let src = b.dir.join("src");
    fs::create_dir(&src).unwrap();
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    let mut half = bind(&src, "/x", &["bind", "idmap"]);
    half["uidMappings"] = map.clone();
    let mut tmpfs = json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs"});
    tmpfs["uidMappings"] = map.clone();
    tmpfs["gidMappings"] = map;
    let cases = [
        (half, "gidMappings"),
        (tmpfs, "bind mounts only"),
        // No mapping of its own and no user namespace to take one from.
        (bind(&src, "/x", &["bind", "idmap"]), "user namespace"),
    ];
    let template = b.read_config();
    for (i, (m, why)) in cases.into_iter().enumerate() {
        b.write_config(&template);
        b.add_mount(m);
        let id = b.other_id(&format!("bad{i}"));
        let out = b.create(&id).fails();
        assert!(
            out.stderr.contains(why) && out.stderr.contains("mounts["),
            "case {i}: {}",
            out.stderr
        );
        b.assert_state_root_empty();
    }
    b.assert_nothing_left();
}

/// Inside a user namespace mknod is refused: the default and configured
/// devices are bind mounts of the host's nodes.
#[test]
fn devices_in_user_namespace_are_host_binds() {
    let Some(b) = Bundle::new("devices_in_user_namespace_are_host_binds") else {
        return;
    };
    b.add_namespace(json!({"type": "user"}));
    b.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg", "type": "c", "major": 1,
                                        "minor": 11, "fileMode": 0o600},
                                       {"path": "/dev/a-fifo", "type": "p"}]);
    });
    b.set_script(
        "for d in null zero full random urandom tty kmsg; do stat -c '%n %t:%T' /dev/$d; done; \
         stat -c %F /dev/a-fifo; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; \
         for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; \
         grep -c ' /dev/null ' /proc/self/mountinfo",
    );
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    let want = [
        "/dev/null 1:3",
        "/dev/zero 1:5",
        "/dev/full 1:7",
        "/dev/random 1:8",
        "/dev/urandom 1:9",
        "/dev/tty 5:0",
        "/dev/kmsg 1:b",
        "fifo",
        "null-ok",
        "4",
        "pts/ptmx",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        // A bind mount, not a node made in the container's /dev.
        "1",
    ];
    assert_eq!(lines, want, "{out}");
    b.assert_nothing_left();
}

/// `ridmap` id-maps the submounts of an rbind too; `idmap` only its top.
#[test]
fn mount_ridmap_reaches_submounts() {
    let Some(b) = Bundle::new("mount_ridmap_reaches_submounts") else {
        return;
    };
    let src = tree_with_submount(&b);
    for d in ["/rec", "/top"] {
        fs::create_dir(b.host_path(d)).unwrap();
    }
    b.add_namespace(json!({"type": "user"}));
    b.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    b.add_mount(bind(&src, "/rec", &["rbind", "ridmap"]));
    b.add_mount(bind(&src, "/top", &["rbind", "idmap"]));
    b.set_script("stat -c '%n %u' /rec/top /rec/sub/inner /top/top /top/sub/inner");
    // The fixture's files are root's on the host.
    assert_eq!(
        b.run_ok(),
        "/rec/top 0\n/rec/sub/inner 0\n/top/top 0\n/top/sub/inner 65534\n"
    );
    unmount_fixture(&src);
    b.assert_nothing_left();
}
