//! Pulling from a registry: formats, layers and whiteouts, platforms, the
//! cache, corrupted blobs and interrupted downloads.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::common::layer::{Compression, Layer};
use crate::common::oci::{Image, Layout};
use crate::common::proxy::CutProxy;
use crate::common::registry::{Auth, Registry, push, pushed_manifest};
use crate::common::*;

/// busybox, then a layer adding files, then one removing some of them.
fn app_image(compressions: [Compression; 3]) -> Image {
    let add = Layer::new()
        .file("etc/motd", b"hello\n", 0o644)
        .dir("tmp", 0o1777)
        .file("tmp/gone", b"x", 0o644)
        .dir("data", 0o755)
        .dir("data/dir", 0o755)
        .file("data/dir/a", b"a", 0o644)
        .file("data/dir/b", b"b", 0o644)
        .tar();
    let remove = Layer::new()
        .whiteout("tmp/.wh.gone")
        .whiteout("data/dir/.wh..wh..opq")
        .file("data/dir/c", b"c", 0o644)
        .tar();
    Image::new(json!({
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hi"],
        "Env": ["PATH=/bin", "GREETING=hi"],
        "WorkingDir": "/home/app",
        "User": "app",
        "Labels": {"org.example.role": "test"},
        "StopSignal": "SIGINT",
    }))
    .layer(busybox_tar().to_vec(), compressions[0])
    .layer(add, compressions[1])
    .layer(remove, compressions[2])
}

fn check_app_bundle(bundle: &std::path::Path) {
    let rootfs = bundle.join("rootfs");
    assert_eq!(fs::read(rootfs.join("etc/motd")).unwrap(), b"hello\n");
    let busybox = fs::metadata(rootfs.join("bin/busybox")).unwrap();
    assert_eq!(busybox.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert!(!rootfs.join("tmp/gone").exists(), "whiteout not applied");
    assert_eq!(
        fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    let mut names: Vec<_> = fs::read_dir(rootfs.join("data/dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["c"], "opaque directory not applied");
    let spec = config_json(bundle);
    let p = &spec["process"];
    assert_eq!(p["args"], json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(
        p["env"],
        json!(["PATH=/bin", "GREETING=hi", "HOME=/home/app"])
    );
    assert_eq!(p["cwd"], "/home/app");
    assert_eq!(
        p["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [50]})
    );
    assert_eq!(p["terminal"], false);
    assert_eq!(spec["annotations"]["org.example.role"], "test");
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.stopSignal"],
        "SIGINT"
    );
    assert_eq!(spec["root"]["path"], "rootfs");
}

#[test]
fn pulls_oci_and_docker_images_and_reuses_the_cache() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("pull");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let oci = layout.image(&app_image([
        Compression::Gzip,
        Compression::Zstd,
        Compression::None,
    ]));
    layout.tag("oci", &oci.manifest);
    let docker = layout.image(&app_image([Compression::Gzip; 3]));
    layout.tag("docker", &docker.manifest);
    let host = &registry.host;
    push(
        &layout.dir,
        "oci",
        &format!("{host}/test/app:oci"),
        false,
        false,
    );
    push(
        &layout.dir,
        "docker",
        &format!("{host}/test/app:docker"),
        true,
        false,
    );

    let cache = t.path("cache");
    let cache_arg = cache.to_str().unwrap();
    for tag in ["oci", "docker"] {
        let bundle = t.path(&format!("bundle-{tag}"));
        ok(&rt_bundle(
            &t.0,
            &[
                "pull",
                "--cache",
                cache_arg,
                &format!("{host}/test/app:{tag}"),
                bundle.to_str().unwrap(),
            ],
        ));
        check_app_bundle(&bundle);
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(bundle.join(".rt-bundle.json")).unwrap()).unwrap();
        assert_eq!(meta["source"], format!("{host}/test/app:{tag}"));
    }
    // Again, with arguments replacing Cmd and a rootless config: only a
    // HEAD of the tag goes to the registry.
    let before = registry.requests().len();
    let again = t.path("again");
    ok(&rt_bundle(
        &t.0,
        &[
            "pull",
            "--rootless",
            "--cache",
            cache_arg,
            &format!("{host}/test/app:oci"),
            again.to_str().unwrap(),
            "echo",
            "-n",
            "bye",
        ],
    ));
    let new: Vec<String> = registry.requests()[before..].to_vec();
    assert!(
        new.iter()
            .all(|r| r.starts_with("HEAD /v2/test/app/manifests/oci")),
        "{new:?}"
    );
    let spec = config_json(&again);
    assert_eq!(
        spec["process"]["args"],
        json!(["/bin/sh", "-c", "echo", "-n", "bye"])
    );
    let uid = nix::unistd::geteuid().as_raw();
    assert_eq!(
        spec["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": uid, "size": 1}])
    );

    // The layers are gone from the registry: a pull by digest still works.
    let (digest, manifest) = pushed_manifest(&format!("{host}/test/app:oci"));
    for l in manifest["layers"].as_array().unwrap() {
        fs::remove_file(registry.blob_file(l["digest"].as_str().unwrap())).unwrap();
    }
    let by_digest = t.path("by-digest");
    let reference = format!("{host}/test/app@{digest}");
    ok(&rt_bundle(
        &t.0,
        &[
            "pull",
            "--cache",
            cache_arg,
            &reference,
            by_digest.to_str().unwrap(),
        ],
    ));
    check_app_bundle(&by_digest);

    let ls = ok(&rt_bundle(&t.0, &["cache", "--cache", cache_arg, "ls"]));
    assert!(
        ls.contains(&format!("{host}/test/app:oci"))
            && ls.contains(&format!("{host}/test/app:docker")),
        "{ls}"
    );
    assert!(ls.contains(&format!("{host}/test/app@{digest}")), "{ls}");
    let pruned = ok(&rt_bundle(&t.0, &["cache", "prune", "--cache", cache_arg]));
    assert!(pruned.starts_with("removed 0 blobs"), "{pruned}");
    let pruned = ok(&rt_bundle(
        &t.0,
        &["cache", "prune", "--all", "--cache", cache_arg],
    ));
    assert!(!pruned.starts_with("removed 0 blobs"), "{pruned}");
    assert_eq!(fs::read_dir(cache.join("blobs/sha256")).unwrap().count(), 0);
    let ls = ok(&rt_bundle(&t.0, &["cache", "ls", "--cache", cache_arg]));
    assert!(
        ls.ends_with("0 blobs, 0 B (0 B not used by any image)\n"),
        "{ls}"
    );

    ok(&rt_bundle(
        &t.0,
        &["rm", again.to_str().unwrap(), by_digest.to_str().unwrap()],
    ));
    assert!(!again.exists() && !by_digest.exists());
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn picks_the_platform_from_an_index() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("platform");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut image = Image::new(json!({"Cmd": ["/bin/cat", "/arch"]})).layer(
            Layer::new().file("arch", arch.as_bytes(), 0o644).tar(),
            Compression::Gzip,
        );
        image.architecture = arch;
        manifests.push((layout.image(&image).manifest, arch));
    }
    let refs: Vec<_> = manifests.iter().map(|(d, a)| (d, *a)).collect();
    let index = layout.index(&refs);
    layout.tag("multi", &index);
    let repo = format!("{}/test/multi", registry.host);
    push(&layout.dir, "multi", &format!("{repo}:v1"), false, true);

    let cache = t.path("cache");
    let pull = |reference: &str, dir: &str, extra: &[&str]| {
        let mut args = vec!["pull", "--cache", cache.to_str().unwrap()];
        args.extend(extra);
        let dir = t.path(dir);
        let dir_str = dir.to_str().unwrap().to_string();
        args.extend([reference, &dir_str]);
        (rt_bundle(&t.0, &args), dir)
    };
    let (out, dir) = pull(&format!("{repo}:v1"), "host", &[]);
    ok(&out);
    assert_eq!(
        fs::read_to_string(dir.join("rootfs/arch")).unwrap(),
        host_arch()
    );
    let (out, dir) = pull(&format!("{repo}:v1"), "arm", &["--platform", "linux/arm64"]);
    ok(&out);
    assert_eq!(
        fs::read_to_string(dir.join("rootfs/arch")).unwrap(),
        "arm64"
    );
    assert_eq!(
        config_json(&dir)["annotations"]["org.opencontainers.image.architecture"],
        "arm64"
    );
    let (out, dir) = pull(
        &format!("{repo}@{}", index.digest),
        "by-digest",
        &["--platform", "linux/amd64"],
    );
    ok(&out);
    assert_eq!(
        fs::read_to_string(dir.join("rootfs/arch")).unwrap(),
        "amd64"
    );

    let (out, dir) = pull(
        &format!("{repo}:v1"),
        "s390x",
        &["--platform", "linux/s390x"],
    );
    fails_with(
        &out,
        "no manifest for platform linux/s390x (the index has: linux/amd64, linux/arm64)",
    );
    nothing_left(&dir);
}

#[test]
fn corrupted_blobs_fail_and_are_not_cached() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("corrupt");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let mut written = Vec::new();
    // (A corrupted manifest is caught by the registry itself: HTTP 500.)
    for what in ["layer", "config"] {
        let image = Image::new(json!({"Cmd": ["/bin/sh"], "Labels": {"which": what}})).layer(
            Layer::new().file("which", what.as_bytes(), 0o644).tar(),
            Compression::Gzip,
        );
        let w = layout.image(&image);
        layout.tag(what, &w.manifest);
        push(
            &layout.dir,
            what,
            &format!("{}/test/corrupt:{what}", registry.host),
            false,
            false,
        );
        written.push(w);
    }
    let flip = |digest: &str| {
        let path = registry.blob_file(digest);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        fs::write(&path, bytes).unwrap();
    };
    flip(&written[0].layers[0].digest);
    flip(&written[1].config.digest);

    let cache = t.path("cache");
    for (what, w) in ["layer", "config"].iter().zip(&written) {
        let dir = t.path(&format!("bundle-{what}"));
        let reference = format!("{}/test/corrupt:{what}", registry.host);
        let out = rt_bundle(
            &t.0,
            &[
                "pull",
                "--cache",
                cache.to_str().unwrap(),
                &reference,
                dir.to_str().unwrap(),
            ],
        );
        let err = fails_with(&out, "digest mismatch");
        nothing_left(&dir);
        let bad = if *what == "layer" {
            &w.layers[0].digest
        } else {
            &w.config.digest
        };
        assert!(err.contains(bad.as_str()), "{err}");
        let hex = bad.trim_start_matches("sha256:");
        assert!(
            !cache.join("blobs/sha256").join(hex).exists(),
            "{what} blob cached"
        );
        assert_eq!(
            fs::read_dir(cache.join("partial")).unwrap().count(),
            0,
            "partial download kept"
        );
    }
}

/// Bytes that do not compress, so that the layer blob is big.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn interrupted_downloads_resume_with_range() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("resume");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let data = noise(3 << 20);
    let image = Image::new(json!({"Cmd": ["/big"]})).layer(
        Layer::new().file("big", &data, 0o644).tar(),
        Compression::Gzip,
    );
    let w = layout.image(&image);
    layout.tag("big", &w.manifest);
    push(
        &layout.dir,
        "big",
        &format!("{}/test/big:v1", registry.host),
        false,
        false,
    );

    let proxy = CutProxy::start(&registry.host, 1 << 20);
    let dir = t.path("bundle");
    let reference = format!("{}/test/big:v1", proxy.host);
    ok(&rt_bundle(
        &t.0,
        &[
            "pull",
            "--cache",
            t.path("cache").to_str().unwrap(),
            &reference,
            dir.to_str().unwrap(),
        ],
    ));
    assert!(
        proxy.cut.load(std::sync::atomic::Ordering::Relaxed),
        "the proxy never cut"
    );
    assert!(
        proxy.saw_range.load(std::sync::atomic::Ordering::Relaxed),
        "no Range request after the cut"
    );
    let resumed = format!("GET /v2/test/big/blobs/{} 206", w.layers[0].digest);
    assert!(
        registry.requests().contains(&resumed),
        "{:?}",
        registry.requests()
    );
    assert!(fs::read(dir.join("rootfs/big")).unwrap() == data);
}

#[test]
fn prune_removes_what_a_moved_tag_left_behind() {
    if !registry_tools() {
        return;
    }
    let t = TempDir::new("prune");
    let registry = Registry::start(&t.0, &t.path("storage"), Auth::None);
    let mut layout = Layout::new(&t.path("layout"));
    let reference = format!("{}/test/moving:latest", registry.host);
    let cache = t.path("cache");
    let mut old_layer = String::new();
    for version in ["one", "two"] {
        let image = Image::new(json!({"Cmd": ["/v"]})).layer(
            Layer::new().file("v", version.as_bytes(), 0o644).tar(),
            Compression::Gzip,
        );
        let w = layout.image(&image);
        layout.tag(version, &w.manifest);
        push(&layout.dir, version, &reference, false, false);
        let dir = t.path(version);
        ok(&rt_bundle(
            &t.0,
            &[
                "pull",
                "--cache",
                cache.to_str().unwrap(),
                &reference,
                dir.to_str().unwrap(),
            ],
        ));
        assert_eq!(fs::read_to_string(dir.join("rootfs/v")).unwrap(), version);
        if version == "one" {
            old_layer = w.layers[0].digest.clone();
        }
    }
    let old = cache
        .join("blobs/sha256")
        .join(old_layer.trim_start_matches("sha256:"));
    assert!(old.is_file());
    // The old manifest, config and layer: nothing refers to them now.
    let out = ok(&rt_bundle(
        &t.0,
        &["cache", "prune", "--cache", cache.to_str().unwrap()],
    ));
    assert!(out.starts_with("removed 3 blobs"), "{out}");
    assert!(!old.exists());
    let ls = ok(&rt_bundle(
        &t.0,
        &["cache", "ls", "--cache", cache.to_str().unwrap()],
    ));
    assert!(
        ls.contains("3 blobs") && ls.contains("(0 B not used by any image)"),
        "{ls}"
    );
}
