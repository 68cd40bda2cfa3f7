//! Epoll instances: capture the real (file, fd number) keys at dump, and
//! re-register every target under its original number at restore, once all
//! targets exist.

pub mod capture;
pub mod restore;
pub mod targets;

use thiserror::Error;

use crate::ids::{FdNum, FileId, RealPid};
use crate::sys::SysError;

/// Event bits the kernel keeps with an item but never reports.
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
pub const PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

#[derive(Debug, Error)]
pub enum EpollError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error(transparent)]
    Tree(#[from] crate::criu::tree::TreeError),
    #[error("eventpoll id {id}: {source}")]
    Deadline {
        id: FileId,
        #[source]
        source: crate::deadline::DeadlineError,
    },
    #[error("eventpoll pid {pid} fd {fd}: {source}")]
    Fdinfo {
        pid: RealPid,
        fd: FdNum,
        #[source]
        source: crate::sys::fdinfo::FdinfoError,
    },
    #[error("eventpoll id {id} (pid {pid} fd {fd}): the target registered as fd {tfd} is not open in any dumped task")]
    TargetNotFound { id: FileId, pid: RealPid, fd: FdNum, tfd: i32 },
    #[error("eventpoll id {id}: target file id {target} (registered as fd {tfd}) does not exist in the restored tree")]
    TargetMissing { id: u32, target: u32, tfd: u32 },
    #[error("eventpoll id {id}: cannot register target file id {target} as fd {tfd}: {source}")]
    Register {
        id: u32,
        target: u32,
        tfd: u32,
        #[source]
        source: SysError,
    },
    #[error("eventpoll id {id}: invalid image data: {what}")]
    BadImage { id: u32, what: String },
    #[error("eventpoll id {id}: after restore the kernel shows {what}")]
    Mismatch { id: u32, what: String },
}

impl EpollError {
    pub fn errno(&self) -> i32 {
        match self {
            EpollError::Sys(e) | EpollError::Register { source: e, .. } => e.errno.raw_os_error(),
            EpollError::TargetNotFound { .. } | EpollError::TargetMissing { .. } => libc::ENOENT,
            EpollError::Deadline { .. } => libc::ETIMEDOUT,
            _ => libc::EINVAL,
        }
    }
}
