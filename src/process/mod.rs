//! Creating the container's init: the parent side (`spawn`), the child side
//! (`init`) and the typed protocol between them (`protocol`).
//!
//! No helper binary and no re-exec: the child is a fork of rt that enters
//! the namespaces, builds the root filesystem and waits on the exec fifo;
//! `start` releases it to execve the user program.

mod init;
mod plan;
pub mod protocol;
mod spawn;

pub use plan::{InitPlan, PlanError};
pub use spawn::{SpawnError, spawn};
