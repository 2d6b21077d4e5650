//! Layer semantics, through `rt-bundle unpack` of OCI layouts the tests
//! write: compressions, whiteouts, replacements and, as root, every kind of
//! entry with its metadata.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Output;

use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout};
use crate::common::*;

/// Writes an image of `layers` to a layout in `t` and unpacks it into
/// `t/bundle`.
pub fn unpack_layers(t: &TempDir, layers: Vec<Vec<u8>>) -> (Output, PathBuf) {
    let mut image = Image::new(json!({"Cmd": ["/bin/sh"]}));
    for tar in layers {
        image = image.layer(tar, Compression::Gzip);
    }
    let mut layout = Layout::new(&t.path("layout"));
    let w = layout.image(&image);
    layout.tag("latest", &w.manifest);
    let bundle = t.path("bundle");
    let src = format!("oci:{}:latest", layout.dir.display());
    (
        rt_bundle(&t.0, &["unpack", &src, bundle.to_str().unwrap()]),
        bundle,
    )
}

fn names(dir: PathBuf) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn all_compressions() {
    let t = TempDir::new("compress");
    let mut layout = Layout::new(&t.path("layout"));
    let image = Image::new(json!({"Cmd": ["/x"]}))
        .layer(
            Layer::new().file("gz", b"1", 0o644).tar(),
            Compression::Gzip,
        )
        .layer(
            Layer::new().file("zst", b"2", 0o644).tar(),
            Compression::Zstd,
        )
        .layer(
            Layer::new().file("plain", b"3", 0o644).tar(),
            Compression::None,
        );
    let w = layout.image(&image);
    layout.tag("v", &w.manifest);
    let bundle = t.path("b");
    ok(&rt_bundle(
        &t.0,
        &[
            "unpack",
            &format!("oci:{}", layout.dir.display()),
            bundle.to_str().unwrap(),
        ],
    ));
    assert_eq!(names(bundle.join("rootfs")), ["gz", "plain", "zst"]);
}

#[test]
fn whiteouts_and_replacements() {
    let t = TempDir::new("whiteout");
    let base = Layer::new()
        .dir("a", 0o755)
        .file("a/keep", b"k", 0o644)
        .file("a/drop", b"d", 0o644)
        .dir("a/sub", 0o755)
        .file("a/sub/deep", b"d", 0o644)
        .dir("opaque", 0o755)
        .file("opaque/old", b"o", 0o644)
        .dir("opaque/olddir", 0o755)
        .file("opaque/olddir/x", b"x", 0o644)
        .file("was-file", b"f", 0o644)
        .dir("was-dir", 0o755)
        .file("was-dir/x", b"x", 0o644)
        .file("relink", b"r", 0o644)
        .tar();
    let upper = Layer::new()
        .whiteout("a/.wh.drop")
        .whiteout("a/.wh.sub")
        .whiteout("a/.wh.never-existed")
        .whiteout("missing-dir/.wh.x")
        .file("opaque/new", b"n", 0o644)
        .whiteout("opaque/.wh..wh..opq")
        .dir("was-file", 0o700)
        .file("was-dir", b"now a file", 0o600)
        .symlink("relink", "a/keep")
        // A whiteout hides lower layers only, not its own layer.
        .file("same-layer", b"s", 0o644)
        .whiteout(".wh.same-layer")
        .whiteout(".wh..wh.plnk")
        .tar();
    let again = Layer::new().file("a/drop", b"back", 0o644).tar();
    let (out, bundle) = unpack_layers(&t, vec![base, upper, again]);
    ok(&out);
    let r = bundle.join("rootfs");
    assert_eq!(names(r.join("a")), ["drop", "keep"]);
    assert_eq!(fs::read(r.join("a/drop")).unwrap(), b"back");
    assert_eq!(names(r.join("opaque")), ["new"]);
    assert!(fs::metadata(r.join("was-file")).unwrap().is_dir());
    assert_eq!(
        fs::metadata(r.join("was-file"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(fs::read(r.join("was-dir")).unwrap(), b"now a file");
    assert_eq!(
        fs::read_link(r.join("relink")).unwrap().to_str(),
        Some("a/keep")
    );
    assert!(r.join("same-layer").is_file());
    assert!(!r.join("missing-dir").exists());
    assert!(!r.join(".wh..wh.plnk").exists());
}

#[test]
fn layers_must_match_the_config_diff_ids() {
    let t = TempDir::new("diffid");
    let mut layout = Layout::new(&t.path("layout"));
    let image = Image::new(json!({"Cmd": ["/x"]}))
        .layer(Layer::new().file("f", b"1", 0o644).tar(), Compression::Gzip);
    let w = layout.image(&image);
    layout.tag("v", &w.manifest);
    // Same-length garbage in the layer blob: its digest no longer matches.
    let path = layout.blob_path(&w.layers[0].digest);
    let mut blob = fs::read(&path).unwrap();
    let n = blob.len();
    blob[n - 8] ^= 0xff;
    fs::write(&path, blob).unwrap();
    let bundle = t.path("b");
    let out = rt_bundle(
        &t.0,
        &[
            "unpack",
            &format!("oci:{}", layout.dir.display()),
            bundle.to_str().unwrap(),
        ],
    );
    fails_with(&out, "layer 1/1");
    nothing_left(&bundle);
}

#[test]
fn entry_kinds_and_metadata_as_root() {
    if !is_root() {
        eprintln!("skipping: owners and device nodes need root");
        return;
    }
    let t = TempDir::new("meta");
    let layer = Layer::new()
        .dir("d", 0o755)
        .owned_file("d/suid", b"#!/bin/sh\n", 0o4755, 1234, 5678)
        .hardlink("d/link", "d/suid")
        .symlink("d/sym", "suid")
        .fifo("d/fifo")
        .char_device("d/null", 1, 3)
        .dir("sticky", 0o1777)
        .xattr_file("d/attr", b"x", &[("user.rt-bundle", b"yes")])
        .tar();
    let (out, bundle) = unpack_layers(&t, vec![layer]);
    ok(&out);
    let d = bundle.join("rootfs/d");
    let suid = fs::metadata(d.join("suid")).unwrap();
    assert_eq!((suid.uid(), suid.gid()), (1234, 5678));
    assert_eq!(suid.mode() & 0o7777, 0o4755, "setuid lost");
    assert_eq!(suid.mtime(), 1_700_000_000);
    assert_eq!(
        fs::metadata(d.join("link")).unwrap().ino(),
        suid.ino(),
        "hard link is a copy"
    );
    assert_eq!(suid.nlink(), 2);
    assert_eq!(fs::read_link(d.join("sym")).unwrap().to_str(), Some("suid"));
    assert!(
        fs::symlink_metadata(d.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let null = fs::symlink_metadata(d.join("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(
        fs::metadata(bundle.join("rootfs/sticky")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::metadata(&d).unwrap().mtime(),
        1_700_000_000,
        "directory time not restored"
    );
    match xattr_get(&d.join("attr"), "user.rt-bundle") {
        Some(v) => assert_eq!(v, b"yes"),
        None => eprintln!("note: the temp filesystem does not keep user xattrs"),
    }
}

fn xattr_get(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings and a buffer of the length given.
    let n = unsafe {
        nix::libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}
