//! Failure paths: a dump the plugin refuses or that fails inside the plugin
//! leaves the task running untouched; a restore that cannot be exact fails
//! and leaves nothing running; a panic never reaches CRIU.

use std::fs;

use crate::harness::*;

fn notify_images(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("notify-")).collect()
        })
        .unwrap_or_default()
}

/// CRIU_NOTIFY_QUEUED=refuse with events queued: the dump fails, says why,
/// writes none of the plugin's images, and the task keeps running with its
/// queued events still readable (its record equals an undisturbed run).
#[test]
fn queued_refuse_fails_dump_and_task_keeps_running() {
    let t = TestDir::new("fail_queued_refuse");
    let expected = control(&t, "inotify", "queued", |_| {});
    let mut run = Run::start(&t, "cr", "inotify", "queued", |_| {});
    let d = run.dump(true, &[], &[("CRIU_NOTIFY_QUEUED", "refuse")]);
    assert!(!d.ok(), "dump with queued events and CRIU_NOTIFY_QUEUED=refuse succeeded\n{}", d.summary());
    let why: Vec<&str> = d.plugin_lines().into_iter().filter(|l| l.contains("queued") || l.contains("refuse")).collect();
    assert!(!why.is_empty(), "dump.log does not say the plugin refused because of queued events\n{}", d.summary());
    assert!(run.proc.alive(), "the task did not survive the refused dump\n{}", d.summary());
    let ours = notify_images(&run.img);
    assert!(ours.is_empty(), "refused dump wrote plugin images: {ours:?}");
    let rec = run.finish();
    assert_same_record("queued refuse: undisturbed control vs task after refused dump", &expected, &rec);
}

/// A panic inside CHECKPOINT_DEVICES (test fault injection) fails the dump
/// cleanly: CRIU gets an error, not an unwinding panic, and the task runs
/// on untouched.
#[test]
fn panic_in_checkpoint_devices_fails_dump_cleanly() {
    let t = TestDir::new("fail_panic_checkpoint");
    let expected = control(&t, "inotify", "basic", |_| {});
    let mut run = Run::start(&t, "cr", "inotify", "basic", |_| {});
    let d = run.dump(true, &[], &[("CRIU_NOTIFY_FAULT", "panic-checkpoint-devices")]);
    assert!(!d.ok(), "dump succeeded although CHECKPOINT_DEVICES failed\n{}", d.summary());
    assert!(d.log.contains("panic"), "dump.log does not mention the panic\n{}", d.summary());
    assert!(run.proc.alive(), "the task did not survive the failed dump\n{}", d.summary());
    let rec = run.finish();
    assert_same_record("panic in CHECKPOINT_DEVICES: control vs task after failed dump", &expected, &rec);
}

/// A panic in the dump exit hook (before the takeover) leaves CRIU's own
/// images as CRIU wrote them: files.img still has CRIU's INOTIFY entries
/// and CRIU's own code restores the process correctly.
#[test]
fn panic_in_dump_exit_keeps_criu_images() {
    let t = TestDir::new("fail_panic_exit");
    let expected = control(&t, "inotify", "basic", |_| {});
    let mut run = Run::start(&t, "cr", "inotify", "basic", |_| {});
    let d = run.dump(true, &[], &[("CRIU_NOTIFY_FAULT", "panic-exit")]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    assert!(d.log.contains("panic"), "dump.log does not mention the panic\n{}", d.summary());
    let files = crit_decode(&run.img.join("files.img")).unwrap();
    assert!(files.contains("\"type\": \"INOTIFY\""), "files.img was changed although the takeover failed:\n{files}");
    let r = run.restore(true, &[], &[]);
    assert!(r.ok(), "restore of CRIU's own images failed\n{}", r.summary());
    let rec = run.finish();
    assert_same_record("panic in dump exit: control vs C/R by CRIU's own code", &expected, &rec);
}

/// A panic in RESTORE_EXT_FILE fails the restore; nothing is left running.
#[test]
fn panic_in_restore_ext_file_fails_restore() {
    let t = TestDir::new("fail_panic_restore");
    let mut run = Run::start(&t, "cr", "inotify", "basic", |_| {});
    let d = run.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    let r = run.restore(true, &[], &[("CRIU_NOTIFY_FAULT", "panic-restore-ext-file")]);
    assert!(!r.ok(), "restore succeeded although RESTORE_EXT_FILE failed\n{}", r.summary());
    assert!(r.log.contains("panic"), "restore.log does not mention the panic\n{}", r.summary());
    assert!(run.nothing_left(), "processes left running by the failed restore: {:?}", run.proc.group_pids());
}

/// The watched file was replaced (same path, same filesystem, another inode)
/// while the process was checkpointed: the restore fails with a message
/// naming it, never silently watching another file; with
/// CRIU_NOTIFY_FOLLOW_PATHS=1 the restore follows the path.
#[test]
fn replaced_file_fails_restore_unless_following_paths() {
    let t = TestDir::new("fail_replaced");
    let expected = control(&t, "inotify", "replaced", |_| {});
    let mut run = Run::start(&t, "cr", "inotify", "replaced", |_| {});
    let d = run.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    // new inode at the same path (created before the old one goes, so the
    // inode number cannot be recycled)
    fs::write(run.work.join("victim.new"), b"").unwrap();
    fs::rename(run.work.join("victim.new"), run.work.join("victim")).unwrap();
    let r = run.restore(true, &[], &[]);
    assert!(!r.ok(), "restore silently accepted a replaced watched file\n{}", r.summary());
    assert!(r.plugin_lines().iter().any(|l| l.contains("victim")), "restore.log: no plugin line naming the replaced file\n{}", r.summary());
    assert!(run.nothing_left(), "processes left running by the failed restore: {:?}", run.proc.group_pids());
    let r2 = run.restore(true, &[], &[("CRIU_NOTIFY_FOLLOW_PATHS", "1")]);
    assert!(r2.ok(), "restore with CRIU_NOTIFY_FOLLOW_PATHS=1 failed\n{}", r2.summary());
    let rec = run.finish();
    assert_same_record("replaced file, following paths: control vs C/R", &expected, &rec);
}
