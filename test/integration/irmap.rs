//! Watches whose file handles CRIU cannot open (an overlay mounted without
//! nfs_export, procfs, sysfs): CRIU alone fails the dump ("Can't dump that
//! handle": its irmap finds no path); with the plugin, which hands CRIU's
//! irmap the paths at CHECKPOINT_DEVICES, the dump succeeds with no
//! irmap-scan-path, and the restore has the same watches on the same
//! objects, with new events arriving (control run vs C/R run, as
//! everywhere). A watched object a mount hides fails the dump with a
//! message that says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// An overlay at `<work>/merged` (lowerdir `<work>/lower` holding lfile,
/// cfile, mfile and ldir/inner; upperdir `<work>/upper`), no nfs_export;
/// unmounted (with whatever was mounted below it) on drop.
struct Overlay {
    merged: PathBuf,
}

impl Overlay {
    fn mount(work: &Path) -> Overlay {
        let (lower, upper, ow, merged) = (work.join("lower"), work.join("upper"), work.join("ovl-work"), work.join("merged"));
        for d in [&lower, &upper, &ow, &merged, &lower.join("ldir")] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(lower.join("lfile"), "lower\n").unwrap();
        fs::write(lower.join("cfile"), "to be copied up\n").unwrap();
        fs::write(lower.join("mfile"), "to be renamed\n").unwrap();
        fs::write(lower.join("ldir/inner"), "").unwrap();
        let opts = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), ow.display());
        let out = Command::new("mount").args(["-t", "overlay", "cnotify-ovl", "-o", &opts]).arg(&merged).output().expect("run mount");
        assert!(out.status.success(), "mount -t overlay -o {opts}: {}", String::from_utf8_lossy(&out.stderr));
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info.lines().find(|l| l.split(' ').nth(4) == Some(&merged.display().to_string())).unwrap();
        assert!(line.contains(" - overlay ") && !line.contains("nfs_export=on"), "{line}");
        Overlay { merged }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        unmount_below(&self.merged);
    }
}

fn prepared(case: &str, work: &Path) -> Option<Overlay> {
    (case != "procsys").then(|| Overlay::mount(work))
}

/// CRIU alone (no plugin) refuses the dump, and the task runs on.
fn criu_alone_refuses(t: &TestDir, case: &str) {
    let mut mounted = None;
    let mut r = Run::start(t, "criu-only", "irmap", case, |w| mounted = prepared(case, w));
    let d = r.dump(false, &[], &[]);
    assert!(!d.ok(), "CRIU alone dumped {case}: the premise of these tests no longer holds\n{}", d.summary());
    assert!(d.log.contains("Can't dump that handle"), "CRIU alone failed otherwise:\n{}", d.summary());
    assert!(r.proc.alive(), "the task did not survive the failed dump");
    drop(r);
    drop(mounted);
}

/// The plugin's line saying how many paths it gave CRIU, and CRIU's own
/// lines saying its irmap found them in its cache.
fn check_handed(log: &str, n: usize) {
    let ours: Vec<&str> =
        log.lines().filter(|l| l.contains("notify_plugin: irmap: pid ") && l.contains("gave CRIU the paths of")).collect();
    assert_eq!(ours.len(), 1, "dump.log: expected one `gave CRIU the paths` line:\n{ours:?}");
    assert!(ours[0].contains(&format!("the paths of {n} watched objects")), "{}", ours[0]);
    let found = log.lines().filter(|l| l.contains("irmap: \tFound ") && l.contains(" in cache")).count();
    assert_eq!(found, n, "CRIU's irmap found {found} of {n} paths in its cache");
}

/// No file of the plugin's is left in the work dir (the image dir here).
fn nothing_left_in(img: &Path) {
    for name in ["irmap-cache", "irmap-cache.notify-new"] {
        assert!(!img.join(name).exists(), "{name} left in {}", img.display());
    }
}

/// Control run vs C/R with the plugin, after checking CRIU alone fails.
fn irmap_case(test: &str, case: &str, n_paths: usize) -> CrRun {
    let t = TestDir::new(test);
    criu_alone_refuses(&t, case);
    let mut m1 = None;
    let expected = control(&t, "irmap", case, |w| m1 = prepared(case, w));
    drop(m1);
    let mut m2 = None;
    // procfs and sysfs watches are looked for on request (find_paths =
    // yes); an overlay without nfs_export is looked for by default.
    let envs: &[(&str, &str)] = if case == "procsys" { &[("CRIU_NOTIFY_FIND_PATHS", "yes")] } else { &[] };
    let cr = checkpoint_restore_env(&t, "irmap", case, true, |w| m2 = prepared(case, w), envs);
    assert_same_record(&format!("irmap {case}: control vs C/R with plugin"), &expected, &cr.record);
    assert_plugin_owns(&cr, 1, 0);
    check_handed(&cr.dump.log, n_paths);
    nothing_left_in(&cr.img);
    drop(m2);
    cr
}

/// Watches on an overlay without nfs_export: a lower-layer file, an
/// upper-layer file, a copied-up file, a lower directory, the overlay's
/// root (found through their layers) and a renamed lower-layer file (found
/// by the search); after the restore a write copies the lower file up, and
/// every watch reports its events.
#[test]
fn overlay_watches_dump_without_irmap_hints() {
    let cr = irmap_case("irmap_overlay", "overlay", 6);
    assert!(cr.dump.log.contains("(5 through their overlay layer, 1 by a search of "), "{}", cr.dump.summary());
    let r = &cr.record;
    for line in [
        "obj merged/lfile",
        "obj merged/ufile",
        "obj merged/cfile",
        "obj merged/ldir",
        "obj merged\n",
        "obj merged/renamed",
        "name=new",
        "name=moved",
    ] {
        assert!(r.contains(line), "record lacks {line:?}:\n{r}");
    }
    assert_eq!(r.matches("?unknown").count(), 0, "a watch on an object the record cannot name:\n{r}");
    let img = crit_decode(&cr.img.join("notify-inotify.img")).unwrap();
    for p in ["merged/lfile\"", "merged/ufile\"", "merged/cfile\"", "merged/ldir\"", "merged\"", "merged/renamed\""] {
        assert!(img.contains(p), "notify-inotify.img lacks the path {p}:\n{img}");
    }
}

/// Watches on /proc/sys/kernel/hostname and a sysfs file: the restored
/// watches are on the same files and report reads.
#[test]
fn procfs_and_sysfs_watches_dump_without_irmap_hints() {
    let cr = irmap_case("irmap_procsys", "procsys", 2);
    let r = &cr.record;
    assert!(r.contains("obj /proc/sys/kernel/hostname"), "{r}");
    assert!(r.contains("obj /sys/"), "{r}");
    // IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE on both.
    assert_eq!(r.matches("masks=0x31\n").count(), 2, "{r}");
}

/// A pre-dump's irmap cache in the work dir is loaded by CRIU as always,
/// the plugin's entries come after it, and the file is byte for byte what
/// it was after the dump.
#[test]
fn a_pre_dump_irmap_cache_is_kept() {
    let t = TestDir::new("irmap_predump_cache");
    let expected = control(&t, "irmap", "procsys", |_| {});
    let mut r = Run::start(&t, "cr", "irmap", "procsys", |_| {});
    fs::create_dir_all(&r.img).unwrap();
    let pre = pre_dump_cache("/etc/hostname");
    fs::write(r.img.join("irmap-cache"), &pre).unwrap();
    let d = r.dump(true, &[], &[("CRIU_NOTIFY_FIND_PATHS", "yes")]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    assert_eq!(fs::read(r.img.join("irmap-cache")).unwrap(), pre, "irmap-cache changed");
    assert!(!r.img.join("irmap-cache.notify-new").exists());
    // Loaded at dump start, then again with the plugin's entries after it.
    assert_eq!(d.log.matches("irmap: Pre-cache ").count(), 1 + 1 + 2, "{}", d.summary());
    assert_eq!(d.log.lines().filter(|l| l.contains("Pre-cache") && l.contains("/etc/hostname")).count(), 2);
    check_handed(&d.log, 2);
    let rs = r.restore(true, &[], &[]);
    assert!(rs.ok(), "restore failed\n{}", rs.summary());
    let record = r.finish();
    assert_same_record("irmap procsys with a pre-dump cache", &expected, &record);
}

/// `irmap-cache` as a pre-dump writes it: one entry for `path`.
fn pre_dump_cache(path: &str) -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    let md = fs::symlink_metadata(path).unwrap();
    // The kernel's encoding (major << 20 | minor), from glibc's dev_t.
    let (d, major, minor) = (md.dev(), |d: u64| ((d >> 8) & 0xfff) | ((d >> 32) & !0xfff), |d: u64| (d & 0xff) | ((d >> 12) & !0xff));
    let dev = (major(d) << 20) | minor(d);
    let varint = |out: &mut Vec<u8>, mut v: u64| loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    };
    let mut e = Vec::new();
    e.push(1 << 3);
    varint(&mut e, dev);
    e.push(2 << 3);
    varint(&mut e, md.ino());
    e.push((3 << 3) | 2);
    varint(&mut e, path.len() as u64);
    e.extend_from_slice(path.as_bytes());
    let mut out = Vec::new();
    out.extend_from_slice(&0x5510_5940u32.to_ne_bytes());
    out.extend_from_slice(&0x5700_4059u32.to_ne_bytes());
    out.extend_from_slice(&(e.len() as u32).to_ne_bytes());
    out.extend_from_slice(&e);
    out
}

/// A watched file on the overlay with a tmpfs mounted over its directory:
/// no path leads to it. CRIU alone fails with "Can't dump that handle";
/// with the plugin the dump fails at CHECKPOINT_DEVICES saying which mount
/// hides which path, and the task runs on.
#[test]
fn overmounted_watch_fails_with_the_reason() {
    let t = TestDir::new("irmap_overmount");
    let mut mounted = None;
    let mut r = Run::start(&t, "cr", "irmap", "overmount", |w| mounted = prepared("overmount", w));
    let hid = r.work.join("merged/hid").display().to_string();
    let d = r.dump(true, &[], &[]);
    assert!(!d.ok(), "dump of a hidden watch succeeded\n{}", d.summary());
    let line = d
        .log
        .lines()
        .find(|l| l.contains("notify_plugin") && l.contains("is mounted on"))
        .unwrap_or_else(|| panic!("no reason in dump.log:\n{}", d.summary()));
    for part in [format!("{hid}/file"), format!("a tmpfs is mounted on \"{hid}\" over it"), format!("unmount \"{hid}\"")] {
        assert!(line.contains(&part), "{part:?} missing in {line}");
    }
    assert!(!d.log.contains("Can't dump that handle"), "CRIU got as far as its own inotify dump:\n{}", d.summary());
    assert!(r.proc.alive(), "the task did not survive the failed dump");
    eprintln!("overmount: {}", log_message(line));
    r.img = t.join("img-criu-only");
    let alone = r.dump(false, &[], &[]);
    assert!(!alone.ok() && alone.log.contains("Can't dump that handle"), "CRIU alone:\n{}", alone.summary());
    assert!(r.proc.alive());
    drop(r);
    drop(mounted);
}

/// A search that runs out of its budget does not fail the dump itself: the
/// plugin says so and leaves the watch to CRIU's own irmap, which then
/// fails ("Can't dump that handle") unless the user's irmap-scan-path
/// leads to the objects, as it still may.
#[test]
fn a_spent_deadline_leaves_the_watch_to_criu() {
    let t = TestDir::new("irmap_deadline");
    let mut r = Run::start(&t, "cr", "irmap", "procsys", |_| {});
    let tiny = [("CRIU_NOTIFY_DEADLINE", "0.000001"), ("CRIU_NOTIFY_FIND_PATHS", "yes")];
    let d = r.dump(true, &[], &tiny);
    assert!(!d.ok(), "dumped although no path reached CRIU\n{}", d.summary());
    let warn = d.log.lines().find(|l| l.contains("notify_plugin: irmap: ") && l.contains("budget"));
    let warn = warn.unwrap_or_else(|| panic!("no line about the spent budget:\n{}", d.summary()));
    assert!(warn.contains("irmap-scan-path") && warn.contains("deadline"), "{warn}");
    assert!(d.log.contains("Can't dump that handle"), "{}", d.summary());
    assert!(r.proc.alive(), "the task did not survive the failed dump");
    // The user's hints still work.
    r.img = t.join("img-hinted");
    let hints = ["--irmap-scan-path", "/proc/sys/kernel", "--irmap-scan-path", "/sys/kernel"];
    let d = r.dump(true, &hints, &tiny);
    assert!(d.ok(), "dump with irmap-scan-path failed\n{}", d.summary());
}

/// By default (find_paths = auto) the plugin reads no watches at
/// CHECKPOINT_DEVICES in a tree without an overlay lacking nfs_export:
/// a procfs/sysfs watch then fails as with CRIU alone, and the log says
/// which setting makes the plugin find the path.
#[test]
fn procfs_watches_need_find_paths_by_default() {
    let t = TestDir::new("irmap_auto");
    let mut r = Run::start(&t, "cr", "irmap", "procsys", |_| {});
    let d = r.dump(true, &[], &[]);
    if d.ok() {
        // An overlay without nfs_export is mounted on this machine: auto
        // looked, as it should there.
        assert!(d.log.contains("notify_plugin: irmap"), "{}", d.summary());
        return;
    }
    assert!(d.log.contains("Can't dump that handle"), "{}", d.summary());
    assert!(d.log.contains("set CRIU_NOTIFY_FIND_PATHS=yes"), "no hint in dump.log\n{}", d.summary());
    assert!(r.proc.alive(), "the task did not survive the failed dump");
}
