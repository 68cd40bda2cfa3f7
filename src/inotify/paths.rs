//! Paths for watched objects whose file handles CRIU cannot open.
//!
//! CRIU's inotify dump (criu/fsnotify.c, `check_open_handle`) opens each
//! watched object by its handle on a mount of its filesystem; where that
//! fails it asks its irmap for a path and fails the dump ("Can't dump that
//! handle") without one. Handles cannot be opened on an overlay mounted
//! without `nfs_export=on` (every container root filesystem of podman,
//! Docker, Kubernetes), nor on procfs, sysfs and the other kernel
//! filesystems (they encode identifiers only). At CHECKPOINT_DEVICES, tasks
//! frozen, the plugin reads each task's watches, finds those CRIU will not
//! open, finds their paths, and hands them to CRIU's irmap
//! ([`crate::criu::irmap`]):
//!
//! - overlay: the handle holds the real inode's handle on its layer's
//!   filesystem, which opens there; its path below the layer's directory is
//!   its path in the overlay (checked by a stat, as the result of every way
//!   here is);
//! - otherwise (and for overlay objects renamed since): a bounded search of
//!   the filesystem's mounts ([`super::scan`]).
//!
//! Paths are as CRIU's irmap resolves them: from the root of the root
//! task's mount namespace (criu's own root when the tree shares it).
//! Where no path leads to an object (hidden by a mount over it, deleted,
//! not mounted where CRIU looks) the dump fails here with the reason; where
//! the search could not finish (its deadline) CRIU is left to try its own.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use thiserror::Error;

use super::overlay::{self, OVERLAYFS_SUPER_MAGIC};
use super::scan::{self, Search};
use crate::criu::irmap::Entry;
use crate::deadline::Deadline;
use crate::sys::fhandle::{self, FileHandle};
use crate::sys::mountinfo::{self, MountEntry};
use crate::sys::mounts::{decode_dev, encode_dev};
use crate::sys::{fdinfo, kcmp, proc, SysError};

/// Why no path can be given to CRIU for a watched object: the dump would
/// fail in CRIU's own code anyway ("Can't dump that handle"); this says why.
#[derive(Debug, Error)]
#[error("inotify pid {pid} fd {fd} wd {wd}: {why}")]
pub struct PathError {
    pub pid: i32,
    pub fd: i32,
    pub wd: i32,
    pub why: Box<NoPath>,
}

/// The reason, with the object (`fs`: type, device and inode).
#[derive(Debug, Error)]
pub enum NoPath {
    #[error("the watched object ({fs}) is at {path:?}, but at dump time a {by_type} is mounted on {by:?} over it, so no path leads to it, and CRIU dumps watches on this {fs_type} only by path (its file handles cannot be opened): unmount {by:?} (or watch a path no mount covers) and checkpoint again")]
    Hidden { fs: String, fs_type: String, path: String, by: String, by_type: String },
    #[error("the watched object ({fs}) was deleted ({path:?} was its last name): no path leads to it, and CRIU dumps watches on this {fs_type} only by path (its file handles cannot be opened): remove the watch, or keep the file, before checkpointing")]
    Deleted { fs: String, fs_type: String, path: String },
    #[error("the watched object ({fs}) is on a filesystem that is not mounted in {root}{only}, and CRIU looks only there for the paths of watches it cannot open by file handle: only objects visible from there can be dumped")]
    NotMounted { fs: String, root: String, only: String },
    #[error("no path leads to the watched object ({fs}) in the mounts of its {fs_type} at {searched} ({dirs} directories searched){covers}: it was deleted, or a mount hides it, and CRIU dumps watches on this {fs_type} only by path (its file handles cannot be opened)")]
    NotFound { fs: String, fs_type: String, searched: String, dirs: usize, covers: String },
}

impl PathError {
    fn new(t: &Target, why: NoPath) -> PathError {
        PathError { pid: t.pid, fd: t.fd, wd: t.wd, why: Box::new(why) }
    }

    pub fn errno(&self) -> i32 {
        libc::ENOENT
    }
}

/// Is the identity of objects on a filesystem of type `fs_type` their
/// path? procfs numbers its inodes anew each time they are instantiated
/// (and looks the same on every host), so neither its handles nor its
/// inode numbers tell "same object" after a restore: its path does.
pub fn identified_by_path(fs_type: Option<u64>) -> bool {
    fs_type == Some(scan::PROC_SUPER_MAGIC)
}

/// One watch CRIU will not open by handle.
#[derive(Clone, Debug)]
struct Target {
    pid: i32,
    fd: i32,
    wd: i32,
    sdev: u32,
    ino: u64,
    handle: Option<FileHandle>,
}

/// What is known of one filesystem: whether CRIU can open its handles.
#[derive(Clone, Debug)]
struct FsInfo {
    decodable: bool,
    fs_type: u64,
    name: String,
    /// Mounted only in the mount namespace of this task, not in the view.
    elsewhere: Option<i32>,
}

/// The root CRIU's irmap resolves paths from, and its mounts.
struct View {
    root: OwnedFd,
    mounts: Vec<MountEntry>,
    /// For messages: "the mount namespace of pid N (the dumped tree's root)".
    what: String,
}

/// What one task's pass found: paths for CRIU, and searches that could not
/// finish (logged; CRIU then tries its own irmap).
#[derive(Debug, Default)]
pub struct Outcome {
    pub entries: Vec<Entry>,
    pub unfinished: Vec<String>,
    /// By how: handle on the layer, search (objects).
    pub by_layer: usize,
    pub by_search: usize,
    pub dirs_searched: usize,
}

/// Per-dump state, across the CHECKPOINT_DEVICES calls of one dump.
pub struct Finder {
    root_pid: i32,
    view: View,
    fss: HashMap<u32, FsInfo>,
    /// Objects already handled: given to CRIU, or left to it.
    done: HashSet<(u32, u64)>,
    /// Inotify files already read (pid, fd): shared ones are read once.
    instances: Vec<(i32, i32)>,
    /// Open layer directories per overlay, with their paths as links show them.
    layers: HashMap<u32, Vec<(OwnedFd, String, bool)>>,
}

fn fs_name(sdev: u32, ino: u64, name: &str) -> String {
    let (ma, mi) = decode_dev(sdev);
    format!("{name} dev {ma}:{mi} inode {ino:#x}")
}

fn dev_of(st: &rustix::fs::Stat) -> u32 {
    encode_dev(rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev))
}

fn rel(path: &str) -> &str {
    match path.trim_start_matches('/') {
        "" => ".",
        r => r,
    }
}

/// The tasks of the tree below `root` (threads' children included; the
/// tree is frozen), from /proc/PID/task/TID/children.
fn tree(root: i32) -> Vec<i32> {
    let (mut out, mut i) = (vec![root], 0);
    while i < out.len() && out.len() < 1 << 16 {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            out.extend(text.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
        }
    }
    out
}

/// The `sdev:` of an fdinfo `inotify` line, without parsing the rest.
fn sdev_of(line: &str) -> Option<u32> {
    let v = &line[line.find(" sdev:")? + 6..];
    u32::from_str_radix(&v[..v.find(' ').unwrap_or(v.len())], 16).ok()
}

/// The inotify fds of task `pid`.
pub fn inotify_fds(pid: i32) -> Vec<i32> {
    let fds = proc::fds(pid).unwrap_or_default();
    fds.into_iter().filter(|&fd| proc::fd_link(pid, fd).ok().as_deref() == Some("anon_inode:inotify")).collect()
}

/// The stat of `path` (from `root`) if it is the object (dev, ino).
fn is_it(root: BorrowedFd<'_>, path: &str, sdev: u32, ino: u64) -> Option<bool> {
    let st = rustix::fs::statat(root, rel(path), AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT).ok()?;
    (dev_of(&st) == sdev && st.st_ino == ino).then(|| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

impl Finder {
    /// The view of the dump whose root task is `root_pid`: CRIU resolves
    /// irmap paths from that task's root when it has a mount namespace of
    /// its own, else from criu's root.
    pub fn new(root_pid: i32) -> Result<Finder, SysError> {
        use crate::sys::Context;
        let ns =
            |who: &str| rustix::fs::stat(format!("/proc/{who}/ns/mnt")).map(|s| s.st_ino).ctx("stat", format_args!("/proc/{who}/ns/mnt"));
        let own = ns("self")? == ns(&root_pid.to_string())?;
        let (who, root_path, what) = if own {
            ("self".to_owned(), "/".to_owned(), format!("criu's mount namespace (shared by the dumped tree, root pid {root_pid})"))
        } else {
            (
                root_pid.to_string(),
                format!("/proc/{root_pid}/root"),
                format!("the mount namespace of the dumped tree's root task (pid {root_pid})"),
            )
        };
        let root = rustix::fs::open(root_path.as_str(), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .ctx("open", &root_path)?;
        let mounts = mountinfo::read(&who)?;
        Ok(Finder {
            root_pid,
            view: View { root, mounts, what },
            fss: HashMap::new(),
            done: HashSet::new(),
            instances: Vec::new(),
            layers: HashMap::new(),
        })
    }

    /// The mounts of filesystem `sdev` in the view, mount points sorted.
    fn mounts_of(&self, sdev: u32) -> Vec<&MountEntry> {
        let mut v: Vec<&MountEntry> = self.view.mounts.iter().filter(|m| m.sdev == sdev).collect();
        v.sort_by_key(|m| (m.mountpoint.len(), m.root.len()));
        v
    }

    /// Can CRIU open handles of filesystem `sdev`? Asked once per
    /// filesystem: a filesystem that cannot open handles refuses to encode
    /// an openable one (`name_to_handle_at` without `AT_HANDLE_FID` answers
    /// EOPNOTSUPP) for its mount's root already.
    fn fs(&mut self, sdev: u32, pid: i32) -> FsInfo {
        if let Some(f) = self.fss.get(&sdev) {
            return f.clone();
        }
        let open_at = |root: BorrowedFd<'_>, mp: &str| {
            let fd = rustix::fs::openat(root, rel(mp), OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ok()?;
            rustix::fs::fstat(&fd).is_ok_and(|st| dev_of(&st) == sdev).then_some(fd)
        };
        let mut opened = self.mounts_of(sdev).iter().find_map(|m| open_at(self.view.root.as_fd(), &m.mountpoint)).map(|fd| (fd, None));
        if opened.is_none() {
            // Not where CRIU's irmap looks: the mounts of the watching task,
            // then of every task of the tree (CRIU opens handles on the
            // mounts of all of them).
            let mut seen_ns = HashSet::new();
            for p in std::iter::once(pid).chain(tree(self.root_pid)) {
                let Ok(ns) = rustix::fs::stat(format!("/proc/{p}/ns/mnt")) else {
                    continue;
                };
                if !seen_ns.insert(ns.st_ino) {
                    continue;
                }
                let Ok(root) =
                    rustix::fs::open(format!("/proc/{p}/root"), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                else {
                    continue;
                };
                let ms = mountinfo::read(&p.to_string()).unwrap_or_default();
                if let Some(fd) = ms.iter().filter(|m| m.sdev == sdev).find_map(|m| open_at(root.as_fd(), &m.mountpoint)) {
                    opened = Some((fd, Some(p)));
                    break;
                }
            }
        }
        let name_of = |t: u64| match t {
            OVERLAYFS_SUPER_MAGIC => "overlay filesystem".to_owned(),
            scan::PROC_SUPER_MAGIC => "procfs".to_owned(),
            0x6265_6572 => "sysfs".to_owned(),
            t => format!("filesystem of type {t:#x}"),
        };
        let info = match opened {
            Some((fd, elsewhere)) => {
                let fs_type = rustix::fs::fstatfs(&fd).map(|s| s.f_type as u64).unwrap_or(0);
                let decodable = !matches!(fhandle::name_to_handle(fd.as_fd(), ""), Err(e) if e.errno == rustix::io::Errno::OPNOTSUPP);
                FsInfo { decodable, fs_type, name: name_of(fs_type), elsewhere }
            }
            // Mounted in none of the tree's namespaces: CRIU finds no mount
            // to open the handle on, nor a path.
            None => FsInfo { decodable: false, fs_type: 0, name: "filesystem".into(), elsewhere: None },
        };
        self.fss.insert(sdev, info.clone());
        info
    }

    /// Has this inotify file (fd `fd` of `pid`) been read already, through
    /// another fd or task?
    fn seen_instance(&mut self, pid: i32, fd: i32) -> bool {
        let dup = self.instances.iter().any(|&(p, f)| kcmp::cmp_files(p, f, pid, fd).is_ok_and(|o| o.is_eq()));
        if !dup {
            self.instances.push((pid, fd));
        }
        dup
    }

    /// The watches of task `pid` (its inotify fds `fds`) CRIU will not open
    /// by handle. An instance of 100k watches has 12 MB of fdinfo: lines
    /// are only split up to their device unless that device needs help.
    fn targets(&mut self, pid: i32, fds: &[i32], out: &mut Outcome) -> Vec<Target> {
        let mut targets = Vec::new();
        for &fd in fds {
            if self.seen_instance(pid, fd) {
                continue;
            }
            let text = match proc::fdinfo(pid, fd) {
                Ok(t) => t,
                Err(e) => {
                    out.unfinished.push(format!("inotify pid {pid} fd {fd}: {e}"));
                    continue;
                }
            };
            for line in text.lines().filter(|l| l.starts_with("inotify ")) {
                let Some(sdev) = sdev_of(line) else { continue };
                if line.contains(" f_handle:") && self.fs(sdev, pid).decodable {
                    continue;
                }
                let m = match fdinfo::parse_inotify(line) {
                    Ok(mut m) if m.len() == 1 => m.remove(0),
                    Ok(_) => continue,
                    Err(e) => {
                        out.unfinished.push(format!("inotify pid {pid} fd {fd}: {e}"));
                        continue;
                    }
                };
                if !self.done.insert((m.sdev, m.ino)) {
                    continue;
                }
                if m.handle.is_some() && self.fs(m.sdev, pid).decodable {
                    continue;
                }
                targets.push(Target { pid, fd, wd: m.wd, sdev: m.sdev, ino: m.ino, handle: m.handle });
            }
        }
        targets
    }

    /// One task (CHECKPOINT_DEVICES): the paths CRIU will need for its
    /// watches, or why one cannot be had.
    pub fn task(&mut self, pid: i32, fds: &[i32], deadline: &Deadline) -> Result<Outcome, PathError> {
        let mut out = Outcome::default();
        let targets = self.targets(pid, fds, &mut out);
        let mut by_fs: HashMap<u32, Vec<Target>> = HashMap::new();
        for t in targets {
            by_fs.entry(t.sdev).or_default().push(t);
        }
        let mut sdevs: Vec<u32> = by_fs.keys().copied().collect();
        sdevs.sort_unstable();
        for sdev in sdevs {
            self.filesystem(sdev, &by_fs[&sdev], deadline, &mut out)?;
        }
        Ok(out)
    }

    /// Paths for the watches `ts` on filesystem `sdev`.
    fn filesystem(&mut self, sdev: u32, ts: &[Target], deadline: &Deadline, out: &mut Outcome) -> Result<(), PathError> {
        let fs = self.fs(sdev, ts[0].pid);
        let starts: Vec<String> = self.mounts_of(sdev).iter().map(|m| m.mountpoint.clone()).collect();
        let t0 = &ts[0];
        if starts.is_empty() {
            return Err(PathError::new(
                t0,
                NoPath::NotMounted {
                    fs: fs_name(sdev, t0.ino, &fs.name),
                    root: self.view.what.clone(),
                    only: match fs.elsewhere {
                        Some(p) => format!(" (only that of pid {p} shows it)"),
                        None => " nor in any other mount namespace of the dumped tree".to_owned(),
                    },
                },
            ));
        }
        // Overlay: through the real inode on its layer.
        let mut left: Vec<&Target> = Vec::new();
        let mut hidden: HashMap<u64, (String, String)> = HashMap::new();
        for t in ts {
            match self.by_layer(sdev, t, fs.fs_type) {
                Layer::Found(path, dir) => {
                    out.by_layer += 1;
                    out.entries.push(Entry { dev: sdev, ino: t.ino, path, dir });
                }
                Layer::Deleted(path) => {
                    return Err(PathError::new(t, NoPath::Deleted { fs: fs_name(sdev, t.ino, &fs.name), fs_type: fs.name.clone(), path }));
                }
                Layer::Covered(path, by) => {
                    hidden.insert(t.ino, (path, by));
                    left.push(t);
                }
                Layer::Unknown => left.push(t),
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        // The others: a search of the filesystem's mounts.
        let want: HashSet<u64> = left.iter().map(|t| t.ino).collect();
        let search = Search { root: self.view.root.as_fd(), sdev, fs_type: fs.fs_type, starts: &starts };
        let found = scan::search(&search, &want, deadline);
        out.dirs_searched += found.dirs;
        for t in left {
            if let Some((path, dir)) = found.paths.get(&t.ino) {
                out.by_search += 1;
                out.entries.push(Entry { dev: sdev, ino: t.ino, path: path.clone(), dir: *dir });
                continue;
            }
            let err = |path: String, by: &str| {
                let by_type =
                    self.view.mounts.iter().rev().find(|m| m.mountpoint == by).map_or("filesystem".to_owned(), |m| m.fstype.clone());
                PathError::new(
                    t,
                    NoPath::Hidden { fs: fs_name(sdev, t.ino, &fs.name), fs_type: fs.name.clone(), path, by: by.to_owned(), by_type },
                )
            };
            if let Some((path, by)) = hidden.get(&t.ino) {
                return Err(err(path.clone(), by));
            }
            if let Some(path) = found.covered.get(&t.ino) {
                return Err(err(path.clone(), path));
            }
            if let Some(e) = &found.out_of_time {
                out.unfinished.push(format!(
                    "inotify pid {} fd {} wd {}: no path found yet for the watched object ({}): {e}. CRIU now tries its own irmap scan, which fails the dump with \"Can't dump that handle\" unless an irmap-scan-path leads to the object: raise the deadline or add an irmap-scan-path",
                    t.pid,
                    t.fd,
                    t.wd,
                    fs_name(sdev, t.ino, &fs.name)
                ));
                continue;
            }
            let covers = self.covering_mounts(sdev, &starts);
            return Err(PathError::new(
                t,
                NoPath::NotFound {
                    fs: fs_name(sdev, t.ino, &fs.name),
                    fs_type: fs.name.clone(),
                    searched: starts.join(", "),
                    dirs: found.dirs,
                    covers: if covers.is_empty() { String::new() } else { format!("; mounted over directories of it: {covers}") },
                },
            ));
        }
        Ok(())
    }

    /// Mounts of other filesystems below the mounts of `sdev` (what may
    /// hide an object), for messages.
    fn covering_mounts(&self, sdev: u32, starts: &[String]) -> String {
        let v: Vec<String> = self
            .view
            .mounts
            .iter()
            .filter(|m| m.sdev != sdev && starts.iter().any(|s| m.mountpoint != *s && overlay::at_or_below(&m.mountpoint, s)))
            .map(|m| format!("{} on {}", m.fstype, m.mountpoint))
            .take(8)
            .collect();
        v.join(", ")
    }

    /// The layer directories of overlay `sdev`, opened once.
    fn layers_of(&mut self, sdev: u32) {
        if !self.layers.contains_key(&sdev) {
            let opts = self.view.mounts.iter().find(|m| m.sdev == sdev).map(|m| m.super_opts.clone()).unwrap_or_default();
            let l = overlay::layers(&opts);
            let named = l.upper.iter().map(|p| (p, true)).chain(l.lower.iter().map(|p| (p, false)));
            let mut open = Vec::new();
            for (path, upper) in named {
                // As whoever mounted it named it: criu's root, else the
                // dump's root.
                let fd =
                    rustix::fs::open(path.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).or_else(|_| {
                        rustix::fs::openat(&self.view.root, rel(path), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                    });
                let Ok(fd) = fd else { continue };
                let Ok(link) = proc::own_fd_link(fd.as_fd()) else {
                    continue;
                };
                open.push((fd, link, upper));
            }
            self.layers.insert(sdev, open);
        }
    }

    /// An overlay object's path through its real inode (see [`Layer`]).
    fn by_layer(&mut self, sdev: u32, t: &Target, fs_type: u64) -> Layer {
        if fs_type != OVERLAYFS_SUPER_MAGIC {
            return Layer::Unknown;
        }
        let Some(real) = t.handle.as_ref().and_then(overlay::real_handle) else {
            return Layer::Unknown;
        };
        let overlay_mounts: Vec<(String, String)> = self.mounts_of(sdev).iter().map(|m| (m.root.clone(), m.mountpoint.clone())).collect();
        self.layers_of(sdev);
        let layers = &self.layers[&sdev];
        let roots: Vec<String> = layers.iter().map(|l| l.1.clone()).collect();
        // The upper layer for upper inodes, the lower ones for the others
        // (then the upper: a handle names the layer by its filesystem).
        let mut order: Vec<usize> = (0..layers.len()).filter(|i| layers[*i].2 == real.upper).collect();
        order.extend((0..layers.len()).filter(|i| layers[*i].2 != real.upper));
        let mut expected: Option<String> = None;
        for i in order {
            let Ok(obj) = fhandle::open_by_handle(layers[i].0.as_fd(), &real.handle) else {
                continue;
            };
            let Ok(mut link) = proc::own_fd_link(obj.as_fd()) else {
                continue;
            };
            if let Some(l) = link.strip_suffix(" (deleted)") {
                if rustix::fs::fstat(&obj).is_ok_and(|st| st.st_nlink == 0) {
                    return Layer::Deleted(l.to_owned());
                }
                link = l.to_owned();
            }
            let on_layer = overlay::candidates(&link, &roots);
            let below_root = roots.iter().any(|r| overlay::at_or_below(&link, r));
            for (k, internal) in on_layer.iter().enumerate() {
                for (root, mp) in &overlay_mounts {
                    let Some(path) = overlay::through_mount(internal, root, mp) else {
                        continue;
                    };
                    if let Some(dir) = is_it(self.view.root.as_fd(), &path, sdev, t.ino) {
                        return Layer::Found(path, dir);
                    }
                    if k == 0 && below_root && expected.is_none() {
                        expected = Some(path);
                    }
                }
            }
        }
        // The path the object has in the overlay leads elsewhere: a mount
        // over a directory on the way?
        if let Some(path) = expected {
            let at = |mp: &str| overlay_mounts.iter().any(|(_, o)| o == mp);
            let cover = self
                .view
                .mounts
                .iter()
                .filter(|m| !at(&m.mountpoint) && overlay::at_or_below(&path, &m.mountpoint))
                .filter(|m| overlay_mounts.iter().any(|(_, o)| overlay::at_or_below(&m.mountpoint, o)))
                .max_by_key(|m| m.mountpoint.len());
            if let Some(c) = cover {
                return Layer::Covered(path, c.mountpoint.clone());
            }
        }
        Layer::Unknown
    }
}

/// What the real inode of an overlay object said.
enum Layer {
    /// Its path in the view (stat-checked), and whether it is a directory.
    Found(String, bool),
    /// The real inode has no name left: its last path on the layer.
    Deleted(String),
    /// Its path in the view, and the mount over a directory on the way.
    Covered(String, String),
    /// No path from the layer (renamed, or the layers cannot be opened).
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_procfs_watch_is_found() {
        use rustix::fs::inotify;
        let me = std::process::id() as i32;
        let mut f = Finder::new(me).unwrap();
        let ifd = inotify::init(inotify::CreateFlags::CLOEXEC).unwrap();
        let wd = inotify::add_watch(&ifd, "/proc/sys/kernel/hostname", inotify::WatchFlags::ACCESS).unwrap();
        let st = rustix::fs::stat("/proc/sys/kernel/hostname").unwrap();
        let fds = inotify_fds(me);
        let budget = || Deadline::start("test", std::time::Duration::from_secs(5));
        let out = f.task(me, &fds, &budget()).unwrap();
        let e = out.entries.iter().find(|e| e.ino == st.st_ino).unwrap_or_else(|| panic!("wd {wd}: {out:?}"));
        assert_eq!(e.path, "/proc/sys/kernel/hostname");
        assert!(!e.dir);
        // A second pass over the same task finds nothing new.
        assert!(f.task(me, &fds, &budget()).unwrap().entries.is_empty());
        assert!(identified_by_path(Some(0x9fa0)));
        assert!(!identified_by_path(Some(OVERLAYFS_SUPER_MAGIC)));
        assert!(tree(me).starts_with(&[me]));
    }

    #[test]
    fn device_of_an_fdinfo_line() {
        assert_eq!(sdev_of("inotify wd:3 ino:2 sdev:fd00001 mask:80000fff ignored_mask:0"), Some(0xfd00001));
        assert_eq!(sdev_of("inotify wd:3 ino:2 sdev:2d"), Some(0x2d));
        assert_eq!(sdev_of("inotify wd:3 ino:2 sdev:zz mask:0"), None);
        assert_eq!(sdev_of("inotify wd:3 ino:2"), None);
    }
}
