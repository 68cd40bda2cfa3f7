//! Foundation: CRIU loads the plugin at dump and restore, its exit hook
//! runs, the inventory makes it required, and its images decode with stock
//! crit.

use std::fs;

use crate::harness::*;

fn assert_loaded(r: &CriuResult, stage: &str) {
    let log = &r.log;
    assert!(log.contains(&format!("Plugin \"{PLUGIN_NAME}\"")), "{stage}.log: CRIU did not load the plugin\n{}", r.summary());
    assert!(log.contains("notify_plugin: criu-notify"), "{stage}.log: no init line from the plugin\n{}", r.summary());
    assert!(log.contains(&format!("notify_plugin: exit from {stage}")), "{stage}.log: the plugin's exit hook did not run\n{}", r.summary());
}

/// A process without any inotify/epoll fd is dumped and restored with the
/// plugin loaded; it goes on exactly as without C/R.
#[test]
fn plugin_loads_at_dump_and_restore_and_exits() {
    let t = TestDir::new("loading_plain");
    let expected = control(&t, "inotify", "none", |_| {});
    let cr = checkpoint_restore(&t, "inotify", "none", true, |_| {});
    assert_loaded(&cr.dump, "dump");
    assert_loaded(&cr.restore, "restore");
    assert_same_record("plain process: control vs C/R with plugin", &expected, &cr.record);
}

/// Images dumped with the plugin (an inotify and an epoll instance shared by
/// two processes) cannot be
/// restored without it: CRIU refuses, naming the plugin. The failed attempt
/// leaves the images usable: a restore with the plugin then works.
#[test]
fn restore_without_plugin_fails_naming_it() {
    let t = TestDir::new("loading_missing_plugin");
    let expected = control(&t, "epoll", "fork", |_| {});
    let mut run = Run::start(&t, "cr", "epoll", "fork", |_| {});
    let d = run.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    let r = run.restore(false, &[], &[]);
    assert!(!r.ok(), "restore without the plugin succeeded\n{}", r.summary());
    assert!(
        r.log.contains(&format!("Missing required plugin: {PLUGIN_NAME}")),
        "restore.log does not name the missing plugin\n{}",
        r.summary()
    );
    assert!(run.nothing_left(), "processes left running by the failed restore: {:?}", run.proc.group_pids());
    let r2 = run.restore(true, &[], &[]);
    assert!(r2.ok(), "restore with the plugin after a failed one\n{}", r2.summary());
    let rec = run.finish();
    assert_same_record("epoll fork: control vs C/R after a refused restore", &expected, &rec);
}

/// Every image file the plugin writes (notify-*.img) decodes with CRIU's own
/// crit; CRIU's files.img/fdinfo images decode too and no longer name the
/// taken-over files as INOTIFY / EVENTPOLL.
#[test]
fn plugin_images_decode_with_stock_crit() {
    let t = TestDir::new("loading_crit");
    let mut run = Run::start(&t, "cr", "epoll", "targets", |_| {});
    let d = run.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    let mut ours = vec![];
    let mut fdinfos = vec![];
    for e in fs::read_dir(&run.img).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("notify-") && name.ends_with(".img") {
            ours.push(name);
        } else if name.starts_with("fdinfo-") && name.ends_with(".img") {
            fdinfos.push(name);
        }
    }
    ours.sort();
    assert!(!ours.is_empty(), "the plugin wrote no notify-*.img in {}\n{}", run.img.display(), d.summary());
    for name in &ours {
        let json = crit_decode(&run.img.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(json.contains("\"magic\""), "{name}: no magic in crit output:\n{json}");
        assert!(json.contains("\"entries\""), "{name}: no entries in crit output:\n{json}");
        eprintln!("{name}: decodes ({} bytes of JSON)", json.len());
    }
    let files = crit_decode(&run.img.join("files.img")).unwrap();
    for bad in ["\"type\": \"INOTIFY\"", "\"type\": \"EVENTPOLL\""] {
        assert!(!files.contains(bad), "files.img still has {bad} entries:\n{files}");
    }
    assert!(files.contains("\"type\": \"EXT\""), "files.img has no EXT entries:\n{files}");
    for f in &fdinfos {
        let json = crit_decode(&run.img.join(f)).unwrap();
        for bad in ["\"type\": \"INOTIFY\"", "\"type\": \"EVENTPOLL\""] {
            assert!(!json.contains(bad), "{f} still has {bad}:\n{json}");
        }
    }
}

/// The plugin's load line names the running CRIU by the size of its hook
/// table (CRIU exports no version), and under CRIU 4.1.x, on a kernel that
/// answers EOPNOTSUPP to getsockopt(SO_PASSCRED) on an inet socket (which
/// 4.1.x asks on every socket it dumps), a warning says it cannot dump
/// TCP/UDP sockets. No other CRIU gets that warning.
#[test]
fn load_line_names_criu_and_warns_about_41_sockets() {
    let out = std::process::Command::new(&env().criu).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("criu --version: {text}"));
    let is_41 = version == "4.1" || version.starts_with("4.1.");
    let kernel_refuses = criu_notify::sys::net::inet_so_passcred().err().is_some_and(|e| e.errno == rustix::io::Errno::OPNOTSUPP);
    let t = TestDir::new("loading_version");
    let cr = checkpoint_restore(&t, "inotify", "none", true, |_| {});
    for (stage, r) in [("dump", &cr.dump), ("restore", &cr.restore)] {
        let line = r
            .plugin_lines()
            .into_iter()
            .find(|l| l.contains("notify_plugin: criu-notify"))
            .unwrap_or_else(|| panic!("{stage}.log: no load line\n{}", r.summary()))
            .to_owned();
        let want: &[&str] = if is_41 {
            &["(criu 4.1.x, 12 hooks;"]
        } else if version.starts_with("4.2") {
            // criu-dev reports 4.2 too.
            &["(criu 4.2.x, 13 hooks;", "(criu development branch, "]
        } else {
            &["(criu "]
        };
        assert!(
            want.iter().any(|w| line.contains(w)),
            "{stage}.log, criu {version}: load line does not name it as one of {want:?}: {line}"
        );
        let warned = r.log.contains("cannot dump TCP/UDP sockets on this kernel");
        assert_eq!(
            warned,
            is_41 && kernel_refuses,
            "{stage}.log, criu {version}, kernel refuses SO_PASSCRED on inet: {kernel_refuses}; warning logged: {warned}\n{}",
            r.summary()
        );
    }
}
