//! Harness self-checks: cases that CRIU's own inotify/epoll code (4.1.1, 4.2.1)
//! restores correctly, checkpointed and restored WITHOUT the plugin (`--lib`
//! pointing at an empty directory). When these fail, the harness or the
//! machine is broken, not the plugin.

use crate::harness::*;

#[test]
fn criu_alone_plain_process() {
    check_case_criu_only("criu_alone_plain", "inotify", "none");
}

#[test]
fn criu_alone_basic_inotify() {
    let cr = check_case_criu_only("criu_alone_basic", "inotify", "basic");
    // CRIU's own code did the work: its restore lines are there
    assert!(!criu_own_notify_restore_lines(&cr.restore.log).is_empty(), "no fsnotify lines in restore.log");
}

#[test]
fn criu_alone_high_wd() {
    check_case_criu_only("criu_alone_highwd", "inotify", "highwd");
}

#[test]
fn criu_alone_nested_epoll() {
    let cr = check_case_criu_only("criu_alone_nested", "epoll", "nested");
    assert!(!criu_own_notify_restore_lines(&cr.restore.log).is_empty(), "no epoll lines in restore.log");
}

#[test]
fn criu_alone_epoll_fork() {
    check_case_criu_only("criu_alone_fork", "epoll", "fork");
}
