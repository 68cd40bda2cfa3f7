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

/// Parse mountinfo text.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let mnt_id = f.next()?.parse().ok()?;
            let _parent = f.next()?;
            let (maj, min) = f.next()?.split_once(':')?;
            let sdev = encode_dev(maj.parse().ok()?, min.parse().ok()?);
            let root = unescape(f.next()?);
            let mountpoint = unescape(f.next()?);
            Some(Mount { mnt_id, sdev, root, mountpoint })
        })
        .collect()
}

/// A task's mounts, with the mount roots opened lazily through
/// `/proc/PID/root`, so that they are the task's mounts even in another
/// mount namespace.
pub struct MountView {
    pid: i32,
    mounts: Vec<Mount>,
    open: HashMap<u32, (OwnedFd, usize)>,
}

impl MountView {
    pub fn read(pid: i32) -> Result<MountView, SysError> {
        let p = format!("/proc/{pid}/mountinfo");
        let text = std::fs::read_to_string(&p).ctx("read", &p)?;
        Ok(MountView { pid, mounts: parse(&text), open: HashMap::new() })
    }

    /// An fd on the filesystem `sdev` (the mount whose root is highest in
    /// that filesystem, the task's topmost such mount) and that mount.
    pub fn fs_root(&mut self, sdev: u32) -> Result<(BorrowedFd<'_>, &Mount), SysError> {
        if !self.open.contains_key(&sdev) {
            let idx = self
                .mounts
                .iter()
                .enumerate()
                .filter(|(_, m)| m.sdev == sdev)
                .min_by_key(|(_, m)| (m.root.len(), m.mountpoint.len()))
                .map(|(i, _)| i)
                .ok_or_else(|| {
                    let (ma, mi) = decode_dev(sdev);
                    SysError::new("find mount", format!("device {ma}:{mi} in pid {}", self.pid), rustix::io::Errno::NOENT)
                })?;
            let path = format!("/proc/{}/root{}", self.pid, self.mounts[idx].mountpoint);
            // open_by_handle_at needs a real open file here (O_PATH is
            // refused). Opening a directory read-only is what CRIU itself
            // does for the same purpose.
            let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOATIME, Mode::empty())
                .or_else(|_| rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()))
                .ctx("open", &path)?;
            self.open.insert(sdev, (fd, idx));
        }
        let (fd, idx) = &self.open[&sdev];
        Ok((fd.as_fd(), &self.mounts[*idx]))
    }
}

impl MountView {
    /// The root fd of `sdev` if [`fs_root`](Self::fs_root) opened it.
    pub fn opened(&self, sdev: u32) -> Option<BorrowedFd<'_>> {
        self.open.get(&sdev).map(|(fd, _)| fd.as_fd())
    }
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
        let (_fd, m) = v.fs_root(sdev).unwrap();
        assert_eq!(m.sdev, sdev);
    }
}
