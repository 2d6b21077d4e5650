//! `rt resume`: thaw a paused container.

use super::{Error, Result};
use crate::linux::{cgroups, freezer};
use crate::state::{StateDir, Status};
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<i32> {
    let dir = StateDir::open(root, id)?;
    let mut record = dir.load()?;
    if record.live_status() != Status::Paused {
        return Err(Error::Refused("container not paused".into()));
    }
    freezer::set(&cgroups::dirs_of(&record.cgroup_dirs)?, false)?;
    record.status = Status::Running;
    dir.save(&record)?;
    Ok(0)
}
