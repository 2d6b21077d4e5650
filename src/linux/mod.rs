//! Linux primitives the container is built from. Each module owns one kind
//! of kernel object and its error type.

pub mod bpfdev;
pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod copyup;
pub mod devices;
pub mod devrules;
pub mod freezer;
pub mod hooks;
pub mod idmap;
pub mod intelrdt;
pub mod keyring;
pub mod lsm;
pub mod mempolicy;
pub mod mountapi;
pub mod mounts;
pub mod namespaces;
pub mod personality;
pub mod procfs;
pub mod resources;
pub mod rootfs;
pub mod safepath;
pub mod sched;
pub mod seal;
pub mod seccomp;
pub mod signals;
pub mod stats;
pub mod terminal;
pub mod user;
