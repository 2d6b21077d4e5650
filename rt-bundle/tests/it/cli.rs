//! Bad input: one line naming what is wrong, a non-zero exit, and nothing
//! left behind. None of these reach a registry.

use std::fs;

use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout};
use crate::common::*;

#[test]
fn bad_arguments() {
    let t = TempDir::new("cli");
    let dir = t.path("b");
    let d = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["pull", "Alpine", d],
            "invalid reference \"Alpine\": repository name must be lowercase",
        ),
        (
            &["pull", "alpine:-bad", d],
            "invalid reference \"alpine:-bad\"",
        ),
        (
            &["pull", "alpine@sha256:123", d],
            "invalid digest \"sha256:123\"",
        ),
        (
            &["pull", "--platform", "linux", "alpine", d],
            "invalid --platform \"linux\"",
        ),
        (
            &["pull", "--creds", ":pw", "alpine", d],
            "--creds: invalid credentials",
        ),
        (
            &["pull", "--authfile", "/nonexistent/auth.json", "alpine", d],
            "auth file /nonexistent/auth.json",
        ),
        (
            &["unpack", "/nonexistent/src", d],
            "invalid SRC \"/nonexistent/src\"",
        ),
        (
            &["pull", "alpine", "/nonexistent/parent/b"],
            "/nonexistent/parent",
        ),
        (&["rm", d], "not a bundle made by rt-bundle"),
    ];
    for (args, want) in cases {
        fails_with(&rt_bundle(&t.0, args), want);
        nothing_left(&dir);
    }
    let out = rt_bundle(&t.0, &["pull"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(ok(&rt_bundle(&t.0, &["--help"])).contains("pull"));
}

#[test]
fn existing_bundle_directories() {
    let t = TempDir::new("exists");
    let mut layout = Layout::new(&t.path("layout"));
    let w = layout.image(
        &Image::new(json!({"Cmd": ["/x"]}))
            .layer(Layer::new().file("x", b"", 0o755).tar(), Compression::Gzip),
    );
    layout.tag("v", &w.manifest);
    let src = format!("oci:{}", layout.dir.display());

    let full = t.path("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("keep"), "mine").unwrap();
    fails_with(
        &rt_bundle(&t.0, &["unpack", &src, full.to_str().unwrap()]),
        "already exists and is not an empty directory",
    );
    assert_eq!(fs::read_to_string(full.join("keep")).unwrap(), "mine");

    // An empty directory is fine: it becomes the bundle.
    let empty = t.path("empty");
    fs::create_dir(&empty).unwrap();
    ok(&rt_bundle(&t.0, &["unpack", &src, empty.to_str().unwrap()]));
    assert!(empty.join("config.json").is_file());
}

#[test]
fn images_without_a_command_need_one() {
    let t = TempDir::new("nocmd");
    let mut layout = Layout::new(&t.path("layout"));
    let w = layout.image(
        &Image::new(json!({})).layer(Layer::new().file("x", b"", 0o755).tar(), Compression::Gzip),
    );
    layout.tag("v", &w.manifest);
    let src = format!("oci:{}", layout.dir.display());
    let b = t.path("b");
    fails_with(
        &rt_bundle(&t.0, &["unpack", &src, b.to_str().unwrap()]),
        "the image has no Entrypoint or Cmd; give a command after DIR",
    );
    nothing_left(&b);
    ok(&rt_bundle(
        &t.0,
        &["unpack", &src, b.to_str().unwrap(), "/x", "--flag"],
    ));
    assert_eq!(config_json(&b)["process"]["args"], json!(["/x", "--flag"]));
}
