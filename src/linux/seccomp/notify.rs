//! SCMP_ACT_NOTIFY: the listener fd the kernel gives the container's
//! process goes, with the container process state, to the unix socket at
//! listenerPath (config-linux.md "The Container Process State"): one
//! connection, one JSON payload with the fd in SCM_RIGHTS, then close.

use super::{FIELD, SeccompError, invalid};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, connect, sendmsg, socket,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;

/// The syscall the child passes the listener fd to rt with: notifying it
/// would wait for a listener that never gets the fd (runc refuses `write`,
/// its pipe's syscall, for the same reason).
const FD_PASSING_SYSCALL: &str = "sendmsg";

/// Where the listener fd goes, and what comes with it.
pub struct Listener {
    path: PathBuf,
    metadata: Option<String>,
    /// The container's state (runtime.md "State"), without its pid yet.
    state: serde_json::Value,
}

/// The profile's listener when it uses SCMP_ACT_NOTIFY (listenerPath is
/// ignored otherwise, as the spec says), after the spec's and rt's checks.
pub fn listener(profile: &LinuxSeccomp) -> Result<Option<Listener>, SeccompError> {
    let path = profile.listener_path();
    if profile.listener_metadata().is_some() && path.is_none() {
        return Err(invalid(
            format!("{FIELD}.listenerMetadata"),
            "must not be set without listenerPath",
        ));
    }
    let notify = LinuxSeccompAction::ScmpActNotify;
    if profile.default_action() == notify {
        return Err(invalid(
            format!("{FIELD}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action: rt passes the listener fd with a syscall",
        ));
    }
    let mut uses_notify = false;
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        if rule.action() != notify {
            continue;
        }
        uses_notify = true;
        if let Some(j) = rule.names().iter().position(|n| n == FD_PASSING_SYSCALL) {
            return Err(invalid(
                format!("{FIELD}.syscalls[{i}].names[{j}]"),
                format!(
                    "SCMP_ACT_NOTIFY cannot be used for {FD_PASSING_SYSCALL}: rt passes the listener fd with it"
                ),
            ));
        }
    }
    if !uses_notify {
        return Ok(None);
    }
    let Some(path) = path else {
        return Err(invalid(
            format!("{FIELD}.listenerPath"),
            "SCMP_ACT_NOTIFY needs a listener socket",
        ));
    };
    Ok(Some(Listener {
        path: path.clone(),
        metadata: profile.listener_metadata().clone(),
        state: serde_json::Value::Null,
    }))
}

impl Listener {
    /// The container's state JSON (runtime.md "State"), sent with the fd.
    pub fn set_state(&mut self, state: &[u8]) {
        self.state = serde_json::from_slice(state).unwrap_or_default();
    }

    /// Sends the process state and `fd` for the process `pid` (as rt sees it).
    pub fn send(&self, fd: BorrowedFd, pid: i32) -> Result<(), SeccompError> {
        let fail = |op| {
            move |source| SeccompError::Listener {
                path: self.path.display().to_string(),
                op,
                source,
            }
        };
        let sock = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(fail("socket"))?;
        let addr = UnixAddr::new(&self.path).map_err(fail("address"))?;
        connect(sock.as_raw_fd(), &addr).map_err(fail("connect"))?;
        let payload = self.payload(pid);
        let fds = [fd.as_raw_fd()];
        let sent = sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(&payload)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(fail("sendmsg"))?;
        // A stream may take part of it; the fd went with the first part.
        let mut rest = &payload[sent..];
        while !rest.is_empty() {
            let n = nix::sys::socket::send(sock.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL)
                .map_err(fail("send"))?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// The container process state: `fds` names the SCM_RIGHTS fds in order.
    fn payload(&self, pid: i32) -> Vec<u8> {
        let mut state = self.state.clone();
        if let Some(obj) = state.as_object_mut() {
            obj.insert("pid".into(), pid.into());
        }
        let mut msg = serde_json::json!({
            "ociVersion": "1.3.0",
            "fds": ["seccompFd"],
            "pid": pid,
            "state": state,
        });
        if let Some(metadata) = &self.metadata {
            msg["metadata"] = metadata.clone().into();
        }
        serde_json::to_vec(&msg).expect("the process state serializes")
    }
}
