//! A bounded search of one filesystem for the paths of given inodes, for
//! filesystems whose handles cannot be opened and that give no other way
//! from an inode to its name (procfs, sysfs, an overlay's renamed files).
//!
//! It walks the directories of the filesystem's mounts as a root sees them
//! (paths from that root are what CRIU's irmap stats), breadth first,
//! never into another filesystem (each directory's device is checked
//! before it is entered, without triggering automounts) and never twice
//! into one directory (bind mounts of the same filesystem). Per directory
//! it costs one open and its reads, plus a stat per subdirectory; where
//! `readdir`'s inode numbers are those of the inodes (procfs, sysfs and
//! the other kernel filesystems below) an entry is stat'ed only when its
//! number is wanted; elsewhere (overlayfs translates them only in some
//! cases) every entry is stat'ed, as CRIU's own scan does for every entry.
//! All inodes of a filesystem are looked for in one walk, which stops when
//! all are found or the deadline passes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::deadline::{Deadline, DeadlineError};
use crate::sys::mounts::encode_dev;

/// `f_type`s of filesystems whose `readdir` reports the inodes' own
/// numbers (procfs, kernfs: sysfs and cgroup, libfs' dcache_readdir:
/// debugfs, tracefs, securityfs, configfs, bpf, pstore).
pub const D_INO_IS_ST_INO: &[u64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0x6265_6570, // configfs
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0xcafe_4a11, // bpf
    0x6165_676c, // pstore
];
/// procfs' `f_type`: pid directories at its top are searched last.
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// What to search: one filesystem, as a root shows it.
pub struct Search<'a> {
    /// The root paths are relative to.
    pub root: BorrowedFd<'a>,
    /// The filesystem (kernel device encoding).
    pub sdev: u32,
    pub fs_type: u64,
    /// Where its mounts are, as paths from `root`.
    pub starts: &'a [String],
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    /// Inode -> path (from the root) and whether it is a directory.
    pub paths: HashMap<u64, (String, bool)>,
    /// Inodes whose entry was seen but whose path leads into another
    /// filesystem mounted over it: inode -> that path.
    pub covered: HashMap<u64, String>,
    /// Directories read.
    pub dirs: usize,
    /// Names that are not UTF-8 (not representable in an image), skipped.
    pub skipped: usize,
    /// Set when the deadline stopped the walk before it was complete.
    pub out_of_time: Option<DeadlineError>,
}

fn rel(path: &str) -> &str {
    match path.trim_start_matches('/') {
        "" => ".",
        r => r,
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn dev_of(st: &rustix::fs::Stat) -> u32 {
    encode_dev(rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev))
}

const STAT_FLAGS: AtFlags = AtFlags::SYMLINK_NOFOLLOW.union(AtFlags::NO_AUTOMOUNT);

/// Look for every inode of `want` in the filesystem of `s` (see the module
/// documentation). `deadline` is checked every 64 directories.
pub fn search(s: &Search<'_>, want: &HashSet<u64>, deadline: &Deadline) -> Found {
    let mut found = Found::default();
    let mut left: HashSet<u64> = want.clone();
    let trust_d_ino = D_INO_IS_ST_INO.contains(&s.fs_type);
    let mut seen: HashSet<u64> = HashSet::new();
    // Pid directories at the top of a procfs come after everything else.
    let (mut queue, mut later): (VecDeque<String>, VecDeque<String>) = (VecDeque::new(), VecDeque::new());
    for start in s.starts {
        let Ok(st) = rustix::fs::statat(s.root, rel(start), STAT_FLAGS) else {
            continue;
        };
        if dev_of(&st) != s.sdev || !seen.insert(st.st_ino) {
            continue;
        }
        if left.remove(&st.st_ino) {
            found.paths.insert(st.st_ino, (start.clone(), true));
        }
        queue.push_back(start.clone());
    }
    let top: HashSet<&str> = s.starts.iter().map(String::as_str).collect();
    while !left.is_empty() {
        let Some(dir) = queue.pop_front().or_else(|| later.pop_front()) else {
            break;
        };
        if found.dirs % 64 == 0 {
            if let Err(e) = deadline.check(|| format!("searching {dir:?} for watched objects ({} directories read)", found.dirs)) {
                found.out_of_time = Some(e);
                break;
            }
        }
        found.dirs += 1;
        let Ok(fd) =
            rustix::fs::openat(s.root, rel(&dir), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        else {
            continue;
        };
        let Ok(mut entries) = rustix::fs::Dir::read_from(&fd) else {
            continue;
        };
        let defer = s.fs_type == PROC_SUPER_MAGIC && top.contains(dir.as_str());
        while let Some(Ok(e)) = entries.read() {
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(name) else {
                found.skipped += 1;
                continue;
            };
            let kind = e.file_type();
            let wanted = left.contains(&e.ino());
            // One stat where it tells something: the entry may be what we
            // look for, or a directory to enter (is it still ours?).
            let st = if !trust_d_ino || wanted || kind == FileType::Directory || kind == FileType::Unknown {
                match rustix::fs::statat(&fd, name, STAT_FLAGS) {
                    Ok(st) => Some(st),
                    Err(_) => continue,
                }
            } else {
                None
            };
            let Some(st) = st else { continue };
            let ours = dev_of(&st) == s.sdev;
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if ours && left.remove(&st.st_ino) {
                found.paths.insert(st.st_ino, (join(&dir, name), is_dir));
            } else if !ours && wanted {
                found.covered.insert(e.ino(), join(&dir, name));
            }
            if ours && is_dir && seen.insert(st.st_ino) {
                let path = join(&dir, name);
                if defer && name.bytes().all(|b| b.is_ascii_digit()) {
                    later.push_back(path);
                } else {
                    queue.push_back(path);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_procfs_entries_and_stays_on_procfs() {
        let st = rustix::fs::stat("/proc/sys/kernel/hostname").unwrap();
        let meminfo = rustix::fs::stat("/proc/meminfo").unwrap();
        let root = rustix::fs::open("/", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let starts = vec!["/proc".to_owned()];
        let s = Search { root: std::os::fd::AsFd::as_fd(&root), sdev: dev_of(&st), fs_type: PROC_SUPER_MAGIC, starts: &starts };
        let want: HashSet<u64> = [st.st_ino, meminfo.st_ino, u64::MAX].into_iter().collect();
        let f = search(&s, &want, &Deadline::start("test", std::time::Duration::from_secs(2)));
        assert_eq!(f.paths.get(&st.st_ino).map(|p| p.0.as_str()), Some("/proc/sys/kernel/hostname"), "{f:?}");
        assert_eq!(f.paths.get(&meminfo.st_ino).map(|p| p.0.as_str()), Some("/proc/meminfo"));
        // u64::MAX is nowhere: the walk either completed or ran out of time.
        assert!(!f.paths.contains_key(&u64::MAX));
    }

    #[test]
    fn a_spent_deadline_stops_the_walk() {
        let root = rustix::fs::open("/", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let st = rustix::fs::stat("/proc").unwrap();
        let starts = vec!["/proc".to_owned()];
        let s = Search { root: std::os::fd::AsFd::as_fd(&root), sdev: dev_of(&st), fs_type: PROC_SUPER_MAGIC, starts: &starts };
        let d = Deadline::start("the test search", std::time::Duration::ZERO);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let f = search(&s, &[u64::MAX].into_iter().collect(), &d);
        assert!(f.out_of_time.is_some());
        assert_eq!(f.dirs, 0);
    }
}
