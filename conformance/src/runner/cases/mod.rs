//! The cases: one or more per spec requirement rt supports. Each names the
//! clause it checks (file#anchor of runtime-spec 1.3.0) and quotes it.

use crate::ctx::Ctx;
use crate::outcome::R;

mod cgroups;
mod config_version;
mod devices;
mod errors;
mod fds;
mod features;
mod features_seccomp;
mod hooks;
mod lifecycle;
mod linux;
mod linux_paths;
mod mount_attrs;
mod mounts;
mod namespaces;
mod process;
mod process_linux;
mod resources;
mod seccomp;
mod state;
mod terminal;

pub struct Case {
    pub name: &'static str,
    /// "config.md#configRoot": where in the spec the requirement is.
    pub clause: &'static str,
    /// The requirement, quoted (or closely excerpted) from the spec.
    pub quote: &'static str,
    pub run: fn(&mut Ctx) -> R,
}

pub fn all() -> Vec<&'static Case> {
    [
        lifecycle::CASES,
        state::CASES,
        errors::CASES,
        config_version::CASES,
        namespaces::CASES,
        process::CASES,
        process_linux::CASES,
        mounts::CASES,
        mount_attrs::CASES,
        linux::CASES,
        linux_paths::CASES,
        devices::CASES,
        cgroups::CASES,
        resources::CASES,
        hooks::CASES,
        features::CASES,
        features_seccomp::CASES,
        fds::CASES,
        seccomp::CASES,
        terminal::CASES,
    ]
    .iter()
    .flat_map(|c| c.iter())
    .collect()
}
