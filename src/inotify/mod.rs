//! Inotify instances: capture at dump (from the frozen task's fdinfo, file
//! handles and paths) and exact re-creation at restore (same wds, masks,
//! flags; identity checked by file handle, path as the way back).

pub mod capture;
pub mod overlay;
pub mod paths;
pub mod restore;
pub mod scan;

use thiserror::Error;

use crate::sys::SysError;

/// Inotify-specific mask bits the kernel stores with a mark.
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;

#[derive(Debug, Error)]
pub enum InotifyError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("inotify id {id}: {source}")]
    Deadline {
        id: u32,
        #[source]
        source: crate::deadline::DeadlineError,
    },
    #[error("inotify pid {pid} fd {fd}: {source}")]
    Fdinfo {
        pid: i32,
        fd: i32,
        #[source]
        source: crate::sys::fdinfo::FdinfoError,
    },
    #[error("inotify id {id} wd {wd} (dev {dev:#x} ino {ino:#x}): the filesystem cannot encode a file handle")]
    NoHandle { id: u32, wd: i32, dev: u32, ino: u64 },
    #[error("inotify id {id} wd {wd}: cannot open the watched object (dev {dev:#x} ino {ino:#x}) by its handle: {source}")]
    Unreachable {
        id: u32,
        wd: i32,
        dev: u32,
        ino: u64,
        #[source]
        source: SysError,
    },
    #[error("inotify id {id} wd {wd}: cannot name the watched object (dev {dev:#x} ino {ino:#x}) as the task sees it: {what}")]
    NotVisible { id: u32, wd: i32, dev: u32, ino: u64, what: String },
    #[error("inotify id {id} wd {wd}: watched object {path:?} was unlinked and no dumped task holds it open")]
    UnlinkedNotHeld { id: u32, wd: i32, path: String },
    #[error("inotify id {id} wd {wd}: path {path:?} from the image is not a clean absolute path")]
    BadPath { id: u32, wd: i32, path: String },
    #[error("inotify id {id} wd {wd}: cannot watch {path:?}: {source}")]
    AddWatch {
        id: u32,
        wd: i32,
        path: String,
        #[source]
        source: SysError,
    },
    #[error("inotify id {id}: watch for {path:?} got wd {got}, expected {wd} (wd already taken?)")]
    WrongWd { id: u32, wd: i32, got: i32, path: String },
    #[error("inotify id {id} wd {wd}: {path:?} is not the object that was watched at dump (same filesystem, different file handle: replaced while checkpointed); set CRIU_NOTIFY_FOLLOW_PATHS=yes to watch it anyway")]
    Replaced { id: u32, wd: i32, path: String },
    #[error("inotify id {id} wd {wd}: after restore the kernel shows {what}")]
    Mismatch { id: u32, wd: i32, what: String },
    #[error("inotify id {id} wd {wd}: invalid image data: {what}")]
    BadImage { id: u32, wd: i32, what: String },
    #[error("inotify pid {pid} fd {fd}: {bytes} bytes of queued events would be dropped and CRIU_NOTIFY_QUEUED=refuse")]
    QueuedRefused { pid: i32, fd: i32, bytes: u64 },
    #[error(transparent)]
    NoPath(#[from] paths::PathError),
}

impl InotifyError {
    pub fn errno(&self) -> i32 {
        match self {
            InotifyError::Sys(e) | InotifyError::Unreachable { source: e, .. } | InotifyError::AddWatch { source: e, .. } => {
                e.errno.raw_os_error()
            }
            InotifyError::QueuedRefused { .. } => libc::EBUSY,
            InotifyError::Deadline { .. } => libc::ETIMEDOUT,
            InotifyError::NoHandle { .. } => libc::EOPNOTSUPP,
            InotifyError::Replaced { .. } => libc::ESTALE,
            InotifyError::NoPath(e) => e.errno(),
            _ => libc::EINVAL,
        }
    }
}
