//! criu-notify: a CRIU plugin that checkpoints and restores inotify and
//! epoll file descriptors exactly.
//!
//! Module map (one concern each):
//! - [`plugin`]: the C ABI boundary (CR_PLUGIN_DESC, hooks, panic guard);
//! - [`criu`]: CRIU's log, image framing, the images we read, the takeover;
//! - [`sys`]: syscalls and /proc parsing no crate covers (the only other
//!   place with `unsafe`);
//! - [`inotify`], [`epoll`]: capture at dump, recreate at restore;
//! - [`dump`], [`restore`]: the two stages, driving the above.

pub mod config;
pub mod criu;
pub mod deadline;
pub mod dump;
pub mod epoll;
pub mod error;
pub mod inotify;
pub mod plugin;
pub mod proto;
pub mod restore;
pub mod sys;

pub use error::Error;

/// Hold `v` until the criu process exits (statics are never dropped). For
/// large decoded images once they are spent: freeing 100k watches one
/// allocation at a time takes milliseconds in which the tasks would stay
/// frozen (dump) or stopped (restore); the process's exit, right after
/// CRIU resumes them, releases the memory at once.
pub(crate) fn keep_until_exit(v: Box<dyn std::any::Any + Send>) {
    static KEPT: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(v);
}
