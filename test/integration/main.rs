//! Integration tests: the real `criu` binary against real processes, with
//! and without the plugin. Run by `make integration`:
//!
//!   CRIU=<criu> CRIU_NOTIFY_PLUGIN_DIR=<abs plugins dir> \
//!       cargo test --release --test criu -- --test-threads=1
//!
//! Without those variables the harness uses `.cache/criu-path` and
//! `plugins/` of this repository. Scenario programs live in `test/progs/`
//! (protocol and record format: `test/progs/common.h`); binaries, images,
//! logs and records of every test are kept in `test/out/<test>/`.

mod harness;

mod criu_alone;
mod epoll;
mod ext_hook;
mod failures;
mod hostile;
mod inotify;
mod irmap;
mod loading;
mod migration;
mod modes;
