//! Applying one layer's tar entries to the rootfs: files, directories,
//! links, device nodes and fifos with their owners, modes, xattrs and
//! times, and the whiteouts of image-spec layer.md. Every path goes through
//! `Root`, so nothing is ever created or changed outside the rootfs.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, mkdirat, mknodat,
    utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat, linkat, symlinkat};
use tar::EntryType;

use super::root::{self, EntryPath, Root, remove_all_at};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";

/// What to do with whiteouts: apply them to the lower layers below (a
/// flat rootfs), or turn them into overlayfs's own whiteouts and opaque
/// markers (a layer directory for an overlay mount).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    Apply,
    Overlay,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Path(#[from] root::Error),
    #[error("{path:?}: {op}: {errno}")]
    Sys {
        path: PathBuf,
        op: &'static str,
        errno: Errno,
    },
    #[error("{path:?}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("{path:?}: hard link to {target:?}, which does not exist in the rootfs")]
    LinkTarget { path: PathBuf, target: PathBuf },
    #[error("{path:?}: invalid whiteout name")]
    Whiteout { path: PathBuf },
    #[error("{path:?}: unsupported tar entry type {kind:?}")]
    Kind { path: PathBuf, kind: EntryType },
    #[error("{path:?}: {field}: {source}")]
    Header {
        path: PathBuf,
        field: &'static str,
        source: io::Error,
    },
}

/// What could not be reproduced without privileges; reported once, at the
/// end, rather than per file.
#[derive(Default)]
pub struct Skipped {
    pub devices: usize,
    pub xattrs: usize,
}

/// The metadata of one entry, taken from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

pub struct Applier<'r> {
    root: &'r Root,
    privileged: bool,
    whiteouts: Whiteouts,
    /// Paths this layer has put in place (and their parents): whiteouts in
    /// a layer hide only what lower layers made.
    this_layer: HashSet<EntryPath>,
    /// Directory times are set once the layer is done, as adding entries
    /// to a directory changes its mtime.
    dir_times: Vec<(EntryPath, i64)>,
    pub skipped: Skipped,
    /// Reused for every file's data.
    buf: Vec<u8>,
}

impl<'r> Applier<'r> {
    pub fn new(root: &'r Root, privileged: bool, whiteouts: Whiteouts) -> Self {
        Applier {
            root,
            privileged,
            whiteouts,
            this_layer: HashSet::new(),
            dir_times: Vec::new(),
            skipped: Skipped::default(),
            buf: vec![0u8; 256 << 10],
        }
    }

    /// Applies one entry.
    pub fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        let raw = PathBuf::from(OsStr::from_bytes(&entry.path_bytes()));
        let Some(path) = EntryPath::parse(&raw)? else {
            // The root itself ("./"): its metadata is the bundle's to set.
            return Ok(());
        };
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let name = path.file_name().as_bytes();
        if name.starts_with(WHITEOUT.as_bytes()) {
            return self.whiteout(&path);
        }
        let meta = self.meta(entry, &path)?;
        match kind {
            EntryType::Directory => self.directory(&path, &meta)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(&path, &meta, entry)?
            }
            EntryType::Symlink => self.symlink(&path, &meta, entry)?,
            EntryType::Link => self.hard_link(&path, entry)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(&path, &meta, kind, entry)?
            }
            other => {
                return Err(Error::Kind {
                    path: path.as_path().to_path_buf(),
                    kind: other,
                });
            }
        }
        self.this_layer.extend(path.ancestors());
        Ok(())
    }

    /// Sets the directory times recorded during the layer; call at its end.
    pub fn finish_layer(&mut self) -> Result<(), Error> {
        for (path, mtime) in std::mem::take(&mut self.dir_times) {
            if let Some((dir, name)) = self.root.parent_of(&path, false)? {
                set_times(dir.as_fd(), name, mtime).map_err(|e| sys(&path, "utimensat", e))?;
            }
        }
        self.this_layer.clear();
        Ok(())
    }

    fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        path: &EntryPath,
    ) -> Result<Meta, Error> {
        let header_err = |field, source| Error::Header {
            path: path.as_path().to_path_buf(),
            field,
            source,
        };
        let h = entry.header();
        let mut meta = Meta {
            mode: h.mode().map_err(|e| header_err("mode", e))? & 0o7777,
            uid: h.uid().map_err(|e| header_err("uid", e))? as u32,
            gid: h.gid().map_err(|e| header_err("gid", e))? as u32,
            mtime: h.mtime().map_err(|e| header_err("mtime", e))? as i64,
            xattrs: Vec::new(),
        };
        let Some(pax) = entry.pax_extensions().map_err(|e| header_err("pax", e))? else {
            return Ok(meta);
        };
        for ext in pax {
            let ext = ext.map_err(|e| header_err("pax", e))?;
            let key = ext.key_bytes();
            let number = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()?
                    .parse::<u32>()
                    .ok()
            };
            if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                // A NUL in the name would cut it short; such a record is junk.
                if let Ok(name) = CString::new(x) {
                    meta.xattrs.push((name, ext.value_bytes().to_vec()));
                }
            } else if key == b"uid" {
                meta.uid = number().unwrap_or(meta.uid);
            } else if key == b"gid" {
                meta.gid = number().unwrap_or(meta.gid);
            }
        }
        Ok(meta)
    }

    fn whiteout(&mut self, path: &EntryPath) -> Result<(), Error> {
        let name = path.file_name();
        let dir = path.parent();
        if name == OPAQUE {
            return match self.whiteouts {
                Whiteouts::Apply => self.apply_opaque(path, dir),
                Whiteouts::Overlay => self.mark_opaque(path, dir),
            };
        }
        let hidden = &name.as_bytes()[WHITEOUT.len()..];
        // ".wh..wh.*" other than the opaque marker is aufs bookkeeping
        // (hard link directories and the like) that means nothing here.
        if hidden.starts_with(WHITEOUT.as_bytes()) {
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::Whiteout {
                path: path.as_path().to_path_buf(),
            });
        }
        let hidden = OsStr::from_bytes(hidden);
        let target = match &dir {
            Some(d) => d.join(hidden),
            None => EntryPath::top(hidden),
        };
        if self.this_layer.contains(&target) {
            return Ok(());
        }
        match self.whiteouts {
            Whiteouts::Apply => {
                if let Some(fd) = self.root.open_dir(dir.as_ref(), false)? {
                    remove_all_at(fd.as_fd(), hidden).map_err(|e| sys(&target, "remove", e))?;
                }
                Ok(())
            }
            Whiteouts::Overlay => {
                // overlayfs's whiteout: a character device 0:0.
                let (fd, name) = self.replace(&target)?;
                mknodat(fd.as_fd(), name, SFlag::S_IFCHR, Mode::empty(), 0)
                    .map_err(|e| sys(&target, "mknod", e))
            }
        }
    }

    /// Removes what lower layers put in `dir`.
    fn apply_opaque(&mut self, path: &EntryPath, dir: Option<EntryPath>) -> Result<(), Error> {
        let Some(fd) = self.root.open_dir(dir.as_ref(), false)? else {
            return Ok(());
        };
        let names = root::list_dir(fd.as_fd()).map_err(|e| sys(path, "readdir", e))?;
        for child in names {
            let child_path = match &dir {
                Some(d) => d.join(&child),
                None => EntryPath::top(&child),
            };
            if !self.this_layer.contains(&child_path) {
                remove_all_at(fd.as_fd(), &child).map_err(|e| sys(&child_path, "remove", e))?;
            }
        }
        Ok(())
    }

    /// Marks `dir` opaque the way overlayfs reads it.
    fn mark_opaque(&mut self, path: &EntryPath, dir: Option<EntryPath>) -> Result<(), Error> {
        let fd = self
            .root
            .open_dir(dir.as_ref(), true)?
            .expect("created when missing");
        let name = CString::new(OVERLAY_OPAQUE).expect("no NUL");
        // SAFETY: a NUL-terminated name and a live one-byte value.
        let rc = unsafe {
            nix::libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0)
        };
        Errno::result(rc)
            .map(drop)
            .map_err(|e| sys(path, "setxattr trusted.overlay.opaque", e))
    }

    fn directory(&mut self, path: &EntryPath, meta: &Meta) -> Result<(), Error> {
        let (dir, name) = self.parent(path)?;
        let existing = kind_at(dir.as_fd(), name).map_err(|e| sys(path, "stat", e))?;
        if existing != Some(SFlag::S_IFDIR) {
            if existing.is_some() {
                remove_all_at(dir.as_fd(), name).map_err(|e| sys(path, "remove", e))?;
            }
            mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(0o700))
                .map_err(|e| sys(path, "mkdir", e))?;
        }
        // Without privileges we must keep write access to fill it, and
        // search access to get through it.
        let mode = if self.privileged {
            meta.mode
        } else {
            meta.mode | 0o700
        };
        self.chown(dir.as_fd(), name, path, meta)?;
        fchmodat(
            dir.as_fd(),
            name,
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| sys(path, "chmod", e))?;
        self.set_xattrs(dir.as_fd(), name, path, meta)?;
        self.dir_times.push((path.clone(), meta.mtime));
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        path: &EntryPath,
        meta: &Meta,
        data: &mut R,
    ) -> Result<(), Error> {
        let (dir, name) = self.replace(path)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir.as_fd(), name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| sys(path, "create", e))?;
        let mut file = File::from(fd);
        copy(data, &mut file, &mut self.buf).map_err(|source| Error::Io {
            path: path.as_path().to_path_buf(),
            op: "write",
            source,
        })?;
        self.chown(dir.as_fd(), name, path, meta)?;
        // After chown, which clears setuid and setgid.
        fchmod(file.as_fd(), Mode::from_bits_truncate(meta.mode))
            .map_err(|e| sys(path, "chmod", e))?;
        self.set_xattrs(dir.as_fd(), name, path, meta)?;
        set_times(dir.as_fd(), name, meta.mtime).map_err(|e| sys(path, "utimensat", e))
    }

    fn symlink<R: Read>(
        &mut self,
        path: &EntryPath,
        meta: &Meta,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), Error> {
        let target = entry.link_name_bytes().unwrap_or_default();
        let (dir, name) = self.replace(path)?;
        // The target is only data: it is never followed while unpacking.
        symlinkat(OsStr::from_bytes(&target), dir.as_fd(), name)
            .map_err(|e| sys(path, "symlink", e))?;
        self.chown(dir.as_fd(), name, path, meta)?;
        self.set_xattrs(dir.as_fd(), name, path, meta)?;
        set_times(dir.as_fd(), name, meta.mtime).map_err(|e| sys(path, "utimensat", e))
    }

    fn hard_link<R: Read>(
        &mut self,
        path: &EntryPath,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), Error> {
        let raw = PathBuf::from(OsStr::from_bytes(
            &entry.link_name_bytes().unwrap_or_default(),
        ));
        let missing = || Error::LinkTarget {
            path: path.as_path().to_path_buf(),
            target: raw.clone(),
        };
        let target = EntryPath::parse(&raw)?.ok_or_else(missing)?;
        if target == *path {
            return Ok(());
        }
        let (tdir, tname) = self.root.parent_of(&target, false)?.ok_or_else(missing)?;
        match kind_at(tdir.as_fd(), tname).map_err(|e| sys(path, "stat", e))? {
            None => return Err(missing()),
            Some(SFlag::S_IFDIR) => return Err(sys(path, "link", Errno::EPERM)),
            Some(_) => {}
        }
        let (dir, name) = self.replace(path)?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
        linkat(tdir.as_fd(), tname, dir.as_fd(), name, AtFlags::empty())
            .map_err(|e| sys(path, "link", e))
    }

    fn node<R: Read>(
        &mut self,
        path: &EntryPath,
        meta: &Meta,
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), Error> {
        let (sflag, dev) = match kind {
            EntryType::Fifo => (SFlag::S_IFIFO, 0),
            _ => {
                if !self.privileged {
                    self.skipped.devices += 1;
                    return Ok(());
                }
                let h = entry.header();
                let num = |r: io::Result<Option<u32>>, field| {
                    r.map(Option::unwrap_or_default)
                        .map_err(|source| Error::Header {
                            path: path.as_path().to_path_buf(),
                            field,
                            source,
                        })
                };
                let major = num(h.device_major(), "devmajor")?;
                let minor = num(h.device_minor(), "devminor")?;
                let sflag = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (sflag, nix::sys::stat::makedev(major.into(), minor.into()))
            }
        };
        let (dir, name) = self.replace(path)?;
        match mknodat(
            dir.as_fd(),
            name,
            sflag,
            Mode::from_bits_truncate(0o600),
            dev,
        ) {
            Ok(()) => {}
            // Root in a user namespace may not make devices either.
            Err(Errno::EPERM) if sflag != SFlag::S_IFIFO => {
                self.skipped.devices += 1;
                return Ok(());
            }
            Err(e) => return Err(sys(path, "mknod", e)),
        }
        self.chown(dir.as_fd(), name, path, meta)?;
        // We just made it and it is not a symlink, so following is moot.
        fchmodat(
            dir.as_fd(),
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| sys(path, "chmod", e))?;
        self.set_xattrs(dir.as_fd(), name, path, meta)?;
        set_times(dir.as_fd(), name, meta.mtime).map_err(|e| sys(path, "utimensat", e))
    }

    fn parent<'p>(&self, path: &'p EntryPath) -> Result<(OwnedFd, &'p OsStr), Error> {
        Ok(self
            .root
            .parent_of(path, true)?
            .expect("created when missing"))
    }

    /// The parent of `path`, with whatever was at `path` removed.
    fn replace<'p>(&self, path: &'p EntryPath) -> Result<(OwnedFd, &'p OsStr), Error> {
        let (dir, name) = self.parent(path)?;
        remove_all_at(dir.as_fd(), name).map_err(|e| sys(path, "remove", e))?;
        Ok((dir, name))
    }

    fn chown(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &EntryPath,
        meta: &Meta,
    ) -> Result<(), Error> {
        if !self.privileged {
            return Ok(());
        }
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| sys(path, "chown", e))
    }

    /// Sets xattrs through /proc/self/fd/DIR/NAME with lsetxattr, which
    /// does not follow NAME and so works for every kind of entry.
    fn set_xattrs(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &EntryPath,
        meta: &Meta,
    ) -> Result<(), Error> {
        if meta.xattrs.is_empty() {
            return Ok(());
        }
        let mut proc_path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        proc_path.extend_from_slice(name.as_bytes());
        let proc_path =
            CString::new(proc_path).map_err(|_| sys(path, "setxattr", Errno::EINVAL))?;
        for (key, value) in &meta.xattrs {
            // SAFETY: both strings are NUL-terminated and the value pointer
            // and length describe a live slice.
            let rc = unsafe {
                nix::libc::lsetxattr(
                    proc_path.as_ptr(),
                    key.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            match Errno::result(rc) {
                Ok(_) => {}
                // Not ours to set (trusted.*, security.* unprivileged) or
                // not supported by the filesystem under the bundle.
                Err(Errno::EPERM | Errno::ENOTSUP) => self.skipped.xattrs += 1,
                Err(e) => return Err(sys(path, "setxattr", e)),
            }
        }
        Ok(())
    }
}

fn sys(path: &EntryPath, op: &'static str, errno: Errno) -> Error {
    Error::Sys {
        path: path.as_path().to_path_buf(),
        op,
        errno,
    }
}

/// The file type at `name`, not following a symlink, or `None`.
fn kind_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<Option<SFlag>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn set_times(dir: BorrowedFd<'_>, name: &OsStr, mtime: i64) -> nix::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    utimensat(dir, name, &t, &t, UtimensatFlags::NoFollowSymlink)
}

/// Copies with a large buffer: layer files are often big and the reader is
/// a decompressor, for which small reads cost more.
fn copy<R: Read>(from: &mut R, to: &mut File, buf: &mut [u8]) -> io::Result<()> {
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}
