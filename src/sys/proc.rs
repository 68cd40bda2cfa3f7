//! Reading tasks through /proc and pidfds, and acting on exact fd numbers.
#![allow(unsafe_code)] // fds at exact numbers (dup2), fcntl on a raw number, unshare of the fd table

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags};

use super::{Context, SysError};

fn pid_of(pid: i32) -> Result<Pid, SysError> {
    Pid::from_raw(pid).ok_or_else(|| SysError::new("pid", pid, Errno::SRCH))
}

/// A pidfd for `pid`.
pub fn pidfd(pid: i32) -> Result<OwnedFd, SysError> {
    rustix::process::pidfd_open(pid_of(pid)?, PidfdFlags::empty()).ctx("pidfd_open", format_args!("pid {pid}"))
}

/// Our own copy of fd `fd` of the task behind `pidfd` (same open file).
pub fn getfd(pidfd: BorrowedFd<'_>, pid: i32, fd: i32) -> Result<OwnedFd, SysError> {
    rustix::process::pidfd_getfd(pidfd, fd, PidfdGetfdFlags::empty()).ctx("pidfd_getfd", format_args!("pid {pid} fd {fd}"))
}

/// `/proc/PID/fdinfo/FD` as text.
pub fn fdinfo(pid: i32, fd: i32) -> Result<String, SysError> {
    let p = format!("/proc/{pid}/fdinfo/{fd}");
    std::fs::read_to_string(&p).ctx("read", p)
}

/// Where `/proc/PID/fd/FD` points ("anon_inode:inotify", a path ...).
pub fn fd_link(pid: i32, fd: i32) -> Result<String, SysError> {
    let p = format!("/proc/{pid}/fd/{fd}");
    std::fs::read_link(&p).map(|l| l.to_string_lossy().into_owned()).ctx("readlink", p)
}

/// Where one of our own fds points.
pub fn own_fd_link(fd: BorrowedFd<'_>) -> Result<String, SysError> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::read_link(&p).map(|l| l.to_string_lossy().into_owned()).ctx("readlink", p)
}

/// Our own `/proc/self/fd`, opened once: reading many of our fds' links
/// through it skips the walk through /proc and the `self` symlink each.
pub struct OwnFdLinks(OwnedFd);

impl OwnFdLinks {
    pub fn open() -> Result<OwnFdLinks, SysError> {
        rustix::fs::open(
            "/proc/self/fd",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map(OwnFdLinks)
        .ctx("open", "/proc/self/fd")
    }

    /// Where our fd `fd` points, as [`own_fd_link`] says.
    pub fn link(&self, fd: BorrowedFd<'_>) -> Result<String, SysError> {
        let name = fd.as_raw_fd().to_string();
        let l = rustix::fs::readlinkat(&self.0, name.as_str(), Vec::with_capacity(128))
            .ctx("readlink", format_args!("/proc/self/fd/{name}"))?;
        Ok(l.to_string_lossy().into_owned())
    }
}

/// The open fd numbers of a task.
pub fn fds(pid: i32) -> Result<Vec<i32>, SysError> {
    fds_of(&format!("/proc/{pid}/fd"))
}

fn fds_of(p: &str) -> Result<Vec<i32>, SysError> {
    let mut v: Vec<i32> = std::fs::read_dir(p).ctx("readdir", p)?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    v.sort_unstable();
    Ok(v)
}

/// The task's pid in each pid namespace, outermost first (`NSpid:`).
pub fn nspid(pid: i32) -> Result<Vec<i32>, SysError> {
    let p = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&p).ctx("read", &p)?;
    parse_nspid(&text).ok_or_else(|| SysError::new("parse NSpid", p, Errno::INVAL))
}

/// Parse the `NSpid:` line of a status file.
pub fn parse_nspid(status: &str) -> Option<Vec<i32>> {
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    let v: Option<Vec<i32>> = line.split_whitespace().map(|s| s.parse().ok()).collect();
    v.filter(|v| !v.is_empty())
}

/// Files put at exact fd numbers of a private fd table: only
/// [`with_private_fd_table`] makes one, for the thread whose table it is.
/// It owns every file it placed. A number may be taken if it is free, holds
/// one of its own (replaced), or holds a copy inherited from criu's table
/// when the table was made private (criu's own fd stays open in criu's
/// table; the caller keeps what it still needs of those copies above the
/// numbers it places). A number opened since, by anything else, is refused:
/// no fd owned in this table is closed behind its owner's back (dup2 would
/// do that silently).
pub struct Slots {
    at: HashMap<RawFd, OwnedFd>,
    inherited: std::collections::HashSet<RawFd>,
}

impl Slots {
    /// Put `fd` at exactly number `n` (the copy `fd` itself is closed if it
    /// sits elsewhere) and lend it out.
    pub fn place(&mut self, fd: OwnedFd, n: RawFd) -> Result<BorrowedFd<'_>, SysError> {
        if fd.as_raw_fd() != n {
            if let Some(old) = self.at.remove(&n) {
                // dup2 closes it as it puts `fd` there.
                let _ = old.into_raw_fd();
            } else if !self.inherited.remove(&n) && is_open(n) {
                return Err(SysError::new("place", format!("fd {n} (open, not ours)"), Errno::BUSY));
            }
            // SAFETY: dup2 on a valid fd onto a number that is free, was ours
            // (given up just above) or holds a copy of criu's that nothing in
            // this table owns.
            let r = unsafe { libc::dup2(fd.as_raw_fd(), n) };
            if r < 0 {
                let e = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
                return Err(SysError::new("dup2", format!("fd {n}"), e));
            }
            // SAFETY: dup2 returned `n`, a new fd of this table that only
            // this Slots owns.
            self.at.insert(n, unsafe { OwnedFd::from_raw_fd(r) });
        } else {
            self.at.insert(n, fd);
        }
        Ok(self.at[&n].as_fd())
    }

    /// The file placed at `n`, if any.
    pub fn get(&self, n: RawFd) -> Option<BorrowedFd<'_>> {
        self.at.get(&n).map(|f| f.as_fd())
    }

    /// Leave every placed file open: the private table closes them all at
    /// once when its thread exits, instead of one close(2) each.
    pub fn leave_to_thread_exit(&mut self) {
        for (_, fd) in self.at.drain() {
            let _ = fd.into_raw_fd();
        }
    }
}

fn is_open(n: RawFd) -> bool {
    // SAFETY: only asks the kernel whether number `n` is open in this
    // thread's table; the borrow ends with the call.
    rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(n) }).is_ok()
}

/// Run `f` on a new thread whose fd table and fs context (root, cwd) are
/// private copies, so that it can put files at any number (through the
/// [`Slots`] it is given) and chroot without touching criu's own. Returns
/// what `f` returns.
pub fn with_private_fd_table<T: Send>(f: impl FnOnce(&mut Slots) -> T + Send) -> Result<T, SysError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: this fresh thread holds no fd or path that the
            // unshared copies could invalidate; criu's own thread keeps the
            // originals.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES | rustix::thread::UnshareFlags::FS) }
                .ctx("unshare", "CLONE_FILES|CLONE_FS")?;
            // The listing shows the directory's own fd too: keep what is
            // still open once it is closed.
            let inherited = fds_of("/proc/thread-self/fd")?.into_iter().filter(|n| is_open(*n)).collect();
            let mut slots = Slots { at: HashMap::new(), inherited };
            Ok(f(&mut slots))
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Grow this process's fd table now so that it holds numbers below `n`
/// (best effort). Call it before starting threads: growing a table that
/// other threads share waits for an RCU grace period (synchronize_rcu,
/// 10-20 ms here) at every doubling, while the tasks are frozen or stopped.
pub fn reserve_fd_table(n: RawFd) {
    if n <= 64 {
        return;
    }
    allow_fd_number(n - 1);
    let cur = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    let n = (n as u64).min(cur) as RawFd;
    if let Ok(probe) = rustix::fs::open("/", rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty()) {
        // The copy at n - 1 grows the table; closing it keeps the size.
        let _ = rustix::io::fcntl_dupfd_cloexec(&probe, n - 1);
    }
}

/// Raise the calling thread's fd limit to allow number `fd` (best effort).
pub fn allow_fd_number(fd: RawFd) {
    let need = fd as u64 + 1;
    let cur = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if cur.current.is_some_and(|c| c < need) {
        let max = cur.maximum;
        let want = max.map_or(need, |m| need.min(m));
        let _ =
            rustix::process::setrlimit(rustix::process::Resource::Nofile, rustix::process::Rlimit { current: Some(want), maximum: max });
    }
}

/// Keep `fd` away from low numbers: a copy at or above `min`.
pub fn dup_above(fd: impl AsFd, min: RawFd) -> Result<OwnedFd, SysError> {
    rustix::io::fcntl_dupfd_cloexec(fd, min).ctx("F_DUPFD_CLOEXEC", format_args!("above {min}"))
}

/// Our own copy (close-on-exec, numbered at least 3) of fd number `fd` of
/// this process, e.g. one criu passes to a hook. A number that is not open
/// is an EBADF error, never a borrowed dangling fd.
pub fn dup_raw(fd: RawFd) -> Result<OwnedFd, SysError> {
    // SAFETY: F_DUPFD_CLOEXEC on an integer; the kernel checks the number.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if r < 0 {
        let e = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        return Err(SysError::new("dup", format!("fd {fd}"), e));
    }
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Set O_ASYNC on `fd` if the dumped status `flags` have it (the owner and
/// signal are CRIU's: it applies fown after the plugin returns the fd).
pub fn set_async(fd: impl AsFd, flags: u32) -> Result<(), Errno> {
    if flags & libc::O_ASYNC as u32 == 0 {
        return Ok(());
    }
    let cur = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, cur | rustix::fs::OFlags::from_bits_retain(libc::O_ASYNC as u32))
}

/// Give the calling thread its own cwd and root (CLONE_FS), so that
/// [`dir_path`] can change directory without touching criu's.
pub fn private_cwd() -> Result<(), SysError> {
    // SAFETY: only the fs context (cwd, root, umask) of this thread is
    // unshared; it holds no path that the change could invalidate.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }.ctx("unshare", "CLONE_FS")
}

/// The path of a directory fd, by fchdir + getcwd (cheaper than reading
/// /proc/self/fd/N). `None` for non-directories and unreachable or removed
/// directories. Only on threads that called [`private_cwd`].
pub fn dir_path(fd: BorrowedFd<'_>) -> Option<String> {
    rustix::process::fchdir(fd).ok()?;
    let p = rustix::process::getcwd(Vec::with_capacity(256)).ok()?;
    let s = p.to_str().ok()?;
    s.starts_with('/').then(|| s.to_owned())
}

/// `epoll_ctl(ep, EPOLL_CTL_ADD, number, ..)`: register whatever file sits
/// at fd `number` of this process under that number (`EBADF`: none).
pub fn epoll_add_at(
    ep: BorrowedFd<'_>,
    number: RawFd,
    data: rustix::event::epoll::EventData,
    events: rustix::event::epoll::EventFlags,
) -> Result<(), SysError> {
    let mut ev = libc::epoll_event { events: events.bits(), u64: data.u64() };
    // SAFETY: integer fds checked by the kernel; `ev` lives across the call.
    let r = unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, number, &mut ev) };
    if r < 0 {
        let e = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        return Err(SysError::new("epoll_ctl(ADD)", format!("fd {number}"), e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_parsing() {
        assert_eq!(parse_nspid("Name:\tx\nNSpid:\t120\t1\n"), Some(vec![120, 1]));
        assert_eq!(parse_nspid("NSpid:\t5\n"), Some(vec![5]));
        assert_eq!(parse_nspid("Name: x\n"), None);
        assert_eq!(parse_nspid("NSpid:\tx\n"), None);
    }

    #[test]
    fn own_task() {
        let me = std::process::id() as i32;
        assert_eq!(*nspid(me).unwrap().last().unwrap(), me);
        assert!(fds(me).unwrap().contains(&0) || fds(me).is_ok());
    }

    #[test]
    fn fd_links_through_the_cached_dir_match_proc() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        let links = OwnFdLinks::open().unwrap();
        assert_eq!(links.link(f.as_fd()).unwrap(), own_fd_link(f.as_fd()).unwrap());
    }

    #[test]
    fn private_table_does_not_leak() {
        let probe = 917;
        let r = with_private_fd_table(|slots| {
            let devnull = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
            let again = rustix::io::dup(&devnull).unwrap();
            let placed = slots.place(devnull, probe).unwrap().as_raw_fd();
            // Over one of its own: replaced; over someone else's: refused.
            assert_eq!(slots.place(again, probe).unwrap().as_raw_fd(), probe);
            let mine = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
            let other = rustix::io::dup(&mine).unwrap();
            assert_eq!(slots.place(other, mine.as_raw_fd()).unwrap_err().errno, Errno::BUSY);
            // A copy of the parent's fd (stdin's number) may be taken.
            let third = rustix::io::dup(&mine).unwrap();
            assert_eq!(slots.place(third, 0).unwrap().as_raw_fd(), 0);
            placed
        })
        .unwrap();
        assert_eq!(r, probe);
        assert!(std::fs::read_link(format!("/proc/self/fd/{probe}")).is_err());
    }
}
