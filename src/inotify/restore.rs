//! Restore side: an inotify instance with exactly the dumped watches.
//!
//! `RESTORE_EXT_FILE` creates the instance inside the restored task.
//! Watches are added once the whole tree is restored (`RESUME_DEVICES_LATE`,
//! tasks still stopped): by then the task's root and mount namespace are
//! final and CRIU's own file juggling (ghost files) is over, so no event
//! reaches the application. Paths from the image are resolved inside the
//! task's root (a private chroot on a helper thread), never the host's.
//! Each watch gets its wd through INOTIFY_IOC_SETNEXTWD (O(1)), and each
//! path is looked up from the previous one's directory (single names, not a
//! walk from the root). A second thread checks meanwhile that each path
//! still leads to the dumped object (same file handle on the same
//! filesystem). `CRIU_NOTIFY_VERIFY=1` also compares the kernel's fdinfo of
//! the restored instance with the image afterwards.

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{Mode, OFlags};

use super::{InotifyError, IN_DONT_FOLLOW};
use crate::ids::{RealPid, Vpid};
use crate::proto::{InotifyFileEntry, InotifyWdEntry};
use crate::sys::fhandle::{self, FileHandle};
use crate::sys::{fdinfo, notify, proc, Context, SysError};

/// A new, empty instance with the dumped status flags.
pub fn create(entry: &InotifyFileEntry) -> Result<OwnedFd, InotifyError> {
    let mut flags = CreateFlags::CLOEXEC;
    if entry.flags & libc::O_NONBLOCK as u32 != 0 {
        flags |= CreateFlags::NONBLOCK;
    }
    let fd = inotify::init(flags).ctx("inotify_init1", format_args!("inotify id {}", entry.id))?;
    crate::sys::proc::set_async(&fd, entry.flags).ctx("F_SETFL(O_ASYNC)", format_args!("inotify id {}", entry.id))?;
    Ok(fd)
}

/// A path from an image must be absolute, with no `.`/`..` components,
/// empty components or NULs: it is resolved inside the task's root only.
pub fn clean_path(p: &str) -> bool {
    p.starts_with('/') && !p.contains('\0') && (p == "/" || p[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// Check one watch of an image before acting on it.
fn validate_wd(id: u32, w: &InotifyWdEntry) -> Result<(), InotifyError> {
    let wd = w.wd as i32;
    let bad = |what: String| InotifyError::BadImage { id, wd, what };
    if wd <= 0 {
        return Err(bad(format!("wd {} is not a positive number", w.wd)));
    }
    if w.unlinked != Some(true) {
        let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("");
        if !clean_path(p) {
            return Err(InotifyError::BadPath { id, wd, path: p.to_owned() });
        }
    } else if w.holder_pid.is_none() || w.holder_fd.is_none() {
        return Err(bad("unlinked object without a holder fd".into()));
    }
    if !FileHandle::fits(w.f_handle.bytes as usize, &w.f_handle.handle) {
        return Err(bad(format!("file handle of {} bytes does not fit", w.f_handle.bytes)));
    }
    Ok(())
}

/// Give every watch that carries none of fsid, fs_type and path_pid itself
/// (CRIU's bytes of it, kept as they are) those of its filesystem from the
/// entry's table, so that the rest of the restore sees every watch whole.
pub fn apply_fs_table(entry: &mut InotifyFileEntry) {
    if entry.fs.is_empty() {
        return;
    }
    let table: HashMap<u32, &crate::proto::NotifyFsEntry> = entry.fs.iter().map(|f| (f.s_dev, f)).collect();
    for w in &mut entry.wd {
        if w.fsid.is_some() || w.fs_type.is_some() || w.path_pid.is_some() {
            continue;
        }
        if let Some(f) = table.get(&w.s_dev) {
            (w.fsid, w.fs_type, w.path_pid) = (f.fsid, f.fs_type, f.path_pid);
        }
    }
}

/// Check every watch of an image entry before acting on it (the first bad
/// one in image order is reported); large entries on all cores.
pub fn validate(entry: &InotifyFileEntry) -> Result<(), InotifyError> {
    let check = |ws: &[InotifyWdEntry]| ws.iter().try_for_each(|w| validate_wd(entry.id, w));
    let chunk = crate::par::chunk_len(entry.wd.len(), 8192);
    if chunk >= entry.wd.len() {
        check(&entry.wd)?;
    } else {
        std::thread::scope(|sc| {
            let parts: Vec<_> = entry.wd.chunks(chunk).map(|c| sc.spawn(move || check(c))).collect();
            parts.into_iter().try_for_each(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        })?;
    }
    // Duplicates by sorting (images list wds in order, or reversed).
    let mut wds: Vec<u32> = entry.wd.iter().map(|w| w.wd).collect();
    wds.sort_unstable();
    if let Some(d) = wds.windows(2).find(|p| p[0] == p[1]) {
        return Err(InotifyError::BadImage { id: entry.id, wd: d[0] as i32, what: "duplicate wd".into() });
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

/// From this many watches the identity check runs on a second thread, beside
/// the adding.
const CHECK_ON_OWN_THREAD_FROM: usize = 512;

/// Which task (real pid) a dumped pid of the tree is now.
pub type PidOf<'a> = dyn Fn(Vpid) -> Option<RealPid> + Sync + 'a;

/// Add every watch of `entry` (which passed [`validate`]) to the instance
/// `ifd` (our copy of the restored task's fd). `task` is the real pid of the task whose root
/// resolves the paths; `pid_of` maps a dumped (virtual) pid to its real pid.
pub fn add_watches(
    ifd: BorrowedFd<'_>,
    entry: &InotifyFileEntry,
    task: RealPid,
    pid_of: &PidOf<'_>,
    follow_paths: bool,
    deadline: &crate::deadline::Deadline,
) -> Result<Outcome, InotifyError> {
    let id = entry.id;
    let proc_dir = rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ctx("open", "/proc")?;
    let mut order: Vec<&InotifyWdEntry> = entry.wd.iter().collect();
    order.sort_unstable_by_key(|w| w.wd);
    let (roots, want_root) = roots_of(id, &order, task.0, pid_of)?;
    let limit = AtomicUsize::new(usize::MAX);
    let jobs = Jobs {
        ifd,
        id,
        pid_of,
        proc_dir: &proc_dir,
        follow_paths,
        order: &order,
        want_root: &want_root,
        roots: &roots,
        limit: &limit,
        deadline,
    };
    proc::with_private_fd_table(|_| -> Result<Outcome, InotifyError> {
        let (added, (verdicts, checked)) = jobs.add_and_check();
        let out = tally(id, &order, verdicts);
        match (added, checked) {
            (Ok(()), Ok(())) => {}
            (Err((i, e)), Err((j, f))) => return Err(if j <= i { f } else { e }),
            (Err((_, e)), Ok(())) | (Ok(()), Err((_, e))) => return Err(e),
        }
        if std::env::var_os("CRIU_NOTIFY_VERIFY").is_some() {
            rustix::process::chdir("/").ctx("chdir", "/")?;
            verify(ifd, entry, &proc_dir, follow_paths)?;
        }
        Ok(out)
    })?
}

/// Every root a path may be relative to (the task's own, and those of tasks
/// whose mount namespace shows objects the task's does not), opened once,
/// and the root of each watch of `order`.
fn roots_of(id: u32, order: &[&InotifyWdEntry], task: i32, pid_of: &PidOf<'_>) -> Result<(HashMap<i32, OwnedFd>, Vec<i32>), InotifyError> {
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
    let mut want_root: Vec<i32> = Vec::with_capacity(order.len());
    let mut last = task;
    for w in order {
        let real = match w.path_pid {
            None => task,
            Some(v) => pid_of(Vpid(v)).map(|r| r.0).ok_or_else(|| InotifyError::BadImage {
                id,
                wd: w.wd as i32,
                what: format!("path namespace pid {v} is not in the restored tree"),
            })?,
        };
        if real != last {
            root_of(real)?;
            last = real;
        }
        want_root.push(real);
    }
    Ok((roots, want_root))
}

/// Count (and log) the watches whose object is not the one at dump.
fn tally(id: u32, order: &[&InotifyWdEntry], verdicts: Vec<(usize, Verdict)>) -> Outcome {
    let mut out = Outcome { watches: order.len(), ..Default::default() };
    for (i, v) in verdicts {
        let w = order[i];
        let path = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("/");
        match v {
            Verdict::Same => {}
            Verdict::Moved => {
                out.moved += 1;
                log::debug!("inotify id {id} wd {}: {path:?} re-attached by path on another filesystem", w.wd);
            }
            Verdict::Followed => {
                out.followed += 1;
                log::warn!("inotify id {id} wd {}: {path:?} is a different object than at dump; watching it (follow_paths)", w.wd);
            }
        }
    }
    out
}

/// What the identity check found: the watches whose verdict is not `Same`
/// (by index), and the first failure (index and error), if any.
type Checked = (Vec<(usize, Verdict)>, Result<(), (usize, InotifyError)>);

/// The watches of one instance in wd order, with the root each path is
/// resolved in; shared by the thread that adds and the one that checks.
struct Jobs<'a> {
    /// The instance (our copy of the task's fd) and its file id.
    ifd: BorrowedFd<'a>,
    id: u32,
    pid_of: &'a PidOf<'a>,
    proc_dir: &'a OwnedFd,
    follow_paths: bool,
    order: &'a [&'a InotifyWdEntry],
    want_root: &'a [i32],
    roots: &'a HashMap<i32, OwnedFd>,
    /// Lowered by either thread when it fails: the other stops there.
    limit: &'a AtomicUsize,
    /// The late pass's budget, checked every 1024 watches.
    deadline: &'a crate::deadline::Deadline,
}

impl Jobs<'_> {
    /// Two walks over the watches: one adds them, the other checks that
    /// each path still leads to the dumped object (the identity check costs
    /// about as much as the add). Neither changes anything the other sees:
    /// each has its own root and cwd, and a failure of either fails the
    /// restore. From CHECK_ON_OWN_THREAD_FROM watches they run on two cores.
    fn add_and_check(&self) -> (Result<(), (usize, InotifyError)>, Checked) {
        if self.order.len() < CHECK_ON_OWN_THREAD_FROM {
            // Small instances (a tree of many processes has many): one
            // thread, add then check; a thread of its own would cost more
            // than it saves.
            let added = self.add_all();
            if let Err((i, _)) = &added {
                self.limit.fetch_min(i + 1, Ordering::Relaxed);
            }
            return (added, self.check_all());
        }
        std::thread::scope(|sc| {
            let checker = sc.spawn(|| -> Checked {
                if let Err(e) = proc::private_cwd() {
                    self.limit.store(0, Ordering::Relaxed);
                    return (vec![], Err((0, e.into())));
                }
                self.check_all()
            });
            let added = self.add_all();
            if let Err((i, _)) = &added {
                // The checker still judges the watches up to this one: a
                // replaced or moved object explains more than the failure.
                self.limit.fetch_min(i + 1, Ordering::Relaxed);
            }
            (added, checker.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    }

    /// Add every watch, each at its wd. `Err` carries the index of the
    /// failed watch.
    fn add_all(&self) -> Result<(), (usize, InotifyError)> {
        let (ifd, id, pid_of, proc_dir) = (self.ifd, self.id, self.pid_of, self.proc_dir);
        let mut walk = Walker::new(self.roots);
        let mut next: Option<i32> = None;
        for (i, (w, want)) in self.order.iter().zip(self.want_root).enumerate() {
            if i >= self.limit.load(Ordering::Relaxed) {
                break;
            }
            let wd = w.wd as i32;
            let at = |e: InotifyError| (i, e);
            if i % 1024 == 0 {
                self.deadline
                    .check(|| format!("adding watch {} of {}", i + 1, self.order.len()))
                    .map_err(|source| at(InotifyError::Deadline { id, source }))?;
            }
            walk.enter(*want).map_err(at)?;
            if next != Some(wd) {
                notify::set_next_wd(ifd, wd).map_err(|e| at(e.into()))?;
            }
            let (got, shown) = if w.unlinked == Some(true) {
                // Re-watch through the fd that holds the (ghost) file open.
                let vpid = w.holder_pid.unwrap_or_default();
                let hfd = w.holder_fd.unwrap_or_default();
                let real = pid_of(Vpid(vpid))
                    .map(|r| r.0)
                    .ok_or_else(|| at(InotifyError::BadImage { id, wd, what: format!("holder pid {vpid} is not in the restored tree") }))?;
                let rel = format!("{real}/fd/{hfd}");
                rustix::process::fchdir(proc_dir).ctx("fchdir", "/proc").map_err(|e| at(e.into()))?;
                // Follow the /proc magic link: no IN_DONT_FOLLOW here.
                let r = inotify::add_watch(ifd, rel.as_str(), WatchFlags::from_bits_retain(w.mask));
                walk.back_to_root().map_err(at)?;
                (r, Cow::Owned(format!("/proc/{rel}")))
            } else {
                // Checked clean by `validate` at load (and again by the
                // checking thread): no second scan on the critical path.
                let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("/");
                let mask = WatchFlags::from_bits_retain(w.mask | IN_DONT_FOLLOW);
                (inotify::add_watch(ifd, walk.rel(p), mask), Cow::Borrowed(p))
            };
            let got = got.map_err(|e| {
                at(InotifyError::AddWatch {
                    id,
                    wd,
                    path: shown.to_string(),
                    source: crate::sys::SysError::new("inotify_add_watch", &shown, e),
                })
            })?;
            if got != wd {
                return Err(at(InotifyError::WrongWd { id, wd, got, path: shown.into_owned() }));
            }
            next = wd.checked_add(1);
        }
        Ok(())
    }

    /// The identity check of every watch on a path (see [`identity`]):
    /// the watches whose verdict is not `Same`, by index, up to the first
    /// failure (index and error), if any.
    fn check_all(&self) -> Checked {
        let (id, follow_paths) = (self.id, self.follow_paths);
        let mut walk = Walker::new(self.roots);
        let mut fs_cache: HashMap<i32, Option<u64>> = HashMap::new();
        let mut odd = Vec::new();
        for (i, (w, want)) in self.order.iter().zip(self.want_root).enumerate() {
            if i >= self.limit.load(Ordering::Relaxed) {
                break;
            }
            if w.unlinked == Some(true) {
                continue;
            }
            let r = walk
                .enter(*want)
                .and_then(|()| image_path(id, w))
                .and_then(|p| identity(id, w, p, walk.rel(p), follow_paths, &mut fs_cache));
            match r {
                Ok(Verdict::Same) => {}
                Ok(v) => odd.push((i, v)),
                Err(e) => {
                    self.limit.fetch_min(i, Ordering::Relaxed);
                    return (odd, Err((i, e)));
                }
            }
        }
        (odd, Ok(()))
    }
}

/// The path of a watch on a linked object, checked again right where it is
/// used (it is resolved inside the task's root only).
fn image_path(id: u32, w: &InotifyWdEntry) -> Result<&str, InotifyError> {
    let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("/");
    if !clean_path(p) {
        return Err(InotifyError::BadPath { id, wd: w.wd as i32, path: p.to_owned() });
    }
    Ok(p)
}

/// A thread resolving image paths: chrooted into one task's root, with its
/// cwd somewhere inside. Paths are looked up relative to the cwd, so that a
/// run of watches in one directory costs single-name lookups, not a walk
/// from the root each (what the program itself pays). Only on a thread
/// with a private fs context.
struct Walker<'r> {
    roots: &'r HashMap<i32, OwnedFd>,
    root: Option<i32>,
    /// The cwd as a path inside the root ("" is the root itself); `None`
    /// when unknown.
    cwd: Option<String>,
}

impl<'r> Walker<'r> {
    fn new(roots: &'r HashMap<i32, OwnedFd>) -> Self {
        Walker { roots, root: None, cwd: None }
    }

    /// Chroot into the root of task `want` (real pid), if not there yet.
    fn enter(&mut self, want: i32) -> Result<(), InotifyError> {
        if self.root != Some(want) {
            let fd = self.roots.get(&want).ok_or(InotifyError::BadImage { id: 0, wd: 0, what: format!("no root for pid {want}") })?;
            rustix::process::fchdir(fd).ctx("fchdir", format_args!("/proc/{want}/root"))?;
            rustix::process::chroot(".").ctx("chroot", format_args!("/proc/{want}/root"))?;
            self.root = Some(want);
            self.cwd = Some(String::new());
        }
        Ok(())
    }

    /// Back to the root after the cwd was moved elsewhere.
    fn back_to_root(&mut self) -> Result<(), InotifyError> {
        rustix::process::chdir("/").ctx("chdir", "/")?;
        self.cwd = Some(String::new());
        Ok(())
    }

    /// `p` (clean, absolute) as a path to use from the cwd; moves the cwd
    /// to `p`'s directory when `p` is outside it. If that directory cannot
    /// be entered, `p` itself: the lookup then reports the failure.
    fn rel<'p>(&mut self, p: &'p str) -> &'p str {
        if let Some(rel) = self.cwd.as_deref().and_then(|d| relative_to(d, p)) {
            return rel;
        }
        let parent = parent_of(p);
        match rustix::process::chdir(if parent.is_empty() { "/" } else { parent }) {
            Ok(()) => {
                self.cwd = Some(parent.to_owned());
                relative_to(parent, p).unwrap_or(p)
            }
            Err(_) => p,
        }
    }
}

/// `p` (clean, absolute) relative to directory `dir` ("" for the root, else
/// clean and absolute): `.` for `dir` itself, `None` outside it.
fn relative_to<'p>(dir: &str, p: &'p str) -> Option<&'p str> {
    let rest = p.strip_prefix(dir)?;
    match rest {
        "" | "/" => Some("."),
        _ => rest.strip_prefix('/'),
    }
}

/// The directory holding `p` (clean, absolute): "" for the root and for
/// objects directly in it.
fn parent_of(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

/// What the identity check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// The dumped object.
    Same,
    /// Another filesystem: re-attached by path (migration).
    Moved,
    /// Replaced on the dumped filesystem, watched anyway (follow_paths).
    Followed,
}

/// Is the object at `path` (inside the task's root; `rel` from the cwd)
/// the one dumped? Same file handle: yes. Otherwise, on the dumped
/// filesystem (same fsid) it was replaced: an error unless the user follows
/// paths; on another filesystem the watch is re-attached by path.
fn identity(
    id: u32,
    w: &InotifyWdEntry,
    path: &str,
    rel: &str,
    follow_paths: bool,
    fs_cache: &mut HashMap<i32, Option<u64>>,
) -> Result<Verdict, InotifyError> {
    let wd = w.wd as i32;
    let add_err = |e: crate::sys::SysError| InotifyError::AddWatch { id, wd, path: path.to_owned(), source: e };
    let (same, mnt) = match fhandle::name_to_handle(rustix::fs::CWD, rel) {
        Ok((h, mnt)) => {
            (w.f_handle.bytes > 0 && h.matches_words(w.f_handle.r#type as i32, w.f_handle.bytes as usize, &w.f_handle.handle), mnt)
        }
        Err(e) if e.errno == rustix::io::Errno::OPNOTSUPP => {
            let st = rustix::fs::lstat(rel).ctx("lstat", path).map_err(add_err)?;
            (st.st_ino == w.i_ino, -1)
        }
        Err(e) => return Err(add_err(SysError::new("name_to_handle_at", path, e.errno))),
    };
    if same || super::paths::identified_by_path(w.fs_type) {
        return Ok(Verdict::Same);
    }
    let fsid = *fs_cache.entry(mnt).or_insert_with(|| rustix::fs::statvfs(rel).ok().map(|v| v.f_fsid));
    let same_fs = fsid.is_some() && fsid == w.fsid && w.fsid != Some(0);
    if !same_fs {
        return Ok(Verdict::Moved);
    }
    if follow_paths {
        return Ok(Verdict::Followed);
    }
    Err(InotifyError::Replaced { id, wd, path: path.to_owned() })
}

/// Compare the kernel's view of the restored instance with the image
/// (`CRIU_NOTIFY_VERIFY=1`: costs about as much as adding the watches).
fn verify(ifd: BorrowedFd<'_>, entry: &InotifyFileEntry, proc_dir: &OwnedFd, follow_paths: bool) -> Result<Outcome, InotifyError> {
    let id = entry.id;
    let name = format!("thread-self/fdinfo/{}", ifd.as_raw_fd());
    let f = rustix::fs::openat(proc_dir, name.as_str(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .ctx("open", format_args!("/proc/{name}"))?;
    let text = std::io::read_to_string(std::fs::File::from(f)).ctx("read", format_args!("/proc/{name}"))?;
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
        let same = super::paths::identified_by_path(w.fs_type)
            || match (&m.handle, dumped_handle(w)) {
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
    fn relative_lookups() {
        assert_eq!(relative_to("", "/"), Some("."));
        assert_eq!(relative_to("", "/a/b"), Some("a/b"));
        assert_eq!(relative_to("/a", "/a"), Some("."));
        assert_eq!(relative_to("/a", "/a/b/c"), Some("b/c"));
        assert_eq!(relative_to("/a", "/ab"), None);
        assert_eq!(relative_to("/a", "/b/a"), None);
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "");
        assert_eq!(parent_of("/"), "");
    }

    #[test]
    fn paths_must_be_clean() {
        assert!(clean_path("/"));
        assert!(clean_path("/a/b"));
        for bad in ["", "a", "/a/../b", "/a/./b", "//a", "/a/", "/a\0b"] {
            assert!(!clean_path(bad), "{bad:?}");
        }
    }
}
