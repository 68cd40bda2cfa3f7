//! Restore side: an inotify instance with exactly the dumped watches.
//!
//! `RESTORE_EXT_FILE` creates the instance inside the restored task.
//! Watches are added once the whole tree is restored (`RESUME_DEVICES_LATE`,
//! tasks still stopped): by then the task's root and mount namespace are
//! final and CRIU's own file juggling (ghost files) is over, so no event
//! reaches the application. Paths from the image are resolved inside the
//! task's root (a private chroot on a helper thread), never the host's.
//! Each watch gets its wd through INOTIFY_IOC_SETNEXTWD (O(1)); afterwards
//! the kernel's own fdinfo is compared with the image: same wd, mask and
//! (on the same filesystem) the same file handle.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{Mode, OFlags};

use super::{InotifyError, IN_DONT_FOLLOW};
use crate::proto::{InotifyFileEntry, InotifyWdEntry};
use crate::sys::fhandle::{self, FileHandle};
use crate::sys::{fdinfo, notify, proc, Context};

/// A new, empty instance with the dumped status flags.
pub fn create(entry: &InotifyFileEntry) -> Result<OwnedFd, InotifyError> {
    let mut flags = CreateFlags::CLOEXEC;
    if entry.flags & libc::O_NONBLOCK as u32 != 0 {
        flags |= CreateFlags::NONBLOCK;
    }
    let fd = inotify::init(flags).ctx("inotify_init1", format!("inotify id {}", entry.id))?;
    crate::sys::proc::set_async(&fd, entry.flags).ctx("F_SETFL(O_ASYNC)", format!("inotify id {}", entry.id))?;
    Ok(fd)
}

/// A path from an image must be absolute, with no `.`/`..` components,
/// empty components or NULs: it is resolved inside the task's root only.
pub fn clean_path(p: &str) -> bool {
    p.starts_with('/') && !p.contains('\0') && (p == "/" || p[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Check one wd entry of an image before acting on it.
pub fn validate(entry: &InotifyFileEntry) -> Result<(), InotifyError> {
    let mut seen = std::collections::HashSet::new();
    for w in &entry.wd {
        let wd = w.wd as i32;
        let bad = |what: String| InotifyError::BadImage { id: entry.id, wd, what };
        if wd <= 0 {
            return Err(bad(format!("wd {} is not a positive number", w.wd)));
        }
        if !seen.insert(wd) {
            return Err(bad("duplicate wd".into()));
        }
        if w.unlinked != Some(true) {
            let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("");
            if !clean_path(p) {
                return Err(InotifyError::BadPath { id: entry.id, wd, path: p.to_owned() });
            }
        } else if w.holder_pid.is_none() || w.holder_fd.is_none() {
            return Err(bad("unlinked object without a holder fd".into()));
        }
        if FileHandle::from_words(w.f_handle.r#type as i32, w.f_handle.bytes as usize, &w.f_handle.handle).is_none() {
            return Err(bad(format!("file handle of {} bytes does not fit", w.f_handle.bytes)));
        }
    }
    Ok(())
}

/// What restoring one instance's watches did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub watches: usize,
    /// Watches re-attached by path on a filesystem other than the dumped one.
    pub moved: usize,
    /// Watches on a replaced object, kept because the user opted in.
    pub followed: usize,
}

fn dumped_handle(w: &InotifyWdEntry) -> Option<FileHandle> {
    FileHandle::from_words(w.f_handle.r#type as i32, w.f_handle.bytes as usize, &w.f_handle.handle)
}

/// Add every watch of `entry` to the instance `ifd` (our copy of the
/// restored task's fd). `task` is the real pid of the task whose root
/// resolves the paths; `holder` maps a dumped (virtual) pid to its real pid.
pub fn add_watches(
    ifd: BorrowedFd<'_>,
    entry: &InotifyFileEntry,
    task: i32,
    holder: &(dyn Fn(u32) -> Option<i32> + Sync),
    follow_paths: bool,
) -> Result<Outcome, InotifyError> {
    validate(entry)?;
    let id = entry.id;
    let proc_dir = rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx("open", "/proc")?;
    // Every root a path may be relative to: the task's own, and those of
    // tasks whose mount namespace shows objects the task's does not.
    let mut roots: HashMap<i32, OwnedFd> = HashMap::new();
    let mut root_of = |real: i32| -> Result<(), InotifyError> {
        if let std::collections::hash_map::Entry::Vacant(e) = roots.entry(real) {
            let p = format!("/proc/{real}/root");
            let fd = rustix::fs::open(p.as_str(), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ctx("open", &p)?;
            e.insert(fd);
        }
        Ok(())
    };
    root_of(task)?;
    let mut want_root: Vec<i32> = Vec::with_capacity(entry.wd.len());
    let mut order: Vec<&InotifyWdEntry> = entry.wd.iter().collect();
    order.sort_unstable_by_key(|w| w.wd);
    for w in &order {
        let real = match w.path_pid {
            None => task,
            Some(v) => holder(v).ok_or_else(|| InotifyError::BadImage {
                id,
                wd: w.wd as i32,
                what: format!("path namespace pid {v} is not in the restored tree"),
            })?,
        };
        root_of(real)?;
        want_root.push(real);
    }

    proc::with_private_fd_table(|| -> Result<Outcome, InotifyError> {
        let mut current: Option<i32> = None;
        let mut next: Option<i32> = None;
        let mut fs_cache: HashMap<i32, Option<u64>> = HashMap::new();
        let mut out = Outcome { watches: order.len(), ..Default::default() };
        for (w, want) in order.iter().zip(&want_root) {
            let wd = w.wd as i32;
            if current != Some(*want) {
                rustix::process::fchdir(&roots[want]).ctx("fchdir", format!("/proc/{want}/root"))?;
                rustix::process::chroot(".").ctx("chroot", format!("/proc/{want}/root"))?;
                current = Some(*want);
            }
            if next != Some(wd) {
                notify::set_next_wd(ifd, wd)?;
            }
            let mask = WatchFlags::from_bits_retain(w.mask | IN_DONT_FOLLOW);
            let (got, shown) = if w.unlinked == Some(true) {
                // Re-watch through the fd that holds the (ghost) file open.
                let vpid = w.holder_pid.unwrap_or_default();
                let hfd = w.holder_fd.unwrap_or_default();
                let real = holder(vpid).ok_or_else(|| InotifyError::BadImage {
                    id,
                    wd,
                    what: format!("holder pid {vpid} is not in the restored tree"),
                })?;
                let rel = format!("{real}/fd/{hfd}");
                rustix::process::fchdir(&proc_dir).ctx("fchdir", "/proc")?;
                // Follow the /proc magic link: no IN_DONT_FOLLOW here.
                let r = inotify::add_watch(ifd, rel.as_str(), WatchFlags::from_bits_retain(w.mask));
                rustix::process::chdir("/").ctx("chdir", "/")?;
                (r, format!("/proc/{rel}"))
            } else {
                let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("/");
                identity(id, w, p, follow_paths, &mut fs_cache, &mut out)?;
                (inotify::add_watch(ifd, p, mask), p.to_owned())
            };
            let got = got.map_err(|e| InotifyError::AddWatch {
                id,
                wd,
                path: shown.clone(),
                source: crate::sys::SysError::new("inotify_add_watch", &shown, e),
            })?;
            if got != wd {
                return Err(InotifyError::WrongWd { id, wd, got, path: shown });
            }
            next = wd.checked_add(1);
        }
        if std::env::var_os("CRIU_NOTIFY_VERIFY").is_some() {
            verify(ifd, entry, &proc_dir, follow_paths)?;
        }
        Ok(out)
    })?
}

/// Is the object at `path` (inside the task's root) the one dumped? Same
/// file handle: yes. Otherwise, on the dumped filesystem (same fsid) it was
/// replaced: an error unless the user follows paths; on another filesystem
/// the watch is re-attached by path (migration).
fn identity(
    id: u32,
    w: &InotifyWdEntry,
    path: &str,
    follow_paths: bool,
    fs_cache: &mut HashMap<i32, Option<u64>>,
    out: &mut Outcome,
) -> Result<(), InotifyError> {
    let wd = w.wd as i32;
    let add_err = |e: crate::sys::SysError| InotifyError::AddWatch { id, wd, path: path.to_owned(), source: e };
    let dumped = dumped_handle(w);
    let (same, mnt) = match fhandle::name_to_handle(rustix::fs::CWD, path) {
        Ok((h, mnt)) => (dumped.as_ref().is_some_and(|d| !d.bytes.is_empty() && *d == h), mnt),
        Err(e) if e.errno == rustix::io::Errno::OPNOTSUPP => {
            let st = rustix::fs::lstat(path).ctx("lstat", path).map_err(add_err)?;
            (st.st_ino == w.i_ino, -1)
        }
        Err(e) => return Err(add_err(e)),
    };
    if same {
        return Ok(());
    }
    let fsid = *fs_cache.entry(mnt).or_insert_with(|| rustix::fs::statvfs(path).ok().map(|v| v.f_fsid));
    let same_fs = fsid.is_some() && fsid == w.fsid && w.fsid != Some(0);
    if !same_fs {
        out.moved += 1;
        log::debug!("inotify id {id} wd {wd}: {path:?} re-attached by path on another filesystem");
        return Ok(());
    }
    if follow_paths {
        out.followed += 1;
        log::warn!("inotify id {id} wd {wd}: {path:?} is a different object than at dump; watching it (follow_paths)");
        return Ok(());
    }
    Err(InotifyError::Replaced { id, wd, path: path.to_owned() })
}

/// Compare the kernel's view of the restored instance with the image
/// (`CRIU_NOTIFY_VERIFY=1`: costs about as much as adding the watches).
fn verify(ifd: BorrowedFd<'_>, entry: &InotifyFileEntry, proc_dir: &OwnedFd, follow_paths: bool) -> Result<Outcome, InotifyError> {
    let id = entry.id;
    let name = format!("thread-self/fdinfo/{}", ifd.as_raw_fd());
    let f = rustix::fs::openat(proc_dir, name.as_str(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ctx("open", format!("/proc/{name}"))?;
    let text = std::io::read_to_string(std::fs::File::from(f)).ctx("read", format!("/proc/{name}"))?;
    let marks = fdinfo::parse_inotify(&text).map_err(|source| InotifyError::Fdinfo { pid: 0, fd: ifd.as_raw_fd(), source })?;
    let by_wd: HashMap<i32, &fdinfo::InotifyMark> = marks.iter().map(|m| (m.wd, m)).collect();
    let mut out = Outcome { watches: entry.wd.len(), ..Default::default() };
    let mut fsid_cache: HashMap<u32, Option<u64>> = HashMap::new();
    for w in &entry.wd {
        let wd = w.wd as i32;
        let path = w.path.clone().unwrap_or_default();
        let m = by_wd.get(&wd).ok_or_else(|| InotifyError::Mismatch { id, wd, what: "no such watch".into() })?;
        if m.mask != w.mask {
            return Err(InotifyError::Mismatch { id, wd, what: format!("mask {:#x}, dumped {:#x}", m.mask, w.mask) });
        }
        if w.unlinked == Some(true) {
            continue;
        }
        let same_fs = m.sdev == w.s_dev || {
            let fsid = *fsid_cache.entry(m.sdev).or_insert_with(|| {
                rustix::fs::open(path.as_str(), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                    .ok()
                    .and_then(|fd| fhandle::fs_identity(fd.as_fd()).ok())
                    .map(|(fsid, _)| fsid)
            });
            fsid.is_some() && fsid == w.fsid && w.fsid != Some(0)
        };
        if !same_fs {
            out.moved += 1;
            log::debug!("inotify id {id} wd {wd}: {path:?} re-attached by path (dev {:#x} at dump, {:#x} now)", w.s_dev, m.sdev);
            continue;
        }
        let same = match (&m.handle, dumped_handle(w)) {
            (Some(now), Some(then)) if !then.bytes.is_empty() => *now == then,
            _ => m.ino == w.i_ino,
        };
        if !same {
            if follow_paths {
                out.followed += 1;
                log::warn!("inotify id {id} wd {wd}: {path:?} is a different object than at dump; watching it (follow_paths)");
            } else {
                return Err(InotifyError::Replaced { id, wd, path });
            }
        }
    }
    if marks.len() != entry.wd.len() {
        return Err(InotifyError::Mismatch { id, wd: 0, what: format!("{} watches, dumped {}", marks.len(), entry.wd.len()) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_clean() {
        assert!(clean_path("/"));
        assert!(clean_path("/a/b"));
        for bad in ["", "a", "/a/../b", "/a/./b", "//a", "/a/", "/a\0b"] {
            assert!(!clean_path(bad), "{bad:?}");
        }
    }
}
