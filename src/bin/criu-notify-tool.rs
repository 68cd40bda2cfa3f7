//! criu-notify-tool: small helpers for scripts, built on the plugin's own
//! image reader.
//!
//! `criu-notify-tool stats <image-dir>` decodes CRIU's `stats-dump` and
//! `stats-restore` (whichever exist) and prints one line of `key=value`
//! times in microseconds, e.g.
//! `freezing_time_us=.. frozen_time_us=.. memdump_time_us=.. memwrite_time_us=.. restore_time_us=.. forking_time_us=..`.
//! `make bench` (test/scripts/bench.sh) reads it.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;

use criu_notify::criu::image::{decode_all, open_dir, read_file, STATS};
use criu_notify::proto::StatsEntry;

/// The image files CRIU writes its timings to.
const STATS_FILES: [&str; 2] = ["stats-dump", "stats-restore"];

/// `key=value` pairs of every stats image in `dir`; an error when there is
/// none or one does not decode.
fn stats(dir: &Path) -> Result<Vec<(&'static str, u32)>, String> {
    let d = open_dir(dir).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut found = false;
    for name in STATS_FILES {
        let Some(bytes) = read_file(d.as_fd(), name).map_err(|e| e.to_string())? else { continue };
        found = true;
        for entry in decode_all::<StatsEntry>(name, STATS, &bytes).map_err(|e| e.to_string())? {
            if let Some(s) = entry.dump {
                out.push(("freezing_time_us", s.freezing_time));
                out.push(("frozen_time_us", s.frozen_time));
                out.push(("memdump_time_us", s.memdump_time));
                out.push(("memwrite_time_us", s.memwrite_time));
            }
            if let Some(s) = entry.restore {
                out.push(("restore_time_us", s.restore_time));
                out.push(("forking_time_us", s.forking_time));
            }
        }
    }
    if !found {
        return Err(format!("{}: no stats-dump or stats-restore", dir.display()));
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1..).unwrap_or_default() {
        [cmd, dir] if cmd == "stats" => match stats(Path::new(dir)) {
            Ok(kv) => {
                let line: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{}", line.join(" "));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("criu-notify-tool: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: criu-notify-tool stats <image-dir>");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use criu_notify::criu::image::{encode_messages, write_file, IMAGE_MODE};
    use criu_notify::proto::{DumpStatsEntry, RestoreStatsEntry};

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("criu-notify-tool-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dump_and_restore_stats() {
        let dir = tmpdir("both");
        let d = open_dir(&dir).unwrap();
        let dump = StatsEntry {
            dump: Some(DumpStatsEntry { freezing_time: 1, frozen_time: 2, memdump_time: 3, memwrite_time: 4, irmap_resolve: None }),
            restore: None,
        };
        let restore = StatsEntry { dump: None, restore: Some(RestoreStatsEntry { forking_time: 5, restore_time: 6 }) };
        write_file(d.as_fd(), "stats-dump", &encode_messages(STATS, &[dump]), IMAGE_MODE).unwrap();
        write_file(d.as_fd(), "stats-restore", &encode_messages(STATS, &[restore]), IMAGE_MODE).unwrap();
        assert_eq!(
            stats(&dir).unwrap(),
            vec![
                ("freezing_time_us", 1),
                ("frozen_time_us", 2),
                ("memdump_time_us", 3),
                ("memwrite_time_us", 4),
                ("restore_time_us", 6),
                ("forking_time_us", 5),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_or_bad_stats_are_errors() {
        let dir = tmpdir("bad");
        assert!(stats(&dir).unwrap_err().contains("no stats-dump"));
        std::fs::write(dir.join("stats-dump"), b"\x40\x59\x10\x55\0\0\0\0").unwrap();
        let e = stats(&dir).unwrap_err();
        assert!(e.contains("stats-dump") && e.contains("magic"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
