//! The `log` facade, bridged into CRIU's own log (`print_on_level`).
//!
//! Every line is prefixed with `notify_plugin: ` so that it can be found in
//! `dump.log` / `restore.log`. CRIU filters by its own `-v` level; outside
//! criu (unit tests, tools) lines go to stderr.

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::sys::criu_syms;

/// The prefix of every line the plugin logs.
pub const PREFIX: &str = "notify_plugin: ";

struct CriuLog;

/// CRIU's numeric level for a `log` level.
pub fn criu_level(level: Level) -> u32 {
    match level {
        Level::Error => 1,
        Level::Warn => 2,
        Level::Info => 3,
        Level::Debug | Level::Trace => 4,
    }
}

impl Log for CriuLog {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let line = format!("{PREFIX}{}", record.args());
        // CRIU formats into one static buffer: one line at a time, even
        // when several of the plugin's threads log.
        let _one = LINE.lock().unwrap_or_else(|p| p.into_inner());
        if !criu_syms::print(criu_level(record.level()), &line) {
            eprintln!("{:<5} {line}", record.level());
        }
    }

    fn flush(&self) {}
}

static LOGGER: CriuLog = CriuLog;
static LINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Install the bridge (idempotent).
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_criu() {
        assert_eq!(criu_level(Level::Error), 1);
        assert_eq!(criu_level(Level::Warn), 2);
        assert_eq!(criu_level(Level::Info), 3);
        assert_eq!(criu_level(Level::Debug), 4);
    }

    #[test]
    fn logging_without_criu_goes_to_stderr() {
        init();
        log::info!("hello from a test");
        assert!(!criu_syms::in_criu());
    }
}
