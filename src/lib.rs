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
pub mod dump;
pub mod epoll;
pub mod error;
pub mod inotify;
pub mod plugin;
pub mod proto;
pub mod restore;
pub mod sys;

pub use error::Error;
