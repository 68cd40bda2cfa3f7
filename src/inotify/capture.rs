//! Dump side: read one inotify instance of a frozen task exactly.
//!
//! The watch list is the kernel's (fdinfo, or CRIU's entry parsed from it a
//! moment earlier: CRIU 4.1's dump keeps every mask bit). Each watched
//! object is opened by its file handle on a mount of its filesystem whose
//! root is the filesystem's root, which gives its path inside the
//! filesystem; that path is then named as the task sees it through the most
//! specific of the task's own mounts of that filesystem (a container sees
//! directories of one host filesystem at several places). `O_PATH` opens
//! create no inotify event.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};

use prost::Message;

use super::InotifyError;
use crate::ids::{FdNum, FileId, RealPid, Vpid};
use crate::proto::{FhEntry, FownEntry, InotifyFileEntry, InotifyWdEntry, NotifyFsEntry};
use crate::sys::mounts::{visible_at, Mount, MountView};
use crate::sys::{fdinfo, fhandle, notify, proc, Context, SysError};

const DELETED: &str = " (deleted)";

/// Per-dump caches: the mounts of each (mount namespace, root) the tasks
/// have (read once, however many tasks share them), and what is known of
/// each filesystem as seen from each of them.
#[derive(Default)]
pub struct Capturer {
    views: Vec<MountView>,
    view_of_pid: HashMap<i32, usize>,
    view_of_key: HashMap<(u64, u64, u64), usize>,
    fss: HashMap<(usize, u32), Fs>,
}

/// Where an unlinked-but-open object is held: (virtual pid, fd) in the tree.
pub type HeldOpenBy<'a> = dyn Fn(u64, u64) -> Option<(Vpid, FdNum)> + Sync + 'a;

/// Join a mount point and a path inside the mount.
fn join(mountpoint: &str, rel: &str) -> String {
    match (mountpoint, rel) {
        (m, "") => m.to_owned(),
        ("/", r) => r.to_owned(),
        (m, r) => format!("{m}{r}"),
    }
}

impl Capturer {
    /// Index of the view of `pid`: tasks of one mount namespace with the
    /// same root see the same mounts at the same paths.
    fn view_index(&mut self, pid: i32) -> Result<usize, SysError> {
        if let Some(i) = self.view_of_pid.get(&pid) {
            return Ok(*i);
        }
        let ns = rustix::fs::stat(format!("/proc/{pid}/ns/mnt")).ctx("stat", format_args!("/proc/{pid}/ns/mnt"))?;
        let root = rustix::fs::stat(format!("/proc/{pid}/root")).ctx("stat", format_args!("/proc/{pid}/root"))?;
        let key = (ns.st_ino, root.st_dev, root.st_ino);
        let i = match self.view_of_key.get(&key) {
            Some(i) => *i,
            None => {
                self.views.push(MountView::read(pid)?);
                self.view_of_key.insert(key, self.views.len() - 1);
                self.views.len() - 1
            }
        };
        self.view_of_pid.insert(pid, i);
        Ok(i)
    }

    fn view(&mut self, pid: i32) -> Result<&mut MountView, InotifyError> {
        let i = self.view_index(pid)?;
        Ok(&mut self.views[i])
    }

    /// The task whose mounts show filesystem `sdev`: `pid` itself if it can,
    /// else the first of `others` (virtual pid, real pid) that does.
    fn locate(&mut self, pid: i32, sdev: u32, others: &[(Vpid, RealPid)]) -> Result<(i32, Option<u32>), SysError> {
        let first = match self.view(pid) {
            Ok(v) if !v.mounts_of(sdev).is_empty() => return Ok((pid, None)),
            Ok(_) => {
                let (ma, mi) = crate::sys::mounts::decode_dev(sdev);
                SysError::new("find mount", format!("device {ma}:{mi} in pid {pid}"), rustix::io::Errno::NOENT)
            }
            Err(InotifyError::Sys(e)) => e,
            Err(_) => unreachable!("view only fails with a SysError"),
        };
        for &(Vpid(vpid), RealPid(real)) in others {
            if real == pid {
                continue;
            }
            if let Ok(v) = self.view(real) {
                if !v.mounts_of(sdev).is_empty() {
                    return Ok((real, Some(vpid)));
                }
            }
        }
        Err(first)
    }

    /// What the watch `m` of task `pid` (real pid) needs of its filesystem.
    fn filesystem(&mut self, pid: i32, m: &fdinfo::InotifyMark, id: u32, others: &[(Vpid, RealPid)]) -> Result<Fs, InotifyError> {
        let me = std::process::id() as i32;
        let unreachable = |source| InotifyError::Unreachable { id, wd: m.wd, dev: m.sdev, ino: m.ino, source };
        let (seen_by, path_pid) = self.locate(pid, m.sdev, others).map_err(unreachable)?;
        let task_mounts: Vec<Mount> = {
            let v = self.view(seen_by)?;
            v.mounts_of(m.sdev).into_iter().map(|i| v.mount(i).clone()).collect()
        };
        // Handles are opened on a mount of the whole filesystem (root "/"):
        // the task's, criu's own, or another task's.
        let mut chosen = None;
        for p in [seen_by, me].into_iter().chain(others.iter().map(|o| o.1 .0)) {
            let Ok(vi) = self.view_index(p) else { continue };
            let v = &self.views[vi];
            if let Some(i) = v.mounts_of(m.sdev).into_iter().find(|i| v.mount(*i).root == "/") {
                chosen = Some((vi, i, false));
                break;
            }
        }
        let (vi, oi, verify) = match chosen {
            Some(c) => c,
            None => {
                // Only sub-directories are mounted anywhere: open on the
                // task's widest one and check each result by inode.
                let vi = self.view_index(seen_by)?;
                (vi, *self.views[vi].mounts_of(m.sdev).last().expect("located"), true)
            }
        };
        let v = &mut self.views[vi];
        let open_root = v.mount(oi).root.clone();
        let fd = v.open_root(oi).map_err(unreachable)?;
        let open_link = proc::own_fd_link(fd)?;
        let (fsid, fs_type) = fhandle::fs_identity(fd)?;
        Ok(Fs { seen_by, path_pid, task_mounts, view: (vi, oi), open_root, open_link, verify, fsid, fs_type })
    }

    /// Capture one inotify instance (see [`Instance`]).
    ///
    /// The result is our entry, encoded: a watch whose CRIU path is the
    /// task's is CRIU's bytes as they are (our per-filesystem fields go in
    /// the entry's `fs` table), so memory and time stay at copying the image
    /// once, or not at all when every watch is CRIU's.
    pub fn capture(&mut self, it: Instance<'_>, sh: &Shared<'_>) -> Result<CapturedInotify, InotifyError> {
        let (flags, jobs) = it.jobs()?;
        let queued = notify::queued_bytes(it.file)?;
        let owner = self.filesystems_of(&it, &jobs, sh.others)?;
        let trusted = self.trusted(owner, &it, &jobs)?;
        let fss: HashMap<u32, &Fs> = jobs.iter().map(|j| (j.sdev(), &self.fss[&(owner, j.sdev())])).collect();
        let roots: HashMap<u32, BorrowedFd<'_>> =
            fss.iter().map(|(sdev, f)| (*sdev, self.views[f.view.0].opened(f.view.1).expect("opened above"))).collect();

        // Watches CRIU named as the task sees them go as they are; the rest
        // (unlinked objects, other roots, entries from fdinfo) are opened by
        // their handles.
        let raw_ok = |j: &Job<'_>| matches!(j, Job::Raw { sdev, path: Some(p), .. } if trusted.get(sdev) == Some(&true) && clean(p));
        let mut slow: Vec<(usize, fdinfo::InotifyMark, Option<String>)> = Vec::new();
        for (i, j) in jobs.iter().enumerate().filter(|(_, j)| !raw_ok(j)) {
            let (m, hint) = j.mark().map_err(|w| it.bad(i, w))?;
            slow.push((i, m, hint));
        }
        let done = capture_slow(it.id.0, &slow, &fss, &roots, sh.holder, sh.deadline)?;
        Ok(assemble(&it, flags, queued, &fss, &jobs, done))
    }

    /// Per filesystem of `jobs`, once per dump and (namespace, root) of the
    /// task: which task's mounts show it, the mount's root (for
    /// open_by_handle_at), where that root shows in our links, and the
    /// filesystem's identity. Returns the task's view.
    fn filesystems_of(&mut self, it: &Instance<'_>, jobs: &[Job<'_>], others: &[(Vpid, RealPid)]) -> Result<usize, InotifyError> {
        let owner = self.view_index(it.pid.0)?;
        let mut first: HashMap<u32, usize> = HashMap::new();
        for (i, j) in jobs.iter().enumerate() {
            first.entry(j.sdev()).or_insert(i);
        }
        for (&sdev, &i) in &first {
            if !self.fss.contains_key(&(owner, sdev)) {
                let (m, _) = jobs[i].mark().map_err(|w| it.bad(i, w))?;
                let fs = self.filesystem(it.pid.0, &m, it.id.0, others)?;
                self.fss.insert((owner, sdev), fs);
            }
        }
        Ok(owner)
    }

    /// Per filesystem: whether CRIU's paths name objects as this task sees
    /// them. CRIU checked each (same inode at that path from its
    /// namespace's root); one check here that the task's root is that root
    /// makes them ours, with no syscall per watch.
    fn trusted(&self, owner: usize, it: &Instance<'_>, jobs: &[Job<'_>]) -> Result<HashMap<u32, bool>, InotifyError> {
        let mut trusted: HashMap<u32, bool> = HashMap::new();
        for (i, j) in jobs.iter().enumerate() {
            let Job::Raw { sdev, path: Some(path), .. } = j else { continue };
            if trusted.contains_key(sdev) {
                continue;
            }
            let (m, _) = j.mark().map_err(|w| it.bad(i, w))?;
            trusted.insert(*sdev, by_hint(&self.fss[&(owner, *sdev)], &m, path).is_some());
        }
        Ok(trusted)
    }
}

/// Our entry: our fields (the filesystems once each), then the watches:
/// CRIU's run of them as it is when every one is CRIU's, else each one,
/// CRIU's bytes or ours (`done`: the ones captured by handle, by index).
fn assemble(
    it: &Instance<'_>,
    flags: u32,
    queued: u64,
    fss: &HashMap<u32, &Fs>,
    jobs: &[Job<'_>],
    done: Vec<(usize, InotifyWdEntry)>,
) -> CapturedInotify {
    let mut fs: Vec<NotifyFsEntry> = fss
        .iter()
        .map(|(sdev, f)| NotifyFsEntry { s_dev: *sdev, fsid: Some(f.fsid), fs_type: Some(f.fs_type), path_pid: f.path_pid })
        .collect();
    fs.sort_by_key(|f| f.s_dev);
    let head = InotifyFileEntry {
        id: it.id.0,
        flags: flags & !(libc::O_CLOEXEC as u32),
        fown: it.fown,
        wd: vec![],
        queued_bytes: (queued > 0).then_some(queued),
        fs,
        format: Some(crate::criu::format::CURRENT),
    };
    let body = watches(jobs, &done);
    CapturedInotify {
        id: it.id.0,
        flags: head.flags,
        fown: it.fown,
        watches: jobs.len(),
        queued_bytes: head.queued_bytes,
        head: head.encode_to_vec(),
        body,
    }
}

/// One inotify instance to capture: fd `fd` of task `pid` (real pid);
/// `file` is our own copy of it (pidfd_getfd), used for FIONREAD; `criu`
/// is CRIU's own entry for this file when it has one: CRIU parsed the same
/// fdinfo a moment ago, with the tasks frozen, and kept every mask bit, so
/// its watch list is used instead of reading the (for 100k watches, 12 MB
/// and 0.3 s) fdinfo text again.
pub struct Instance<'e> {
    pub pid: RealPid,
    pub fd: FdNum,
    pub file: BorrowedFd<'e>,
    pub id: FileId,
    pub fown: FownEntry,
    pub criu: Option<CriuWatches<'e>>,
}

/// What every capture of one dump shares: who holds unlinked objects open,
/// the other tasks of the tree (virtual, real pid), whose mount namespaces
/// may show watched objects that a task's own does not, and the deadline.
pub struct Shared<'s> {
    pub holder: &'s HeldOpenBy<'s>,
    pub others: &'s [(Vpid, RealPid)],
    pub deadline: &'s crate::deadline::Deadline,
}

impl Instance<'_> {
    fn bad(&self, index: usize, what: String) -> InotifyError {
        InotifyError::Fdinfo { pid: self.pid.0, fd: self.fd.raw(), source: fdinfo::FdinfoError { line: index + 1, what } }
    }

    /// The instance's flags and its watches: CRIU's, or from fdinfo.
    fn jobs(&self) -> Result<(u32, Vec<Job<'_>>), InotifyError> {
        if let Some((head, items)) = self.criu {
            let jobs = items
                .iter()
                .enumerate()
                .map(|(i, item)| match crate::criu::wire::wd_sdev_and_path(item) {
                    Some((sdev, path)) => Ok(Job::Raw { item, sdev, path }),
                    None => Err(self.bad(i, "CRIU's entry: a watch does not decode".into())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((head.flags, jobs));
        }
        let (pid, fd) = (self.pid.0, self.fd.raw());
        let text = proc::fdinfo(pid, fd)?;
        let common = fdinfo::parse_common(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?;
        let marks = fdinfo::parse_inotify(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?;
        Ok((common.flags, marks.into_iter().map(|m| Job::Mark(Box::new((m, None)))).collect()))
    }
}

/// Capture watches by their handles, split over the machine's cores:
/// this runs while the tasks are frozen. Each worker has its own cwd
/// (CLONE_FS), used to name directories cheaply (fchdir + getcwd);
/// criu's own cwd is never touched. Where the handle cannot be opened
/// (overlayfs without nfs_export answers ESTALE), CRIU's path is checked
/// by inode and used. Returns (job index, entry) in job order.
fn capture_slow(
    id: u32,
    slow: &[(usize, fdinfo::InotifyMark, Option<String>)],
    fss: &HashMap<u32, &Fs>,
    roots: &HashMap<u32, BorrowedFd<'_>>,
    holder: &HeldOpenBy<'_>,
    deadline: &crate::deadline::Deadline,
) -> Result<Vec<(usize, InotifyWdEntry)>, InotifyError> {
    if slow.is_empty() {
        return Ok(vec![]);
    }
    let chunk = crate::par::chunk_len(slow.len(), 4096);
    let parts: Vec<Vec<(usize, InotifyWdEntry)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = slow
            .chunks(chunk)
            .map(|c| {
                sc.spawn(move || {
                    proc::private_cwd()?;
                    let links = proc::OwnFdLinks::open()?;
                    c.iter()
                        .enumerate()
                        .map(|(n, (i, m, hint))| {
                            if n % 1024 == 0 {
                                deadline
                                    .check(|| format!("capturing watch {} of {}", n + 1, c.len()))
                                    .map_err(|source| InotifyError::Deadline { id, source })?;
                            }
                            let e = watch(id, m, fss[&m.sdev], roots[&m.sdev], &links, holder, hint.as_deref())?;
                            Ok((*i, e))
                        })
                        .collect::<Result<Vec<_>, InotifyError>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect::<Result<Vec<_>, _>>()
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// CRIU's own entry for a file (without its watches) and its watches,
/// encoded one by one.
pub type CriuWatches<'e> = (&'e InotifyFileEntry, &'e [&'e [u8]]);

/// One watch to capture: CRIU's encoded entry (with its device and path
/// read off the bytes), or a mark from fdinfo.
enum Job<'a> {
    Raw {
        item: &'a [u8],
        sdev: u32,
        path: Option<&'a str>,
    },
    /// Boxed: CRIU's watches are the many, and they stay small.
    Mark(Box<(fdinfo::InotifyMark, Option<String>)>),
}

impl Job<'_> {
    fn sdev(&self) -> u32 {
        match self {
            Job::Raw { sdev, .. } => *sdev,
            Job::Mark(m) => m.0.sdev,
        }
    }

    /// The watch as fdinfo would show it, and CRIU's path for it.
    fn mark(&self) -> Result<(fdinfo::InotifyMark, Option<String>), String> {
        match self {
            Job::Mark(m) => Ok((m.0.clone(), m.1.clone())),
            Job::Raw { item, .. } => {
                let w = InotifyWdEntry::decode(*item).map_err(|e| format!("CRIU's entry: a watch does not decode: {e}"))?;
                Ok((mark_of(&w)?, w.f_handle.path))
            }
        }
    }
}

/// One inotify file as captured: our entry, encoded, and what the log says
/// of it.
pub struct CapturedInotify {
    pub id: u32,
    pub flags: u32,
    pub fown: FownEntry,
    pub watches: usize,
    pub queued_bytes: Option<u64>,
    /// The encoded `inotify_file_entry`: its fields but the watches, then
    /// the watches.
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

/// The watches of an entry, encoded in order: CRIU's bytes (handles cut to
/// their words) or, for those captured by handle (`done`, by index), ours.
/// (Split over two cores it took as long, with two buffers to join.)
fn watches(jobs: &[Job<'_>], done: &[(usize, InotifyWdEntry)]) -> Vec<u8> {
    let size: usize = jobs.iter().map(|j| if let Job::Raw { item, .. } = j { item.len() + 3 } else { 0 }).sum();
    let mut out = Vec::with_capacity(size);
    let mut slow = done.iter().peekable();
    for (i, j) in jobs.iter().enumerate() {
        match (j, slow.peek()) {
            (_, Some((k, e))) if *k == i => {
                put_field(&mut out, &e.encode_to_vec());
                slow.next();
            }
            (Job::Raw { item, .. }, _) => crate::criu::wire::put_watch_trimmed(&mut out, 5, item),
            (Job::Mark(_), _) => unreachable!("every watch that is not raw was captured by handle"),
        }
    }
    out
}

/// Append `bytes` as one `wd` field (5, length-delimited).
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push((5 << 3) | 2);
    crate::criu::wire::put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A clean absolute path: no `.`/`..` components, not a name that is gone.
fn clean(path: &str) -> bool {
    path.starts_with('/') && !path.ends_with(DELETED) && !path.split('/').any(|c| c == ".." || c == ".")
}

/// A watch of CRIU's entry, as fdinfo would show it.
fn mark_of(w: &InotifyWdEntry) -> Result<fdinfo::InotifyMark, String> {
    let h = &w.f_handle;
    let handle = (h.bytes > 0)
        .then(|| {
            fhandle::FileHandle::from_words(h.r#type as i32, h.bytes as usize, &h.handle)
                .ok_or(format!("CRIU's entry for wd {}: handle of {} bytes does not fit", w.wd, h.bytes))
        })
        .transpose()?;
    Ok(fdinfo::InotifyMark { wd: w.wd as i32, ino: w.i_ino, sdev: w.s_dev, mask: w.mask, ignored_mask: w.ignored_mask, handle })
}

/// What is known of one filesystem holding watched objects.
struct Fs {
    /// The task whose mounts name the objects, and its virtual pid if it is
    /// not the inotify fd's owner.
    seen_by: i32,
    path_pid: Option<u32>,
    /// That task's mounts of this filesystem, most specific root first.
    task_mounts: Vec<Mount>,
    /// The (view index, mount) handles are opened on, the path inside the
    /// filesystem of that mount's root, and how that root shows in our
    /// links.
    view: (usize, usize),
    open_root: String,
    open_link: String,
    /// No whole-filesystem mount: check every name by inode.
    verify: bool,
    fsid: u64,
    fs_type: u64,
}

/// Capture one watch: the object by its handle, its path as the task sees
/// it, and, if it was unlinked, who holds it open.
fn watch(
    id: u32,
    m: &fdinfo::InotifyMark,
    fs: &Fs,
    root: BorrowedFd<'_>,
    links: &proc::OwnFdLinks,
    holder: &HeldOpenBy<'_>,
    hint: Option<&str>,
) -> Result<InotifyWdEntry, InotifyError> {
    let h = m.handle.as_ref().ok_or(InotifyError::NoHandle { id, wd: m.wd, dev: m.sdev, ino: m.ino })?;
    let obj = match fhandle::open_by_handle(root, h) {
        Ok(obj) => obj,
        Err(source) => {
            return match hint.and_then(|p| by_hint(fs, m, p)) {
                Some((path, mnt_id)) => Ok(entry(id, m, h, fs, path, mnt_id, None, (None, None))),
                None => Err(InotifyError::Unreachable { id, wd: m.wd, dev: m.sdev, ino: m.ino, source }),
            };
        }
    };
    let mut link = match proc::dir_path(obj.as_fd()) {
        Some(p) => p,
        None => links.link(obj.as_fd())?,
    };
    // Only a name that is gone can end like this; then ask the inode.
    let mut gone = None;
    if link.ends_with(DELETED) {
        let st = fhandle::stat_of(&obj, &link)?;
        if st.st_nlink == 0 {
            link.truncate(link.len() - DELETED.len());
            gone = Some(st);
        }
    }
    let rel = link.strip_prefix(fs.open_link.trim_end_matches('/')).filter(|r| r.is_empty() || r.starts_with('/'));
    let not_visible = |what: String| InotifyError::NotVisible { id, wd: m.wd, dev: m.sdev, ino: m.ino, what };
    let rel = rel.ok_or_else(|| not_visible(format!("{link:?} is outside the mount it was opened on ({:?})", fs.open_link)))?;
    let internal = join(&fs.open_root, rel);
    let internal = if internal.is_empty() { "/".to_owned() } else { internal };
    let (mi, path) = visible_at(&internal, fs.task_mounts.iter())
        .ok_or_else(|| not_visible(format!("{internal:?} of its filesystem is under none of the task's mounts")))?;
    if fs.verify && gone.is_none() {
        let p = format!("/proc/{}/root{}", fs.seen_by, path);
        match rustix::fs::lstat(p.as_str()) {
            Ok(st) if st.st_ino == m.ino => {}
            _ => return Err(not_visible(format!("{path:?} does not lead to it"))),
        }
    }
    let mnt_id = fs.task_mounts[mi].mnt_id;
    let held = match gone {
        Some(st) => {
            let (p, f) = holder(st.st_dev, st.st_ino).ok_or_else(|| InotifyError::UnlinkedNotHeld { id, wd: m.wd, path: path.clone() })?;
            (Some(p.0), Some(f.0))
        }
        None => (None, None),
    };
    Ok(entry(id, m, h, fs, path, mnt_id, gone.map(|_| ()), held))
}

/// CRIU's path for an object, if it leads to the watched inode in the
/// task's root: (the path, the mount id of the task's mount holding it).
fn by_hint(fs: &Fs, m: &fdinfo::InotifyMark, hint: &str) -> Option<(String, u32)> {
    let path = if hint.starts_with('/') { hint.to_owned() } else { format!("/{hint}") };
    // CRIU's irmap names the root of its namespace "/." (see criu::irmap).
    let path = if path == "/." { "/".to_owned() } else { path };
    if path.split('/').any(|c| c == "..") {
        return None;
    }
    let st = rustix::fs::lstat(format!("/proc/{}/root{}", fs.seen_by, path)).ok()?;
    if st.st_ino != m.ino {
        return None;
    }
    let mnt = mount_of(fs, &path)?;
    Some((path, mnt))
}

/// The mount id of the task's mount of `fs` that holds `path`: the one with
/// the longest mount point above it.
fn mount_of(fs: &Fs, path: &str) -> Option<u32> {
    let under = |mp: &str| {
        let mp = mp.trim_end_matches('/');
        mp.is_empty() || path == mp || path.strip_prefix(mp).is_some_and(|r| r.starts_with('/'))
    };
    fs.task_mounts
        .iter()
        .filter(|mt| under(&mt.mountpoint))
        .max_by_key(|mt| mt.mountpoint.len())
        .or(fs.task_mounts.first())
        .map(|mt| mt.mnt_id)
}

/// The image entry of one watch.
#[allow(clippy::too_many_arguments)]
fn entry(
    id: u32,
    m: &fdinfo::InotifyMark,
    h: &fhandle::FileHandle,
    fs: &Fs,
    path: String,
    mnt_id: u32,
    gone: Option<()>,
    (holder_pid, holder_fd): (Option<u32>, Option<u32>),
) -> InotifyWdEntry {
    InotifyWdEntry {
        id,
        i_ino: m.ino,
        mask: m.mask,
        ignored_mask: m.ignored_mask,
        s_dev: m.sdev,
        wd: m.wd as u32,
        f_handle: FhEntry {
            bytes: h.bytes.len() as u32,
            r#type: h.handle_type as u32,
            handle: h.to_words(),
            path: Some(path),
            mnt_id: Some(mnt_id),
        },
        fsid: Some(fs.fsid),
        fs_type: Some(fs.fs_type),
        mode: None,
        unlinked: gone.is_some().then_some(true),
        holder_pid,
        holder_fd,
        path: None,
        path_pid: fs.path_pid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(join("/", "/a/b"), "/a/b");
        assert_eq!(join("/mnt", "/a"), "/mnt/a");
        assert_eq!(join("/mnt", ""), "/mnt");
    }
}
