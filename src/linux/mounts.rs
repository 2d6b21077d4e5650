//! Mount options of config.md as mount(2) flags, propagation, recursive
//! attributes (mount_setattr), id-mapping and filesystem data.

use super::mountapi::Attrs;
use nix::mount::MsFlags;

#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("mount option {0:?} is unknown: a bind mount has no filesystem options to pass it to")]
    UnknownForBind(String),
}

/// `idmap` or `ridmap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idmap {
    /// Only the bind mount itself is id-mapped.
    Top,
    /// Its submounts too (`ridmap`).
    Recursive,
}

#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Flags for mount(2) (and the remount that applies them to a bind mount).
    pub flags: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, joined with commas as mount(2) data.
    pub data: Vec<String>,
    pub bind: bool,
    /// runc's extension: fill a new tmpfs with what was at its destination.
    pub tmpcopyup: bool,
    /// The `r*` options, applied with mount_setattr(AT_RECURSIVE) after the mount.
    pub recursive: Attrs,
    pub idmap: Option<Idmap>,
}

impl MountOptions {
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Every option `parse` turns into a flag or a propagation change: what
/// `rt features` reports as mountOptions.
pub const RECOGNIZED: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub fn parse(options: &[String]) -> Result<MountOptions, OptionError> {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        tmpcopyup: false,
        recursive: Attrs::default(),
        idmap: None,
    };
    for opt in options {
        let opt = opt.as_str();
        if opt == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if opt == "idmap" {
            out.idmap = Some(Idmap::Top);
        } else if opt == "ridmap" {
            out.idmap = Some(Idmap::Recursive);
        } else if let Some(p) = propagation_flag(opt) {
            out.propagation.push(p);
        } else if let Some((set, flag)) = mount_flag(opt) {
            if set {
                out.flags |= flag;
            } else {
                out.flags &= !flag;
            }
            if flag.contains(MsFlags::MS_BIND) && set {
                out.bind = true;
            }
        } else if !recursive_attr(opt, &mut out.recursive) {
            // Everything else is the filesystem's to judge (mode=, size=,
            // newinstance, ...): the kernel names what it rejects.
            out.data.push(opt.to_string());
        }
    }
    // The kernel ignores data on a bind mount: an option nobody knows
    // would silently do nothing.
    if let (true, Some(unknown)) = (out.bind, out.data.first()) {
        return Err(OptionError::UnknownForBind(unknown.clone()));
    }
    Ok(out)
}

/// The `r*` options of config.md: false when `opt` is not one.
fn recursive_attr(opt: &str, attrs: &mut Attrs) -> bool {
    use libc::{
        MOUNT_ATTR_NOATIME as NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
        MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
        MOUNT_ATTR_RELATIME as RELATIME, MOUNT_ATTR_STRICTATIME as STRICTATIME,
    };
    let bit = match opt {
        "rro" => Some((true, MOUNT_ATTR_RDONLY)),
        "rrw" => Some((false, MOUNT_ATTR_RDONLY)),
        "rnosuid" => Some((true, MOUNT_ATTR_NOSUID)),
        "rsuid" => Some((false, MOUNT_ATTR_NOSUID)),
        "rnodev" => Some((true, MOUNT_ATTR_NODEV)),
        "rdev" => Some((false, MOUNT_ATTR_NODEV)),
        "rnoexec" => Some((true, MOUNT_ATTR_NOEXEC)),
        "rexec" => Some((false, MOUNT_ATTR_NOEXEC)),
        "rnodiratime" => Some((true, MOUNT_ATTR_NODIRATIME)),
        "rdiratime" => Some((false, MOUNT_ATTR_NODIRATIME)),
        "rnosymfollow" => Some((true, MOUNT_ATTR_NOSYMFOLLOW)),
        "rsymfollow" => Some((false, MOUNT_ATTR_NOSYMFOLLOW)),
        _ => None,
    };
    if let Some((on, bit)) = bit {
        attrs.apply(on, bit);
        return true;
    }
    // The access-time mode is one value: "not noatime" and "not
    // strictatime" mean the kernel's default, relatime; "not relatime"
    // means updating on every access, strictatime.
    attrs.atime = Some(match opt {
        "ratime" | "rrelatime" | "rnostrictatime" => RELATIME,
        "rnoatime" => NOATIME,
        "rstrictatime" | "rnorelatime" => STRICTATIME,
        _ => return false,
    });
    true
}

/// (true, F) sets F; (false, F) clears it.
fn mount_flag(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "nosuid" => (true, F::MS_NOSUID),
        "suid" => (false, F::MS_NOSUID),
        "nodev" => (true, F::MS_NODEV),
        "dev" => (false, F::MS_NODEV),
        "noexec" => (true, F::MS_NOEXEC),
        "exec" => (false, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        _ => return None,
    })
}

pub fn propagation_flag(opt: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match opt {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognized_options_are_flags_or_propagation() {
        for opt in RECOGNIZED {
            let o = parse(&[opt.to_string()]).unwrap();
            assert!(
                o.data.is_empty(),
                "{opt} is reported but parsed as filesystem data"
            );
        }
    }

    /// config.md's table of Linux mount options, as of runtime-spec 1.3.0.
    const SPEC_OPTIONS: &str = "async atime bind defaults dev diratime dirsync exec iversion \
        lazytime loud mand noatime nodev nodiratime noexec noiversion nolazytime nomand \
        norelatime nostrictatime nosuid nosymfollow private ratime rbind rdev rdiratime \
        relatime remount rexec rnoatime rnodiratime rnoexec rnorelatime rnostrictatime rnosuid \
        rnosymfollow ro rprivate rrelatime rro rrw rshared rslave rstrictatime rsuid rsymfollow \
        runbindable rw shared silent slave strictatime suid symfollow sync tmpcopyup \
        unbindable idmap ridmap";

    #[test]
    fn every_option_of_the_spec_is_recognized() {
        for opt in SPEC_OPTIONS.split_whitespace() {
            assert!(RECOGNIZED.contains(&opt), "{opt} is not recognized");
        }
    }

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let o = opts(&["ro", "nosuid", "rslave", "mode=755", "size=64k"]);
        assert!(!o.bind);
        assert!(o.flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_RDONLY));
        assert!(opts(&["rbind", "ro"]).bind);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data().as_deref(), Some("mode=755,size=64k"));
    }

    #[test]
    fn later_options_win() {
        assert!(!opts(&["ro", "rw"]).flags.contains(MsFlags::MS_RDONLY));
        assert!(opts(&["rw", "ro"]).flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_attributes() {
        let o = opts(&["rbind", "rro", "rnosuid", "rexec", "rnoatime"]);
        assert!(o.flags.is_empty() || o.flags == MsFlags::MS_BIND | MsFlags::MS_REC);
        let a = o.recursive;
        assert_eq!(a.set, libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID);
        assert_eq!(a.clear, libc::MOUNT_ATTR_NOEXEC);
        assert_eq!(a.atime, Some(libc::MOUNT_ATTR_NOATIME));
        let later = opts(&["rro", "rrw", "rnoatime", "ratime"]).recursive;
        assert_eq!(later.set, 0);
        assert_eq!(later.clear, libc::MOUNT_ATTR_RDONLY);
        assert_eq!(later.atime, Some(libc::MOUNT_ATTR_RELATIME));
    }

    #[test]
    fn plain_mounts_have_no_recursive_attributes() {
        let o = opts(&["rbind", "ro", "nosuid", "rprivate"]);
        assert!(o.recursive.is_empty() && o.idmap.is_none());
        assert_eq!(opts(&["ridmap"]).idmap, Some(Idmap::Recursive));
    }

    #[test]
    fn unknown_option_on_a_bind_mount_is_an_error() {
        let e = parse(&["rbind".to_string(), "bogus".to_string()]).unwrap_err();
        assert!(e.to_string().contains("\"bogus\""), "{e}");
        // Filesystem mounts pass it to the kernel, which judges it.
        assert_eq!(opts(&["bogus=1"]).data, ["bogus=1"]);
    }
}
