//! Layers made to escape the rootfs: each must be refused with an error
//! that says why, leave no bundle and no staging directory, and touch
//! nothing outside.

use std::fs;

use tar::EntryType;

use crate::common::layer::Layer;
use crate::common::*;
use crate::layers::unpack_layers;

/// A temp dir with `outside/victim`, which no layer may change, and the
/// absolute path of `outside`.
fn setup(tag: &str) -> (TempDir, String) {
    let t = TempDir::new(tag);
    fs::create_dir(t.path("outside")).unwrap();
    fs::write(t.path("outside/victim"), "untouched").unwrap();
    let outside = t.path("outside").to_str().unwrap().to_string();
    (t, outside)
}

fn refused(tag: &str, layers: impl FnOnce(&str) -> Vec<Vec<u8>>, want: &str) {
    let (t, outside) = setup(tag);
    let (out, bundle) = unpack_layers(&t, layers(&outside));
    fails_with(&out, want);
    nothing_left(&bundle);
    let mut names: Vec<_> = fs::read_dir(t.path("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["victim"], "{tag}: something was written outside");
    assert_eq!(
        fs::read_to_string(t.path("outside/victim")).unwrap(),
        "untouched"
    );
}

#[test]
fn dot_dot_in_names() {
    refused(
        "dotdot",
        |_| {
            vec![
                Layer::new()
                    .raw("../../pwned", EntryType::Regular, "", b"x")
                    .tar(),
            ]
        },
        "\"..\" is not allowed in a layer path",
    );
    refused(
        "dotdot-mid",
        |_| {
            vec![
                Layer::new()
                    .dir("a", 0o755)
                    .raw("a/../../pwned", EntryType::Regular, "", b"x")
                    .tar(),
            ]
        },
        "\"..\" is not allowed",
    );
}

#[test]
fn absolute_names() {
    refused(
        "absolute",
        |o| {
            vec![
                Layer::new()
                    .raw(&format!("{o}/pwned"), EntryType::Regular, "", b"x")
                    .tar(),
            ]
        },
        "absolute paths are not allowed",
    );
}

#[test]
fn through_an_absolute_symlink() {
    refused(
        "abs-symlink",
        |o| {
            vec![
                Layer::new()
                    .symlink("link", o)
                    .file("link/pwned", b"x", 0o644)
                    .tar(),
            ]
        },
        "goes through symlink \"link\"",
    );
    // The symlink in one layer, the write in the next.
    refused(
        "abs-symlink-2",
        |o| {
            vec![
                Layer::new().dir("etc", 0o755).symlink("etc/conf", o).tar(),
                Layer::new().file("etc/conf/victim", b"pwned", 0o644).tar(),
            ]
        },
        "which leads outside the rootfs",
    );
}

#[test]
fn through_a_relative_symlink_climbing_out() {
    refused(
        "rel-symlink",
        |_| {
            vec![
                Layer::new()
                    .dir("a", 0o755)
                    .symlink("a/up", "../../../..")
                    .file("a/up/pwned", b"x", 0o644)
                    .tar(),
            ]
        },
        "goes through symlink \"a/up\" -> \"../../../..\"",
    );
    // "b -> a/.." looks harmless, but a is "." so b is the root's parent.
    refused(
        "dot-symlink",
        |_| {
            vec![
                Layer::new()
                    .symlink("a", ".")
                    .symlink("b", "a/..")
                    .file("b/pwned", b"x", 0o644)
                    .tar(),
            ]
        },
        "leads outside the rootfs",
    );
    refused(
        "loop",
        |_| vec![Layer::new().symlink("x", "x").file("x/y", b"", 0o644).tar()],
        "too many levels of symlinks",
    );
}

#[test]
fn whiteouts_through_symlinks() {
    refused(
        "wh-symlink",
        |o| {
            vec![
                Layer::new().symlink("link", o).tar(),
                Layer::new().whiteout("link/.wh.victim").tar(),
            ]
        },
        "goes through symlink",
    );
    refused(
        "opq-symlink",
        |o| {
            vec![
                Layer::new().symlink("link", o).tar(),
                Layer::new().whiteout("link/.wh..wh..opq").tar(),
            ]
        },
        "goes through symlink",
    );
}

#[test]
fn hard_links_out() {
    refused(
        "hl-dotdot",
        |_| {
            vec![
                Layer::new()
                    .raw("h", EntryType::Link, "../../../etc/passwd", b"")
                    .tar(),
            ]
        },
        "\"..\" is not allowed",
    );
    refused(
        "hl-absolute",
        |o| {
            vec![
                Layer::new()
                    .raw("h", EntryType::Link, &format!("{o}/victim"), b"")
                    .tar(),
            ]
        },
        "absolute paths are not allowed",
    );
    refused(
        "hl-symlink",
        |o| {
            vec![
                Layer::new()
                    .symlink("link", o)
                    .hardlink("h", "link/victim")
                    .tar(),
            ]
        },
        "goes through symlink",
    );
    refused(
        "hl-missing",
        |_| vec![Layer::new().hardlink("h", "nothing-here").tar()],
        "hard link to \"nothing-here\", which does not exist in the rootfs",
    );
}

/// Writing over a symlink replaces the symlink; it never writes where the
/// symlink points.
#[test]
fn files_replace_symlinks_rather_than_follow_them() {
    let (t, outside) = setup("replace");
    let layers = vec![
        Layer::new()
            .symlink("f", &format!("{outside}/victim"))
            .symlink("d", &outside)
            .tar(),
        Layer::new()
            .file("f", b"pwned", 0o644)
            .dir("d", 0o755)
            .tar(),
    ];
    let (out, bundle) = unpack_layers(&t, layers);
    ok(&out);
    assert_eq!(
        fs::read_to_string(t.path("outside/victim")).unwrap(),
        "untouched"
    );
    assert_eq!(fs::read(bundle.join("rootfs/f")).unwrap(), b"pwned");
    assert!(
        fs::symlink_metadata(bundle.join("rootfs/d"))
            .unwrap()
            .is_dir()
    );
}
