//! Which open file an epoll registration points to, when its fd number
//! alone does not say (the number was closed, or reused by another file).
//!
//! Every file open in the dumped tree is a candidate. Candidates are grouped
//! by the inode fdinfo shows for the target (one `stat` per file, once per
//! dump); inside a group, which for anonymous inodes (eventfd, timerfd,
//! signalfd, epoll) holds every such file, they are sorted once by the
//! kernel's file order (`kcmp(KCMP_FILE)`), and each registration is then
//! binary-searched with `kcmp(KCMP_EPOLL_TFD)`, which orders a file against
//! the registered target in the same order. That is O(n log n) kcmp calls
//! for n files and O(log n) per registration, where a search of every fd
//! for every registration would be quadratic in calls.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::ids::{FdNum, FileId, RealPid};
use crate::sys::fdinfo::EpollTarget;
use crate::sys::{kcmp, mounts, SysError};

/// One open file of the dumped tree, by one fd that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// A task holding the file, and the fd number there.
    pub pid: RealPid,
    pub fd: FdNum,
    /// CRIU's id of the file.
    pub file: FileId,
}

/// The epoll whose registrations are searched: real pid and fd number.
#[derive(Clone, Copy, Debug)]
pub struct EpollAt {
    pub pid: RealPid,
    pub fd: FdNum,
}

struct Group {
    files: Vec<Candidate>,
    sorted: bool,
}

/// Candidates by inode, sorted on first use.
pub struct Targets {
    groups: HashMap<(u64, u64), Group>,
    /// kcmp calls made so far (for tests that prove the bound).
    pub kcmp_calls: u64,
}

impl Targets {
    /// Index `candidates` (several fds of one file count once) by the inode
    /// each file has. A candidate that cannot be stat'ed is left out: it is
    /// not open any more, so no registration can point to it.
    pub fn new(candidates: impl IntoIterator<Item = Candidate>) -> Targets {
        let mut seen = std::collections::HashSet::new();
        let mut groups: HashMap<(u64, u64), Group> = HashMap::new();
        for c in candidates {
            if !seen.insert(c.file) {
                continue;
            }
            let Ok(st) = rustix::fs::stat(format!("/proc/{}/fd/{}", c.pid, c.fd)) else { continue };
            groups.entry((st.st_dev, st.st_ino)).or_insert_with(|| Group { files: Vec::new(), sorted: false }).files.push(c);
        }
        Targets { groups, kcmp_calls: 0 }
    }

    /// The file registered as `t` (the `toff`-th registration under its
    /// number) in `epoll`; `None` if no candidate is that file.
    pub fn find(&mut self, epoll: EpollAt, t: &EpollTarget, toff: u32) -> Result<Option<FileId>, SysError> {
        let (major, minor) = mounts::decode_dev(t.sdev);
        let key = (libc::makedev(major, minor), t.ino);
        let Some(group) = self.groups.get_mut(&key) else { return Ok(None) };
        if !group.sorted {
            sort_by_kernel_order(&mut group.files, &mut self.kcmp_calls)?;
            group.sorted = true;
        }
        let (mut lo, mut hi) = (0, group.files.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let c = group.files[mid];
            self.kcmp_calls += 1;
            match kcmp::cmp_epoll_target(c.pid.0, c.fd.raw(), epoll.pid.0, epoll.fd.raw(), t.tfd, toff)? {
                None => return Ok(None),
                Some(Ordering::Equal) => return Ok(Some(c.file)),
                Some(Ordering::Less) => lo = mid + 1,
                Some(Ordering::Greater) => hi = mid,
            }
        }
        Ok(None)
    }
}

/// Sort files by the kernel's order: a bottom-up merge sort, because each
/// comparison is a syscall that can fail (O(n log n) of them).
fn sort_by_kernel_order(v: &mut Vec<Candidate>, calls: &mut u64) -> Result<(), SysError> {
    let n = v.len();
    let mut src = std::mem::take(v);
    let mut dst = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        dst.clear();
        for start in (0..n).step_by(2 * width) {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            while i < mid && j < end {
                *calls += 1;
                let (a, b) = (src[i], src[j]);
                if kcmp::cmp_files(b.pid.0, b.fd.raw(), a.pid.0, a.fd.raw())? == Ordering::Less {
                    dst.push(b);
                    j += 1;
                } else {
                    dst.push(a);
                    i += 1;
                }
            }
            dst.extend_from_slice(&src[i..mid]);
            dst.extend_from_slice(&src[j..end]);
        }
        std::mem::swap(&mut src, &mut dst);
        width *= 2;
    }
    *v = src;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{fdinfo, proc};
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};

    /// Registrations whose numbers were all closed (each target dup'ed
    /// elsewhere first) are each found, with O(log n) kcmp calls apiece.
    #[test]
    fn closed_numbers_found_in_log_calls() {
        use rustix::event::{epoll, eventfd, EventfdFlags};
        let me = std::process::id() as i32;
        let n = 1024;
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
        let mut kept: Vec<OwnedFd> = Vec::new();
        for i in 0..n {
            let f = eventfd(0, EventfdFlags::CLOEXEC).unwrap();
            epoll::add(&ep, &f, epoll::EventData::new_u64(i), epoll::EventFlags::IN).unwrap();
            kept.push(rustix::io::dup(&f).unwrap());
            drop(f); // the registration's number is closed now
        }
        // A pipe too: an inode group of its own.
        let (r, w) = rustix::pipe::pipe().unwrap();
        epoll::add(&ep, &r, epoll::EventData::new_u64(u64::MAX), epoll::EventFlags::IN).unwrap();
        let text = proc::fdinfo(me, ep.as_raw_fd()).unwrap();
        let regs = fdinfo::parse_epoll(&text).unwrap();
        assert_eq!(regs.len(), n as usize + 1);
        let cands = kept.iter().chain([&r, &w]).enumerate().map(|(i, f)| Candidate {
            pid: RealPid(me),
            fd: FdNum(f.as_fd().as_raw_fd() as u32),
            file: FileId(i as u32),
        });
        let mut targets = Targets::new(cands);
        let at = EpollAt { pid: RealPid(me), fd: FdNum(ep.as_raw_fd() as u32) };
        let mut seen = HashMap::new();
        for t in &regs {
            // Numbers are reused: the toff-th registration under a number.
            let toff = seen.entry(t.tfd).or_insert(0u32);
            let found = targets.find(at, t, *toff).unwrap().expect("found");
            *toff += 1;
            if t.data == u64::MAX {
                assert_eq!(found.0 as usize, kept.len());
            } else {
                assert_eq!(u64::from(found.0), t.data, "registration {} resolves to its own eventfd", t.data);
            }
        }
        let log2 = 64 - n.leading_zeros() as u64;
        let bound = n * log2 /* sort */ + (n + 1) * (log2 + 1) /* searches */;
        assert!(targets.kcmp_calls <= bound, "{} kcmp calls for {n} targets (bound {bound})", targets.kcmp_calls);
    }
}
