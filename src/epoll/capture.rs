//! Dump side: the registrations of one epoll instance, keyed exactly.
//!
//! fdinfo gives each registration's fd number, events and data. Which file
//! it is the caller's resolver says: CRIU's own entry where it proved it,
//! else a search ([`super::targets`]). The number is kept as the key even
//! when it was closed or reused (CRIU rewrites such keys).

use super::EpollError;
use crate::ids::{FdNum, FileId, RealPid};
use crate::proto::{EventpollFileEntry, EventpollTfdEntry, FownEntry};
use crate::sys::{fdinfo, proc, SysError};

/// Finds the CRIU file id of registration `t` (the `toff`-th registration
/// with its number; the `index`-th of `total` lines of fdinfo) in epoll
/// `fd` of `pid`.
pub type Resolve<'a> = dyn FnMut(&fdinfo::EpollTarget, u32, usize, usize) -> Result<Option<FileId>, SysError> + 'a;

/// Capture epoll `fd` of task `pid` (real pid).
pub fn capture(
    pid: RealPid,
    fd: FdNum,
    id: FileId,
    fown: FownEntry,
    resolve: &mut Resolve<'_>,
    deadline: &crate::deadline::Deadline,
) -> Result<EventpollFileEntry, EpollError> {
    let text = proc::fdinfo(pid.0, fd.raw())?;
    let common = fdinfo::parse_common(&text).map_err(|source| EpollError::Fdinfo { pid, fd, source })?;
    let targets = fdinfo::parse_epoll(&text).map_err(|source| EpollError::Fdinfo { pid, fd, source })?;
    let mut seen: std::collections::HashMap<i32, u32> = std::collections::HashMap::new();
    let mut tfds = Vec::with_capacity(targets.len());
    for (index, t) in targets.iter().enumerate() {
        if index % 1024 == 0 {
            deadline
                .check(|| format!("capturing registration {} of {} (pid {pid} fd {fd})", index + 1, targets.len()))
                .map_err(|source| EpollError::Deadline { id, source })?;
        }
        let toff = seen.entry(t.tfd).or_insert(0);
        let this = *toff;
        *toff += 1;
        let target = resolve(t, this, index, targets.len())?.ok_or(EpollError::TargetNotFound { id, pid, fd, tfd: t.tfd })?;
        tfds.push(EventpollTfdEntry {
            id: target.0,
            tfd: t.tfd as u32,
            events: t.events,
            data: t.data,
            dev: Some(t.sdev),
            inode: Some(t.ino),
            pos: Some(t.pos),
        });
    }
    Ok(EventpollFileEntry {
        id: id.0,
        flags: common.flags & !(libc::O_CLOEXEC as u32),
        fown,
        tfd: tfds,
        format: Some(crate::criu::format::CURRENT),
    })
}
