//! The session keyring: unless `--no-new-keyring`, the container's
//! processes get a keyring of their own, named `_ses.<id>` as in runc, so
//! they cannot use the keys of whoever started them. `exec` joins the
//! same keyring by name.

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("join session keyring {name}: {source}")]
    Join { name: String, source: nix::Error },
    #[error("set permissions of session keyring {name}: {source}")]
    Perm { name: String, source: nix::Error },
}

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
/// Search permission for the key's owner (KEY_USR_SEARCH)...
const USR_SEARCH: u32 = 0x0008_0000;
/// ...and for others (KEY_OTH_SEARCH): in a user namespace, `exec` may
/// run as an id other than the keyring's owner.
const OTH_SEARCH: u32 = 0x0000_0008;

#[derive(Clone, Debug)]
pub struct SessionKeyring {
    name: String,
    /// Whether this process makes the keyring (the container's init) and
    /// so sets its permissions, or joins it (`exec`, which may not own it).
    owner: bool,
}

impl SessionKeyring {
    pub fn for_container(id: &str) -> SessionKeyring {
        SessionKeyring {
            name: format!("_ses.{id}"),
            owner: true,
        }
    }

    pub fn for_exec(id: &str) -> SessionKeyring {
        SessionKeyring {
            owner: false,
            ..SessionKeyring::for_container(id)
        }
    }

    /// Joins the keyring of this name (made if there is none); its maker
    /// lets `exec` find it again.
    pub fn join(&self, in_userns: bool) -> Result<(), KeyringError> {
        let name = std::ffi::CString::new(self.name.as_str()).map_err(|_| KeyringError::Join {
            name: self.name.clone(),
            source: nix::Error::EINVAL,
        })?;
        // SAFETY: keyctl reads the NUL-terminated name.
        let id =
            unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
        let id = match nix::errno::Errno::result(id) {
            Ok(id) => id,
            // As runc: a kernel without keyrings has nothing to isolate.
            Err(nix::Error::ENOSYS) => return Ok(()),
            Err(source) => {
                return Err(KeyringError::Join {
                    name: self.name.clone(),
                    source,
                });
            }
        };
        if !self.owner {
            return Ok(());
        }
        let add = if in_userns { OTH_SEARCH } else { USR_SEARCH };
        self.add_perm(id, add)
    }

    fn add_perm(&self, id: libc::c_long, add: u32) -> Result<(), KeyringError> {
        let fail = |source| KeyringError::Perm {
            name: self.name.clone(),
            source,
        };
        let mut buf = [0u8; 512];
        // SAFETY: keyctl writes at most buf.len() bytes into buf.
        let n = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_DESCRIBE,
                id,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        nix::errno::Errno::result(n).map_err(fail)?;
        // "type;uid;gid;perm;description", perm in hex.
        let text = String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]);
        let perm = text
            .split(';')
            .nth(3)
            .and_then(|p| u32::from_str_radix(p, 16).ok())
            .ok_or(nix::Error::EINVAL)
            .map_err(fail)?;
        // SAFETY: keyctl takes no pointers here.
        let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, id, perm | add) };
        nix::errno::Errno::result(r).map(drop).map_err(fail)
    }
}
