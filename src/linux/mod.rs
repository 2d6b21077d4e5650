//! Linux primitives the container is built from. Each module owns one kind
//! of kernel object and its error type.

pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod copyup;
pub mod devices;
pub mod devrules;
pub mod freezer;
pub mod hooks;
pub mod mounts;
pub mod namespaces;
pub mod resources;
pub mod rootfs;
pub mod safepath;
pub mod seal;
pub mod seccomp;
pub mod signals;
pub mod terminal;
pub mod user;
