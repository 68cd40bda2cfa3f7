//! File handles: `name_to_handle_at(2)` and `open_by_handle_at(2)`.
//! A handle names an inode within one filesystem, independent of paths.
#![allow(unsafe_code)] // name_to_handle_at / open_by_handle_at, which no crate wraps, and their C structs

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::Errno;

use super::{Context, SysError};

/// The kernel's largest handle (MAX_HANDLE_SZ).
pub const MAX_HANDLE_SZ: usize = 128;

/// An opaque file handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileHandle {
    pub handle_type: i32,
    pub bytes: Vec<u8>,
}

#[repr(C)]
struct RawHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

impl FileHandle {
    /// CRIU's `fh_entry.handle` layout: the bytes as native-endian u64
    /// words, zero-padded.
    pub fn to_words(&self) -> Vec<u64> {
        self.bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_ne_bytes(w)
            })
            .collect()
    }

    /// Inverse of [`to_words`](Self::to_words); `None` if `len` does not fit.
    pub fn from_words(handle_type: i32, len: usize, words: &[u64]) -> Option<FileHandle> {
        if !Self::fits(len, words) {
            return None;
        }
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        bytes.truncate(len);
        Some(FileHandle { handle_type, bytes })
    }

    /// Do `len` bytes of handle fit the kernel's limit and `words`?
    pub fn fits(len: usize, words: &[u64]) -> bool {
        len <= MAX_HANDLE_SZ && len <= words.len() * 8
    }

    /// Is this the handle CRIU's words describe? (Compares without
    /// building one: restore checks every watch.)
    pub fn matches_words(&self, handle_type: i32, len: usize, words: &[u64]) -> bool {
        handle_type == self.handle_type
            && len == self.bytes.len()
            && len <= words.len() * 8
            && self.bytes.chunks(8).zip(words).all(|(c, w)| c == &w.to_ne_bytes()[..c.len()])
    }
}

/// The handle and mount id of `path` relative to `dir` (an empty path with
/// `AT_EMPTY_PATH` names `dir` itself). Symlinks are not followed.
pub fn name_to_handle(dir: BorrowedFd<'_>, path: &str) -> Result<(FileHandle, i32), SysError> {
    let c = CString::new(path).map_err(|_| SysError::new("name_to_handle_at", path, Errno::INVAL))?;
    let mut raw = RawHandle { handle_bytes: MAX_HANDLE_SZ as u32, handle_type: 0, f_handle: [0; MAX_HANDLE_SZ] };
    let mut mnt_id: libc::c_int = 0;
    let flags = if path.is_empty() { libc::AT_EMPTY_PATH } else { 0 };
    // SAFETY: `raw` is a file_handle with room for MAX_HANDLE_SZ bytes, as
    // handle_bytes says; `c` and `mnt_id` outlive the call.
    let r = unsafe { libc::name_to_handle_at(dir.as_raw_fd(), c.as_ptr(), (&mut raw as *mut RawHandle).cast(), &mut mnt_id, flags) };
    if r != 0 {
        return Err(SysError::new("name_to_handle_at", path, Errno::from_raw_os_error(errno())));
    }
    let n = (raw.handle_bytes as usize).min(MAX_HANDLE_SZ);
    Ok((FileHandle { handle_type: raw.handle_type, bytes: raw.f_handle[..n].to_vec() }, mnt_id))
}

/// Open the inode `h` names on the filesystem of `mount`, with `O_PATH`
/// (no open event, no permission needed on the object itself).
pub fn open_by_handle(mount: BorrowedFd<'_>, h: &FileHandle) -> Result<OwnedFd, SysError> {
    if h.bytes.len() > MAX_HANDLE_SZ {
        return Err(SysError::new("open_by_handle_at", "handle", Errno::INVAL));
    }
    let mut raw = RawHandle { handle_bytes: h.bytes.len() as u32, handle_type: h.handle_type, f_handle: [0; MAX_HANDLE_SZ] };
    raw.f_handle[..h.bytes.len()].copy_from_slice(&h.bytes);
    // SAFETY: `raw` is a valid file_handle whose handle_bytes does not
    // exceed its buffer; the returned fd, if any, is ours to own.
    let fd = unsafe {
        libc::open_by_handle_at(mount.as_raw_fd(), (&mut raw as *mut RawHandle).cast(), libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW)
    };
    if fd < 0 {
        return Err(SysError::new("open_by_handle_at", format!("handle type {}", h.handle_type), Errno::from_raw_os_error(errno())));
    }
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Used by callers that want `Context` on plain rustix calls here.
pub fn stat_of(fd: impl AsFd, what: &str) -> Result<rustix::fs::Stat, SysError> {
    rustix::fs::fstat(fd).ctx("fstat", what)
}

/// What identifies the filesystem an fd lives on: statfs `f_fsid` (two
/// words, as one u64) and `f_type` (the filesystem's magic).
pub fn fs_identity(fd: impl AsFd) -> Result<(u64, u64), SysError> {
    let fd = fd.as_fd();
    let vfs = rustix::fs::fstatvfs(fd).ctx("fstatvfs", "watched object")?;
    let st = rustix::fs::fstatfs(fd).ctx("fstatfs", "watched object")?;
    Ok((vfs.f_fsid, st.f_type as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_without_building() {
        let h = FileHandle { handle_type: 1, bytes: (1..=12).collect() };
        let w = h.to_words();
        assert!(h.matches_words(1, 12, &w));
        assert!(!h.matches_words(2, 12, &w));
        assert!(!h.matches_words(1, 11, &w));
        assert!(!h.matches_words(1, 12, &w[..1]));
        let mut other = w.clone();
        other[1] ^= 1;
        assert!(!h.matches_words(1, 12, &other));
    }

    #[test]
    fn words_round_trip() {
        let h = FileHandle { handle_type: 1, bytes: (1..=12).collect() };
        let w = h.to_words();
        assert_eq!(w.len(), 2);
        assert_eq!(FileHandle::from_words(1, 12, &w), Some(h));
        assert_eq!(FileHandle::from_words(1, 17, &w), None);
        assert_eq!(FileHandle::from_words(1, 400, &[0; 64]), None);
    }

    #[test]
    fn handles_of_a_tmp_file_reopen() {
        let dir = std::env::temp_dir();
        let d = rustix::fs::open(&dir, rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY, rustix::fs::Mode::empty()).unwrap();
        let name = format!("criu-notify-fh-{}", std::process::id());
        std::fs::write(dir.join(&name), b"x").unwrap();
        let got = name_to_handle(d.as_fd(), &name);
        std::fs::remove_file(dir.join(&name)).ok();
        match got {
            Ok((h, _mnt)) => {
                assert!(!h.bytes.is_empty());
                let _ = open_by_handle(d.as_fd(), &h);
            }
            // Some filesystems cannot encode handles.
            Err(e) => assert_eq!(e.errno, Errno::OPNOTSUPP),
        }
    }
}
