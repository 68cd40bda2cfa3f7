//! inotify: every case is a control run (no C/R) against a dump + restore
//! with the plugin; the records must be identical and the logs must show
//! that the plugin, not CRIU, checkpointed and restored every inotify file.

use std::fs;

use crate::harness::*;

/// Directory, file and hard-link watches; the wd of a new watch after
/// restore is max existing wd + 1 (5).
#[test]
fn basic_watches() {
    let cr = check_case("inotify_basic", "inotify", "basic", 1, 0);
    assert!(cr.record.contains("call inotify_add_watch(fd 3, fresh, 0xfff) -> ok 5"), "new wd:\n{}", cr.record);
}

/// Three instances (flags 0, O_NONBLOCK, O_NONBLOCK|O_CLOEXEC), one with an
/// owner + F_SETSIG + O_ASYNC, one owned by the process group, one dup'ed to
/// two more numbers (one close-on-exec).
#[test]
fn several_instances_flags_and_owner() {
    let cr = check_case("inotify_instances", "inotify", "instances", 3, 0);
    assert!(!cr.record.contains("async signals 0\n"), "O_ASYNC instance sent no signal:\n{}", cr.record);
}

/// IN_ONESHOT, IN_EXCL_UNLINK, IN_DONT_FOLLOW (symlink watched itself),
/// IN_ONLYDIR, and IN_MASK_ADD / IN_MASK_CREATE / plain re-add on watches
/// that existed before the dump.
#[test]
fn mask_bits_and_readd_semantics() {
    let cr = check_case("inotify_masks", "inotify", "masks", 1, 0);
    let r = &cr.record;
    for line in [
        "call inotify_add_watch(fd 3, odir, 0x20000200) -> ok 6", // IN_MASK_ADD merges into wd 6
        "call inotify_add_watch(fd 3, odir, 0x10000020) -> err EEXIST", // IN_MASK_CREATE refused
        "call inotify_add_watch(fd 3, link, 0x22000400) -> ok 4", // DONT_FOLLOW|MASK_ADD: the link's wd
        "ev merged wd=6 mask=0x200 cookie=C0 name=x",             // merged IN_DELETE fires
        "call inotify_add_watch(fd 3, fresh_dir, 0x100) -> ok 7", // new wd = max + 1
    ] {
        assert!(r.contains(line), "missing {line:?} in\n{r}");
    }
}

/// wds 1, 1000, 2^31-8, 2^31-7 (INOTIFY_IOC_SETNEXTWD); a new watch after
/// restore gets 2^31-6.
#[test]
fn high_wd_numbers() {
    let cr = check_case("inotify_highwd", "inotify", "highwd", 1, 0);
    assert!(cr.record.contains("wd 2147483640 "), "{}", cr.record);
    assert!(cr.record.contains("inotify_add_watch(fd 3, e, 0x2) -> ok 2147483642"), "new wd:\n{}", cr.record);
}

/// A watched file unlinked while still open: after restore writes to it
/// give IN_MODIFY, close gives IN_CLOSE_WRITE, and nothing else shows up.
#[test]
fn unlinked_open_file_watch_survives() {
    check_case("inotify_unlinked", "inotify", "unlinked", 1, 0);
}

/// Watches on a tmpfs mounted in the work directory (host mount namespace,
/// no --ext-mount-map needed).
#[test]
fn tmpfs_watches() {
    let t = TestDir::new("inotify_tmpfs");
    let _m1 = TmpfsMount::new(&t.join("work-control/mnt")).expect("mount tmpfs");
    let _m2 = TmpfsMount::new(&t.join("work-cr/mnt")).expect("mount tmpfs");
    let cr = check_case_in(&t, "inotify", "tmpfs", 1, 0);
    assert!(cr.record.contains("mnt fstype tmpfs"), "tmpfs not mounted:\n{}", cr.record);
}

/// Events queued at dump are dropped (the kernel cannot re-inject them):
/// the C/R record equals a control run whose queue was emptied before the
/// dump point, and the plugin logs what it dropped.
#[test]
fn queued_events_are_dropped_and_logged() {
    let t = TestDir::new("inotify_queued");
    let expected = control(&t, "inotify", "queued_drained", |_| {});
    let cr = checkpoint_restore(&t, "inotify", "queued", true, |_| {});
    assert_same_record("inotify queued: drained control vs C/R with plugin", &expected, &cr.record);
    assert_plugin_owns(&cr, 2, 0);
    let lines = cr.dump.plugin_lines();
    let drop_lines: Vec<&&str> =
        lines.iter().filter(|l| l.to_lowercase().contains("drop") && l.chars().any(|c| c.is_ascii_digit())).collect();
    assert!(!drop_lines.is_empty(), "dump.log: no plugin line saying how much was dropped:\n{}", lines.join("\n"));
}

/// 100 000 watches (wds 1..100000, mixed masks incl. IN_ONESHOT and
/// IN_EXCL_UNLINK): count + hash of the normalized watch list identical.
/// The work directories are tmpfs mounts: on ext4, creating 100k inodes
/// right after deleting 100k (the previous run) is quadratic in
/// ext4's recently_deleted() scan and takes minutes.
#[test]
fn watches_100k() {
    ensure_max_user_watches(110_000);
    let t = TestDir::new("inotify_100k");
    let _m1 = TmpfsMount::with_options(&t.join("work-control"), "mode=0755").expect("mount tmpfs");
    let _m2 = TmpfsMount::with_options(&t.join("work-cr"), "mode=0755").expect("mount tmpfs");
    let cr = check_case_in(&t, "watches", "100k", 1, 0);
    assert!(cr.record.contains("watches 100000\n"), "{}", cr.record);
    assert!(cr.record.contains("inotify_add_watch(fresh) -> ok 100001"), "{}", cr.record);
}

/// Raise fs.inotify.max_user_watches when the machine's limit is too low
/// for the 100k-watch process (only one lives at a time; we run as root).
pub fn ensure_max_user_watches(want: u64) {
    let p = "/proc/sys/fs/inotify/max_user_watches";
    let cur: u64 = fs::read_to_string(p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if cur < want {
        eprintln!("raising {p} from {cur} to {want}");
        fs::write(p, want.to_string()).unwrap_or_else(|e| panic!("{p} is {cur} (< {want}) and cannot be raised: {e}"));
    }
}
