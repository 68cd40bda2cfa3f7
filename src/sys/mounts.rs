//! `/proc/PID/mountinfo`: which mounts a task sees, so that a file handle
//! can be opened on the right filesystem and named by a path the task sees.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use super::{Context, SysError};

/// One mount as a task sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mnt_id: u32,
    /// The superblock's device in the kernel's internal encoding
    /// (major << 20 | minor), as fdinfo's `sdev:` prints it.
    pub sdev: u32,
    /// Path inside the filesystem that is mounted here.
    pub root: String,
    /// Where, relative to the task's root.
    pub mountpoint: String,
}

/// The kernel's internal `MKDEV` (20 minor bits), as fdinfo prints `sdev`.
pub fn encode_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & 0xfffff)
}

/// Split an internal dev_t into (major, minor).
pub fn decode_dev(dev: u32) -> (u32, u32) {
    (dev >> 20, dev & 0xfffff)
}

/// Undo mountinfo's octal escapes (`\040` for a space ...).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text (the fields this module needs of
/// [`super::mountinfo::parse`]'s).
pub fn parse(text: &str) -> Vec<Mount> {
    super::mountinfo::parse(text)
        .into_iter()
        .map(|m| Mount { mnt_id: m.mnt_id, sdev: m.sdev, root: m.root, mountpoint: m.mountpoint })
        .collect()
}

/// A task's mounts, with mount roots opened on demand through
/// `/proc/PID/root`, so that they are the task's mounts even in another
/// mount namespace.
pub struct MountView {
    pid: i32,
    mounts: Vec<Mount>,
    open: HashMap<usize, OwnedFd>,
}

impl MountView {
    pub fn read(pid: i32) -> Result<MountView, SysError> {
        let p = format!("/proc/{pid}/mountinfo");
        let text = std::fs::read_to_string(&p).ctx("read", &p)?;
        Ok(MountView { pid, mounts: parse(&text), open: HashMap::new() })
    }

    /// Indexes of the mounts of filesystem `sdev`, the most specific root
    /// (longest) first.
    pub fn mounts_of(&self, sdev: u32) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.mounts.len()).filter(|i| self.mounts[*i].sdev == sdev).collect();
        v.sort_by_key(|i| std::cmp::Reverse(self.mounts[*i].root.len()));
        v
    }

    /// Mount number `idx`.
    pub fn mount(&self, idx: usize) -> &Mount {
        &self.mounts[idx]
    }

    /// Open mount `idx`'s root (cached). open_by_handle_at needs a real open
    /// file there (O_PATH is refused): a directory opened read-only, as
    /// CRIU itself does for the same purpose.
    pub fn open_root(&mut self, idx: usize) -> Result<BorrowedFd<'_>, SysError> {
        if !self.open.contains_key(&idx) {
            let path = format!("/proc/{}/root{}", self.pid, self.mounts[idx].mountpoint);
            let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOATIME, Mode::empty())
                .or_else(|_| rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()))
                .ctx("open", &path)?;
            self.open.insert(idx, fd);
        }
        Ok(self.open[&idx].as_fd())
    }

    /// An already opened mount root.
    pub fn opened(&self, idx: usize) -> Option<BorrowedFd<'_>> {
        self.open.get(&idx).map(|fd| fd.as_fd())
    }
}

/// Where a path inside a filesystem (`internal`, absolute) shows among
/// `mounts` of that filesystem (most specific root first): the mount's
/// index in `mounts` and the path below its mount point.
pub fn visible_at<'m>(internal: &str, mounts: impl IntoIterator<Item = &'m Mount>) -> Option<(usize, String)> {
    for (i, m) in mounts.into_iter().enumerate() {
        let root = m.root.trim_end_matches('/');
        let rest = if root.is_empty() {
            Some(internal)
        } else if internal == root {
            Some("")
        } else {
            internal.strip_prefix(root).filter(|r| r.starts_with('/'))
        };
        if let Some(rest) = rest {
            let rest = if rest == "/" { "" } else { rest };
            let path = match (m.mountpoint.as_str(), rest) {
                (mp, "") => mp.to_owned(),
                ("/", r) => r.to_owned(),
                (mp, r) => format!("{mp}{r}"),
            };
            return Some((i, path));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_encoding_round_trips() {
        for (ma, mi) in [(8, 1), (0, 45), (254, 0), (259, 70000)] {
            assert_eq!(decode_dev(encode_dev(ma, mi)), (ma, mi));
        }
        assert_eq!(encode_dev(254, 0), 0xfe00000);
    }

    #[test]
    fn mountinfo_lines() {
        let t = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                 30 22 0:45 /sub /mnt/with\\040space rw - tmpfs tmpfs rw\n";
        let m = parse(t);
        assert_eq!(m[0], Mount { mnt_id: 22, sdev: encode_dev(254, 0), root: "/".into(), mountpoint: "/".into() });
        assert_eq!(m[1].mountpoint, "/mnt/with space");
        assert_eq!(m[1].root, "/sub");
    }

    #[test]
    fn own_root_filesystem_opens() {
        let me = std::process::id() as i32;
        let mut v = MountView::read(me).unwrap();
        let st = rustix::fs::stat("/").unwrap();
        let sdev = encode_dev(rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
        let idx = v.mounts_of(sdev)[0];
        assert_eq!(v.mount(idx).sdev, sdev);
        v.open_root(idx).unwrap();
    }

    #[test]
    fn paths_map_to_the_most_specific_visible_mount() {
        let m = |root: &str, mp: &str| Mount { mnt_id: 1, sdev: 1, root: root.into(), mountpoint: mp.into() };
        // A container: rootfs and a volume are two directories of one fs.
        let mounts = [m("/tmp/bundle/rootfs", "/"), m("/tmp/vol", "/vol")];
        let mut sorted: Vec<&Mount> = mounts.iter().collect();
        sorted.sort_by_key(|m| std::cmp::Reverse(m.root.len()));
        assert_eq!(visible_at("/tmp/vol/w", sorted.iter().copied()).map(|x| x.1), Some("/vol/w".into()));
        assert_eq!(visible_at("/tmp/bundle/rootfs/watched", sorted.iter().copied()).map(|x| x.1), Some("/watched".into()));
        assert_eq!(visible_at("/tmp/bundle/rootfs", sorted.iter().copied()).map(|x| x.1), Some("/".into()));
        assert_eq!(visible_at("/tmp/volume2/x", sorted.iter().copied()), None);
        assert_eq!(visible_at("/tmp/vol2", sorted.iter().copied()), None);
        let whole = [m("/", "/mnt")];
        assert_eq!(visible_at("/a/b", whole.iter()).map(|x| x.1), Some("/mnt/a/b".into()));
        assert_eq!(visible_at("/", whole.iter()).map(|x| x.1), Some("/mnt".into()));
    }
}
