//! Time budgets for the work the plugin does while tasks are frozen (the
//! takeover at dump end) or stopped (the late pass of restore).
//!
//! A [`Deadline`] is checked between units of work; a step that blocks in
//! the kernel cannot be interrupted that way, so [`run_bounded`] also runs
//! the work on its own thread and stops waiting for it when the budget is
//! spent. Work that must not happen after the caller gave up (the takeover's
//! commit) is entered through [`Bounded::enter_final`]: either it starts
//! before the caller gives up, and the caller waits for it to end, or it
//! never starts.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

/// The budget of one step.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    what: &'static str,
    start: Instant,
    limit: Duration,
}

/// A step ran past its budget.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{what} took longer than its budget of {limit:.1?} (setting CRIU_NOTIFY_DEADLINE / deadline) while {doing}")]
pub struct DeadlineError {
    pub what: &'static str,
    pub limit: Duration,
    /// What was under way when the budget ran out.
    pub doing: String,
}

impl Deadline {
    /// A budget of `limit` for `what` ("the takeover"), starting now.
    pub fn start(what: &'static str, limit: Duration) -> Deadline {
        Deadline { what, start: Instant::now(), limit }
    }

    /// Whether the budget is spent.
    pub fn passed(&self) -> bool {
        self.start.elapsed() > self.limit
    }

    /// `Err` once the budget is spent; `doing` says what was under way.
    pub fn check(&self, doing: impl FnOnce() -> String) -> Result<(), DeadlineError> {
        if self.passed() {
            return Err(self.error(doing()));
        }
        Ok(())
    }

    /// What is left of the budget.
    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.start.elapsed())
    }

    pub fn error(&self, doing: String) -> DeadlineError {
        DeadlineError { what: self.what, limit: self.limit, doing }
    }
}

const RUNNING: u8 = 0;
const FINAL: u8 = 1;
const ABANDONED: u8 = 2;

/// What bounded work sees: its deadline, and the gate to its final step.
pub struct Bounded {
    pub deadline: Deadline,
    state: AtomicU8,
    /// What the work is doing now, for the message if it runs out of time.
    doing: Mutex<String>,
}

impl Bounded {
    /// Say what the work is doing now (per file, not per watch: it locks).
    pub fn doing(&self, what: impl Into<String>) {
        *self.doing.lock().unwrap_or_else(|p| p.into_inner()) = what.into();
    }

    fn now_doing(&self) -> String {
        self.doing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Enter the step that must not run once the caller has given up. `Err`
    /// if it has, or if the budget is already spent.
    pub fn enter_final(&self, doing: &str) -> Result<(), DeadlineError> {
        self.deadline.check(|| format!("about to {doing}"))?;
        match self.state.compare_exchange(RUNNING, FINAL, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(_) => Err(self.deadline.error(format!("about to {doing}"))),
        }
    }

    /// Whether the caller stopped waiting (the work should end quietly).
    pub fn abandoned(&self) -> bool {
        self.state.load(Ordering::Acquire) == ABANDONED
    }
}

/// Run `work` on a thread of its own and wait for it at most until
/// `deadline` passes. Past it, the work is abandoned (it may still run
/// until its current syscall returns, but can no longer enter its final
/// step) and `doing` names what took too long. If the final step had
/// started, it is waited for: it is bounded by its own nature (renames).
pub fn run_bounded<T: Send + 'static>(deadline: Deadline, work: impl FnOnce(&Bounded) -> T + Send + 'static) -> Result<T, DeadlineError> {
    let shared = Arc::new(Bounded { deadline, state: AtomicU8::new(RUNNING), doing: Mutex::new("starting".into()) });
    let (tx, rx) = mpsc::sync_channel(1);
    let theirs = Arc::clone(&shared);
    let spawned = std::thread::Builder::new().name("notify-bounded".into()).spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&theirs)));
        let _ = tx.send(r);
    });
    if let Err(e) = spawned {
        return Err(deadline.error(format!("starting its thread failed ({e})")));
    }
    let resume = |r: std::thread::Result<T>| r.unwrap_or_else(|p| std::panic::resume_unwind(p));
    match rx.recv_timeout(deadline.remaining()) {
        Ok(r) => Ok(resume(r)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(deadline.error("its thread ended without a result".into())),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            match shared.state.compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Err(deadline.error(shared.now_doing())),
                // The final step is under way: wait for its end.
                Err(_) => match rx.recv() {
                    Ok(r) => Ok(resume(r)),
                    Err(_) => Err(deadline.error("its thread ended without a result".into())),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishes_within_budget() {
        let d = Deadline::start("test", Duration::from_secs(5));
        assert_eq!(run_bounded(d, |_| 7).unwrap(), 7);
    }

    #[test]
    fn stops_waiting_and_bars_the_final_step() {
        let d = Deadline::start("the test step", Duration::from_millis(50));
        let (tx, rx) = mpsc::channel();
        let t0 = Instant::now();
        let r = run_bounded(d, move |b| {
            b.doing("sleeping");
            std::thread::sleep(Duration::from_millis(300));
            let _ = tx.send((b.abandoned(), b.enter_final("commit").is_ok()));
        });
        assert!(t0.elapsed() < Duration::from_millis(250), "waited {:?}", t0.elapsed());
        let e = r.unwrap_err();
        assert!(e.to_string().contains("the test step took longer than its budget"), "{e}");
        assert!(e.to_string().ends_with("while sleeping"), "{e}");
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (true, false));
    }

    #[test]
    fn a_started_final_step_is_waited_for() {
        let d = Deadline::start("test", Duration::from_millis(50));
        let r = run_bounded(d, |b| {
            b.enter_final("commit").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            "committed"
        });
        assert_eq!(r.unwrap(), "committed");
    }

    #[test]
    fn check_says_what_was_under_way() {
        let d = Deadline::start("the takeover", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let e = d.check(|| "capturing pid 5 fd 3".into()).unwrap_err();
        assert_eq!(e.doing, "capturing pid 5 fd 3");
    }
}
