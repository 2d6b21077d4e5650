//! Safe path resolution inside a rootfs being unpacked. Nothing here ever
//! lets the kernel follow a symlink found in the rootfs: every component is
//! looked at with `fstatat(AT_SYMLINK_NOFOLLOW)` and opened with
//! `O_NOFOLLOW` relative to its parent's descriptor. A symlink in the
//! middle of a path is expanded by us, inside the root, and refused if its
//! target is absolute or climbs above the root (on the host it would lead
//! out of the rootfs). The last component is never followed: callers act on
//! it with the `*at` calls and their no-follow flags.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?}: absolute paths are not allowed in a layer")]
    Absolute(PathBuf),
    #[error("{0:?}: \"..\" is not allowed in a layer path")]
    DotDot(PathBuf),
    #[error(
        "{path:?}: goes through symlink {link:?} -> {target:?}, which leads outside the rootfs"
    )]
    Escape {
        path: PathBuf,
        link: PathBuf,
        target: PathBuf,
    },
    #[error("{0:?}: too many levels of symlinks")]
    Loop(PathBuf),
    #[error("{path:?}: {component:?} is not a directory")]
    NotDir { path: PathBuf, component: PathBuf },
    #[error("{path:?}: {op}: {errno}")]
    Sys {
        path: PathBuf,
        op: &'static str,
        errno: Errno,
    },
}

/// A normalized path inside the rootfs: relative, no `.`, `..` or empty
/// components, never the root itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryPath(PathBuf);

impl EntryPath {
    /// Normalizes a path from a tar header. `./a//b/` is `a/b`; `/a` and
    /// `a/../b` are refused rather than guessed at. `None` is the root.
    pub fn parse(raw: &Path) -> Result<Option<EntryPath>, Error> {
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::CurDir => {}
                Component::ParentDir => return Err(Error::DotDot(raw.to_path_buf())),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(Error::Absolute(raw.to_path_buf()));
                }
            }
        }
        Ok((!out.as_os_str().is_empty()).then_some(EntryPath(out)))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    pub fn file_name(&self) -> &OsStr {
        self.0
            .file_name()
            .expect("normalized path has a last component")
    }

    /// The parent, or `None` for a top-level entry.
    pub fn parent(&self) -> Option<EntryPath> {
        self.0
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| EntryPath(p.to_path_buf()))
    }

    pub fn join(&self, name: &OsStr) -> EntryPath {
        EntryPath(self.0.join(name))
    }

    pub fn top(name: &OsStr) -> EntryPath {
        EntryPath(PathBuf::from(name))
    }

    /// This path and all its ancestors, deepest first.
    pub fn ancestors(&self) -> impl Iterator<Item = EntryPath> + '_ {
        self.0
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| EntryPath(p.to_path_buf()))
    }
}

/// The rootfs directory, held open so that every lookup is relative to it.
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    pub fn open(path: &Path) -> Result<Root, Error> {
        let fd =
            nix::fcntl::open(path, dir_flags(), Mode::empty()).map_err(|errno| Error::Sys {
                path: path.to_path_buf(),
                op: "open",
                errno,
            })?;
        Ok(Root { fd })
    }

    /// Opens the directory `dir` (`None`: the root). With `create`, missing
    /// directories are made (0755, as docker does for implied parents);
    /// without, a missing one gives `Ok(None)`.
    pub fn open_dir(
        &self,
        dir: Option<&EntryPath>,
        create: bool,
    ) -> Result<Option<OwnedFd>, Error> {
        let Some(dir) = dir else {
            return self.dup().map(Some);
        };
        let display = dir.as_path();
        let sys = |op, errno| Error::Sys {
            path: display.to_path_buf(),
            op,
            errno,
        };
        // The directories opened so far, so that a ".." in a symlink target
        // goes back to the real parent and can be checked against the root.
        let mut stack: Vec<OwnedFd> = vec![self.dup()?];
        let mut walked: Vec<OsString> = Vec::new();
        let mut queue: VecDeque<OsString> = display
            .components()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mut links = 0;
        // The symlink being expanded, for the error if it leads out.
        let mut expanding = (PathBuf::new(), PathBuf::new());
        while let Some(name) = queue.pop_front() {
            if name == "." {
                continue;
            }
            if name == ".." {
                // Only symlink targets put ".." here. symlink_parts checked
                // the target, but a symlink inside it may have gone up
                // instead of down ("a -> ."), so check again for real.
                if stack.len() == 1 {
                    return Err(Error::Escape {
                        path: display.to_path_buf(),
                        link: expanding.0,
                        target: expanding.1,
                    });
                }
                stack.pop();
                walked.pop();
                continue;
            }
            let top = stack.last().expect("stack keeps the root").as_fd();
            let stat = match fstatat(top, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::ENOENT) => None,
                Err(e) => return Err(sys("stat", e)),
            };
            let kind = stat.map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT);
            match kind {
                None if !create => return Ok(None),
                None => {
                    mkdirat(top, name.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(|e| sys("mkdir", e))?;
                }
                Some(SFlag::S_IFDIR) => {}
                Some(SFlag::S_IFLNK) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Error::Loop(display.to_path_buf()));
                    }
                    let target =
                        readlinkat(top, name.as_os_str()).map_err(|e| sys("readlink", e))?;
                    let link: PathBuf = walked.iter().chain([&name]).collect();
                    expanding = (link, PathBuf::from(&target));
                    let parts =
                        symlink_parts(&target, stack.len() - 1).ok_or_else(|| Error::Escape {
                            path: display.to_path_buf(),
                            link: expanding.0.clone(),
                            target: expanding.1.clone(),
                        })?;
                    for p in parts.into_iter().rev() {
                        queue.push_front(p);
                    }
                    continue;
                }
                Some(_) => {
                    return Err(Error::NotDir {
                        path: display.to_path_buf(),
                        component: walked.iter().chain([&name]).collect(),
                    });
                }
            }
            let fd = openat(top, name.as_os_str(), dir_flags(), Mode::empty())
                .map_err(|e| sys("open", e))?;
            stack.push(fd);
            walked.push(name);
        }
        Ok(stack.pop())
    }

    /// The parent directory of `path`, opened, and the last component.
    pub fn parent_of<'p>(
        &self,
        path: &'p EntryPath,
        create: bool,
    ) -> Result<Option<(OwnedFd, &'p OsStr)>, Error> {
        let dir = self.open_dir(path.parent().as_ref(), create)?;
        Ok(dir.map(|fd| (fd, path.file_name())))
    }

    fn dup(&self) -> Result<OwnedFd, Error> {
        self.fd.try_clone().map_err(|e| Error::Sys {
            path: PathBuf::from("."),
            op: "dup",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })
    }
}

/// The components of a symlink's target, if following it from a directory
/// `depth` levels below the root stays inside the root.
fn symlink_parts(target: &OsStr, depth: usize) -> Option<Vec<OsString>> {
    let target = Path::new(target);
    if target.is_absolute() || target.as_os_str().is_empty() {
        return None;
    }
    let mut level = depth as isize;
    let mut parts = Vec::new();
    for c in target.components() {
        match c {
            Component::ParentDir => level -= 1,
            Component::Normal(_) => level += 1,
            _ => {}
        }
        // A path that dips above the root and comes back ("../rootfs/x")
        // still left it on the way.
        if level < 0 {
            return None;
        }
        parts.push(c.as_os_str().to_os_string());
    }
    Some(parts)
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Removes `name` in `dir` and, if it is a directory, everything under it,
/// without following symlinks. A missing `name` is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = openat(dir, name, dir_flags(), Mode::empty())?;
    for child in list_dir(sub.as_fd())? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// The names in a directory, without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> nix::Result<Vec<OsString>> {
    let fd = dir.try_clone_to_owned().map_err(|_| Errno::EMFILE)?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(&name).to_os_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Option<EntryPath> {
        EntryPath::parse(Path::new(s)).unwrap()
    }

    #[test]
    fn normalizes_entry_paths() {
        assert_eq!(ep("./a//b/").unwrap().as_path(), Path::new("a/b"));
        assert!(ep("./").is_none());
        assert!(ep(".").is_none());
        assert!(matches!(
            EntryPath::parse(Path::new("/etc/passwd")),
            Err(Error::Absolute(_))
        ));
        assert!(matches!(
            EntryPath::parse(Path::new("a/../../b")),
            Err(Error::DotDot(_))
        ));
        let p = ep("a/b/c").unwrap();
        let anc: Vec<_> = p.ancestors().map(|a| a.as_path().to_path_buf()).collect();
        assert_eq!(anc, ["a/b/c", "a/b", "a"].map(PathBuf::from));
        assert_eq!(p.parent().unwrap().as_path(), Path::new("a/b"));
        assert!(ep("a").unwrap().parent().is_none());
    }

    #[test]
    fn symlink_targets() {
        let parts = |t: &str, d| symlink_parts(OsStr::new(t), d);
        assert!(parts("/etc", 3).is_none());
        assert!(parts("..", 0).is_none());
        assert!(parts("../../x", 1).is_none());
        assert!(parts("../x", 1).is_some());
        assert!(parts("usr/lib", 0).is_some());
        assert!(parts("../rootfs/etc", 0).is_none());
    }
}
