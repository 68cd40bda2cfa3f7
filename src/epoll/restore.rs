//! Restore side: the epoll instance is created inside the restored task
//! (`RESTORE_EXT_FILE`); its registrations are made once every task of the
//! tree has all its files (`RESUME_DEVICES_LATE`), from a helper thread with
//! a private fd table in which each target sits at exactly its original
//! number, so that the kernel's key (file, fd) is the dumped one whatever
//! the restored task now has at that number.
//!
//! An EPOLLONESHOT registration that already fired ("disarmed": no event
//! bits left) cannot be created by epoll_ctl, which always arms ERR/HUP. It
//! is registered armed for every event and delivered once to us, which
//! disarms it exactly as the application's epoll_wait did.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};

use super::{EpollError, EPOLLONESHOT, PRIVATE_BITS};
use crate::proto::{EventpollFileEntry, EventpollTfdEntry};
use crate::sys::{proc, Context, SysError};

/// A new, empty instance with the dumped status flags.
pub fn create(entry: &EventpollFileEntry) -> Result<OwnedFd, EpollError> {
    let fd = epoll::create(CreateFlags::CLOEXEC).ctx("epoll_create1", format!("eventpoll id {}", entry.id))?;
    if entry.flags & libc::O_NONBLOCK as u32 != 0 {
        rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).ctx("F_SETFL", format!("eventpoll id {}", entry.id))?;
    }
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

fn disarmed(t: &EventpollTfdEntry) -> bool {
    t.events & EPOLLONESHOT != 0 && t.events & !PRIVATE_BITS == 0
}

/// Every event bit a file can report.
const ALL_EVENTS: u32 = 0x1 | 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x8 | 0x10;

/// What registering did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub registrations: usize,
    /// Disarmed ONESHOT registrations whose target was not ready, so they
    /// could only be registered armed for ERR/HUP.
    pub rearmed: usize,
}

/// Register all of `entry`'s targets in `ep` (our copy of the restored
/// instance). `targets` holds our copy of each target file by its id.
pub fn register_all(ep: BorrowedFd<'_>, entry: &EventpollFileEntry, targets: &HashMap<u32, OwnedFd>) -> Result<Outcome, EpollError> {
    validate(entry)?;
    let id = entry.id;
    for t in &entry.tfd {
        if !targets.contains_key(&t.id) {
            return Err(EpollError::TargetMissing { id, target: t.id, tfd: t.tfd });
        }
    }
    let max = entry.tfd.iter().map(|t| t.tfd as i32).max().unwrap_or(0);
    proc::with_private_fd_table(|| -> Result<Outcome, EpollError> {
        proc::allow_fd_number(max.saturating_add(targets.len() as i32 + 8));
        // Keep our own files above every number we are about to occupy.
        let floor = max.saturating_add(1);
        let ep = proc::dup_above(ep, floor)?;
        let mine: HashMap<u32, OwnedFd> =
            targets.iter().map(|(k, v)| Ok((*k, proc::dup_above(v, floor)?))).collect::<Result<_, SysError>>()?;
        let add = |t: &EventpollTfdEntry, events: u32| -> Result<(), EpollError> {
            let reg = |e| EpollError::Register { id, target: t.id, tfd: t.tfd, source: e };
            let placed = proc::dup_to(mine[&t.id].as_fd(), t.tfd as i32).map_err(reg)?;
            let r = epoll::add(&ep, &placed, EventData::new_u64(t.data), EventFlags::from_bits_retain(events))
                .ctx("epoll_ctl(ADD)", format!("fd {}", t.tfd));
            drop(placed);
            r.map_err(reg)
        };
        let mut out = Outcome { registrations: entry.tfd.len(), ..Default::default() };
        // 1. Disarmed ONESHOTs, alone in the instance: arm for everything,
        //    collect what is ready, which disarms it.
        let pending: Vec<&EventpollTfdEntry> = entry.tfd.iter().filter(|t| disarmed(t)).collect();
        if !pending.is_empty() {
            for t in &pending {
                add(t, t.events | ALL_EVENTS)?;
            }
            let mut events: Vec<epoll::Event> = Vec::with_capacity(pending.len());
            let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
            epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), Some(&zero))
                .ctx("epoll_wait", format!("eventpoll id {id}"))?;
            let fired: std::collections::HashSet<u64> = events.iter().map(|e| e.data.u64()).collect();
            for t in &pending {
                if !fired.contains(&t.data) {
                    out.rearmed += 1;
                    log::warn!(
                        "eventpoll id {id}: disarmed EPOLLONESHOT registration of fd {} (target not ready) restored armed for ERR/HUP only",
                        t.tfd
                    );
                    let placed = proc::dup_to(mine[&t.id].as_fd(), t.tfd as i32)
                        .map_err(|e| EpollError::Register { id, target: t.id, tfd: t.tfd, source: e })?;
                    epoll::modify(&ep, &placed, EventData::new_u64(t.data), EventFlags::from_bits_retain(t.events))
                        .ctx("epoll_ctl(MOD)", format!("fd {}", t.tfd))
                        .map_err(|e| EpollError::Register { id, target: t.id, tfd: t.tfd, source: e })?;
                }
            }
        }
        // 2. Everything else, with the exact dumped events.
        for t in entry.tfd.iter().filter(|t| !disarmed(t)) {
            add(t, t.events)?;
        }
        Ok(out)
    })?
}
