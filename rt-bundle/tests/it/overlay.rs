//! `pull --overlay`: layers unpacked once into the cache, bundles whose
//! rootfs is an overlay mount of them, `rm` unmounting, prune keeping the
//! layers in use.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout};
use crate::common::registry::{Auth, Registry, push};
use crate::common::*;

fn overlay_supported() -> bool {
    if !is_root() {
        eprintln!("skipping: --overlay needs root");
        return false;
    }
    let fs = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs.lines().any(|l| l.ends_with("\toverlay")) {
        eprintln!("skipping: no overlayfs in this kernel");
        return false;
    }
    true
}

fn mounted(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(path))
}

/// Unmounts whatever a failed test left mounted, before TempDir removes
/// the directories.
struct Unmount(Vec<PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn overlay_bundles_share_unpacked_layers() {
    if !registry_tools() || !overlay_supported() {
        return;
    }
    let t = TempDir::new("overlay");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let image = Image::new(json!({"Cmd": ["/bin/sh"]}))
        .layer(busybox_tar().to_vec(), Compression::Gzip)
        .layer(
            Layer::new()
                .dir("data", 0o755)
                .file("data/old", b"o", 0o644)
                .file("gone", b"g", 0o644)
                .tar(),
            Compression::Zstd,
        )
        .layer(
            Layer::new()
                .whiteout(".wh.gone")
                .whiteout("data/.wh..wh..opq")
                .file("data/new", b"n", 0o644)
                .tar(),
            Compression::Gzip,
        );
    let w = layout.image(&image);
    layout.tag("v1", &w.manifest);
    let reference = format!("{}/test/overlay:v1", registry.host);
    push(&layout.dir, "v1", &reference, false, false);

    let cache = t.path("cache");
    let (b1, b2) = (t.path("b1"), t.path("b2"));
    let _cleanup = Unmount(vec![b1.join("rootfs"), b2.join("rootfs")]);
    for b in [&b1, &b2] {
        ok(&rt_bundle(
            &t.0,
            &[
                "pull",
                "--overlay",
                "--cache",
                cache.to_str().unwrap(),
                &reference,
                b.to_str().unwrap(),
            ],
        ));
        assert!(mounted(&b.join("rootfs")), "{} is not a mount", b.display());
        let r = b.join("rootfs");
        assert!(r.join("bin/busybox").is_file());
        assert!(
            !r.join("gone").exists(),
            "whiteout not honoured by the overlay"
        );
        let names: Vec<_> = fs::read_dir(r.join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["new"],
            "opaque directory not honoured by the overlay"
        );
    }
    // One unpacked copy of each layer, shared.
    assert_eq!(
        fs::read_dir(cache.join("layers/sha256"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count(),
        3
    );
    // Each bundle writes to its own upper directory.
    fs::write(b1.join("rootfs/only-in-b1"), "x").unwrap();
    assert!(!b2.join("rootfs/only-in-b1").exists());
    assert!(b1.join("upper/only-in-b1").is_file());

    let ls = ok(&rt_bundle(
        &t.0,
        &["cache", "ls", "--cache", cache.to_str().unwrap()],
    ));
    assert!(
        ls.contains("3 layers unpacked for --overlay bundles"),
        "{ls}"
    );
    // Prune keeps layers that bundles use, and drops them once unused.
    ok(&rt_bundle(&t.0, &["rm", b1.to_str().unwrap()]));
    assert!(!mounted(&b1.join("rootfs")) && !b1.exists());
    let out = ok(&rt_bundle(
        &t.0,
        &[
            "cache",
            "prune",
            "--all",
            "--cache",
            cache.to_str().unwrap(),
        ],
    ));
    assert!(out.ends_with("; 0 unpacked layers\n"), "{out}");
    assert!(b2.join("rootfs/bin/busybox").is_file());
    ok(&rt_bundle(&t.0, &["rm", b2.to_str().unwrap()]));
    assert!(!mounted(&b2.join("rootfs")));
    let out = ok(&rt_bundle(
        &t.0,
        &["cache", "prune", "--cache", cache.to_str().unwrap()],
    ));
    assert!(out.ends_with("; 3 unpacked layers\n"), "{out}");
}

#[test]
fn overlay_needs_root() {
    let t = TempDir::new("overlay-user");
    let b = t.path("b");
    // As root, ask as nobody.
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg(env!("CARGO_BIN_EXE_rt-bundle"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_rt-bundle"))
    };
    let out = cmd
        .env("HOME", &t.0)
        .args([
            "pull",
            "--overlay",
            "--cache",
            t.path("cache").to_str().unwrap(),
            "alpine",
            b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    fails_with(&out, "--overlay needs root");
    nothing_left(&b);
    assert!(!t.path("cache").exists());
}
