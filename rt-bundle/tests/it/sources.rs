//! `rt-bundle unpack` from OCI layouts (tags, indexes) and docker save
//! archives, and `rt-bundle rm`.

use std::fs;
use std::process::Command;

use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout, sha256};
use crate::common::*;

fn one_file_image(name: &str, content: &[u8]) -> Image {
    Image::new(json!({"Cmd": ["/bin/true"]})).layer(
        Layer::new().file(name, content, 0o644).tar(),
        Compression::Gzip,
    )
}

#[test]
fn oci_layout_tags_and_indexes() {
    let t = TempDir::new("layout");
    let mut layout = Layout::new(&t.path("layout"));
    let v1 = layout.image(&one_file_image("v", b"1"));
    layout.tag("v1", &v1.manifest);
    let v2 = layout.image(&one_file_image("v", b"2"));
    let index = layout.index(&[(&v2.manifest, "amd64"), (&v1.manifest, "arm64")]);
    layout.tag("v2", &index);
    let dir = layout.dir.to_str().unwrap();

    let b = t.path("b2");
    ok(&rt_bundle(
        &t.0,
        &[
            "unpack",
            "--platform",
            "linux/amd64",
            &format!("oci:{dir}:v2"),
            b.to_str().unwrap(),
        ],
    ));
    assert_eq!(fs::read(b.join("rootfs/v")).unwrap(), b"2");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join(".rt-bundle.json")).unwrap()).unwrap();
    assert_eq!(meta["manifest"], v2.manifest.digest);
    let b = t.path("b1");
    ok(&rt_bundle(
        &t.0,
        &["unpack", &format!("oci:{dir}:v1"), b.to_str().unwrap()],
    ));
    assert_eq!(fs::read(b.join("rootfs/v")).unwrap(), b"1");

    let b = t.path("ambiguous");
    fails_with(
        &rt_bundle(&t.0, &["unpack", dir, b.to_str().unwrap()]),
        "2 images in index.json; say which with oci:DIR:TAG (tags: v1, v2)",
    );
    nothing_left(&b);
    fails_with(
        &rt_bundle(
            &t.0,
            &["unpack", &format!("oci:{dir}:v3"), b.to_str().unwrap()],
        ),
        "no image tagged \"v3\"",
    );
    nothing_left(&b);
    fails_with(
        &rt_bundle(
            &t.0,
            &[
                "unpack",
                &format!("oci:{}", t.0.display()),
                b.to_str().unwrap(),
            ],
        ),
        "not an OCI image layout",
    );
    nothing_left(&b);
}

/// A docker save archive as older docker wrote it: `<id>/layer.tar`
/// members and a `<hex>.json` config.
fn docker_save_archive(path: &std::path::Path) {
    let layer = Layer::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"saved\n", 0o644)
        .tar();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["A=1"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .unwrap();
    let config_name = format!("{}.json", sha256(&config).trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&json!([
        {"Config": config_name, "RepoTags": ["saved:latest"], "Layers": ["abc123/layer.tar"]}
    ]))
    .unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("abc123/layer.tar", &layer),
        (config_name.as_str(), &config),
        ("manifest.json", &manifest),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    fs::write(path, tar.into_inner().unwrap()).unwrap();
}

#[test]
fn docker_save_archives() {
    let t = TempDir::new("archive");
    let archive = t.path("saved.tar");
    docker_save_archive(&archive);
    for (src, dir) in [
        (format!("docker-archive:{}", archive.display()), "b1"),
        (archive.display().to_string(), "b2"),
        (
            format!("docker-archive:{}:saved:latest", archive.display()),
            "b3",
        ),
    ] {
        let b = t.path(dir);
        ok(&rt_bundle(&t.0, &["unpack", &src, b.to_str().unwrap()]));
        assert_eq!(fs::read(b.join("rootfs/etc/hostname")).unwrap(), b"saved\n");
        assert_eq!(config_json(&b)["process"]["env"][1], "A=1");
    }
    let b = t.path("b4");
    let out = rt_bundle(
        &t.0,
        &[
            "unpack",
            &format!("docker-archive:{}:other:tag", archive.display()),
            b.to_str().unwrap(),
        ],
    );
    fails_with(&out, "no image tagged \"other:tag\" (tags: saved:latest)");
    nothing_left(&b);

    // What skopeo writes (the docker save format of today's tools).
    if !registry_tools() {
        return;
    }
    let mut layout = Layout::new(&t.path("layout"));
    let w = layout.image(
        &Image::new(json!({"Cmd": ["/bin/sh"]})).layer(busybox_tar().to_vec(), Compression::Gzip),
    );
    layout.tag("bb", &w.manifest);
    let skopeo_archive = t.path("skopeo.tar");
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("oci:{}:bb", layout.dir.display()))
        .arg(format!(
            "docker-archive:{}:busybox:test",
            skopeo_archive.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = t.path("b5");
    ok(&rt_bundle(
        &t.0,
        &[
            "unpack",
            &format!("docker-archive:{}", skopeo_archive.display()),
            b.to_str().unwrap(),
        ],
    ));
    assert!(b.join("rootfs/bin/busybox").is_file());
    assert_eq!(
        config_json(&b)["process"]["user"]["additionalGids"],
        json!(null)
    );
}

#[test]
fn rm_removes_only_bundles() {
    let t = TempDir::new("rm");
    let mut layout = Layout::new(&t.path("layout"));
    let w = layout.image(&one_file_image("f", b"x"));
    layout.tag("v", &w.manifest);
    let b = t.path("bundle");
    ok(&rt_bundle(
        &t.0,
        &[
            "unpack",
            &format!("oci:{}", layout.dir.display()),
            b.to_str().unwrap(),
        ],
    ));
    let other = t.path("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("config.json"), "{}").unwrap();
    fails_with(
        &rt_bundle(&t.0, &["rm", other.to_str().unwrap()]),
        "not a bundle made by rt-bundle",
    );
    assert!(other.join("config.json").exists());
    ok(&rt_bundle(&t.0, &["rm", b.to_str().unwrap()]));
    assert!(!b.exists());
    let mut left: Vec<_> = fs::read_dir(&t.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["layout", "other"]);
}
