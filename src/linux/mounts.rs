//! Mount options of config.md as mount(2) flags, propagation and data.

use nix::mount::MsFlags;

#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("mount option {0:?} is not supported by rt yet")]
    Unsupported(String),
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
}

impl MountOptions {
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Recursive attributes (mount_setattr) and id-mapped mounts arrive with the
/// mounts work; until then they are refused rather than dropped.
const NOT_YET: &[&str] = &[
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnosymfollow",
    "rsymfollow",
    "ratime",
    "rnoatime",
    "rstrictatime",
    "rnostrictatime",
    "rrelatime",
    "rnorelatime",
    "rdiratime",
    "rnodiratime",
    "idmap",
    "ridmap",
    "nosymfollow",
    "symfollow",
];

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
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
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
    };
    for opt in options {
        let opt = opt.as_str();
        if NOT_YET.contains(&opt) {
            return Err(OptionError::Unsupported(opt.to_string()));
        }
        if opt == "tmpcopyup" {
            out.tmpcopyup = true;
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
        } else {
            // Everything else is the filesystem's to judge (mode=, size=,
            // newinstance, ...): the kernel names what it rejects.
            out.data.push(opt.to_string());
        }
    }
    Ok(out)
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
            let known =
                mount_flag(opt).is_some() || propagation_flag(opt).is_some() || *opt == "tmpcopyup";
            assert!(known, "{opt} is reported but parsed as filesystem data");
            assert!(!NOT_YET.contains(opt), "{opt} is reported but refused");
        }
    }

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let o = opts(&["rbind", "ro", "nosuid", "rslave", "mode=755", "size=64k"]);
        assert!(o.bind);
        assert!(
            o.flags
                .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY)
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data().as_deref(), Some("mode=755,size=64k"));
    }

    #[test]
    fn later_options_win() {
        assert!(!opts(&["ro", "rw"]).flags.contains(MsFlags::MS_RDONLY));
        assert!(opts(&["rw", "ro"]).flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_attributes_are_refused_not_dropped() {
        assert!(parse(&["rro".to_string()]).is_err());
    }
}
