//! The content-addressed blob cache shared by all pulls:
//!
//! ```text
//! DIR/blobs/sha256/<hex>     verified blobs (manifests, configs, layers)
//! DIR/partial/sha256-<hex>   downloads in progress, kept for resuming
//! DIR/images/<hex>.json      one record per pulled reference and platform
//! DIR/lock                   shared by pulls, exclusive for prune
//! ```
//!
//! A blob only ever appears under blobs/ by a rename after its digest was
//! checked, so whatever is there can be trusted and a failed download
//! leaves nothing there.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::digest::{self, Digest, Hasher};
use crate::image::{self, MAX_JSON, Parsed};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cache {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("no cache directory: set --cache, XDG_CACHE_HOME or HOME")]
    NoHome,
    #[error(transparent)]
    Digest(#[from] digest::Error),
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error("cache {path}: {source}")]
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

pub struct Cache {
    dir: PathBuf,
}

/// What `cache ls` shows for a pulled image, and what keeps its blobs from
/// being pruned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub reference: String,
    pub platform: String,
    /// What the reference pointed at: a manifest or an index.
    pub top: Digest,
    /// The platform's manifest (the same as `top` without an index).
    pub manifest: Digest,
}

pub struct Prune {
    pub blobs: usize,
    pub bytes: u64,
}

impl Cache {
    /// The per-user default: /var/cache/rt-bundle for root, else
    /// $XDG_CACHE_HOME/rt-bundle or ~/.cache/rt-bundle.
    pub fn default_dir() -> Result<PathBuf, Error> {
        if nix::unistd::geteuid().is_root() {
            return Ok(PathBuf::from("/var/cache/rt-bundle"));
        }
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x),
            None => PathBuf::from(std::env::var_os("HOME").ok_or(Error::NoHome)?).join(".cache"),
        };
        Ok(base.join("rt-bundle"))
    }

    pub fn open(dir: &Path) -> Result<Cache, Error> {
        for sub in ["blobs", "partial", "images"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err(&p, "mkdir"))?;
        }
        // Absolute, as overlay bundles record it.
        let dir = fs::canonicalize(dir).map_err(io_err(dir, "resolve"))?;
        Ok(Cache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Held by every pull, so that prune waits for them.
    pub fn lock_shared(&self) -> Result<Flock<File>, Error> {
        self.lock(FlockArg::LockShared)
    }

    fn lock(&self, how: FlockArg) -> Result<Flock<File>, Error> {
        let path = self.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        Flock::lock(f, how).map_err(|(_, e)| Error::Io {
            path,
            op: "flock",
            source: e.into(),
        })
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// A small JSON blob (manifest, config), checked again on the way out
    /// as it costs nothing.
    pub fn read_json(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(d);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|f| f.take(MAX_JSON).read_to_end(&mut bytes))
            .map_err(io_err(&path, "read"))?;
        d.verify(&format!("cached blob {d}"), &bytes)?;
        Ok(bytes)
    }

    /// Stores bytes already checked against `d`.
    pub fn put(&self, d: &Digest, bytes: &[u8]) -> Result<(), Error> {
        d.verify(&format!("blob {d}"), bytes)?;
        let tmp = self
            .dir
            .join("partial")
            .join(format!("put-{}-{}", std::process::id(), d.hex()));
        fs::write(&tmp, bytes).map_err(io_err(&tmp, "write"))?;
        self.install(&tmp, d)
    }

    fn install(&self, tmp: &Path, d: &Digest) -> Result<(), Error> {
        let dest = self.blob_path(d);
        let parent = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(parent).map_err(io_err(parent, "mkdir"))?;
        fs::rename(tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(tmp);
            io_err(&dest, "rename")(e)
        })
    }

    /// The partial download of `d`, locked against other pulls fetching the
    /// same blob; once the lock is ours, check `has` again.
    pub fn partial(&self, d: &Digest) -> Result<Partial<'_>, Error> {
        let path = self
            .dir
            .join("partial")
            .join(format!("{}-{}", d.algorithm().name(), d.hex()));
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        let file = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            path: path.clone(),
            op: "flock",
            source: e.into(),
        })?;
        Ok(Partial {
            cache: self,
            digest: d.clone(),
            path,
            file,
        })
    }

    pub fn record(&self, record: &Record) -> Result<(), Error> {
        let key =
            Digest::sha256_of(format!("{}\n{}", record.reference, record.platform).as_bytes());
        let path = self.dir.join("images").join(format!("{}.json", key.hex()));
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let json = serde_json::to_vec_pretty(record).expect("a record serializes");
        fs::write(&tmp, json).map_err(io_err(&tmp, "write"))?;
        fs::rename(&tmp, &path).map_err(io_err(&path, "rename"))
    }

    pub fn records(&self) -> Result<Vec<Record>, Error> {
        let dir = self.dir.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir, "readdir"))? {
            let path = entry.map_err(io_err(&dir, "readdir"))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).map_err(io_err(&path, "read"))?;
                let record = serde_json::from_slice(&bytes)
                    .map_err(|source| Error::Record { path, source })?;
                out.push(record);
            }
        }
        out.sort_by(|a: &Record, b| (&a.reference, &a.platform).cmp(&(&b.reference, &b.platform)));
        Ok(out)
    }

    /// Every blob in the cache with its size.
    pub fn blobs(&self) -> Result<Vec<(Digest, u64)>, Error> {
        let mut out = Vec::new();
        let blobs = self.dir.join("blobs");
        for algo in fs::read_dir(&blobs).map_err(io_err(&blobs, "readdir"))? {
            let algo = algo.map_err(io_err(&blobs, "readdir"))?;
            let algo_dir = algo.path();
            for blob in fs::read_dir(&algo_dir).map_err(io_err(&algo_dir, "readdir"))? {
                let blob = blob.map_err(io_err(&algo_dir, "readdir"))?;
                let name = format!(
                    "{}:{}",
                    algo.file_name().to_string_lossy(),
                    blob.file_name().to_string_lossy()
                );
                // Anything else was not put there by us; leave it alone.
                if let Ok(d) = name.parse::<Digest>() {
                    let len = blob.metadata().map_err(io_err(&blob.path(), "stat"))?.len();
                    out.push((d, len));
                }
            }
        }
        Ok(out)
    }

    /// The blobs an image record needs: its index or manifest, config and
    /// layers.
    pub fn blobs_of(&self, record: &Record) -> Result<Vec<Digest>, Error> {
        let mut out = vec![record.top.clone(), record.manifest.clone()];
        if self.has(&record.manifest) {
            let bytes = self.read_json(&record.manifest)?;
            if let Parsed::Image(m) =
                image::parse_manifest(&record.manifest.to_string(), None, &bytes)?
            {
                out.push(m.config.digest);
                out.extend(m.layers.into_iter().map(|l| l.digest));
            }
        }
        // Without an index, top and manifest are one; layers may repeat.
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Taken by prune, which must not run beside a pull.
    pub fn lock_exclusive(&self) -> Result<Flock<File>, Error> {
        self.lock(FlockArg::LockExclusive)
    }

    /// Removes blobs no image record needs (or, with `all`, everything),
    /// and abandoned partial downloads. The caller holds `lock_exclusive`.
    pub fn prune(&self, all: bool) -> Result<Prune, Error> {
        let mut keep = HashSet::new();
        if all {
            let dir = self.dir.join("images");
            for entry in fs::read_dir(&dir).map_err(io_err(&dir, "readdir"))? {
                let path = entry.map_err(io_err(&dir, "readdir"))?.path();
                fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
            }
        } else {
            for record in self.records()? {
                keep.extend(self.blobs_of(&record)?);
            }
        }
        let mut pruned = Prune { blobs: 0, bytes: 0 };
        for (d, len) in self.blobs()? {
            if !keep.contains(&d) {
                let path = self.blob_path(&d);
                fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
                pruned.blobs += 1;
                pruned.bytes += len;
            }
        }
        // No pull runs (we hold the lock exclusively), so every partial
        // download is abandoned.
        let dir = self.dir.join("partial");
        for entry in fs::read_dir(&dir).map_err(io_err(&dir, "readdir"))? {
            let path = entry.map_err(io_err(&dir, "readdir"))?.path();
            fs::remove_file(&path).map_err(io_err(&path, "remove"))?;
        }
        Ok(pruned)
    }
}

/// A download in progress, locked by us. Dropping it keeps the bytes for
/// the next attempt to resume from.
pub struct Partial<'c> {
    cache: &'c Cache,
    digest: Digest,
    path: PathBuf,
    file: Flock<File>,
}

impl Partial<'_> {
    /// How much is already there, and its hash so far, to resume from.
    pub fn resume(&mut self) -> Result<(u64, Hasher), Error> {
        let mut hasher = Hasher::new(self.digest.algorithm());
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err(&self.path, "seek"))?;
        let mut buf = vec![0u8; 256 << 10];
        let mut len = 0u64;
        loop {
            let n = self
                .file
                .read(&mut buf)
                .map_err(io_err(&self.path, "read"))?;
            if n == 0 {
                return Ok((len, hasher));
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
    }

    /// Starts over (the server ignored our Range, or sent too much).
    pub fn restart(&mut self) -> Result<(), Error> {
        self.file
            .set_len(0)
            .map_err(io_err(&self.path, "truncate"))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err(&self.path, "seek"))?;
        Ok(())
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished download into blobs/ if `actual` is its digest;
    /// otherwise deletes it, so that a bad blob is never kept.
    pub fn commit(self, actual: Digest) -> Result<PathBuf, Error> {
        if let Err(e) = self.digest.check(&format!("blob {}", self.digest), actual) {
            let _ = fs::remove_file(&self.path);
            return Err(e.into());
        }
        self.cache.install(&self.path, &self.digest)?;
        Ok(self.cache.blob_path(&self.digest))
    }

    /// Deletes the download (its bytes are known to be wrong).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }
}
