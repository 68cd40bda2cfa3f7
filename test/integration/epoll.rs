//! epoll: control run vs dump + restore with the plugin; identical records
//! (registrations with their keys, events, data, and later epoll_ctl
//! results) and plugin ownership in the logs.

use crate::harness::*;

/// Targets of every kind: pipe (both ends), socketpair (RDHUP, PRI via
/// MSG_OOB), eventfd (ET), timerfd, signalfd, an inotify fd; a second epoll
/// (O_NONBLOCK, close-on-exec, owner) with edge-triggered registrations.
#[test]
fn targets_of_every_kind() {
    check_case("epoll_targets", "epoll", "targets", 1, 2);
}

/// EPOLLONESHOT armed and disarmed (a fired ONESHOT stays silent after
/// restore, even on HUP, until re-armed), EPOLLEXCLUSIVE (MOD refused).
#[test]
fn oneshot_and_exclusive() {
    let cr = check_case("epoll_oneshot", "epoll", "oneshot", 0, 1);
    assert!(cr.record.contains("wait b-hup n=0:"), "disarmed ONESHOT fired:\n{}", cr.record);
}

/// Registration keys (file, number): dup'ed + original closed, one file
/// under two closed numbers, a number reused by another registered file, a
/// number reused by an unregistered file; later EPOLL_CTL_ADD/DEL/MOD on
/// old and new numbers answer as before the dump.
#[test]
fn registration_keys() {
    let cr = check_case("epoll_keys", "epoll", "keys", 0, 1);
    assert!(cr.record.contains("call epoll_ctl(3, ADD, 20, 0x1, 0xa20) -> ok 0"), "{}", cr.record);
}

/// The same keys with the epoll above every target, plus a target still at
/// its registered number: what can be registered from inside the restored
/// task is, the reused and closed numbers are not taken for their keys.
#[test]
fn registration_keys_epoll_above_targets() {
    let cr = check_case("epoll_keys_high", "epoll", "keys_high", 0, 1);
    assert!(cr.record.contains("call epoll_ctl(40, ADD, 21, 0x1, 0xf210) -> err EEXIST"), "{}", cr.record);
    let made = cr.restore.plugin_lines().into_iter().any(|l| l.contains("registrations (1 made inside the task)"));
    assert!(made, "f was not registered inside the task:\n{}", cr.restore.plugin_lines().join("\n"));
}

/// Four levels of nested epoll created in scrambled fd order, plus a sibling
/// watching the innermost one.
#[test]
fn nested_epoll() {
    check_case("epoll_nested", "epoll", "nested", 0, 5);
}

/// An epoll and an inotify instance shared by parent and child after fork:
/// the child's registrations/watches after restore show in the parent.
#[test]
fn shared_after_fork() {
    let cr = check_case("epoll_fork", "epoll", "fork", 1, 1);
    assert!(cr.record.contains("child exited: code 0"), "{}", cr.record);
}

/// 10 000 eventfd targets with mixed events and 64-bit data.
#[test]
fn targets_10k() {
    let cr = check_case("epoll_10k", "epoll", "many", 0, 1);
    assert!(cr.record.contains("targets 10000\n"), "{}", cr.record);
}

/// 500 eventfd targets, each registered under a number that is closed at
/// dump (dup'ed elsewhere first; the numbers are reused by later targets):
/// every key restored exactly. The dump resolves them from CRIU's own
/// kcmp-proven entry, so it costs no kcmp of the plugin's (issue 12: the
/// search of every fd per target was cubic).
#[test]
fn targets_all_under_closed_numbers() {
    let cr = check_case("epoll_closed", "epoll", "many_closed", 0, 1);
    assert!(cr.record.contains("setup 500 eventfds"), "{}", cr.record);
    let lines = cr.dump.plugin_lines();
    assert!(
        lines.iter().any(|l| l.contains("epoll targets: 500 named by CRIU's entries, 0 searched with 0 kcmp calls")),
        "{}",
        lines.join("\n")
    );
}
