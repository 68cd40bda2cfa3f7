//! `kcmp(2)`: is a file of one task the same open file as another's?

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

fn kcmp(pid1: i32, pid2: i32, kind: libc::c_int, idx1: libc::c_ulong, idx2: libc::c_ulong) -> Result<i64, Errno> {
    // SAFETY: kcmp takes integer arguments; for KCMP_EPOLL_TFD idx2 is the
    // address of a live EpollSlot (see `epoll_target_is`).
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid1, pid2, kind, idx1, idx2) };
    if r < 0 {
        Err(Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)))
    } else {
        Ok(r as i64)
    }
}

/// Whether fd `fd1` of `pid1` and fd `fd2` of `pid2` are one open file.
pub fn same_file(pid1: i32, fd1: i32, pid2: i32, fd2: i32) -> Result<bool, SysError> {
    kcmp(pid1, pid2, KCMP_FILE, fd1 as _, fd2 as _)
        .map(|r| r == 0)
        .map_err(|e| SysError::new("kcmp", format!("pid {pid1} fd {fd1} / pid {pid2} fd {fd2}"), e))
}

/// Whether fd `fd1` of `pid1` is the target registered in epoll `efd` of
/// `pid2` under number `tfd` (the `toff`-th registration with that number).
/// `Ok(None)` when there is no such registration.
pub fn epoll_target_is(pid1: i32, fd1: i32, pid2: i32, efd: i32, tfd: i32, toff: u32) -> Result<Option<bool>, SysError> {
    let slot = EpollSlot { efd: efd as u32, tfd: tfd as u32, toff };
    match kcmp(pid1, pid2, KCMP_EPOLL_TFD, fd1 as _, &slot as *const EpollSlot as libc::c_ulong) {
        Ok(r) => Ok(Some(r == 0)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::BADF) => Ok(Some(false)),
        Err(e) => Err(SysError::new("kcmp(EPOLL_TFD)", format!("pid {pid2} epoll fd {efd} tfd {tfd}"), e)),
    }
}
