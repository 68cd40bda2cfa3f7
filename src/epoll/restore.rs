//! Restore side: the epoll instance is created inside the restored task
//! (`RESTORE_EXT_FILE`), which also registers right away the targets that
//! already sit at their registered number there ([`in_task_candidate`]).
//! The other registrations are made once every task of the tree has all its
//! files (`RESUME_DEVICES_LATE`), from a helper thread with a private fd
//! table in which each target sits at exactly its original number, so that
//! the kernel's key (file, fd) is the dumped one whatever the restored task
//! now has at that number.
//!
//! An EPOLLONESHOT registration that already fired ("disarmed": no event
//! bits left) cannot be created by epoll_ctl, which always arms ERR/HUP. It
//! is registered armed for every event and delivered once to us, which
//! disarms it exactly as the application's epoll_wait did. A target that is
//! not ready for anything is made ready for a moment where that has no
//! visible effect (a pipe read end: one byte written and read back).

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::fs::{Mode, OFlags};

use super::{EpollError, EPOLLONESHOT, PRIVATE_BITS};
use crate::ids::FileId;
use crate::proto::{EventpollFileEntry, EventpollTfdEntry};
use crate::sys::{proc, Context, SysError};

/// A new, empty instance with the dumped status flags.
pub fn create(entry: &EventpollFileEntry) -> Result<OwnedFd, EpollError> {
    let what = || format!("eventpoll id {}", entry.id);
    let fd = epoll::create(CreateFlags::CLOEXEC).ctx("epoll_create1", what())?;
    if entry.flags & libc::O_NONBLOCK as u32 != 0 {
        rustix::fs::fcntl_setfl(&fd, OFlags::NONBLOCK).ctx("F_SETFL", what())?;
    }
    proc::set_async(&fd, entry.flags).ctx("F_SETFL(O_ASYNC)", what())?;
    Ok(fd)
}

/// Check an image entry before acting on it.
pub fn validate(entry: &EventpollFileEntry) -> Result<(), EpollError> {
    let mut keys = std::collections::HashSet::new();
    for t in &entry.tfd {
        if t.tfd > i32::MAX as u32 {
            return Err(EpollError::BadImage { id: entry.id, what: format!("fd number {} out of range", t.tfd) });
        }
        if !keys.insert((t.id, t.tfd)) {
            return Err(EpollError::BadImage { id: entry.id, what: format!("target id {} registered twice as fd {}", t.id, t.tfd) });
        }
        if t.id == entry.id {
            return Err(EpollError::BadImage { id: entry.id, what: "an epoll registered in itself".into() });
        }
    }
    Ok(())
}

/// The fd numbers only one registration of `entry` uses. Only those are
/// registered from inside the restored task, so that the late pass can
/// tell a registration made there by its number alone.
pub fn unique_numbers(entry: &EventpollFileEntry) -> HashSet<u32> {
    let mut seen: HashMap<u32, bool> = HashMap::with_capacity(entry.tfd.len());
    for t in &entry.tfd {
        seen.entry(t.tfd).and_modify(|once| *once = false).or_insert(true);
    }
    seen.into_iter().filter(|(_, once)| *once).map(|(n, _)| n).collect()
}

/// Can `t` be registered inside the restored task from RESTORE_EXT_FILE,
/// when the target already sits at its number? Not a disarmed ONESHOT
/// (that needs the late pass's arm-and-drain) and the only registration
/// under its number.
pub fn in_task_candidate(t: &EventpollTfdEntry, unique: &HashSet<u32>) -> bool {
    !disarmed(t) && unique.contains(&t.tfd)
}

/// A registration that fired as EPOLLONESHOT and was not re-armed.
pub fn disarmed(t: &EventpollTfdEntry) -> bool {
    t.events & EPOLLONESHOT != 0 && t.events & !PRIVATE_BITS == 0
}

/// Every event bit a file can report.
const ALL_EVENTS: u32 = 0x1 | 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x8 | 0x10;

/// What registering did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub registrations: usize,
    /// Registrations already made inside the restored task (see
    /// `in_task_candidate`).
    pub in_task: usize,
    /// Disarmed ONESHOT registrations whose target could not be made ready,
    /// so they could only be registered armed for ERR/HUP (fd numbers).
    pub rearmed: Vec<u32>,
}

/// Where to get each target: CRIU file id → our copy of it, fetched inside
/// the helper thread so that it lands in the private fd table.
pub type Fetch<'a> = dyn Fn(FileId) -> Result<OwnedFd, EpollError> + Sync + 'a;

/// Register all of `entry`'s targets in `ep` (our copy of the restored
/// instance), except those `skip` says already exist. `fetch` must not use
/// fds below the highest registered number (they are overwritten here).
pub fn register_all(
    ep: BorrowedFd<'_>,
    entry: &EventpollFileEntry,
    fetch: &Fetch<'_>,
    skip: &(dyn Fn(&EventpollTfdEntry) -> bool + Sync),
    deadline: &crate::deadline::Deadline,
) -> Result<Outcome, EpollError> {
    validate(entry)?;
    let id = entry.id;
    if entry.tfd.iter().all(skip) {
        // Every registration was made inside the task: nothing to place.
        return Ok(Outcome { registrations: entry.tfd.len(), in_task: entry.tfd.len(), ..Default::default() });
    }
    let max = entry.tfd.iter().map(|t| t.tfd as i32).max().unwrap_or(0);
    proc::with_private_fd_table(|slots| -> Result<Outcome, EpollError> {
        proc::allow_fd_number(max.saturating_add(16));
        // Our own copy of the instance above every number we will occupy.
        let ep = proc::dup_above(ep, max.saturating_add(1))?;
        let mut p = Placer { id, ep, slots, ids: HashMap::new(), fetch };
        let mut out = Outcome { registrations: entry.tfd.len(), ..Default::default() };
        let todo: Vec<&EventpollTfdEntry> = entry.tfd.iter().filter(|t| !skip(t)).collect();
        out.in_task = entry.tfd.len() - todo.len();
        // 1. Disarmed ONESHOTs, alone in the instance.
        let pending: Vec<&EventpollTfdEntry> = todo.iter().copied().filter(|t| disarmed(t)).collect();
        out.rearmed = p.disarmed_oneshots(&pending)?;
        // 2. Everything else, with the exact dumped events, by number.
        let mut rest: Vec<&EventpollTfdEntry> = todo.iter().copied().filter(|t| !disarmed(t)).collect();
        rest.sort_by_key(|t| t.tfd);
        let n = rest.len();
        for (i, t) in rest.into_iter().enumerate() {
            if i % 1024 == 0 {
                deadline
                    .check(|| format!("registering target {} of {n}", i + 1))
                    .map_err(|source| EpollError::Deadline { id: FileId(id), source })?;
            }
            p.ctl(t, t.events, false)?;
        }
        // The targets' copies close with this thread's private fd table
        // when it exits, all at once rather than one close(2) each.
        p.slots.leave_to_thread_exit();
        Ok(out)
    })?
}

/// Registers targets of epoll `id` (our copy `ep`) from a private fd table,
/// each placed at exactly its registered number. Targets placed so far
/// stay at their numbers (`ids`: number -> file id): taken in ascending
/// order, the next one fetched usually lands right at its number (the
/// lowest free one), with no dup2 and no close per target.
struct Placer<'s, 'f> {
    id: u32,
    ep: OwnedFd,
    slots: &'s mut proc::Slots,
    ids: HashMap<i32, u32>,
    fetch: &'f Fetch<'f>,
}

impl Placer<'_, '_> {
    fn reg(&self, t: &EventpollTfdEntry, e: SysError) -> EpollError {
        EpollError::Register { id: self.id, target: t.id, tfd: t.tfd, source: e }
    }

    /// Put the target of `t` at exactly its number (if it is not there).
    fn place(&mut self, t: &EventpollTfdEntry) -> Result<(), EpollError> {
        let n = t.tfd as i32;
        if self.ids.get(&n) != Some(&t.id) {
            let got = (self.fetch)(FileId(t.id))?;
            if let Err(e) = self.slots.place(got, n) {
                return Err(self.reg(t, e));
            }
            self.ids.insert(n, t.id);
        }
        Ok(())
    }

    /// The target of `t`, once placed.
    fn target(&self, t: &EventpollTfdEntry) -> BorrowedFd<'_> {
        self.slots.get(t.tfd as i32).expect("placed")
    }

    /// EPOLL_CTL_ADD (or MOD) `t` with `events`.
    fn ctl(&mut self, t: &EventpollTfdEntry, events: u32, modify: bool) -> Result<(), EpollError> {
        self.place(t)?;
        let fd = self.target(t);
        let data = EventData::new_u64(t.data);
        let flags = EventFlags::from_bits_retain(events);
        let r = if modify { epoll::modify(&self.ep, fd, data, flags) } else { epoll::add(&self.ep, fd, data, flags) };
        let r = r.ctx(if modify { "epoll_ctl(MOD)" } else { "epoll_ctl(ADD)" }, format_args!("fd {}", t.tfd));
        r.map_err(|e| self.reg(t, e))
    }

    /// Disarmed ONESHOT registrations (alone in the instance so far): arm
    /// each for everything and collect what is ready, which disarms it; a
    /// target ready for nothing is a pipe made readable for a moment, or is
    /// registered armed for its own events (returned: their numbers).
    fn disarmed_oneshots(&mut self, pending: &[&EventpollTfdEntry]) -> Result<Vec<u32>, EpollError> {
        let mut rearmed = Vec::new();
        if pending.is_empty() {
            return Ok(rearmed);
        }
        for t in pending {
            self.ctl(t, t.events | ALL_EVENTS, false)?;
        }
        let mut fired = drain(&self.ep, pending.len())?;
        for t in pending {
            if fired.remove(&t.data) {
                continue;
            }
            self.place(t)?;
            let fd = self.target(t);
            let nudged = nudge_pipe(fd).unwrap_or(false) && {
                let f = drain(&self.ep, pending.len()).unwrap_or_default();
                let _ = unnudge_pipe(fd);
                f.contains(&t.data)
            };
            if !nudged {
                // No logging on this thread: its fd table no longer has
                // criu's log fd where criu expects it.
                rearmed.push(t.tfd);
                self.ctl(t, t.events, true)?;
            }
        }
        Ok(rearmed)
    }
}

/// Collect what is ready right now; returns the data words delivered.
fn drain(ep: &OwnedFd, n: usize) -> Result<std::collections::HashSet<u64>, SysError> {
    let mut events: Vec<epoll::Event> = Vec::with_capacity(n.max(1));
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    epoll::wait(ep, rustix::buffer::spare_capacity(&mut events), Some(&zero)).ctx("epoll_wait", "disarming ONESHOT")?;
    Ok(events.iter().map(|e| e.data.u64()).collect())
}

/// If `fd` is the read end of an empty pipe or FIFO, write one byte into it
/// through a writer of our own. Nothing the application can see: the task
/// is stopped and the byte is read back by [`unnudge_pipe`] at once.
fn nudge_pipe(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    let st = rustix::fs::fstat(fd).ctx("fstat", "epoll target")?;
    let is_fifo = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo;
    let acc = rustix::fs::fcntl_getfl(fd).ctx("F_GETFL", "epoll target")?;
    if !is_fifo || acc.contains(OFlags::WRONLY) || acc.contains(OFlags::RDWR) {
        return Ok(false);
    }
    if rustix::io::ioctl_fionread(fd).unwrap_or(1) != 0 {
        return Ok(false);
    }
    // thread-self: this helper thread has its own fd table.
    let p = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    let w = rustix::fs::open(p.as_str(), OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC, Mode::empty()).ctx("open", &p)?;
    let n = rustix::io::write(&w, b"x").ctx("write", &p)?;
    Ok(n == 1)
}

fn unnudge_pipe(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    // The read end may be blocking: only read what FIONREAD says is there.
    if rustix::io::ioctl_fionread(fd).ctx("FIONREAD", "epoll target")? >= 1 {
        let mut b = [0u8; 1];
        rustix::io::read(fd, &mut b).ctx("read", "epoll target")?;
    }
    Ok(())
}
