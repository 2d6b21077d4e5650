//! The one protocol between `rt create` (the parent) and the process that
//! becomes the container (the child): named messages, one JSON-encoded
//! message per SOCK_SEQPACKET packet. A closed socket means the other side
//! died, so neither side can wait forever on a dead peer.
//!
//! The exchange, in order:
//! 1. parent → `Proceed` once the child is in its cgroups.
//! 2. child → `NeedIdMaps` after unsharing a user namespace; parent writes
//!    uid_map/gid_map and answers `IdMapsWritten`.
//! 3. child → `InitPid` with the host PID of the container's init (it differs
//!    from the child's when a PID namespace needed one more fork).
//! 4. child → `RunHooks` when the config has prestart or createRuntime
//!    hooks, after its mounts and before pivot_root; the parent runs them in
//!    the runtime namespace and answers `HooksDone`.
//! 5. child → `SeccompFd` when its seccomp profile uses SCMP_ACT_NOTIFY,
//!    right after loading the filter, with the listener fd in SCM_RIGHTS
//!    (`send_with_fd`);
//!    the parent sends it to the profile's listenerPath and answers
//!    `SeccompFdSent`.
//! 6. child → `Ready` when the container waits for `start`, or `Failed` at
//!    any point before.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[derive(Serialize, Deserialize, Debug)]
pub enum ToParent {
    NeedIdMaps,
    InitPid { pid: i32 },
    RunHooks,
    SeccompFd,
    Ready,
    Failed { error: String },
}

#[derive(Serialize, Deserialize, Debug)]
pub enum ToChild {
    Proceed,
    IdMapsWritten,
    HooksDone,
    SeccompFdSent,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("socketpair: {0}")]
    Socket(nix::Error),
    #[error("send {0}: {1}")]
    Send(&'static str, nix::Error),
    #[error("receive: {0}")]
    Recv(nix::Error),
    #[error("receive: malformed message: {0}")]
    Decode(serde_json::Error),
}

/// One end of the channel: sends `S`, receives `R`.
pub struct Channel<S, R> {
    fd: OwnedFd,
    _types: PhantomData<(S, R)>,
}

pub type ParentEnd = Channel<ToChild, ToParent>;
pub type ChildEnd = Channel<ToParent, ToChild>;

/// Creates the connected pair (close-on-exec: it never reaches the program).
pub fn channel() -> Result<(ParentEnd, ChildEnd), ProtocolError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ProtocolError::Socket)?;
    Ok((Channel::new(a), Channel::new(b)))
}

const MAX_MESSAGE: usize = 64 * 1024;

impl<S: Message, R: Message> Channel<S, R> {
    fn new(fd: OwnedFd) -> Self {
        Channel {
            fd,
            _types: PhantomData,
        }
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &S) -> Result<(), ProtocolError> {
        let data = serde_json::to_vec(msg).expect("protocol messages serialize");
        nix::sys::socket::send(
            self.fd.as_raw_fd(),
            &data,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )
        .map(drop)
        .map_err(|e| ProtocolError::Send(msg.name(), e))
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, msg: &S, fd: BorrowedFd) -> Result<(), ProtocolError> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        let data = serde_json::to_vec(msg).expect("protocol messages serialize");
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[std::io::IoSlice::new(&data)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(drop)
        .map_err(|e| ProtocolError::Send(msg.name(), e))
    }

    /// The next message, or `None` when the peer has closed its end.
    pub fn recv(&self) -> Result<Option<R>, ProtocolError> {
        Ok(self.recv_with_fd()?.map(|(msg, _)| msg))
    }

    /// The next message and the fd sent with it, if any.
    pub fn recv_with_fd(&self) -> Result<Option<(R, Option<OwnedFd>)>, ProtocolError> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(ProtocolError::Recv(e)),
                Ok(msg) => {
                    let mut fd = None;
                    for cmsg in msg.cmsgs().map_err(ProtocolError::Recv)? {
                        if let ControlMessageOwned::ScmRights(fds) = cmsg {
                            // SAFETY: the kernel just gave us these fds.
                            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
                        }
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(|msg| Some((msg, fd)))
            .map_err(ProtocolError::Decode)
    }
}

/// A message's name, for errors ("send Ready: broken pipe").
pub trait Message: Serialize + DeserializeOwned {
    fn name(&self) -> &'static str;
}

impl Message for ToParent {
    fn name(&self) -> &'static str {
        match self {
            ToParent::NeedIdMaps => "NeedIdMaps",
            ToParent::InitPid { .. } => "InitPid",
            ToParent::RunHooks => "RunHooks",
            ToParent::SeccompFd => "SeccompFd",
            ToParent::Ready => "Ready",
            ToParent::Failed { .. } => "Failed",
        }
    }
}

impl Message for ToChild {
    fn name(&self) -> &'static str {
        match self {
            ToChild::Proceed => "Proceed",
            ToChild::IdMapsWritten => "IdMapsWritten",
            ToChild::HooksDone => "HooksDone",
            ToChild::SeccompFdSent => "SeccompFdSent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_the_pair_and_eof_is_none() {
        let (parent, child) = channel().unwrap();
        child.send(&ToParent::InitPid { pid: 7 }).unwrap();
        parent.send(&ToChild::Proceed).unwrap();
        assert!(matches!(
            parent.recv().unwrap(),
            Some(ToParent::InitPid { pid: 7 })
        ));
        assert!(matches!(child.recv().unwrap(), Some(ToChild::Proceed)));
        drop(child);
        assert!(parent.recv().unwrap().is_none());
    }

    #[test]
    fn an_fd_crosses_with_its_message() {
        let (parent, child) = channel().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        child
            .send_with_fd(&ToParent::SeccompFd, std::os::fd::AsFd::as_fd(&file))
            .unwrap();
        let (msg, fd) = parent.recv_with_fd().unwrap().unwrap();
        assert!(matches!(msg, ToParent::SeccompFd));
        let fd = fd.expect("an fd came with the message");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert!(link.ends_with("status"), "{link:?}");
    }
}
