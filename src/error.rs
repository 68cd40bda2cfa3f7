//! The crate's error: one variant per room, each carrying the object it
//! concerns. Converted to a log line and an errno only at the FFI boundary.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] crate::criu::image::ImageError),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    Tree(#[from] crate::criu::tree::TreeError),
    #[error(transparent)]
    Takeover(#[from] crate::criu::takeover::TakeoverError),
    #[error(transparent)]
    Inotify(#[from] crate::inotify::InotifyError),
    #[error(transparent)]
    Epoll(#[from] crate::epoll::EpollError),
    #[error(transparent)]
    Deadline(#[from] crate::deadline::DeadlineError),
    #[error(transparent)]
    Format(#[from] crate::criu::format::TooNew),
    #[error("image {file}: {what}")]
    BadImage { file: String, what: String },
}

impl Error {
    /// The errno a hook returns for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Sys(e) => e.errno.raw_os_error(),
            Error::Inotify(e) => e.errno(),
            Error::Epoll(e) => e.errno(),
            Error::Deadline(_) => libc::ETIMEDOUT,
            _ => libc::EINVAL,
        }
    }
}
