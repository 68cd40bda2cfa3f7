//! The dumped process tree as CRIU's images describe it: which tasks there
//! are (pstree.img), which fd table each uses (ids-PID.img), what sits at
//! each fd number (fdinfo-N.img) and what each open file is (files.img).
//! Pids here are pids in the dumped pid namespace ("virtual" pids).

use std::collections::{BTreeMap, HashMap};
use std::os::fd::BorrowedFd;

use prost::Message;
use thiserror::Error;

use super::image::{self, ImageError};
use crate::ids::{FdNum, FileId, Vpid};
use crate::proto::{FdTypes, FdinfoEntry, FileEntry, PstreeEntry, TaskKobjIdsEntry};

#[derive(Debug, Error)]
pub enum TreeError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("image {0} is missing")]
    Missing(String),
    #[error("files.img has no entry for file id {id} named by fd {fd} of fdinfo-{table}.img")]
    UnknownFile { id: u32, fd: u32, table: u32 },
    #[error("files.img has two entries for file id {0}")]
    DuplicateFile(u32),
    #[error("file id {0} is not open at any fd of the dumped tasks")]
    NoHolder(FileId),
    #[error("dumped pid {0} has no live task (was it in CHECKPOINT_DEVICES?)")]
    NoRealPid(Vpid),
}

/// One process of the dumped tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub vpid: Vpid,
    /// N of the task's fdinfo-N.img; `None` for tasks without ids (zombies).
    pub files_id: Option<u32>,
}

/// One fd of an fd table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fd {
    pub fd: FdNum,
    pub id: FileId,
    pub ftype: i32,
    pub flags: u32,
}

/// One open file of files.img.
#[derive(Clone, Debug)]
pub struct File {
    pub ftype: i32,
    /// The entry; a big inotify entry without its watches (`ify.wd` empty),
    /// which stay in [`Tree::files_img`] where `watches` says.
    pub entry: FileEntry,
    /// Where its watches are in [`Tree::files_img`].
    pub watches: super::wire::LeanWatches,
}

/// The whole picture.
#[derive(Debug, Default)]
pub struct Tree {
    pub tasks: Vec<Task>,
    pub tables: BTreeMap<u32, Vec<Fd>>,
    pub files: HashMap<FileId, File>,
    /// files.img as read (the takeover rewrites it from these bytes).
    pub files_img: Vec<u8>,
    /// Each fdinfo-N.img as read, by N.
    pub fdinfo_img: BTreeMap<u32, Vec<u8>>,
    /// Indexes built once by [`Tree::index`]: the first holder of each file
    /// (pstree order), and each (table, fd number)'s file.
    first_holder: HashMap<FileId, (Vpid, FdNum)>,
    at: HashMap<(u32, FdNum), FileId>,
    table_of_task: HashMap<Vpid, u32>,
}

/// Read `name` as `kind`, decoding each entry as `M`.
pub fn load<M: Message + Default>(dir: BorrowedFd<'_>, name: &str, kind: image::Kind) -> Result<Option<Vec<M>>, TreeError> {
    match image::read_file(dir, name)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(image::decode_all(name, kind, &bytes)?)),
    }
}

impl Tree {
    /// Load the tree from CRIU's images in `dir`.
    pub fn load(dir: BorrowedFd<'_>) -> Result<Tree, TreeError> {
        let pstree: Vec<PstreeEntry> = load(dir, "pstree.img", image::PSTREE)?.ok_or_else(|| TreeError::Missing("pstree.img".into()))?;
        let mut tree = Tree::default();
        for p in &pstree {
            let name = format!("ids-{}.img", p.pid);
            let ids: Option<Vec<TaskKobjIdsEntry>> = load(dir, &name, image::IDS)?;
            let files_id = ids.and_then(|v| v.first().map(|i| i.files_id));
            tree.tasks.push(Task { vpid: Vpid(p.pid), files_id });
        }
        for t in &tree.tasks {
            let Some(fid) = t.files_id else { continue };
            if tree.tables.contains_key(&fid) {
                continue;
            }
            let name = format!("fdinfo-{fid}.img");
            let bytes = image::read_file(dir, &name)?.ok_or_else(|| TreeError::Missing(name.clone()))?;
            let fds: Vec<FdinfoEntry> = image::decode_all(&name, image::FDINFO, &bytes)?;
            tree.tables
                .insert(fid, fds.into_iter().map(|f| Fd { fd: FdNum(f.fd), id: FileId(f.id), ftype: f.r#type, flags: f.flags }).collect());
            tree.fdinfo_img.insert(fid, bytes);
        }
        // files.img holds CRIU's own inotify entries (12 MB for 100k
        // watches) until a takeover replaced them.
        let bytes = image::read_file(dir, "files.img")?.ok_or_else(|| TreeError::Missing("files.img".into()))?;
        // Straight into the map, sized once: entries are big, and moving
        // them through a vector and rehashes was most of the load.
        let entries = image::parse("files.img", image::FILES, &bytes)?.entries;
        tree.files.reserve(entries.len());
        for (index, e) in entries.iter().enumerate() {
            let (f, w) =
                super::wire::decode_file_lean(e).map_err(|source| ImageError::Decode { file: "files.img".to_owned(), index, source })?;
            let at = e.as_ptr() as usize - bytes.as_ptr() as usize;
            let shift = |r: std::ops::Range<usize>| (r.start + at)..(r.end + at);
            let watches = super::wire::LeanWatches { items: w.items.into_iter().map(shift).collect() };
            let id = f.id;
            if tree.files.insert(FileId(id), File { ftype: f.r#type, entry: f, watches }).is_some() {
                return Err(TreeError::DuplicateFile(id));
            }
        }
        tree.files_img = bytes;
        tree.index();
        Ok(tree)
    }

    /// (Re)build the lookup indexes from `tasks` and `tables`.
    pub fn index(&mut self) {
        self.first_holder.clear();
        self.at.clear();
        self.table_of_task.clear();
        let fds: usize = self.tables.values().map(Vec::len).sum();
        self.first_holder.reserve(fds);
        self.at.reserve(fds);
        for t in &self.tasks {
            let Some(fid) = t.files_id else { continue };
            self.table_of_task.insert(t.vpid, fid);
            for fd in self.tables.get(&fid).into_iter().flatten() {
                self.first_holder.entry(fd.id).or_insert((t.vpid, fd.fd));
                self.at.entry((fid, fd.fd)).or_insert(fd.id);
            }
        }
    }

    /// The first (task, fd) holding file `id`, in pstree order.
    pub fn holder(&self, id: FileId) -> Option<(Vpid, FdNum)> {
        self.first_holder.get(&id).copied()
    }

    /// The fd table of task `vpid`.
    pub fn table_of(&self, vpid: Vpid) -> Option<&[Fd]> {
        self.tables.get(self.table_of_task.get(&vpid)?).map(Vec::as_slice)
    }

    /// Ids of files of type `t`, sorted.
    pub fn files_of_type(&self, t: FdTypes) -> Vec<FileId> {
        let mut v: Vec<FileId> = self.files.iter().filter(|(_, f)| f.ftype == t as i32).map(|(id, _)| *id).collect();
        v.sort_unstable();
        v
    }

    /// The file id at fd `fd` of task `vpid`.
    pub fn file_at(&self, vpid: Vpid, fd: FdNum) -> Option<FileId> {
        self.at.get(&(*self.table_of_task.get(&vpid)?, fd)).copied()
    }
}
