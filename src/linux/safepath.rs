//! Paths inside the container's root filesystem, resolved so that they never
//! leave it. The rootfs is untrusted: any component may be a symlink to
//! `/etc` or `../../..`. Every lookup goes through openat2 with
//! RESOLVE_IN_ROOT, and callers act on the returned descriptor (mounting
//! onto `/proc/self/fd/N`) rather than on a path that could be swapped
//! between check and use (CVE-2019-19921, CVE-2021-30465).

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{op} {path} in the container root: {source}")]
pub struct PathError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: nix::Error,
}

/// An open root directory that paths are resolved within.
pub struct Root {
    fd: OwnedFd,
}

/// The kind of mount target to create when it is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

impl Root {
    pub fn open(path: &Path) -> Result<Root, PathError> {
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
        let fd = openat2(nix::fcntl::AT_FDCWD, path, how).map_err(|source| PathError {
            op: "open",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Root { fd })
    }

    /// Opens `path` (absolute or relative, always taken as inside the root).
    pub fn open_at(&self, path: &Path, flags: OFlag) -> Result<OwnedFd, PathError> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(&self.fd, &relative(path), how).map_err(|source| PathError {
            op: "open",
            path: path.to_path_buf(),
            source,
        })
    }

    /// O_PATH handle on `path`, creating it (and its parents) as `kind` when missing.
    pub fn ensure(&self, path: &Path, kind: Kind) -> Result<OwnedFd, PathError> {
        self.ensure_within(path, kind, 0)
    }

    /// `ensure`, following a dangling symlink at `path` to create its target
    /// inside the root, as runc and crun do; `hops` bounds symlink loops.
    fn ensure_within(&self, path: &Path, kind: Kind, hops: u32) -> Result<OwnedFd, PathError> {
        match self.open_at(path, OFlag::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.source != nix::Error::ENOENT => return Err(e),
            Err(_) => {}
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().ok_or_else(|| PathError {
            op: "create",
            path: path.to_path_buf(),
            source: nix::Error::EINVAL,
        })?;
        let dir = self.mkdir_all(parent)?;
        let created = match kind {
            Kind::Dir => mkdirat(&dir, name, Mode::from_bits_truncate(0o755)),
            Kind::File => nix::fcntl::openat(
                &dir,
                name,
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop),
        };
        match created {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(source) => {
                return Err(PathError {
                    op: "create",
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        match self.open_at(path, OFlag::O_PATH) {
            Err(e) if e.source == nix::Error::ENOENT && hops < 40 => {
                let Ok(link) = nix::fcntl::readlinkat(&dir, name) else {
                    return Err(e);
                };
                let target = self.inside_path(&dir).join(link);
                self.ensure_within(&lexical(&target), kind, hops + 1)
            }
            other => other,
        }
    }

    /// Where the directory `dir` (opened in the root) lies, as an absolute
    /// path inside the root without symlinks.
    fn inside_path(&self, dir: &OwnedFd) -> PathBuf {
        let real = |fd: &OwnedFd| nix::fcntl::readlink(&fd_path(fd)).map(PathBuf::from);
        match (real(dir), real(&self.fd)) {
            (Ok(d), Ok(r)) => Path::new("/").join(d.strip_prefix(&r).unwrap_or(Path::new(""))),
            _ => PathBuf::from("/"),
        }
    }

    /// Creates every missing directory of `path`; returns the last one.
    pub fn mkdir_all(&self, path: &Path) -> Result<OwnedFd, PathError> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        let mut so_far = PathBuf::from("/");
        let mut dir = self.open_at(&so_far, dir_flags)?;
        for comp in relative(path).components() {
            let Component::Normal(name) = comp else {
                continue;
            };
            so_far.push(name);
            dir = match self.open_at(&so_far, dir_flags) {
                Ok(fd) => fd,
                Err(e) if e.source == nix::Error::ENOENT => {
                    match mkdirat(&dir, name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(nix::Error::EEXIST) => {}
                        Err(source) => {
                            return Err(PathError {
                                op: "mkdir",
                                path: so_far,
                                source,
                            });
                        }
                    }
                    self.open_at(&so_far, dir_flags)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }
}

/// The magic-link path through which the kernel reaches an open file: mounting
/// onto it mounts onto exactly the file that was resolved.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path` with `.` and `..` folded away, never above `/`.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for comp in path.components() {
        match comp {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `path` with its leading `/` removed, for resolving below a directory fd.
fn relative(path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rt-safepath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        dir
    }

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let dir = scratch("escape");
        std::os::unix::fs::symlink("/", dir.join("root/up")).unwrap();
        std::os::unix::fs::symlink("../../..", dir.join("root/dots")).unwrap();
        let root = Root::open(&dir.join("root")).unwrap();
        root.ensure(Path::new("/up/made-by-test"), Kind::Dir)
            .unwrap();
        root.ensure(Path::new("/dots/file"), Kind::File).unwrap();
        assert!(dir.join("root/made-by-test").is_dir());
        assert!(dir.join("root/file").is_file());
        assert!(!Path::new("/made-by-test").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ensure_creates_parents_and_keeps_existing() {
        let dir = scratch("parents");
        let root = Root::open(&dir.join("root")).unwrap();
        root.ensure(Path::new("/a/b/c"), Kind::File).unwrap();
        assert!(dir.join("root/a/b/c").is_file());
        root.ensure(Path::new("/a/b/c"), Kind::File).unwrap();
        root.ensure(Path::new("/a/b"), Kind::Dir).unwrap();
        // A dangling symlink: its target is made, inside the root.
        std::os::unix::fs::symlink("../../../x/y", dir.join("root/a/dangling")).unwrap();
        root.ensure(Path::new("/a/dangling"), Kind::File).unwrap();
        assert!(dir.join("root/x/y").is_file());
        assert!(!dir.join("x").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
