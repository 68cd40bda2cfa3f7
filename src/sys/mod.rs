//! Syscalls and /proc parsing that no crate covers, behind safe functions.
//! rustix does the rest. `unsafe` is allowed here and in `plugin` only.

pub mod criu_syms;
pub mod fdinfo;
pub mod fhandle;
pub mod kcmp;
pub mod mountinfo;
pub mod mounts;
pub mod net;
pub mod notify;
pub mod proc;
pub mod shared;

use thiserror::Error;

pub use rustix::io::Errno;

/// A failed system call, with what it was called on.
#[derive(Debug, Error)]
#[error("{op} {object}: {errno}")]
pub struct SysError {
    /// The operation ("open", "pidfd_getfd", ..).
    pub op: &'static str,
    /// What it was applied to: a path, "pid 12 fd 3", ...
    pub object: String,
    /// The kernel's answer.
    pub errno: Errno,
}

impl SysError {
    pub fn new(op: &'static str, object: impl std::fmt::Display, errno: Errno) -> SysError {
        SysError { op, object: object.to_string(), errno }
    }
}

/// Attach an operation and object to an `Errno` result.
pub trait Context<T> {
    fn ctx(self, op: &'static str, object: impl std::fmt::Display) -> Result<T, SysError>;
}

impl<T> Context<T> for Result<T, Errno> {
    fn ctx(self, op: &'static str, object: impl std::fmt::Display) -> Result<T, SysError> {
        self.map_err(|e| SysError::new(op, object, e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, object: impl std::fmt::Display) -> Result<T, SysError> {
        self.map_err(|e| SysError::new(op, object, Errno::from_io_error(&e).unwrap_or(Errno::IO)))
    }
}
