//! criu-notify: a CRIU plugin that checkpoints and restores inotify and
//! epoll file descriptors exactly.
//!
//! Module map, top to bottom. A room uses only the rooms below it (the test
//! `rooms_import_only_downward` checks every `crate::` path):
//!
//! | room | owns | may use |
//! | --- | --- | --- |
//! | [`plugin`] | the C ABI: `CR_PLUGIN_DESC`, the `extern "C"` hooks, the panic guard | everything below |
//! | [`stage`] | what each hook does: [`stage::dump`] (capture -> encode -> rewrite -> commit), [`stage::restore`] (load -> open -> complete), the hook result vocabulary | `error` and below |
//! | [`error`] | the crate's error: one variant per room, the errno a hook returns | the rooms below |
//! | [`inotify`], [`epoll`] | per kind: capture (task -> image entry), restore (entry -> fds), their errors | `criu`, `sys`, leaves |
//! | [`criu`] | CRIU's side: image framing and our image names, the one protobuf wire scanner, the dumped tree, the takeover rewrite and commit, our format version, the log bridge | `sys`, leaves |
//! | [`sys`] | syscalls and /proc parsing no crate covers, behind safe functions; criu's exported symbols | nothing of ours |
//! | leaves: [`config`], [`deadline`], [`ids`], [`par`], [`proto`] | settings; time budgets; the pid, file id and fd number types; splitting work over cores; the generated messages | nothing of ours |
//!
//! `unsafe` is allowed only in `plugin` and in `sys` (see `[lints]` in
//! Cargo.toml); every block says why it is sound.

pub mod config;
pub mod criu;
pub mod deadline;
pub mod epoll;
pub mod error;
pub mod ids;
pub mod inotify;
pub mod par;
pub mod plugin;
pub mod proto;
pub mod stage;
pub mod sys;

pub use error::Error;

#[cfg(test)]
mod tests {
    /// The rooms each room may name with `crate::`: the table of the crate
    /// documentation, as data.
    const MAY_USE: &[(&str, &[&str])] = &[
        ("plugin", &["stage", "error", "inotify", "epoll", "criu", "sys", "config", "deadline", "ids", "par", "proto", "Error"]),
        ("stage", &["error", "inotify", "epoll", "criu", "sys", "config", "deadline", "ids", "par", "proto", "Error"]),
        ("error", &["inotify", "epoll", "criu", "sys", "deadline", "ids"]),
        ("inotify", &["criu", "sys", "config", "deadline", "ids", "par", "proto"]),
        ("epoll", &["criu", "sys", "config", "deadline", "ids", "par", "proto"]),
        ("criu", &["sys", "ids", "par", "proto"]),
        ("sys", &["ids"]),
        ("config", &[]),
        ("deadline", &[]),
        ("ids", &[]),
        ("par", &[]),
        ("proto", &[]),
    ];

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn rooms_import_only_downward() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let (mut wrong, mut seen) = (Vec::new(), 0usize);
        for f in &files {
            let rel = f.strip_prefix(&src).unwrap();
            let room = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            if room == "lib" || room == "bin" {
                continue;
            }
            let allowed =
                MAY_USE.iter().find(|(r, _)| *r == room).map(|(_, a)| *a).unwrap_or_else(|| panic!("room {room} is not in MAY_USE"));
            let text = std::fs::read_to_string(f).unwrap();
            for (i, line) in text.lines().enumerate() {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + 7..];
                    let ident = |s: &str| s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
                    // `crate::{a, b::c}` names several rooms.
                    let used: Vec<String> = match rest.strip_prefix('{') {
                        Some(list) => list.split('}').next().unwrap_or("").split(',').map(ident).collect(),
                        None => vec![ident(rest)],
                    };
                    for u in used.into_iter().filter(|u| !u.is_empty()) {
                        seen += 1;
                        if u != room && !allowed.contains(&u.as_str()) {
                            wrong.push(format!("{}:{}: {room} uses crate::{u}", rel.display(), i + 1));
                        }
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} crate:: paths found: is the scan looking at src/?");
        assert!(wrong.is_empty(), "imports against the room order:\n{}", wrong.join("\n"));
    }
}
