//! User settings: environment first, then a config file.
//!
//! runc passes its environment to criu, so `CRIU_NOTIFY_*` variables work
//! there. podman does not: it reads the same keys from a file,
//! `$CRIU_NOTIFY_CONFIG` or else `/etc/criu/notify-plugin.conf`, one
//! `key = value` per line (`#` starts a comment). Keys are the variable names
//! without the `CRIU_NOTIFY_` prefix, in lower case: `queued = refuse`,
//! `follow_paths = yes`, `deadline = 5`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Default budget of each step that runs while tasks are frozen or stopped.
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Default config file location (next to CRIU's own `/etc/criu/` configs).
pub const DEFAULT_FILE: &str = "/etc/criu/notify-plugin.conf";

/// What to do with inotify events queued but unread at dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuedPolicy {
    /// Dump anyway; log how many bytes are dropped per fd (default).
    Drop,
    /// Fail the dump before anything is written; the task keeps running.
    Refuse,
}

/// When to find, at CHECKPOINT_DEVICES, paths for watched objects CRIU's
/// own dump cannot open by file handle (which reads every inotify
/// instance's fdinfo once more while the tasks are frozen: 0.2-0.4 s for
/// 100k watches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindPaths {
    /// When a mount namespace of the tree has an overlay mount without
    /// `nfs_export` (container root filesystems), where CRIU fails for any
    /// watch on it (default).
    Auto,
    /// Always: also watches on procfs and sysfs.
    Yes,
    /// Never.
    No,
}

/// The plugin's settings for one criu run.
#[derive(Clone, Debug)]
pub struct Config {
    pub queued: QueuedPolicy,
    /// Watch whatever object now sits at the dumped path even when it is a
    /// different object on the same filesystem (replaced while checkpointed).
    pub follow_paths: bool,
    /// Budget of the takeover (tasks frozen) and of the restore's late pass
    /// (tasks stopped), each. Past it the plugin gives up: CRIU's own images
    /// stay (dump), the restore fails (restore).
    pub deadline: std::time::Duration,
    /// See [`FindPaths`].
    pub find_paths: FindPaths,
    /// A `deadline` value that could not be used, for the log.
    pub bad_deadline: Option<String>,
    /// Test builds only (feature `fault-injection`; always `None`
    /// otherwise): the name of a step that must fail.
    pub fault: Option<String>,
    /// Where the file settings came from, for the log.
    pub source: Option<String>,
}

fn parse_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// Seconds, as a positive decimal number ("5", "0.5").
fn parse_seconds(v: &str) -> Option<std::time::Duration> {
    let s: f64 = v.trim().trim_end_matches('s').parse().ok()?;
    (s.is_finite() && s > 0.0 && s < 1e6).then(|| std::time::Duration::from_secs_f64(s))
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "true" | "on")
}

impl Config {
    /// Build from an environment lookup and the text of a config file.
    pub fn from_sources(env: impl Fn(&str) -> Option<String>, file: Option<(&str, &str)>) -> Config {
        let filemap = file.map(|(_, t)| parse_file(t)).unwrap_or_default();
        let get = |key: &str| env(&format!("CRIU_NOTIFY_{}", key.to_ascii_uppercase())).or_else(|| filemap.get(key).cloned());
        Config {
            queued: match get("queued").as_deref() {
                Some(v) if v.eq_ignore_ascii_case("refuse") => QueuedPolicy::Refuse,
                _ => QueuedPolicy::Drop,
            },
            follow_paths: get("follow_paths").is_some_and(|v| truthy(&v)),
            deadline: get("deadline").as_deref().and_then(parse_seconds).unwrap_or(DEFAULT_DEADLINE),
            bad_deadline: get("deadline").filter(|v| parse_seconds(v).is_none()),
            find_paths: match get("find_paths").map(|v| v.to_ascii_lowercase()).as_deref() {
                Some("yes" | "1" | "true" | "on" | "always") => FindPaths::Yes,
                Some("no" | "0" | "false" | "off" | "never") => FindPaths::No,
                _ => FindPaths::Auto,
            },
            fault: if cfg!(feature = "fault-injection") { get("fault").filter(|v| !v.is_empty()) } else { None },
            source: file.map(|(p, _)| p.to_owned()),
        }
    }

    /// The settings of this process (read once).
    pub fn get() -> &'static Config {
        static CFG: OnceLock<Config> = OnceLock::new();
        CFG.get_or_init(|| {
            let path = std::env::var("CRIU_NOTIFY_CONFIG").unwrap_or_else(|_| DEFAULT_FILE.to_owned());
            let text = std::fs::read_to_string(&path).ok();
            Config::from_sources(|k| std::env::var(k).ok(), text.as_deref().map(|t| (path.as_str(), t)))
        })
    }

    /// True when the test-only fault `step` was asked for (never in a
    /// build without the `fault-injection` feature).
    pub fn fault(&self, step: &str) -> bool {
        cfg!(feature = "fault-injection") && self.fault.as_deref() == Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_sources(|_| None, None);
        assert_eq!(c.queued, QueuedPolicy::Drop);
        assert!(!c.follow_paths);
        assert!(c.fault.is_none());
        assert_eq!(c.deadline, DEFAULT_DEADLINE);
        assert_eq!(c.find_paths, FindPaths::Auto);
        let c = Config::from_sources(|k| (k == "CRIU_NOTIFY_FIND_PATHS").then(|| "yes".to_owned()), None);
        assert_eq!(c.find_paths, FindPaths::Yes);
        let c = Config::from_sources(|_| None, Some(("/etc/x", "find_paths = no\n")));
        assert_eq!(c.find_paths, FindPaths::No);
    }

    #[test]
    fn deadline_in_seconds() {
        let c = Config::from_sources(|k| (k == "CRIU_NOTIFY_DEADLINE").then(|| "0.25".to_owned()), None);
        assert_eq!(c.deadline, std::time::Duration::from_millis(250));
        let c = Config::from_sources(|_| None, Some(("/etc/x", "deadline = 12s\n")));
        assert_eq!(c.deadline, std::time::Duration::from_secs(12));
        for bad in ["0", "-1", "soon", "inf"] {
            let c = Config::from_sources(|k| (k == "CRIU_NOTIFY_DEADLINE").then(|| bad.to_owned()), None);
            assert_eq!(c.deadline, DEFAULT_DEADLINE, "{bad}");
            assert_eq!(c.bad_deadline.as_deref(), Some(bad));
        }
    }

    #[test]
    fn file_then_env() {
        let file = "# comment\nqueued = refuse\nfollow_paths=yes # trailing\n";
        let c = Config::from_sources(|_| None, Some(("/etc/x", file)));
        assert_eq!(c.queued, QueuedPolicy::Refuse);
        assert!(c.follow_paths);
        let c = Config::from_sources(|k| (k == "CRIU_NOTIFY_QUEUED").then(|| "drop".to_owned()), Some(("/etc/x", file)));
        assert_eq!(c.queued, QueuedPolicy::Drop);
        assert!(c.follow_paths);
    }
}
