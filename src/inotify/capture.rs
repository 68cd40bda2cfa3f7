//! Dump side: read one inotify instance of a frozen task exactly.
//!
//! The kernel's fdinfo is the source of truth (CRIU's own entry has already
//! dropped IN_ONESHOT and IN_EXCL_UNLINK). Each watched object is opened by
//! its file handle on the task's own mount of that filesystem, which gives
//! its path as the task sees it, its type and link count, and the
//! filesystem's identity. `O_PATH` opens create no inotify event.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};

use super::InotifyError;
use crate::proto::{FhEntry, FownEntry, InotifyFileEntry, InotifyWdEntry};
use crate::sys::{fdinfo, fhandle, mounts::MountView, notify, proc, SysError};

const DELETED: &str = " (deleted)";

/// Per-dump caches: each task's mounts, each filesystem's identity.
#[derive(Default)]
pub struct Capturer {
    views: HashMap<i32, MountView>,
    fs: HashMap<u32, (u64, u64)>,
    /// (pid, sdev) → where that filesystem's mount root shows in our links.
    roots: HashMap<(i32, u32), String>,
}

/// Where an unlinked-but-open object is held: (virtual pid, fd) in the tree.
pub type HolderLookup<'a> = dyn Fn(u64, u64) -> Option<(u32, u32)> + 'a;

/// Join a mount point and a path inside the mount.
fn join(mountpoint: &str, rel: &str) -> String {
    match (mountpoint, rel) {
        (m, "") => m.to_owned(),
        ("/", r) => r.to_owned(),
        (m, r) => format!("{m}{r}"),
    }
}

impl Capturer {
    fn view(&mut self, pid: i32) -> Result<&mut MountView, InotifyError> {
        if !self.views.contains_key(&pid) {
            self.views.insert(pid, MountView::read(pid)?);
        }
        Ok(self.views.get_mut(&pid).expect("inserted above"))
    }

    /// The task whose mounts show filesystem `sdev`: `pid` itself if it can,
    /// else the first of `others` (virtual pid, real pid) that does.
    fn locate(&mut self, pid: i32, sdev: u32, others: &[(u32, i32)]) -> Result<(i32, Option<u32>), SysError> {
        let first = match self.view(pid) {
            Ok(v) => match v.fs_root(sdev) {
                Ok(_) => return Ok((pid, None)),
                Err(e) => e,
            },
            Err(InotifyError::Sys(e)) => e,
            Err(_) => unreachable!("view only fails with a SysError"),
        };
        for &(vpid, real) in others {
            if real == pid {
                continue;
            }
            if let Ok(v) = self.view(real) {
                if v.fs_root(sdev).is_ok() {
                    return Ok((real, Some(vpid)));
                }
            }
        }
        Err(first)
    }

    /// Capture the instance at `fd` of task `pid` (real pid); `file` is our
    /// own copy of it (pidfd_getfd), used for FIONREAD. `others` are the
    /// other tasks of the tree (virtual, real pid), whose mount namespaces
    /// may show watched objects that `pid`'s does not.
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
    ) -> Result<InotifyFileEntry, InotifyError> {
        let text = proc::fdinfo(pid, fd)?;
        let common = fdinfo::parse_common(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?;
        let marks = fdinfo::parse_inotify(&text).map_err(|source| InotifyError::Fdinfo { pid, fd, source })?;
        let queued = notify::queued_bytes(file)?;
        let mut wds = Vec::with_capacity(marks.len());
        for m in &marks {
            let h = m.handle.as_ref().ok_or(InotifyError::NoHandle { id, wd: m.wd, dev: m.sdev, ino: m.ino })?;
            let unreachable = |source| InotifyError::Unreachable { id, wd: m.wd, dev: m.sdev, ino: m.ino, source };
            let (seen_by, path_pid) = self.locate(pid, m.sdev, others).map_err(unreachable)?;
            let view = self.views.get_mut(&seen_by).expect("located");
            let (root_fd, mount) = view.fs_root(m.sdev).map_err(unreachable)?;
            let (mnt_id, mountpoint) = (mount.mnt_id, mount.mountpoint.clone());
            let obj = fhandle::open_by_handle(root_fd, h).map_err(unreachable)?;
            let root_link = match self.roots.get(&(seen_by, m.sdev)) {
                Some(r) => r.clone(),
                None => {
                    let r = proc::own_fd_link(root_fd)?;
                    self.roots.insert((seen_by, m.sdev), r.clone());
                    r
                }
            };
            let mut link = proc::own_fd_link(obj.as_fd())?;
            let st = fhandle::stat_of(&obj, &link)?;
            let unlinked = st.st_nlink == 0;
            if unlinked && link.ends_with(DELETED) {
                link.truncate(link.len() - DELETED.len());
            }
            let rel = link.strip_prefix(root_link.trim_end_matches('/')).unwrap_or(&link);
            let path = join(&mountpoint, rel);
            let (fsid, fs_type) = match self.fs.get(&m.sdev) {
                Some(v) => *v,
                None => {
                    let v = fhandle::fs_identity(&obj)?;
                    self.fs.insert(m.sdev, v);
                    v
                }
            };
            let (holder_pid, holder_fd) = if unlinked {
                let (p, f) = holder(st.st_dev, st.st_ino)
                    .ok_or_else(|| InotifyError::UnlinkedNotHeld { id, wd: m.wd, path: path.clone() })?;
                (Some(p), Some(f))
            } else {
                (None, None)
            };
            wds.push(InotifyWdEntry {
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
                    path: Some(path.clone()),
                    mnt_id: Some(mnt_id),
                },
                fsid: Some(fsid),
                fs_type: Some(fs_type),
                mode: Some(st.st_mode),
                unlinked: unlinked.then_some(true),
                holder_pid,
                holder_fd,
                path: Some(path),
                path_pid,
            });
        }
        Ok(InotifyFileEntry {
            id,
            flags: common.flags & !(libc::O_CLOEXEC as u32),
            fown,
            wd: wds,
            queued_bytes: (queued > 0).then_some(queued),
        })
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
