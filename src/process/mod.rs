//! Creating the container's init and `exec`'s processes: the parent side
//! (`spawn`), the child sides (`init`, `exec`) and the typed protocol
//! between them (`protocol`).
//!
//! No helper binary and no re-exec: the child is a fork of rt that enters
//! the namespaces, builds the root filesystem and waits on the exec fifo;
//! `start` releases it to execve the user program.

mod exec;
mod init;
mod plan;
mod program;
pub mod protocol;
mod spawn;

pub use exec::ExecPlan;
pub use plan::{ConsoleTo, InitPlan, PlanError, ProcessPlan, check_extra_fds};
pub use spawn::{SpawnError, spawn, spawn_exec};
