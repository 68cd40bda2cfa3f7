//! Flags shared with the restored tasks: an anonymous `MAP_SHARED` mapping
//! made in criu before it forks them. Each task inherits the same pages, so
//! what a task sets from inside (RESTORE_EXT_FILE) criu reads later
//! (RESUME_DEVICES_LATE). The tasks' copies go away when CRIU's restorer
//! replaces their memory with the dumped one.
#![allow(unsafe_code)] // a MAP_SHARED page shared with the restored tasks across fork

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use super::{Context, SysError};

/// `len` one-byte flags, all clear at first.
pub struct SharedFlags {
    ptr: NonNull<AtomicU8>,
    len: usize,
}

// SAFETY: the flags are atomics; the mapping lives until drop.
unsafe impl Send for SharedFlags {}
// SAFETY: as above: every access goes through AtomicU8.
unsafe impl Sync for SharedFlags {}

impl SharedFlags {
    pub fn new(len: usize) -> Result<SharedFlags, SysError> {
        let bytes = len.max(1);
        // SAFETY: a fresh anonymous mapping at an address the kernel picks:
        // no existing memory is touched.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                bytes,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
            )
        }
        .ctx("mmap", format_args!("{bytes} shared bytes"))?;
        let ptr = NonNull::new(p.cast::<AtomicU8>()).ok_or_else(|| SysError::new("mmap", "shared flags", rustix::io::Errno::NOMEM))?;
        Ok(SharedFlags { ptr, len })
    }

    fn at(&self, i: usize) -> Option<&AtomicU8> {
        // SAFETY: `i < len` bytes of a live mapping of zeroed (valid)
        // AtomicU8s; shared references to atomics are fine across processes.
        (i < self.len).then(|| unsafe { &*self.ptr.as_ptr().add(i) })
    }

    pub fn set(&self, i: usize) {
        if let Some(f) = self.at(i) {
            f.store(1, Ordering::Release);
        }
    }

    pub fn get(&self, i: usize) -> bool {
        self.at(i).is_some_and(|f| f.load(Ordering::Acquire) != 0)
    }
}

impl Drop for SharedFlags {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, not used after this.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len.max(1)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_process_sets_what_the_parent_reads() {
        let f = SharedFlags::new(3).unwrap();
        assert!(!f.get(0) && !f.get(1) && !f.get(2) && !f.get(3));
        // SAFETY: the child only stores into the mapping and exits.
        match unsafe { libc::fork() } {
            0 => {
                f.set(1);
                // SAFETY: leave the forked test process at once.
                unsafe { libc::_exit(0) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(f.get(1) && !f.get(0) && !f.get(2));
            }
            _ => panic!("fork failed"),
        }
    }
}
