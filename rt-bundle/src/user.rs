//! The image's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) as
//! numbers, looked up in the image's own /etc/passwd and /etc/group, read
//! through the rootfs without following symlinks out of it.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::unpack::root::{self, EntryPath, Root};

/// Bigger than any real passwd or group file.
const MAX_FILE: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image User {spec:?}: no user {name:?} in the image's /etc/passwd")]
    NoUser { spec: String, name: String },
    #[error("image User {spec:?}: no group {name:?} in the image's /etc/group")]
    NoGroup { spec: String, name: String },
    #[error("image /{file}: {errno}")]
    Read { file: &'static str, errno: Errno },
    #[error(transparent)]
    Root(#[from] root::Error),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The home directory from passwd, when the user has an entry.
    pub home: Option<String>,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `spec` against the rootfs at `rootfs`, per image-spec
/// conversion.md: numbers are taken as they are, names must exist, and
/// supplementary groups are added only for a named user without a group.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User, Error> {
    let root = Root::open(rootfs)?;
    let passwd = parse_passwd(&read_etc(&root, "etc/passwd")?);
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) if user_part.is_empty() => passwd.iter().find(|p| p.uid == 0),
        Err(_) => {
            Some(
                passwd
                    .iter()
                    .find(|p| p.name == user_part)
                    .ok_or_else(|| Error::NoUser {
                        spec: spec.to_string(),
                        name: user_part.to_string(),
                    })?,
            )
        }
    };
    let uid = user_part
        .parse::<u32>()
        .ok()
        .or(entry.map(|e| e.uid))
        .unwrap_or(0);
    let mut user = User {
        uid,
        gid: entry.map_or(0, |e| e.gid),
        additional_gids: Vec::new(),
        home: entry.map(|e| e.home.clone()),
    };
    let groups = parse_group(&read_etc(&root, "etc/group")?);
    match group_part {
        Some(g) => {
            user.gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups
                    .iter()
                    .find(|gr| gr.name == g)
                    .map(|gr| gr.gid)
                    .ok_or_else(|| Error::NoGroup {
                        spec: spec.to_string(),
                        name: g.to_string(),
                    })?,
            };
        }
        None if user_part.parse::<u32>().is_err() => {
            if let Some(e) = entry {
                for gr in groups.iter().filter(|gr| gr.members.contains(&e.name)) {
                    if gr.gid != user.gid && !user.additional_gids.contains(&gr.gid) {
                        user.additional_gids.push(gr.gid);
                    }
                }
            }
        }
        None => {}
    }
    Ok(user)
}

/// The file's text, or empty if the image has none.
fn read_etc(root: &Root, path: &'static str) -> Result<String, Error> {
    let entry = EntryPath::parse(Path::new(path))?.expect("a file path");
    let Some((dir, name)) = root.parent_of(&entry, false)? else {
        return Ok(String::new());
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = match openat(dir.as_fd(), name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(String::new()),
        Err(errno) => return Err(Error::Read { file: path, errno }),
    };
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Read {
            file: path,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::fs;

    fn rootfs() -> TempDir {
        let t = TempDir::new("user");
        fs::create_dir(t.0.join("etc")).unwrap();
        fs::write(
            t.0.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            t.0.join("etc/group"),
            "root:x:0:\nwww:x:33:\nwheel:x:10:app,root\naudio:x:29:app\napp:x:1000:\n",
        )
        .unwrap();
        t
    }

    #[test]
    fn names_and_numbers() {
        let t = rootfs();
        let r = |s: &str| resolve(&t.0, s);
        let app = r("app").unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.additional_gids, [10, 29]);
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        // No User is root, with root's groups, as docker does.
        let root = r("").unwrap();
        assert_eq!((root.uid, root.gid, root.additional_gids), (0, 0, vec![10]));
        let www = r("www:wheel").unwrap();
        assert_eq!((www.uid, www.gid, www.additional_gids.len()), (33, 10, 0));
        // Numeric users keep their number even without a passwd entry and
        // get no supplementary groups.
        let n = r("1000").unwrap();
        assert_eq!((n.uid, n.gid, n.additional_gids.len()), (1000, 1000, 0));
        assert_eq!((r("4242").unwrap().uid, r("4242").unwrap().gid), (4242, 0));
        assert_eq!(r("4242:7").unwrap().gid, 7);
        assert!(
            r("nobody")
                .unwrap_err()
                .to_string()
                .contains("no user \"nobody\"")
        );
        assert!(
            r("app:nogroup")
                .unwrap_err()
                .to_string()
                .contains("no group")
        );
    }

    #[test]
    fn passwd_symlinked_out_is_refused() {
        let t = rootfs();
        fs::remove_file(t.0.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.0.join("etc/passwd")).unwrap();
        let err = resolve(&t.0, "root").unwrap_err().to_string();
        assert!(err.contains("/etc/passwd"), "{err}");
    }
}
