//! Id-mapped bind mounts (config.md `idmap`, `ridmap`, and a mount's
//! `uidMappings`/`gidMappings`). The kernel takes the mapping from a user
//! namespace: rt makes one per distinct mapping in a helper process that
//! only lives while the namespace is opened, or uses the namespace the
//! container joins. The detached, id-mapped tree is made here in the
//! parent, which holds CAP_SYS_ADMIN over the source filesystem (a process
//! inside the container's user namespace does not); the container's init
//! attaches it with move_mount.

use super::mountapi::{self, Attrs};
use super::mounts::Idmap;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error("uidMappings and gidMappings must be given together")]
    Half,
    #[error("id-mapped mounts are supported for bind mounts only")]
    NotBind,
    #[error(
        "idmap without uidMappings and gidMappings needs the container to have a user namespace"
    )]
    NoMapping,
    #[error("{op}: {source}")]
    Sys { op: String, source: nix::Error },
}

fn sys(op: impl Into<String>) -> impl FnOnce(nix::Error) -> IdmapError {
    let op = op.into();
    move |source| IdmapError::Sys { op, source }
}

/// Where the mapping of an `idmap` mount without its own mappings comes
/// from: the container's user namespace (config-linux.md allows it).
enum ContainerUserns {
    None,
    /// A new one with these uid_map and gid_map contents.
    New(String, String),
    /// A namespace the container joins.
    Path(PathBuf),
}

/// User namespaces made or opened so far, one per distinct mapping.
pub struct Usernses {
    container: ContainerUserns,
    made: Vec<((String, String), OwnedFd)>,
    joined: Option<OwnedFd>,
}

impl Usernses {
    pub fn new(spec: &Spec) -> Usernses {
        let linux = spec.linux().as_ref();
        let user = linux
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
            .find(|n| n.typ() == LinuxNamespaceType::User);
        let container = match user.map(|u| u.path()) {
            None => ContainerUserns::None,
            Some(Some(path)) => ContainerUserns::Path(path.clone()),
            Some(None) => ContainerUserns::New(
                map_text(linux.and_then(|l| l.uid_mappings().as_deref())),
                map_text(linux.and_then(|l| l.gid_mappings().as_deref())),
            ),
        };
        Usernses {
            container,
            made: Vec::new(),
            joined: None,
        }
    }

    /// The id-mapped detached tree for mount `m`, or None when it asks for
    /// no id-mapping.
    pub fn tree(
        &mut self,
        m: &Mount,
        source: &Path,
        bind: bool,
        recursive_bind: bool,
        idmap: Option<Idmap>,
    ) -> Result<Option<OwnedFd>, IdmapError> {
        let own = match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => Some((map_text(Some(u)), map_text(Some(g)))),
            (None, None) => None,
            _ => return Err(IdmapError::Half),
        };
        // Mappings without the option still ask for an id-mapped mount:
        // older runtimes ignored them, rt does not.
        let idmap = match (idmap, &own) {
            (None, None) => return Ok(None),
            (Some(i), _) => i,
            (None, Some(_)) => Idmap::Top,
        };
        if !bind {
            return Err(IdmapError::NotBind);
        }
        let userns = self.userns(own)?;
        let tree = mountapi::clone_tree(source, recursive_bind)
            .map_err(sys(format!("open_tree {}", source.display())))?;
        mountapi::set_attrs(
            &tree,
            &Attrs::default(),
            Some(userns),
            idmap == Idmap::Recursive,
        )
        .map_err(sys("mount_setattr MOUNT_ATTR_IDMAP"))?;
        Ok(Some(tree))
    }

    fn userns(&mut self, own: Option<(String, String)>) -> Result<&OwnedFd, IdmapError> {
        let maps = match (own, &self.container) {
            (Some(maps), _) => maps,
            (None, ContainerUserns::New(u, g)) => (u.clone(), g.clone()),
            (None, ContainerUserns::Path(path)) => {
                if self.joined.is_none() {
                    let fd = std::fs::File::open(path)
                        .map_err(|e| IdmapError::Sys {
                            op: format!("open {}", path.display()),
                            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                        })?
                        .into();
                    self.joined = Some(fd);
                }
                return Ok(self.joined.as_ref().expect("just set"));
            }
            (None, ContainerUserns::None) => return Err(IdmapError::NoMapping),
        };
        let i = match self.made.iter().position(|(m, _)| *m == maps) {
            Some(i) => i,
            None => {
                let fd = userns_with(&maps.0, &maps.1)?;
                self.made.push((maps, fd));
                self.made.len() - 1
            }
        };
        Ok(&self.made[i].1)
    }
}

fn map_text(maps: Option<&[LinuxIdMapping]>) -> String {
    maps.into_iter()
        .flatten()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with these maps: a child made in it (clone with
/// CLONE_NEWUSER) waits on a pipe while its maps are written and the
/// namespace is opened, then exits.
fn userns_with(uid_map: &str, gid_map: &str) -> Result<OwnedFd, IdmapError> {
    let (wait_r, wait_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    // SAFETY: clone with a null stack behaves like fork; rt is
    // single-threaded, and the child only calls close, read and _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    let pid = nix::errno::Errno::result(pid).map_err(sys("clone a user namespace"))? as i32;
    if pid == 0 {
        // SAFETY: async-signal-safe calls on descriptors this child owns.
        unsafe {
            libc::close(wait_w.as_raw_fd());
            let mut b = 0u8;
            while libc::read(wait_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) < 0 {}
            libc::_exit(0);
        }
    }
    drop(wait_r);
    let opened = write_maps(pid, uid_map, gid_map);
    // The child exits once the write end is gone.
    drop(wait_w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    opened
}

fn write_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<OwnedFd, IdmapError> {
    for (file, text) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| IdmapError::Sys {
            op: format!("write {file} {:?}", text.trim()),
            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    }
    let path = format!("/proc/{pid}/ns/user");
    nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys(format!("open {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user_ns: bool) -> Spec {
        let ns = if user_ns {
            r#"[{"type": "mount"}, {"type": "user"}]"#
        } else {
            r#"[{"type": "mount"}]"#
        };
        serde_json::from_str(&format!(
            r#"{{"ociVersion": "1.0.0", "root": {{"path": "rootfs"}},
                 "linux": {{"namespaces": {ns}}}}}"#
        ))
        .unwrap()
    }

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    fn tree(spec: &Spec, m: &Mount, bind: bool, idmap: Option<Idmap>) -> Result<bool, String> {
        Usernses::new(spec)
            .tree(m, Path::new("/nonexistent"), bind, false, idmap)
            .map(|t| t.is_some())
            .map_err(|e| e.to_string())
    }

    const MAP: &str = r#"[{"containerID": 0, "hostID": 1000, "size": 1}]"#;

    #[test]
    fn no_idmap_asked_is_free() {
        let m = mount(r#"{"destination": "/x", "source": "/y", "options": ["rbind"]}"#);
        assert_eq!(tree(&spec(false), &m, true, None), Ok(false));
    }

    #[test]
    fn invalid_idmap_configs() {
        let half = mount(&format!(
            r#"{{"destination": "/x", "source": "/y", "uidMappings": {MAP}}}"#
        ));
        let e = tree(&spec(true), &half, true, Some(Idmap::Top)).unwrap_err();
        assert!(e.contains("together"), "{e}");
        let both = mount(&format!(
            r#"{{"destination": "/x", "source": "/y", "uidMappings": {MAP}, "gidMappings": {MAP}}}"#
        ));
        // Mappings without the option still ask for an id-mapped mount.
        let e = tree(&spec(true), &both, false, None).unwrap_err();
        assert!(e.contains("bind mounts only"), "{e}");
        let bare = mount(r#"{"destination": "/x", "source": "/y"}"#);
        let e = tree(&spec(false), &bare, true, Some(Idmap::Recursive)).unwrap_err();
        assert!(e.contains("user namespace"), "{e}");
    }
}
