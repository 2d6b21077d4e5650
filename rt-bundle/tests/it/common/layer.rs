//! Layer tars made by the tests, well-formed or not.

use std::io::Write;

use tar::{EntryType, Header};

/// Builds one layer's tar. Entries are written as given, in order.
pub struct Layer {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Layer {
        let mut h = Self::header(EntryType::Directory, mode);
        self.tar.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn file(self, path: &str, data: &[u8], mode: u32) -> Layer {
        self.owned_file(path, data, mode, 0, 0)
    }

    pub fn owned_file(mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Layer {
        let mut h = Self::header(EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_size(data.len() as u64);
        self.tar.append_data(&mut h, path, data).unwrap();
        self
    }

    /// A file with extended attributes, in PAX SCHILY.xattr records.
    pub fn xattr_file(mut self, path: &str, data: &[u8], xattrs: &[(&str, &[u8])]) -> Layer {
        let keys: Vec<String> = xattrs
            .iter()
            .map(|(k, _)| format!("SCHILY.xattr.{k}"))
            .collect();
        let records = keys.iter().zip(xattrs).map(|(k, (_, v))| (k.as_str(), *v));
        self.tar.append_pax_extensions(records).unwrap();
        self.file(path, data, 0o644)
    }

    pub fn whiteout(self, path: &str) -> Layer {
        self.file(path, b"", 0o644)
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Self::header(EntryType::Symlink, 0o777);
        self.tar.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Self::header(EntryType::Link, 0o644);
        self.tar.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn fifo(mut self, path: &str) -> Layer {
        let mut h = Self::header(EntryType::Fifo, 0o600);
        self.tar.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Layer {
        let mut h = Self::header(EntryType::Char, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.tar.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An entry with exactly this name, bypassing the tar crate's checks
    /// (which refuse `..` and absolute paths, as a malicious tar would not).
    pub fn raw(mut self, name: &str, kind: EntryType, link: &str, data: &[u8]) -> Layer {
        let mut h = Self::header(kind, 0o644);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.tar.append(&h, data).unwrap();
        self
    }

    pub fn tar(self) -> Vec<u8> {
        self.tar.into_inner().unwrap()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn apply(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(tar).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(tar, 1).unwrap(),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A busybox rootfs: the static binary, a few applet links, passwd and
/// group with a non-root user.
pub fn busybox() -> Layer {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let mut l = Layer::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox, 0o755);
    for applet in ["sh", "ls", "cat", "id", "true"] {
        l = l.symlink(&format!("bin/{applet}"), "busybox");
    }
    l.dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
            0o644,
        )
        .file(
            "etc/group",
            b"root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
            0o644,
        )
        .dir("home", 0o755)
        .dir("home/app", 0o750)
}
