//! `rt pause`: freeze every process of a running container (runc's
//! `paused` status until `resume`).

use super::{Error, Result};
use crate::linux::{cgroups, freezer};
use crate::state::{StateDir, Status};
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<i32> {
    let dir = StateDir::open(root, id)?;
    let mut record = dir.load()?;
    match record.live_status() {
        Status::Running => {}
        Status::Paused => return Err(Error::Refused("container already paused".into())),
        _ => return Err(Error::Refused("container not running".into())),
    }
    freezer::set(&cgroups::dirs_of(&record.cgroup_dirs)?, true)?;
    record.status = Status::Paused;
    if let Err(e) = dir.save(&record) {
        let _ = freezer::set(&cgroups::dirs_of(&record.cgroup_dirs)?, false);
        return Err(e.into());
    }
    Ok(0)
}
