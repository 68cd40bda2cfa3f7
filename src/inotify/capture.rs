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

use super::InotifyError;
use crate::proto::{FhEntry, FownEntry, InotifyFileEntry, InotifyWdEntry};
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
pub type HolderLookup<'a> = dyn Fn(u64, u64) -> Option<(u32, u32)> + Sync + 'a;

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
    fn locate(&mut self, pid: i32, sdev: u32, others: &[(u32, i32)]) -> Result<(i32, Option<u32>), SysError> {
        let first = match self.view(pid) {
            Ok(v) if !v.mounts_of(sdev).is_empty() => return Ok((pid, None)),
            Ok(_) => {
                let (ma, mi) = crate::sys::mounts::decode_dev(sdev);
                SysError::new("find mount", format!("device {ma}:{mi} in pid {pid}"), rustix::io::Errno::NOENT)
            }
            Err(InotifyError::Sys(e)) => e,
            Err(_) => unreachable!("view only fails with a SysError"),
        };
        for &(vpid, real) in others {
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
    fn filesystem(&mut self, pid: i32, m: &fdinfo::InotifyMark, id: u32, others: &[(u32, i32)]) -> Result<Fs, InotifyError> {
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
        for p in [seen_by, me].into_iter().chain(others.iter().map(|o| o.1)) {
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

    /// Capture the instance at `fd` of task `pid` (real pid); `file` is our
    /// own copy of it (pidfd_getfd), used for FIONREAD. `others` are the
    /// other tasks of the tree (virtual, real pid), whose mount namespaces
    /// may show watched objects that `pid`'s does not. `criu` is CRIU's own
    /// entry for this file when it has one: CRIU parsed the same fdinfo a
    /// moment ago, with the tasks frozen, and kept every mask bit, so its
    /// watch list is used instead of reading the (for 100k watches, 12 MB
    /// and 0.3 s) fdinfo text again.
    #[allow(clippy::too_many_arguments)]
    pub fn capture(
        &mut self,
        pid: i32,
        fd: i32,
        file: BorrowedFd<'_>,
        id: u32,
        fown: FownEntry,
        holder: &HolderLookup<'_>,
        others: &[(u32, i32)],
        criu: Option<&InotifyFileEntry>,
        deadline: &crate::deadline::Deadline,
    ) -> Result<InotifyFileEntry, InotifyError> {
        let (flags, marks) = match criu {
            Some(e) => (e.flags, marks_of(e).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?),
            None => {
                let text = proc::fdinfo(pid, fd)?;
                let common = fdinfo::parse_common(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?;
                (common.flags, fdinfo::parse_inotify(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?)
            }
        };
        let queued = notify::queued_bytes(file)?;

        // CRIU's own path for each watch, where it found one (the handle
        // opened, or its irmap): in the order of `marks`.
        let hints: Vec<Option<&str>> = match criu {
            Some(e) => e.wd.iter().map(|w| w.f_handle.path.as_deref()).collect(),
            None => vec![None; marks.len()],
        };
        // Per filesystem, once per dump and (namespace, root): which task's
        // mounts show it, the mount's root (for open_by_handle_at), where
        // that root shows in our links, and the filesystem's identity.
        let owner = self.view_index(pid)?;
        let mut sdevs: Vec<u32> = marks.iter().map(|m| m.sdev).collect();
        sdevs.sort_unstable();
        sdevs.dedup();
        for &sdev in &sdevs {
            if !self.fss.contains_key(&(owner, sdev)) {
                let m = marks.iter().find(|m| m.sdev == sdev).expect("listed above");
                let fs = self.filesystem(pid, m, id, others)?;
                self.fss.insert((owner, sdev), fs);
            }
        }
        // Per filesystem and instance: whether CRIU's paths name objects
        // as this task sees them. CRIU checked each (same inode at that
        // path from its namespace's root); one check here that the task's
        // root is that root makes them ours, with no syscall per watch.
        let mut trusted: HashMap<u32, bool> = HashMap::new();
        for (m, hint) in marks.iter().zip(&hints) {
            let (Some(hint), false) = (hint, trusted.contains_key(&m.sdev)) else { continue };
            let fs = &self.fss[&(owner, m.sdev)];
            trusted.insert(m.sdev, by_hint(fs, m, hint).is_some());
        }
        let fss: HashMap<u32, &Fs> = sdevs.iter().map(|sdev| (*sdev, &self.fss[&(owner, *sdev)])).collect();
        let roots: HashMap<u32, BorrowedFd<'_>> = fss
            .iter()
            .map(|(sdev, f)| (*sdev, self.views[f.view.0].opened(f.view.1).expect("opened above")))
            .collect();

        // Per watch: CRIU's path where it is trusted, else open the object
        // by its handle and read its path. Split over the machine's cores:
        // this runs while the tasks are frozen. Each worker has its own cwd
        // (CLONE_FS), used to name directories cheaply (fchdir + getcwd);
        // criu's own cwd is never touched. Where the handle cannot be opened
        // (overlayfs without nfs_export answers ESTALE), CRIU's path is
        // checked by inode and used.
        let mut wds: Vec<Option<InotifyWdEntry>> = marks
            .iter()
            .zip(&hints)
            .map(|(m, hint)| match (hint, trusted.get(&m.sdev)) {
                (Some(h), Some(true)) => trusted_entry(id, m, fss[&m.sdev], h),
                _ => None,
            })
            .collect();
        let rest: Vec<usize> = (0..marks.len()).filter(|i| wds[*i].is_none()).collect();
        let one = |links: &proc::OwnFdLinks, i: usize| {
            let m = &marks[i];
            watch(id, m, fss[&m.sdev], roots[&m.sdev], links, holder, hints[i])
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let workers = if rest.len() < 4096 { 1 } else { workers };
        let chunk = rest.len().div_ceil(workers).max(1);
        let done: Vec<Vec<InotifyWdEntry>> = std::thread::scope(|sc| {
            let handles: Vec<_> = rest
                .chunks(chunk)
                .map(|c| {
                    sc.spawn(move || {
                        proc::private_cwd()?;
                        let links = proc::OwnFdLinks::open()?;
                        c.iter()
                            .enumerate()
                            .map(|(n, i)| {
                                if n % 1024 == 0 {
                                    deadline
                                        .check(|| format!("capturing watch {} of {}", n + 1, c.len()))
                                        .map_err(|source| InotifyError::Deadline { id, source })?;
                                }
                                one(&links, *i)
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect::<Result<Vec<_>, InotifyError>>()
        })?;
        for (i, e) in rest.iter().zip(done.into_iter().flatten()) {
            wds[*i] = Some(e);
        }
        let wds: Vec<InotifyWdEntry> = wds.into_iter().map(|w| w.expect("every watch captured")).collect();
        Ok(InotifyFileEntry {
            id,
            flags: flags & !(libc::O_CLOEXEC as u32),
            fown,
            wd: wds,
            queued_bytes: (queued > 0).then_some(queued),
        })
    }
}

/// The watches of CRIU's own entry, as fdinfo would show them.
pub fn marks_of(e: &InotifyFileEntry) -> Result<Vec<fdinfo::InotifyMark>, fdinfo::FdinfoError> {
    e.wd.iter()
        .enumerate()
        .map(|(i, w)| {
            let h = &w.f_handle;
            let handle = (h.bytes > 0)
                .then(|| {
                    fhandle::FileHandle::from_words(h.r#type as i32, h.bytes as usize, &h.handle).ok_or(fdinfo::FdinfoError {
                        line: i + 1,
                        what: format!("CRIU's entry for wd {}: handle of {} bytes does not fit", w.wd, h.bytes),
                    })
                })
                .transpose()?;
            Ok(fdinfo::InotifyMark {
                wd: w.wd as i32,
                ino: w.i_ino,
                sdev: w.s_dev,
                mask: w.mask,
                ignored_mask: w.ignored_mask,
                handle,
            })
        })
        .collect()
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
    holder: &HolderLookup<'_>,
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
            (Some(p), Some(f))
        }
        None => (None, None),
    };
    Ok(entry(id, m, h, fs, path, mnt_id, gone.map(|_| ()), held))
}

/// CRIU's path for an object, if it leads to the watched inode in the
/// task's root: (the path, the mount id of the task's mount holding it).
fn by_hint(fs: &Fs, m: &fdinfo::InotifyMark, hint: &str) -> Option<(String, u32)> {
    let path = if hint.starts_with('/') { hint.to_owned() } else { format!("/{hint}") };
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

/// The entry of watch `m` named by CRIU's path `hint`, on a filesystem
/// whose CRIU paths were found to be the task's: no syscall. `None` for a
/// path that is not clean and absolute (then the watch is captured by its
/// handle).
fn trusted_entry(id: u32, m: &fdinfo::InotifyMark, fs: &Fs, hint: &str) -> Option<InotifyWdEntry> {
    if !hint.starts_with('/') || hint.ends_with(DELETED) || hint.split('/').any(|c| c == ".." || c == ".") {
        return None;
    }
    let h = m.handle.as_ref()?;
    let mnt = mount_of(fs, hint)?;
    Some(entry(id, m, h, fs, hint.to_owned(), mnt, None, (None, None)))
}

/// The mount id of the task's mount of `fs` that holds `path`: the one with
/// the longest mount point above it.
fn mount_of(fs: &Fs, path: &str) -> Option<u32> {
    let under = |mp: &str| {
        let mp = mp.trim_end_matches('/');
        mp.is_empty() || path == mp || path.strip_prefix(mp).is_some_and(|r| r.starts_with('/'))
    };
    fs.task_mounts.iter().filter(|mt| under(&mt.mountpoint)).max_by_key(|mt| mt.mountpoint.len()).or(fs.task_mounts.first()).map(|mt| mt.mnt_id)
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
