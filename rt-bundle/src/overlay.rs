//! `--overlay`: each layer is unpacked once, by diff_id, into
//! `CACHE/layers/<algo>/<hex>` with overlayfs's own whiteouts (0:0 device
//! nodes, `trusted.overlay.opaque`), and a bundle's rootfs is an overlay
//! mount of those layers with a private upper directory. A second bundle
//! of the same image costs a mount. `CACHE/bundles/` records which bundle
//! uses which layers, so that prune keeps them.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

use crate::bundle::META_FILE;
use crate::cache::Cache;
use crate::digest::Digest;
use crate::unpack::{self, Whiteouts};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--overlay needs root (overlayfs whiteouts are device nodes and trusted xattrs)")]
    NotRoot,
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("{path}: overlay mount: {errno}")]
    Mount { path: PathBuf, errno: Errno },
    #[error("{0}: ',' and ':' cannot be passed to an overlay mount")]
    BadPath(PathBuf),
    #[error(transparent)]
    Unpack(#[from] unpack::Error),
    #[error("{path}: {source}")]
    Record {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

pub fn require_root() -> Result<(), Error> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot)
    }
}

fn layer_dir(cache: &Cache, diff_id: &Digest) -> PathBuf {
    cache
        .dir()
        .join("layers")
        .join(diff_id.algorithm().name())
        .join(diff_id.hex())
}

/// The unpacked directory of each layer, bottom first, unpacking those not
/// in the store yet.
pub fn layer_dirs<'a>(
    cache: &Cache,
    layers: impl IntoIterator<Item = unpack::Layer<'a>>,
) -> Result<Vec<PathBuf>, Error> {
    let mut dirs = Vec::new();
    for layer in layers {
        let dir = layer_dir(cache, &layer.diff_id);
        let parent = dir.parent().expect("layer dirs have a parent");
        fs::create_dir_all(parent).map_err(io_err(parent, "mkdir"))?;
        // Another pull may be unpacking the same layer.
        let lock_path = dir.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open"))?;
        let _lock = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            path: lock_path.clone(),
            op: "flock",
            source: e.into(),
        })?;
        if !dir.is_dir() {
            unpack_layer(&dir, layer)?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Unpacks one layer beside its final place and renames it there, so that
/// the store never holds a partial layer.
fn unpack_layer(dir: &Path, layer: unpack::Layer<'_>) -> Result<(), Error> {
    let name = dir.file_name().expect("a hex name").to_string_lossy();
    let tmp = dir.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(io_err(&tmp, "mkdir"))?;
    let result = unpack::unpack(&tmp, [layer], true, Whiteouts::Overlay)
        .map_err(Error::from)
        .and_then(|_| fs::rename(&tmp, dir).map_err(io_err(dir, "rename")));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Mounts the overlay of `lowers` (bottom first) at `rootfs`.
pub fn mount(rootfs: &Path, lowers: &[PathBuf], upper: &Path, work: &Path) -> Result<(), Error> {
    for p in lowers.iter().map(PathBuf::as_path).chain([upper, work]) {
        if p.to_string_lossy().contains([',', ':']) {
            return Err(Error::BadPath(p.to_path_buf()));
        }
    }
    // overlayfs lists the topmost lower directory first.
    let lowerdir: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|errno| Error::Mount {
        path: rootfs.to_path_buf(),
        errno,
    })
}

/// Unmounts `rootfs` if something is mounted there.
pub fn unmount(rootfs: &Path) -> Result<(), Error> {
    match nix::mount::umount2(rootfs, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(errno) => Err(Error::Mount {
            path: rootfs.to_path_buf(),
            errno,
        }),
    }
}

/// Which layers a bundle's rootfs is made of.
#[derive(Serialize, Deserialize)]
struct BundleRecord {
    dir: PathBuf,
    layers: Vec<Digest>,
}

fn record_path(cache_dir: &Path, bundle: &Path) -> PathBuf {
    let key = Digest::sha256_of(bundle.as_os_str().as_encoded_bytes());
    cache_dir
        .join("bundles")
        .join(format!("{}.json", key.hex()))
}

/// Notes that the bundle at `bundle` (an absolute path) uses `layers`.
pub fn record(cache: &Cache, bundle: &Path, layers: &[Digest]) -> Result<(), Error> {
    let path = record_path(cache.dir(), bundle);
    let parent = path.parent().expect("has a parent");
    fs::create_dir_all(parent).map_err(io_err(parent, "mkdir"))?;
    let record = BundleRecord {
        dir: bundle.to_path_buf(),
        layers: layers.to_vec(),
    };
    fs::write(
        &path,
        serde_json::to_vec_pretty(&record).expect("serializes"),
    )
    .map_err(io_err(&path, "write"))
}

/// Forgets the bundle at `bundle` (it is being removed).
pub fn forget(cache_dir: &Path, bundle: &Path) {
    let _ = fs::remove_file(record_path(cache_dir, bundle));
}

/// Removes unpacked layers that no existing overlay bundle uses, and the
/// records of bundles that are gone. Returns how many layers went.
pub fn prune(cache: &Cache) -> Result<usize, Error> {
    let mut live = std::collections::HashSet::new();
    let records = cache.dir().join("bundles");
    for entry in read_dir_if_any(&records)? {
        let path = entry.map_err(io_err(&records, "readdir"))?.path();
        let bytes = fs::read(&path).map_err(io_err(&path, "read"))?;
        let record: BundleRecord =
            serde_json::from_slice(&bytes).map_err(|source| Error::Record {
                path: path.clone(),
                source,
            })?;
        if record.dir.join(META_FILE).is_file() {
            live.extend(record.layers.into_iter().map(|d| d.hex().to_string()));
        } else {
            fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
        }
    }
    let mut removed = 0;
    let layers = cache.dir().join("layers");
    for algo in read_dir_if_any(&layers)? {
        let algo = algo.map_err(io_err(&layers, "readdir"))?.path();
        for entry in fs::read_dir(&algo).map_err(io_err(&algo, "readdir"))? {
            let path = entry.map_err(io_err(&algo, "readdir"))?.path();
            let name = path
                .file_name()
                .expect("listed")
                .to_string_lossy()
                .into_owned();
            let hex = name.trim_end_matches(".lock");
            if live.contains(hex) {
                continue;
            }
            if path.is_dir() {
                fs::remove_dir_all(&path).map_err(io_err(&path, "remove"))?;
                removed += usize::from(!name.starts_with(".tmp-"));
            } else {
                fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
            }
        }
    }
    Ok(removed)
}

fn read_dir_if_any(dir: &Path) -> Result<impl Iterator<Item = io::Result<fs::DirEntry>>, Error> {
    match fs::read_dir(dir) {
        Ok(it) => Ok(Some(it).into_iter().flatten()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None.into_iter().flatten()),
        Err(e) => Err(io_err(dir, "readdir")(e)),
    }
}

/// The unpacked layers in the store, for `cache ls`.
pub fn count_layers(cache: &Cache) -> Result<usize, Error> {
    let layers = cache.dir().join("layers");
    let mut n = 0;
    for algo in read_dir_if_any(&layers)? {
        let algo = algo.map_err(io_err(&layers, "readdir"))?.path();
        for entry in fs::read_dir(&algo).map_err(io_err(&algo, "readdir"))? {
            let entry = entry.map_err(io_err(&algo, "readdir"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            n += usize::from(!name.starts_with('.') && !name.ends_with(".lock"));
        }
    }
    Ok(n)
}
