//! The two stages, between the FFI boundary above and the per-kind logic
//! below: what each hook does at dump and at restore. They take their
//! vocabulary from here and from the rooms below, never from `plugin`.

pub mod dump;
pub mod irmap;
pub mod restore;

use std::ffi::c_int;

/// Hook return: "not mine, ask the next plugin".
pub const ENOTSUP: c_int = -libc::ENOTSUP;

/// What a hook body returns: `Ok(n)` is handed to CRIU as is (a fd, 0, or
/// -ENOTSUP); `Err` is logged and becomes a negative errno at the boundary.
pub type HookResult = Result<c_int, crate::Error>;

/// A stage's state between its hooks, one per criu run, behind a lock that
/// a hook which panicked cannot poison for the next.
pub(crate) struct HookState<T>(std::sync::Mutex<Option<T>>);

impl<T: Default> HookState<T> {
    pub(crate) const fn new() -> Self {
        HookState(std::sync::Mutex::new(None))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(g.get_or_insert_with(T::default))
    }
}

/// Hold `v` until the criu process exits (statics are never dropped). For
/// large decoded images once they are spent: freeing 100k watches one
/// allocation at a time takes milliseconds in which the tasks would stay
/// frozen (dump) or stopped (restore); the process's exit, right after
/// CRIU resumes them, releases the memory at once.
pub(crate) fn keep_until_exit(v: Box<dyn std::any::Any + Send>) {
    static KEPT: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(Vec::new());
    KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(v);
}

/// Image directories made by hand for the stages' unit tests: the tree
/// CRIU would have written for one task (vpid 1) and its fd table.
#[cfg(test)]
pub(crate) mod fixture {
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;

    use crate::criu::image;
    use crate::proto::{FdinfoEntry, FileEntry, InventoryEntry, PstreeEntry, TaskKobjIdsEntry};

    pub struct Dir {
        pub path: PathBuf,
        pub fd: OwnedFd,
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// A directory with pstree/ids/inventory for task 1, its fd table
    /// `fds` (fd, file id, type) and `files` as files.img.
    pub fn tree(tag: &str, fds: &[(u32, u32, i32)], files: &[FileEntry]) -> Dir {
        let path = std::env::temp_dir().join(format!("criu-notify-fixture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let put = |name: &str, bytes: Vec<u8>| std::fs::write(path.join(name), bytes).unwrap();
        put("pstree.img", image::encode_messages(image::PSTREE, &[PstreeEntry { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: vec![1] }]));
        put("ids-1.img", image::encode_messages(image::IDS, &[TaskKobjIdsEntry { vm_id: 1, files_id: 1, fs_id: 1, sighand_id: 1 }]));
        put("inventory.img", image::encode_messages(image::INVENTORY, &[InventoryEntry::default()]));
        let fdinfo: Vec<FdinfoEntry> = fds.iter().map(|&(fd, id, t)| FdinfoEntry { id, flags: 0, r#type: t, fd }).collect();
        put("fdinfo-1.img", image::encode_messages(image::FDINFO, &fdinfo));
        put("files.img", image::encode_messages(image::FILES, files));
        let fd = image::open_dir(&path).unwrap();
        Dir { path, fd }
    }

    pub fn write(dir: &Dir, name: &str, bytes: Vec<u8>) {
        std::fs::write(dir.path.join(name), bytes).unwrap();
    }
}
