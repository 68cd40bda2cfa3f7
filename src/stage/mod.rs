//! The two stages, between the FFI boundary above and the per-kind logic
//! below: what each hook does at dump and at restore. They take their
//! vocabulary from here and from the rooms below, never from `plugin`.

pub mod dump;
pub mod irmap;
pub mod restore;

use std::ffi::c_int;

/// Hook return: "not mine, ask the next plugin".
pub const ENOTSUP: c_int = -libc::ENOTSUP;

/// What a hook body returns: `Ok(n)` is handed to CRIU as is (a fd, 0, or
/// -ENOTSUP); `Err` is logged and becomes a negative errno at the boundary.
pub type HookResult = Result<c_int, crate::Error>;

/// Hold `v` until the criu process exits (statics are never dropped). For
/// large decoded images once they are spent: freeing 100k watches one
/// allocation at a time takes milliseconds in which the tasks would stay
/// frozen (dump) or stopped (restore); the process's exit, right after
/// CRIU resumes them, releases the memory at once.
pub(crate) fn keep_until_exit(v: Box<dyn std::any::Any + Send>) {
    static KEPT: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(v);
}
