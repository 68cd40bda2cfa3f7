//! `kcmp(2)`: the kernel's order of open files, and which file an epoll
//! registration points to.
//!
//! kcmp answers 0 (same object), 1 (the first is "less") or 2 ("greater"),
//! comparing scrambled kernel pointers, so files can be sorted once and
//! searched. `KCMP_EPOLL_TFD` orders a file against an epoll target with
//! the same order as `KCMP_FILE`.
#![allow(unsafe_code)] // kcmp(2), which no crate wraps

use std::cmp::Ordering;

use rustix::io::Errno;

use super::SysError;

const KCMP_FILE: libc::c_int = 0;
const KCMP_EPOLL_TFD: libc::c_int = 7;

#[repr(C)]
struct EpollSlot {
    efd: u32,
    tfd: u32,
    toff: u32,
}

fn kcmp(pid1: i32, pid2: i32, kind: libc::c_int, idx1: libc::c_ulong, idx2: libc::c_ulong) -> Result<Ordering, Errno> {
    // SAFETY: kcmp takes integer arguments; for KCMP_EPOLL_TFD idx2 is the
    // address of a live EpollSlot (see `cmp_epoll_target`), read by the
    // kernel before the call returns.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid1, pid2, kind, idx1, idx2) };
    match r {
        0 => Ok(Ordering::Equal),
        1 => Ok(Ordering::Less),
        2 => Ok(Ordering::Greater),
        r if r < 0 => Err(Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))),
        _ => Err(Errno::INVAL),
    }
}

/// The kernel's order of the file at fd `fd1` of `pid1` against the file at
/// fd `fd2` of `pid2` (`Equal`: one open file).
pub fn cmp_files(pid1: i32, fd1: i32, pid2: i32, fd2: i32) -> Result<Ordering, SysError> {
    kcmp(pid1, pid2, KCMP_FILE, fd1 as _, fd2 as _)
        .map_err(|e| SysError::new("kcmp(FILE)", format!("pid {pid1} fd {fd1} / pid {pid2} fd {fd2}"), e))
}

/// The order of the file at fd `fd1` of `pid1` against the target that epoll
/// `efd` of `pid2` has registered under number `tfd` (the `toff`-th
/// registration with that number). `Ok(None)` when there is no such
/// registration. The kernel walks the epoll's registrations to find it, so
/// one call costs O(registrations).
pub fn cmp_epoll_target(pid1: i32, fd1: i32, pid2: i32, efd: i32, tfd: i32, toff: u32) -> Result<Option<Ordering>, SysError> {
    let slot = EpollSlot { efd: efd as u32, tfd: tfd as u32, toff };
    match kcmp(pid1, pid2, KCMP_EPOLL_TFD, fd1 as _, &slot as *const EpollSlot as libc::c_ulong) {
        Ok(o) => Ok(Some(o)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(SysError::new("kcmp(EPOLL_TFD)", format!("pid {pid2} epoll fd {efd} tfd {tfd} against pid {pid1} fd {fd1}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn orders_files_and_epoll_targets_alike() {
        let me = std::process::id() as i32;
        let ep = rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC).unwrap();
        let fds: Vec<_> = (0..8).map(|_| rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap()).collect();
        for (i, f) in fds.iter().enumerate() {
            rustix::event::epoll::add(&ep, f, rustix::event::epoll::EventData::new_u64(i as u64), rustix::event::epoll::EventFlags::IN)
                .unwrap();
        }
        let dup = rustix::io::dup(&fds[3]).unwrap();
        assert_eq!(cmp_files(me, fds[3].as_raw_fd(), me, dup.as_raw_fd()).unwrap(), Ordering::Equal);
        for a in &fds {
            for b in &fds {
                let files = cmp_files(me, a.as_raw_fd(), me, b.as_raw_fd()).unwrap();
                let target = cmp_epoll_target(me, a.as_raw_fd(), me, ep.as_raw_fd(), b.as_raw_fd(), 0).unwrap();
                assert_eq!(target, Some(files));
                assert_eq!(files == Ordering::Equal, a.as_raw_fd() == b.as_raw_fd());
            }
        }
        assert_eq!(cmp_epoll_target(me, fds[0].as_raw_fd(), me, ep.as_raw_fd(), fds[0].as_raw_fd(), 1).unwrap(), None);
    }
}
