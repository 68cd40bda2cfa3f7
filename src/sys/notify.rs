//! The inotify ioctls rustix does not wrap.
#![allow(unsafe_code)] // the INOTIFY_IOC_SETNEXTWD ioctl, which no crate wraps

use std::os::fd::{AsFd, AsRawFd};

use rustix::io::Errno;

use super::SysError;

/// `INOTIFY_IOC_SETNEXTWD` = _IOW('I', 0, __s32).
const INOTIFY_IOC_SETNEXTWD: libc::c_ulong = 0x4004_4900;

/// Make the next `inotify_add_watch` on this instance hand out `wd` (if it
/// is free). O(1): it only moves the kernel's idr cursor.
pub fn set_next_wd(fd: impl AsFd, wd: i32) -> Result<(), SysError> {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: INOTIFY_IOC_SETNEXTWD takes its argument by value (an int);
    // on a non-inotify fd the kernel answers ENOTTY.
    let r = unsafe { libc::ioctl(raw, INOTIFY_IOC_SETNEXTWD as _, wd as libc::c_ulong) };
    if r < 0 {
        let e = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        return Err(SysError::new("INOTIFY_IOC_SETNEXTWD", format!("wd {wd}"), e));
    }
    Ok(())
}

/// Bytes of queued, unread events.
pub fn queued_bytes(fd: impl AsFd) -> Result<u64, SysError> {
    rustix::io::ioctl_fionread(fd).map_err(|e| SysError::new("FIONREAD", "inotify fd", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::inotify;

    #[test]
    fn next_wd_is_used() {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC).unwrap();
        set_next_wd(&fd, 1000).unwrap();
        let wd = inotify::add_watch(&fd, "/", inotify::WatchFlags::CREATE).unwrap();
        assert_eq!(wd, 1000);
        set_next_wd(&fd, 0x7fff_ffff).unwrap();
        let wd = inotify::add_watch(&fd, "/tmp", inotify::WatchFlags::CREATE).unwrap();
        assert_eq!(wd, 0x7fff_ffff);
        assert_eq!(queued_bytes(&fd).unwrap(), 0);
    }
}
