//! The DUMP_EXT_FILE path, with real inotify and epoll fds.
//!
//! Stock CRIU never offers inotify/epoll fds to plugins, so these tests need
//! a CRIU build that does: `test/scripts/provision-criu-ext.sh` patches two
//! lines of criu/files.c (dump_one_file) in a copy of the provisioned tree so
//! that such fds go through dump_unsupp_fd() -> files-ext.c ->
//! `run_plugins(DUMP_EXT_FILE, lfd, id)` and an EXT entry in files.img, and
//! prints the binary's path. Set `CRIU_EXT` to it (`make integration` does);
//! without it every test here says it is skipped and passes.
//!
//! Each case: a control run, then the same scenario dumped by that criu with
//! the plugin and restored with the plugin (by the stock criu, `$CRIU`, or
//! by the ext build). Checked: dump.log has one `DUMP_EXT_FILE: id N
//! (<link>) will be dumped by the plugin` and one `owns <kind> id N
//! (DUMP_EXT_FILE)` line per file and nothing from CRIU's own inotify/epoll
//! dump code; files.img holds those ids as EXT entries; restore.log has
//! `restored <kind> id N` for the same ids and nothing from CRIU's own
//! restore code; /proc/PID/fdinfo of every inotify/epoll fd of the tree
//! (flags, watches, registrations) is the same after restore as before the
//! dump; the scenario's record (events, later add_watch/epoll_ctl results)
//! equals the control run's.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;

/// The DUMP_EXT_FILE-enabled criu, or None (test skipped) when unset.
fn criu_ext(test: &str) -> Option<PathBuf> {
    match std::env::var_os("CRIU_EXT").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.exists(), "CRIU_EXT={} does not exist", p.display());
            Some(p)
        }
        None => {
            eprintln!(
                "SKIPPED {test}: CRIU_EXT is not set (the CRIU build that hands inotify/epoll fds to \
                 DUMP_EXT_FILE; `bash test/scripts/provision-criu-ext.sh` builds it and prints its path, \
                 `make integration` sets it)"
            );
            None
        }
    }
}

fn common_args(cmd: &str, dir: &Path) -> Vec<String> {
    [
        cmd,
        "--no-default-config",
        "-D",
        &dir.display().to_string(),
        "-v4",
        "-o",
        &format!("{cmd}.log"),
        "--lib",
        &env().plugins.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Flags, watches and registrations of every inotify/epoll fd of the
/// process group, from /proc/PID/fdinfo: one sorted line per fact. Target
/// inode/device/pos of epoll registrations are left out (restored pipes and
/// sockets are new inodes).
fn notify_fdinfo(pids: &[i32]) -> Vec<String> {
    let mut v = vec![];
    for &pid in pids {
        let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for e in rd.flatten() {
            let fd = e.file_name().to_string_lossy().into_owned();
            let Ok(link) = fs::read_link(e.path()) else {
                continue;
            };
            let link = link.to_string_lossy().into_owned();
            if link != "anon_inode:inotify" && link != "anon_inode:[eventpoll]" {
                continue;
            }
            let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
                continue;
            };
            for l in info.lines() {
                let fact = if l.starts_with("flags:") || l.starts_with("inotify wd:") {
                    l.split_whitespace().collect::<Vec<_>>().join(" ")
                } else if l.starts_with("tfd:") {
                    // tfd: N events: E data: D pos:.. ino:.. sdev:..
                    l.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
                } else {
                    continue;
                };
                v.push(format!("pid {pid} fd {fd} {link}: {fact}"));
            }
        }
    }
    v.sort();
    v
}

/// Ids of the EXT entries of files.img, and whether CRIU wrote any
/// INOTIFY/EVENTPOLL entry of its own (None: crit not available).
fn files_img_ext_ids(img: &Path) -> Option<(BTreeSet<u64>, bool)> {
    if env().criu_tree.is_none() {
        eprintln!("ext_hook: no crit (CRIU tree) found; files.img not checked");
        return None;
    }
    let text = crit_decode(&img.join("files.img")).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut ids = BTreeSet::new();
    let mut criu_own = false;
    for (i, l) in lines.iter().enumerate() {
        if *l == "\"type\": \"INOTIFY\"," || *l == "\"type\": \"EVENTPOLL\"," {
            criu_own = true;
        }
        if *l == "\"type\": \"EXT\"," {
            let id = lines
                .get(i + 1)
                .and_then(|n| n.strip_prefix("\"id\": "))
                .and_then(|n| n.trim_end_matches(',').parse().ok())
                .unwrap_or_else(|| panic!("files.img: no id after an EXT type:\n{text}"));
            ids.insert(id);
        }
    }
    Some((ids, criu_own))
}

/// Dump `prog case` with CRIU_EXT + the plugin, restore with the plugin by
/// `$CRIU` (or CRIU_EXT when `restore_with_ext`), check all of the above.
fn ext_case(test: &str, prog_name: &str, case: &str, n_inotify: usize, n_epoll: usize, restore_with_ext: bool) {
    let Some(ext) = criu_ext(test) else { return };
    let t = TestDir::new(test);
    let expected = control(&t, prog_name, case, |_| {});

    let mut r = Run::start(&t, "cr", prog_name, case, |_| {});
    let before = notify_fdinfo(&r.proc.group_pids());
    fs::create_dir_all(&r.img).unwrap();
    let mut args = common_args("dump", &r.img);
    args.extend(["-t".to_string(), r.proc.pid.to_string()]);
    let d = run_criu_at(&ext, "dump (CRIU_EXT)", &args, &r.img, "dump.log", &[]);
    assert!(d.ok(), "dump with CRIU_EXT failed\n{}", d.summary());
    assert!(r.proc.reap_group(Duration::from_secs(10)), "dumped tree of {} still present", r.proc.pid);
    let ctx = |x: &CriuResult| format!("\n--- {} plugin lines:\n{}", x.what, x.plugin_lines().join("\n"));

    // dump.log: every file came through DUMP_EXT_FILE and the plugin owns it.
    let mut handed = BTreeSet::new();
    for (kind, link, n) in [("inotify", "(anon_inode:inotify)", n_inotify), ("eventpoll", "(anon_inode:[eventpoll])", n_epoll)] {
        let ext_ids: Vec<u64> =
            d.log.lines().filter(|l| l.contains(link)).flat_map(|l| ids_after(l, "notify_plugin: DUMP_EXT_FILE: id ")).collect();
        for l in d.log.lines().filter(|l| l.contains("notify_plugin: DUMP_EXT_FILE: id ")) {
            assert!(l.ends_with("will be dumped by the plugin"), "{l}");
        }
        let owns: Vec<u64> = d
            .log
            .lines()
            .filter(|l| l.contains("(DUMP_EXT_FILE)"))
            .flat_map(|l| ids_after(l, &format!("notify_plugin: owns {kind} id ")))
            .collect();
        let all_owns = ids_after(&d.log, &format!("notify_plugin: owns {kind} id "));
        assert_eq!(ext_ids.len(), n, "{kind}: DUMP_EXT_FILE lines {ext_ids:?}{}", ctx(&d));
        assert_eq!(
            owns.iter().copied().collect::<BTreeSet<_>>(),
            ext_ids.iter().copied().collect::<BTreeSet<_>>(),
            "{kind}: `owns {kind} id N (DUMP_EXT_FILE)` ids vs DUMP_EXT_FILE ids{}",
            ctx(&d)
        );
        assert_eq!(all_owns.len(), n, "{kind}: owns lines {all_owns:?}{}", ctx(&d));
        handed.extend(ext_ids);
    }
    let (criu_ino, criu_ep) = criu_dumped_ids(&d.log);
    assert!(
        criu_ino.is_empty() && criu_ep.is_empty(),
        "CRIU's own code dumped inotify {criu_ino:?} / epoll {criu_ep:?}: is {} really the ext build?",
        ext.display()
    );
    if let Some((ids, criu_own)) = files_img_ext_ids(&r.img) {
        assert!(!criu_own, "files.img has INOTIFY/EVENTPOLL entries of CRIU's own");
        assert!(handed.is_subset(&ids), "files.img EXT ids {ids:?} lack some handed over {handed:?}");
    }

    // Restore with the plugin.
    let rs = if restore_with_ext {
        let mut args = common_args("restore", &r.img);
        args.push("-d".into());
        let rs = run_criu_at(&ext, "restore (CRIU_EXT)", &args, &r.img, "restore.log", &[]);
        r.proc.adopt();
        rs
    } else {
        r.restore(true, &[], &[])
    };
    assert!(rs.ok(), "restore failed\n{}{}", rs.summary(), ctx(&d));
    for kind in ["inotify", "eventpoll"] {
        let restored: BTreeSet<u64> = ids_after(&rs.log, &format!("notify_plugin: restored {kind} id ")).into_iter().collect();
        let owned: BTreeSet<u64> = ids_after(&d.log, &format!("notify_plugin: owns {kind} id ")).into_iter().collect();
        assert_eq!(restored, owned, "{kind}: restored vs dumped ids{}{}", ctx(&d), ctx(&rs));
    }
    let own = criu_own_notify_restore_lines(&rs.log);
    assert!(own.is_empty(), "CRIU's own restore code ran:\n{}", own.join("\n"));

    let after = notify_fdinfo(&r.proc.group_pids());
    assert_eq!(before.len(), after.len(), "fdinfo facts before/after:\n{}", diff(&before.join("\n"), &after.join("\n")));
    assert!(before == after, "fdinfo of inotify/epoll fds changed across C/R:\n{}", diff(&before.join("\n"), &after.join("\n")));
    assert!(before.iter().any(|l| l.contains("inotify wd:") || l.contains("tfd:")), "no watch or registration seen in fdinfo: {before:?}");

    let record = r.try_finish().unwrap_or_else(|e| panic!("{e}\n{}", rs.summary()));
    assert_same_record(&format!("{prog_name} {case}: control vs DUMP_EXT_FILE dump + restore"), &expected, &record);
    eprintln!(
        "{test}: dump {:.2}s, restore {:.2}s, {} files via DUMP_EXT_FILE, {} fdinfo facts kept",
        d.secs,
        rs.secs,
        handed.len(),
        before.len()
    );
}

/// Directory, file and hard-link watches of one instance.
#[test]
fn ext_inotify_basic() {
    ext_case("ext_inotify_basic", "inotify", "basic", 1, 0, false);
}

/// Three instances: flags, an owner with F_SETSIG + O_ASYNC (CRIU's EXT
/// entry carries the fown), a dup'ed one.
#[test]
fn ext_inotify_instances() {
    ext_case("ext_inotify_instances", "inotify", "instances", 3, 0, false);
}

/// Two epolls with targets of every kind (one an inotify fd that is itself
/// handed over), restored by the ext build too.
#[test]
fn ext_epoll_targets() {
    ext_case("ext_epoll_targets", "epoll", "targets", 1, 2, true);
}

/// Registration keys: dup'ed/closed/reused numbers, resolved with kcmp
/// against the dumped tree from CRIU's copy of the epoll fd.
#[test]
fn ext_epoll_keys() {
    ext_case("ext_epoll_keys", "epoll", "keys", 0, 1, false);
}

/// Nested epolls: targets that are themselves EXT files.
#[test]
fn ext_epoll_nested() {
    ext_case("ext_epoll_nested", "epoll", "nested", 0, 5, false);
}

/// An epoll and an inotify instance shared by parent and child.
#[test]
fn ext_epoll_shared_after_fork() {
    ext_case("ext_epoll_fork", "epoll", "fork", 1, 1, false);
}
