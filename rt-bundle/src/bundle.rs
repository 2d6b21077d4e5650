//! Bundle directories. A bundle is built in a hidden sibling directory and
//! renamed into place only when complete, so a failed pull or unpack leaves
//! nothing behind, and a half-made bundle is never seen at DIR.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::overlay;

/// Marks a directory as made by rt-bundle (so `rm` removes only those) and
/// says where it came from.
pub const META_FILE: &str = ".rt-bundle.json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: already exists and is not an empty directory")]
    Exists(PathBuf),
    #[error("{0}: not a bundle directory path")]
    BadPath(PathBuf),
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("{0}: not a bundle made by rt-bundle (no {META_FILE}); not removing it")]
    NotOurs(PathBuf),
    #[error(transparent)]
    Overlay(#[from] overlay::Error),
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    /// The reference or image source the bundle was made from.
    pub source: String,
    pub platform: String,
    /// The image manifest's digest, when the source has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// For an overlay rootfs: the cache holding its layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_cache: Option<PathBuf>,
}

/// A bundle being built. Dropped without `finish`, it is removed.
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
    mounted: bool,
    finished: bool,
}

impl Staging {
    /// Checks that `dir` can become a bundle (absent, or an empty
    /// directory, in an existing parent) and makes the staging directory.
    pub fn new(dir: &Path) -> Result<Staging, Error> {
        let name = dir
            .file_name()
            .ok_or_else(|| Error::BadPath(dir.to_path_buf()))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {
                let mut entries = fs::read_dir(dir).map_err(io_err(dir, "read"))?;
                if entries.next().is_some() {
                    return Err(Error::Exists(dir.to_path_buf()));
                }
            }
            Ok(_) => return Err(Error::Exists(dir.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(dir, "stat")(e)),
        }
        // Absolute, as an overlay mount's options keep the paths it got.
        let parent = fs::canonicalize(parent).map_err(io_err(parent, "resolve"))?;
        let tmp = parent.join(format!(
            ".{}.rt-bundle-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        fs::create_dir(&tmp).map_err(io_err(&tmp, "mkdir"))?;
        let staging = Staging {
            dir: dir.to_path_buf(),
            tmp,
            mounted: false,
            finished: false,
        };
        let rootfs = staging.rootfs();
        fs::create_dir(&rootfs).map_err(io_err(&rootfs, "mkdir"))?;
        for p in [&staging.tmp, &rootfs] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755))
                .map_err(io_err(p, "chmod"))?;
        }
        Ok(staging)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.tmp.join("rootfs")
    }

    /// Makes the rootfs an overlay of `lowers` (bottom first) with the
    /// bundle's own upper and work directories.
    pub fn mount_overlay(&mut self, lowers: &[PathBuf]) -> Result<(), overlay::Error> {
        let (upper, work) = (self.tmp.join("upper"), self.tmp.join("work"));
        for d in [&upper, &work] {
            fs::create_dir(d).map_err(|source| overlay::Error::Io {
                path: d.clone(),
                op: "mkdir",
                source,
            })?;
        }
        fs::set_permissions(&upper, fs::Permissions::from_mode(0o755)).map_err(|source| {
            overlay::Error::Io {
                path: upper.clone(),
                op: "chmod",
                source,
            }
        })?;
        overlay::mount(&self.rootfs(), lowers, &upper, &work)?;
        self.mounted = true;
        Ok(())
    }

    /// The absolute path the bundle will have.
    pub fn final_path(&self) -> PathBuf {
        let parent = self.tmp.parent().expect("staging has a parent");
        parent.join(self.dir.file_name().expect("checked in new"))
    }

    /// Writes config.json and the marker, then moves the bundle into place.
    pub fn finish(mut self, spec: &serde_json::Value, meta: &Meta) -> Result<(), Error> {
        let config = self.tmp.join("config.json");
        let json = serde_json::to_vec_pretty(spec).expect("a JSON value serializes");
        fs::write(&config, json).map_err(io_err(&config, "write"))?;
        let marker = self.tmp.join(META_FILE);
        let json = serde_json::to_vec_pretty(meta).expect("meta serializes");
        fs::write(&marker, json).map_err(io_err(&marker, "write"))?;
        // rename(2) replaces an empty directory, which is what DIR is if
        // it exists at all (checked in new()).
        fs::rename(&self.tmp, &self.dir).map_err(io_err(&self.dir, "rename"))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.finished {
            if self.mounted {
                let _ = overlay::unmount(&self.rootfs());
            }
            // remove_dir_all does not follow symlinks, so whatever the
            // layers put in the rootfs cannot send it elsewhere.
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Removes a bundle made by rt-bundle, unmounting an overlay rootfs first.
/// It is renamed aside before it is deleted, so that
/// DIR disappears at once even if removing a big rootfs takes a while.
pub fn remove(dir: &Path) -> Result<(), Error> {
    let marker = dir.join(META_FILE);
    match fs::symlink_metadata(&marker) {
        Ok(m) if m.is_file() => {}
        _ => return Err(Error::NotOurs(dir.to_path_buf())),
    }
    let meta: Option<Meta> = fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(cache) = meta.and_then(|m| m.overlay_cache) {
        overlay::unmount(&dir.join("rootfs"))?;
        let abs = fs::canonicalize(dir).map_err(io_err(dir, "resolve"))?;
        overlay::forget(&cache, &abs);
    }
    let name = dir
        .file_name()
        .ok_or_else(|| Error::BadPath(dir.to_path_buf()))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let aside = parent.join(format!(
        ".{}.rt-bundle-rm-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let target = match fs::rename(dir, &aside) {
        Ok(()) => aside,
        Err(_) => dir.to_path_buf(),
    };
    fs::remove_dir_all(&target).map_err(io_err(&target, "remove"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn meta() -> Meta {
        Meta {
            source: "test".into(),
            platform: "linux/amd64".into(),
            manifest: None,
            overlay_cache: None,
        }
    }

    #[test]
    fn builds_aside_and_renames() {
        let t = TempDir::new("bundle");
        let dir = t.0.join("b");
        let s = Staging::new(&dir).unwrap();
        fs::write(s.rootfs().join("f"), "x").unwrap();
        assert!(!dir.exists());
        s.finish(&serde_json::json!({}), &meta()).unwrap();
        assert!(dir.join("rootfs/f").is_file() && dir.join("config.json").is_file());
        assert!(matches!(Staging::new(&dir), Err(Error::Exists(_))));
        remove(&dir).unwrap();
        assert!(!dir.exists());
        assert_eq!(fs::read_dir(&t.0).unwrap().count(), 0);
    }

    #[test]
    fn failure_leaves_nothing() {
        let t = TempDir::new("bundle");
        let dir = t.0.join("empty");
        fs::create_dir(&dir).unwrap();
        {
            let s = Staging::new(&dir).unwrap();
            fs::write(s.rootfs().join("f"), "x").unwrap();
        }
        let names: Vec<_> = fs::read_dir(&t.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["empty"]);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn rm_refuses_other_directories() {
        let t = TempDir::new("bundle");
        let err = remove(&t.0).unwrap_err().to_string();
        assert!(err.contains("not a bundle made by rt-bundle"), "{err}");
        assert!(t.0.exists());
        assert!(matches!(
            Staging::new(Path::new("/")),
            Err(Error::BadPath(_))
        ));
    }
}
