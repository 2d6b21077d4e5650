//! The commands: each checks all of its arguments before it touches the
//! filesystem or the network, then drives the modules.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::bundle::{self, Meta, Staging};
use crate::cache::{self, Cache};
use crate::cli::{BundleArgs, CacheAction, CacheArgs, Command, PullArgs, UnpackArgs};
use crate::digest::Digest;
use crate::platform::{self, Platform};
use crate::progress::LayerLine;
use crate::reference::{self, Reference};
use crate::registry::{self, Registry, auth, authfile};
use crate::source::Image;
use crate::unpack::Whiteouts;
use crate::{archive, fetch, layout, overlay, spec, unpack};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] reference::Error),
    #[error(transparent)]
    Platform(#[from] platform::Error),
    #[error("--creds: {0}")]
    Creds(auth::Error),
    #[error(transparent)]
    AuthFile(#[from] authfile::Error),
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    #[error(transparent)]
    Cache(#[from] cache::Error),
    #[error(transparent)]
    Fetch(#[from] fetch::Error),
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Layout(#[from] layout::Error),
    #[error(transparent)]
    Archive(#[from] archive::Error),
    #[error(transparent)]
    Unpack(#[from] unpack::Error),
    #[error(transparent)]
    Spec(#[from] spec::Error),
    #[error(transparent)]
    Overlay(#[from] overlay::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "invalid SRC {0:?}: want oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG] or an existing path"
    )]
    Source(String),
}

pub fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Pull(args) => pull(args),
        Command::Unpack(args) => unpack_source(args),
        Command::Cache(args) => cache_command(args),
        Command::Rm { dirs } => {
            for dir in dirs {
                bundle::remove(&dir)?;
            }
            Ok(())
        }
    }
}

/// `--platform`, or this machine's; the flag makes a mismatch an error.
fn platform(args: &BundleArgs) -> Result<(Platform, bool), Error> {
    Ok(match &args.platform {
        Some(p) => (Platform::parse(p)?, true),
        None => (Platform::host()?, false),
    })
}

fn cache_dir(arg: Option<PathBuf>) -> Result<PathBuf, Error> {
    Ok(match arg {
        Some(d) => d,
        None => Cache::default_dir()?,
    })
}

fn pull(args: PullArgs) -> Result<(), Error> {
    if args.overlay {
        overlay::require_root()?;
    }
    let reference = Reference::parse(&args.reference)?;
    let (platform, strict) = platform(&args.bundle)?;
    let creds = match &args.creds {
        Some(c) => Some(auth::Credentials::parse(c).map_err(Error::Creds)?),
        None => authfile::lookup(
            args.authfile.as_deref(),
            &reference.registry,
            &reference.repository,
        )?,
    };
    let cache_dir = cache_dir(args.cache)?;
    let staging = Staging::new(&args.bundle.dir)?;
    let cache = Cache::open(&cache_dir)?;
    let _lock = cache.lock_shared()?;
    let reg = Registry::new(
        &reference,
        registry::Options {
            insecure: args.insecure,
            creds,
        },
    );
    let resolved = fetch::resolve(&reg, &cache, &reference, &platform, strict)?;
    fetch::fetch_layers(&reg, &cache, &resolved.manifest.layers)?;
    cache.record(&resolved.record)?;
    let count = resolved.manifest.layers.len();
    let mut layers = Vec::with_capacity(count);
    for (i, (l, diff_id)) in resolved
        .manifest
        .layers
        .iter()
        .zip(&resolved.config.rootfs.diff_ids)
        .enumerate()
    {
        let path = cache.blob_path(&l.digest);
        let file = File::open(&path).map_err(|source| Error::Io { path, source })?;
        layers.push(unpack::Layer {
            label: format!("layer {}/{count} {}", i + 1, l.digest),
            blob: Box::new(file),
            digest: Some(l.digest.clone()),
            diff_id: diff_id.clone(),
        });
    }
    let image = Image {
        manifest: Some(resolved.record.manifest.clone()),
        config: resolved.config,
        layers,
    };
    let overlay = args.overlay.then_some(&cache);
    build(
        staging,
        image,
        reference.to_string(),
        &platform,
        args.bundle,
        overlay,
    )
}

fn unpack_source(args: UnpackArgs) -> Result<(), Error> {
    let (platform, _) = platform(&args.bundle)?;
    let source = Source::parse(&args.source)?;
    let staging = Staging::new(&args.bundle.dir)?;
    let image = match &source {
        Source::Layout { dir, tag } => layout::open(dir, tag.as_deref(), &platform)?,
        Source::Archive { file, tag } => archive::open(file, tag.as_deref())?,
    };
    build(
        staging,
        image,
        args.source.clone(),
        &platform,
        args.bundle,
        None,
    )
}

/// Makes the rootfs (the layers unpacked into it, or with `overlay` an
/// overlay mount of layers unpacked once in that cache), writes
/// config.json and moves the bundle into place.
fn build(
    mut staging: Staging,
    image: Image<'_>,
    source: String,
    platform: &Platform,
    args: BundleArgs,
    overlay: Option<&Cache>,
) -> Result<(), Error> {
    let rootfs = staging.rootfs();
    let diff_ids: Vec<Digest> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    match overlay {
        Some(cache) => {
            let line = LayerLine::new();
            let lowers = overlay::layer_dirs(cache, line.announce(image.layers));
            line.done();
            let lowers = lowers?;
            staging.mount_overlay(&lowers)?;
        }
        None => {
            let privileged = nix::unistd::geteuid().is_root();
            let line = LayerLine::new();
            let unpacked = unpack::unpack(
                &rootfs,
                line.announce(image.layers),
                privileged,
                Whiteouts::Apply,
            );
            line.done();
            warn_skipped(&unpacked?);
        }
    }
    let opts = spec::Options {
        rootless: args.rootless,
        args: args.args,
    };
    let spec = spec::generate(&image.config, &rootfs, &opts)?;
    let meta = Meta {
        source,
        platform: platform.to_string(),
        manifest: image.manifest.map(|d| d.to_string()),
        overlay_cache: overlay.map(|c| c.dir().to_path_buf()),
    };
    if let Some(cache) = overlay {
        // Before the bundle appears, so that prune never sees it without
        // its record; a record whose bundle never appeared is dropped.
        overlay::record(cache, &staging.final_path(), &diff_ids)?;
    }
    staging.finish(&spec, &meta)?;
    Ok(())
}

fn warn_skipped(skipped: &unpack::Skipped) {
    if skipped.devices > 0 {
        eprintln!(
            "rt-bundle: warning: {} device nodes not created (needs root)",
            skipped.devices
        );
    }
    if skipped.xattrs > 0 {
        eprintln!(
            "rt-bundle: warning: {} extended attributes not set (not permitted or not supported here)",
            skipped.xattrs
        );
    }
}

enum Source {
    Layout { dir: PathBuf, tag: Option<String> },
    Archive { file: PathBuf, tag: Option<String> },
}

impl Source {
    /// `oci:DIR[:TAG]` and `docker-archive:FILE[:NAME:TAG]` as skopeo
    /// writes them (so no ':' in the path), or a bare existing path.
    fn parse(s: &str) -> Result<Source, Error> {
        let split = |rest: &str| match rest.split_once(':') {
            Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
            _ => (PathBuf::from(rest.trim_end_matches(':')), None),
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split(rest);
            return Ok(Source::Layout { dir, tag });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, tag) = split(rest);
            return Ok(Source::Archive { file, tag });
        }
        let path = Path::new(s);
        if path.is_dir() {
            Ok(Source::Layout {
                dir: path.to_path_buf(),
                tag: None,
            })
        } else if path.is_file() {
            Ok(Source::Archive {
                file: path.to_path_buf(),
                tag: None,
            })
        } else {
            Err(Error::Source(s.to_string()))
        }
    }
}

fn cache_command(args: CacheArgs) -> Result<(), Error> {
    let cache = Cache::open(&cache_dir(args.cache)?)?;
    match args.action {
        CacheAction::Ls => list(&cache),
        CacheAction::Prune { all } => {
            let _lock = cache.lock_exclusive()?;
            let pruned = cache.prune(all)?;
            let layers = overlay::prune(&cache)?;
            println!(
                "removed {} blobs, {}; {layers} unpacked layers",
                pruned.blobs,
                human(pruned.bytes)
            );
            Ok(())
        }
    }
}

fn list(cache: &Cache) -> Result<(), Error> {
    let sizes: std::collections::HashMap<_, _> = cache.blobs()?.into_iter().collect();
    let records = cache.records()?;
    println!(
        "{:<50} {:<14} {:<20} {:>10}",
        "REFERENCE", "PLATFORM", "MANIFEST", "SIZE"
    );
    let mut used = std::collections::HashSet::new();
    for r in &records {
        let blobs = cache.blobs_of(r)?;
        let size: u64 = blobs.iter().filter_map(|d| sizes.get(d)).sum();
        used.extend(blobs);
        let manifest = format!("{}:{}", r.manifest.algorithm().name(), r.manifest.short());
        println!(
            "{:<50} {:<14} {:<20} {:>10}",
            r.reference,
            r.platform,
            manifest,
            human(size)
        );
    }
    let total: u64 = sizes.values().sum();
    let unused: u64 = sizes
        .iter()
        .filter(|(d, _)| !used.contains(*d))
        .map(|(_, s)| s)
        .sum();
    println!(
        "{} blobs, {} ({} not used by any image)",
        sizes.len(),
        human(total),
        human(unused)
    );
    let layers = overlay::count_layers(cache)?;
    if layers > 0 {
        println!("{layers} layers unpacked for --overlay bundles");
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return format!("{v:.1} {unit}").replace(".0 B", " B");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(
            matches!(Source::parse("oci:/a/b:v1"), Ok(Source::Layout { dir, tag: Some(t) }) if dir == Path::new("/a/b") && t == "v1")
        );
        assert!(matches!(
            Source::parse("oci:/a/b"),
            Ok(Source::Layout { tag: None, .. })
        ));
        assert!(
            matches!(Source::parse("docker-archive:x.tar:busybox:latest"), Ok(Source::Archive { file, tag: Some(t) }) if file == Path::new("x.tar") && t == "busybox:latest")
        );
        assert!(matches!(Source::parse("/"), Ok(Source::Layout { .. })));
        assert!(Source::parse("/nonexistent/x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }
}
