//! The dump stage: remember the frozen tasks, optionally refuse queued
//! events, and at the end take over every inotify and epoll file.
//!
//! The takeover (exit(DUMP), tasks still frozen) reads as
//! capture -> encode -> rewrite -> commit, each step a function with a typed
//! result, the whole bounded by the deadline setting: it runs on its own
//! thread, and past the budget the hook returns with CRIU's images as CRIU
//! wrote them (nothing is written before the commit, which cannot start
//! once the hook gave up).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Instant;

use super::{keep_until_exit, HookResult, HookState, ENOTSUP};
use crate::config::{Config, QueuedPolicy};
use crate::criu::image;
use crate::criu::image::{EVENTPOLL_IMG, INOTIFY_IMG};
use crate::criu::takeover::{self, FdinfoChange, Patch};
use crate::criu::tree::{Tree, TreeError};
use crate::deadline::{run_bounded, Bounded, Deadline};
use crate::epoll::targets::{Candidate, EpollAt, Targets};
use crate::ids::{FdNum, FileId, RealPid, Vpid};
use crate::inotify::capture::{CapturedInotify, Capturer, Instance, Shared};
use crate::inotify::InotifyError;
use crate::proto::{EventpollFileEntry, EventpollTfdEntry, FdTypes, FownEntry, InotifyFileEntry};
use crate::sys::fdinfo::EpollTarget;
use crate::sys::{criu_syms, proc, SysError};
use crate::{epoll, Error};

#[derive(Default)]
struct State {
    /// Real pids of the frozen tasks (CHECKPOINT_DEVICES).
    pids: Vec<i32>,
    /// Files CRIU handed us through DUMP_EXT_FILE: our copy and CRIU's id.
    ext: Vec<(OwnedFd, FileId, Kind)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Inotify,
    Eventpoll,
}

static STATE: HookState<State> = HookState::new();

pub fn init() -> Result<(), Error> {
    STATE.with(|s| *s = State::default());
    super::irmap::init();
    Ok(())
}

fn kind_of_link(link: &str) -> Option<Kind> {
    match link {
        "anon_inode:inotify" => Some(Kind::Inotify),
        "anon_inode:[eventpoll]" => Some(Kind::Eventpoll),
        _ => None,
    }
}

/// CHECKPOINT_DEVICES: every live task, frozen, before its files are
/// dumped. An error here fails the dump and CRIU resumes the tasks.
pub fn checkpoint_devices(pid: i32) -> HookResult {
    STATE.with(|s| s.pids.push(pid));
    // Paths CRIU's own inotify dump will need (overlay, procfs, sysfs).
    super::irmap::checkpoint_devices(pid)?;
    if Config::get().queued == QueuedPolicy::Refuse {
        let pidfd = proc::pidfd(pid)?;
        for fd in proc::fds(pid)? {
            if proc::fd_link(pid, fd).ok().as_deref().and_then(kind_of_link) != Some(Kind::Inotify) {
                continue;
            }
            let file = proc::getfd(pidfd.as_fd(), pid, fd)?;
            let bytes = crate::sys::notify::queued_bytes(&file)?;
            if bytes > 0 {
                return Err(InotifyError::QueuedRefused { pid, fd, bytes }.into());
            }
        }
    }
    Ok(ENOTSUP)
}

/// DUMP_EXT_FILE: CRIU builds that hand inotify/epoll fds to plugins. We
/// keep our own copy and capture it with the others at the end.
pub fn dump_ext_file(fd: i32, id: u32) -> HookResult {
    let link = proc::fd_link(std::process::id() as i32, fd)?;
    let Some(kind) = kind_of_link(&link) else { return Ok(ENOTSUP) };
    let copy = proc::dup_raw(fd)?;
    log::info!("DUMP_EXT_FILE: id {id} ({link}) will be dumped by the plugin");
    STATE.with(|s| s.ext.push((copy, FileId(id), kind)));
    Ok(0)
}

/// exit(DUMP): tasks are still frozen and CRIU's images are complete.
pub fn finish(ret: i32) {
    let state = STATE.with(std::mem::take);
    if ret != 0 {
        log::info!("dump failed (criu result {ret}); the plugin changes nothing");
        if super::irmap::skipped() {
            log::warn!(
                "if criu failed with \"Can't dump that handle\" for a watch on procfs or sysfs, set CRIU_NOTIFY_FIND_PATHS=yes (find_paths = yes) and dump again: the plugin then finds such paths for CRIU"
            );
        }
        return;
    }
    let Some(dir) = criu_syms::image_dir() else {
        log::error!("no image directory from criu; inotify/epoll files stay with CRIU's own code");
        return;
    };
    // --stream: CRIU's images are already sent; its own code keeps the files.
    if crate::criu::stream::leave_streamed_dump_to_criu(dir, &state.pids) {
        if !state.ext.is_empty() {
            log::error!("files handed over by DUMP_EXT_FILE cannot be restored: a streamed dump carries no images of the plugin's");
        }
        return;
    }
    let handed_over = !state.ext.is_empty();
    let failed = |e: &dyn std::fmt::Display| {
        if handed_over {
            log::error!("takeover failed and files handed over by DUMP_EXT_FILE cannot be restored without the plugin's images: {e}");
        } else {
            log::error!("takeover failed, CRIU's own images are left intact (its own code will restore these files): {e}");
        }
    };
    // The worker may outlive this hook (a syscall that blocks past the
    // deadline): it owns its copy of the directory and the state.
    let dir = match proc::dup_above(dir, 3) {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    // The takeover keeps a pidfd per task and copies of files: grow the fd
    // table while criu is still single-threaded (see reserve_fd_table).
    proc::reserve_fd_table((state.pids.len() as i32).saturating_mul(2).saturating_add(256));
    let t0 = Instant::now();
    let deadline = Deadline::start("the takeover", Config::get().deadline);
    let r = run_bounded(deadline, move |b| {
        let r = takeover(dir.as_fd(), &state, b);
        keep_until_exit(Box::new(state));
        r
    });
    match r {
        Ok(Ok(0)) => log::debug!("no inotify or epoll files in the dumped tree"),
        Ok(Ok(n)) => log::info!("took over {n} inotify/epoll files in {:.1} ms", ms(t0)),
        Ok(Err(e)) => failed(&e),
        Err(e) => failed(&e),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Dumped (virtual) pid → real pid.
pub struct PidMap(HashMap<Vpid, RealPid>);

impl PidMap {
    pub fn new(real: impl IntoIterator<Item = i32>) -> PidMap {
        PidMap(real.into_iter().filter_map(|r| Some((Vpid(*proc::nspid(r).ok()?.last()? as u32), RealPid(r)))).collect())
    }

    pub fn real(&self, vpid: Vpid) -> Result<RealPid, TreeError> {
        if let Some(r) = self.0.get(&vpid) {
            return Ok(*r);
        }
        // Not in a pid namespace of its own: the numbers are the same.
        let same = vpid.0 as i32;
        match proc::nspid(same) {
            Ok(ns) if ns == [same] => Ok(RealPid(same)),
            _ => Err(TreeError::NoRealPid(vpid)),
        }
    }
}

/// Fail at takeover step `step` if the test-only fault asks for it.
#[cfg(feature = "fault-injection")]
fn fault(step: &'static str) -> Result<(), Error> {
    if Config::get().fault(step) {
        return Err(takeover::TakeoverError::Fault(step).into());
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
fn fault(_: &'static str) -> Result<(), Error> {
    Ok(())
}

/// Where a captured file was open: a task's fd, or CRIU's DUMP_EXT_FILE.
#[derive(Clone, Copy, Debug)]
enum At {
    Task { vpid: Vpid, fd: FdNum },
    ExtHook,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Task { vpid, fd } => write!(f, "pid {vpid} fd {fd}"),
            At::ExtHook => f.write_str("DUMP_EXT_FILE"),
        }
    }
}

/// What the capture step found: every inotify and epoll file of the tree.
#[derive(Default)]
struct Captured {
    inotify: Vec<(CapturedInotify, At)>,
    eventpoll: Vec<(EventpollFileEntry, At)>,
}

impl Captured {
    fn len(&self) -> usize {
        self.inotify.len() + self.eventpoll.len()
    }

    /// The files whose CRIU entries become EXT, with their owners.
    fn switched(&self) -> BTreeMap<u32, FownEntry> {
        let ino = self.inotify.iter().map(|(e, at)| (e.id, e.fown, *at));
        let ep = self.eventpoll.iter().map(|(e, at)| (e.id, e.fown, *at));
        ino.chain(ep).filter(|(_, _, at)| matches!(at, At::Task { .. })).map(|(id, fown, _)| (id, fown)).collect()
    }
}

/// New contents of the image files that change, in commit order.
type Files<'a> = Vec<(String, image::Pieces<'a>)>;

/// Bytes of existing images to change in place, per file.
type Patches = Vec<(String, Vec<Patch>)>;

/// Capture, write our images, switch CRIU's entries: all or nothing.
fn takeover(dir: BorrowedFd<'_>, state: &State, b: &Bounded) -> Result<usize, Error> {
    fault("load")?;
    let t0 = Instant::now();
    b.doing("reading CRIU's images");
    let tree = Tree::load(dir)?;
    log::debug!("takeover: CRIU's images read in {:.1} ms", ms(t0));
    if tree.files_of_type(FdTypes::Inotify).is_empty() && tree.files_of_type(FdTypes::Eventpoll).is_empty() && state.ext.is_empty() {
        return Ok(0);
    }
    fault("capture")?;
    b.doing("capturing the tree's inotify and epoll files");
    if Config::get().fault("stall-capture") {
        // Test-only: a capture step that blocks past any deadline.
        std::thread::sleep(Config::get().deadline * 3);
    }
    let captured = capture(&tree, state, b)?;
    log::debug!("takeover: captured in {:.1} ms", ms(t0));
    fault("write")?;
    b.doing("encoding the plugin's images");
    let mut files = encode(dir, &captured)?;
    fault("rewrite")?;
    b.doing("rewriting CRIU's images");
    let (rewritten, patches) = rewrite(&tree, &captured)?;
    files.extend(rewritten);
    log::debug!("takeover: images encoded in {:.1} ms", ms(t0));
    b.enter_final("commit the takeover")?;
    takeover::commit(dir, &files, &patches, Config::get().fault.as_deref())?;
    log::debug!("takeover: committed in {:.1} ms", ms(t0));
    report(&captured);
    let n = captured.len();
    drop(files);
    drop(captured);
    keep_until_exit(Box::new(tree));
    Ok(n)
}

/// Read every inotify and epoll file of the frozen tree.
fn capture(tree: &Tree, state: &State, b: &Bounded) -> Result<Captured, Error> {
    let pids = PidMap::new(state.pids.iter().copied());
    let holders = UnlinkedHolders::new(tree, &pids);
    let holder = |dev: u64, ino: u64| holders.find(dev, ino);
    let others: Vec<(Vpid, RealPid)> = tree.tasks.iter().filter_map(|t| Some((t.vpid, pids.real(t.vpid).ok()?))).collect();
    let shared = Shared { holder: &holder, others: &others, deadline: &b.deadline };
    let mut cx =
        Capture { tree, pids: &pids, pidfds: HashMap::new(), capturer: Capturer::default(), targets: TargetSearch::new(tree, &pids) };
    let mut out = Captured::default();
    for id in tree.files_of_type(FdTypes::Inotify) {
        out.inotify.push(cx.inotify(id, &shared, b)?);
    }
    for id in tree.files_of_type(FdTypes::Eventpoll) {
        out.eventpoll.push(cx.eventpoll(id, b)?);
    }
    // Files CRIU handed us itself: their owner is CRIU's ext entry's.
    let me = RealPid(std::process::id() as i32);
    for (copy, id, kind) in &state.ext {
        b.doing(format!("capturing file id {id} from DUMP_EXT_FILE"));
        let fd = FdNum(copy.as_raw_fd() as u32);
        match kind {
            Kind::Inotify => {
                let it = Instance { pid: me, fd, file: copy.as_fd(), id: *id, fown: FownEntry::default(), criu: None };
                out.inotify.push((cx.capturer.capture(it, &shared)?, At::ExtHook));
            }
            Kind::Eventpoll => {
                let epoll = EpollAt { pid: me, fd };
                let targets = &mut cx.targets;
                let mut resolve = |t: &EpollTarget, toff: u32, _: usize, _: usize| targets.resolve(epoll, t, toff, None);
                let e = epoll::capture::capture(me, fd, *id, FownEntry::default(), &mut resolve, &b.deadline)?;
                out.eventpoll.push((e, At::ExtHook));
            }
        }
    }
    cx.targets.report();
    Ok(out)
}

/// The capture of the tree's own files: what they share.
struct Capture<'a, 'p> {
    tree: &'a Tree,
    pids: &'p PidMap,
    /// One pidfd per task, opened on first use.
    pidfds: HashMap<RealPid, OwnedFd>,
    capturer: Capturer,
    targets: TargetSearch<'p>,
}

impl<'a, 'p> Capture<'a, 'p> {
    /// Where file `id` is open (the first holder) and the task's real pid.
    fn holder(&self, id: FileId) -> Result<(Vpid, FdNum, RealPid), Error> {
        let (vpid, fd) = self.tree.holder(id).ok_or(TreeError::NoHolder(id))?;
        Ok((vpid, fd, self.pids.real(vpid)?))
    }

    /// Our copy of fd `fd` of task `real`.
    fn getfd(&mut self, real: RealPid, fd: FdNum) -> Result<OwnedFd, SysError> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.pidfds.entry(real) {
            e.insert(proc::pidfd(real.0)?);
        }
        proc::getfd(self.pidfds[&real].as_fd(), real.0, fd.raw())
    }

    fn inotify(&mut self, id: FileId, shared: &Shared<'_>, b: &Bounded) -> Result<(CapturedInotify, At), Error> {
        let (vpid, fd, real) = self.holder(id)?;
        b.doing(format!("capturing inotify id {id} (pid {vpid} fd {fd})"));
        let file = self.getfd(real, fd)?;
        let tree = self.tree;
        let f = &tree.files[&id];
        let criu = f.entry.ify.as_ref();
        // CRIU's watches, still encoded (a small entry was decoded whole).
        let decoded: Vec<Vec<u8>> = criu.map(|e| e.wd.iter().map(prost::Message::encode_to_vec).collect()).unwrap_or_default();
        let items: Vec<&[u8]> =
            f.watches.items.iter().map(|r| &tree.files_img[r.clone()]).chain(decoded.iter().map(Vec::as_slice)).collect();
        let fown = criu.map(|e| e.fown).unwrap_or_default();
        let it = Instance { pid: real, fd, file: file.as_fd(), id, fown, criu: criu.map(|e| (e, items.as_slice())) };
        Ok((self.capturer.capture(it, shared)?, At::Task { vpid, fd }))
    }

    fn eventpoll(&mut self, id: FileId, b: &Bounded) -> Result<(EventpollFileEntry, At), Error> {
        let (vpid, fd, real) = self.holder(id)?;
        b.doing(format!("capturing eventpoll id {id} (pid {vpid} fd {fd})"));
        let tree = self.tree;
        let criu = tree.files[&id].entry.epfd.as_ref();
        let fown = criu.map(|e| e.fown).unwrap_or_default();
        let criu_tfds = criu.map(|e| e.tfd.as_slice()).unwrap_or(&[]);
        let epoll = EpollAt { pid: real, fd };
        let targets = &mut self.targets;
        let mut resolve = |t: &EpollTarget, toff: u32, index: usize, total: usize| {
            targets.resolve(epoll, t, toff, criu_named(tree, vpid, criu_tfds, t, index, total))
        };
        let e = epoll::capture::capture(real, fd, id, fown, &mut resolve, &b.deadline)?;
        Ok((e, At::Task { vpid, fd }))
    }
}

/// The file CRIU's own entry names for registration `t` (the `index`-th of
/// `total`), if its entry lists the same registrations.
///
/// CRIU's entry lists them in the same fdinfo order, each under a number of
/// the same task at which its kcmp found the target: the original number,
/// or the one it rewrote the key to (the original was closed or reused). So
/// the file at that number is the target, with no kcmp of ours; our key
/// stays the original number.
fn criu_named(tree: &Tree, vpid: Vpid, criu: &[EventpollTfdEntry], t: &EpollTarget, index: usize, total: usize) -> Option<FileId> {
    let c = criu.get(index).filter(|_| criu.len() == total)?;
    if c.inode != Some(t.ino) || c.dev != Some(t.sdev) {
        return None;
    }
    tree.file_at(vpid, FdNum(c.tfd))
}

/// Epoll targets: named by CRIU's entry, or searched among every file of the
/// tree (indexed on first use only).
struct TargetSearch<'a> {
    tree: &'a Tree,
    pids: &'a PidMap,
    index: Option<Targets>,
    named: usize,
    searched: usize,
}

impl<'a> TargetSearch<'a> {
    fn new(tree: &'a Tree, pids: &'a PidMap) -> Self {
        TargetSearch { tree, pids, index: None, named: 0, searched: 0 }
    }

    fn resolve(&mut self, epoll: EpollAt, t: &EpollTarget, toff: u32, named: Option<FileId>) -> Result<Option<FileId>, SysError> {
        if named.is_some() {
            self.named += 1;
            return Ok(named);
        }
        self.searched += 1;
        let (tree, pids) = (self.tree, self.pids);
        let index = self.index.get_or_insert_with(|| {
            let tables = tree.tasks.iter().filter_map(|t| Some((pids.real(t.vpid).ok()?, tree.table_of(t.vpid)?)));
            Targets::new(tables.flat_map(|(real, fds)| fds.iter().map(move |fd| Candidate { pid: real, fd: fd.fd, file: fd.id })))
        });
        index.find(epoll, t, toff)
    }

    fn report(&self) {
        if self.named + self.searched > 0 {
            let calls = self.index.as_ref().map_or(0, |t| t.kcmp_calls);
            log::debug!("epoll targets: {} named by CRIU's entries, {} searched with {calls} kcmp calls", self.named, self.searched);
        }
    }
}

/// Which task holds an unlinked watched object open: every regular file of
/// the tree by inode, indexed on first use (one stat per fd, once).
struct UnlinkedHolders<'a> {
    tree: &'a Tree,
    pids: &'a PidMap,
    index: OnceLock<HashMap<(u64, u64), (Vpid, FdNum)>>,
}

impl<'a> UnlinkedHolders<'a> {
    fn new(tree: &'a Tree, pids: &'a PidMap) -> Self {
        UnlinkedHolders { tree, pids, index: OnceLock::new() }
    }

    fn find(&self, dev: u64, ino: u64) -> Option<(Vpid, FdNum)> {
        let index = self.index.get_or_init(|| {
            let mut m = HashMap::new();
            for t in &self.tree.tasks {
                let Ok(real) = self.pids.real(t.vpid) else { continue };
                for fd in self.tree.table_of(t.vpid).unwrap_or(&[]).iter().filter(|fd| fd.ftype == FdTypes::Reg as i32) {
                    if let Ok(st) = rustix::fs::stat(format!("/proc/{real}/fd/{}", fd.fd)) {
                        m.entry((st.st_dev, st.st_ino)).or_insert((t.vpid, fd.fd));
                    }
                }
            }
            m
        });
        index.get(&(dev, ino)).copied()
    }
}

/// Our two images (after entries an earlier step wrote) and the inventory
/// that names the plugin as required.
fn encode<'a>(dir: BorrowedFd<'_>, c: &'a Captured) -> Result<Files<'a>, Error> {
    let mut files = Files::new();
    let inv = image::read_file(dir, "inventory.img")?.ok_or(TreeError::Missing("inventory.img".into()))?;
    if let Some(b) = takeover::add_inventory_plugin("inventory.img", &inv, &image::PLUGIN.to_string_lossy())? {
        files.push(("inventory.img".into(), vec![b.into()]));
    }
    let ino_old: Vec<InotifyFileEntry> = existing(dir, INOTIFY_IMG, image::INOTIFY_FILE)?;
    let ep_old: Vec<EventpollFileEntry> = existing(dir, EVENTPOLL_IMG, image::EVENTPOLL_FILE)?;
    // Our entries go out in pieces: a watch run taken from CRIU's
    // files.img is written from there (the 100k-watch one is 11 MB).
    let old = ino_old.iter().map(|e| vec![prost::Message::encode_to_vec(e).into()]);
    let ours = c.inotify.iter().map(|(e, _)| vec![e.head.as_slice().into(), e.body.as_slice().into()]);
    let ino = image::encode_pieces(image::INOTIFY_FILE, old.chain(ours).collect::<Vec<_>>());
    let ep = image::encode_messages(image::EVENTPOLL_FILE, ep_old.iter().chain(c.eventpoll.iter().map(|e| &e.0)));
    files.push((INOTIFY_IMG.into(), ino));
    files.push((EVENTPOLL_IMG.into(), vec![ep.into()]));
    Ok(files)
}

/// CRIU's entries of the captured files, switched to EXT: every fd table
/// that names one (its type bytes patched in place, as a rule) and
/// files.img (rewritten), from the bytes read at load.
fn rewrite(tree: &Tree, c: &Captured) -> Result<(Files<'static>, Patches), Error> {
    let owners = c.switched();
    let ids: BTreeSet<u32> = owners.keys().copied().collect();
    let (mut files, mut patches) = (Files::new(), Vec::new());
    for (fid, bytes) in &tree.fdinfo_img {
        let name = format!("fdinfo-{fid}.img");
        match takeover::switch_fdinfo(&name, bytes, &ids)? {
            Some(FdinfoChange::Patch(p)) => patches.push((name, p)),
            Some(FdinfoChange::Rewrite(b)) => files.push((name, vec![b.into()])),
            None => {}
        }
    }
    if !owners.is_empty() {
        files.push(("files.img".into(), vec![takeover::rewrite_files("files.img", &tree.files_img, &owners)?.into()]));
    }
    Ok((files, patches))
}

/// One line per file taken over, and what is dropped.
fn report(c: &Captured) {
    for (e, at) in &c.inotify {
        log::info!("owns inotify id {} ({at}): {} watches, flags {:#o}", e.id, e.watches, e.flags);
        if let Some(q) = e.queued_bytes {
            log::warn!(
                "inotify id {} ({at}): {q} bytes of queued events are dropped (no kernel interface re-injects them; CRIU_NOTIFY_QUEUED=refuse fails the dump instead)",
                e.id
            );
        }
    }
    for (e, at) in &c.eventpoll {
        log::info!("owns eventpoll id {} ({at}): {} registrations, flags {:#o}", e.id, e.tfd.len(), e.flags);
    }
}

/// Entries already in our image (written by an earlier step); ours follow.
fn existing<M: prost::Message + Default>(dir: BorrowedFd<'_>, name: &str, kind: image::Kind) -> Result<Vec<M>, Error> {
    Ok(match image::read_file(dir, name)? {
        Some(b) => image::decode_all(name, kind, &b)?,
        None => vec![],
    })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::criu::tree::Tree;
    use crate::proto::{FileEntry, InventoryEntry};
    use crate::stage::fixture;

    /// CRIU's images of a task with an inotify (fd 3, id 5), an epoll
    /// (fd 4, id 6) and a pipe (fd 5, id 7).
    fn dumped(tag: &str) -> fixture::Dir {
        let f = |t: FdTypes, id| FileEntry { r#type: t as i32, id, ..Default::default() };
        let files = [
            FileEntry { ify: Some(InotifyFileEntry { id: 5, ..Default::default() }), ..f(FdTypes::Inotify, 5) },
            FileEntry { epfd: Some(EventpollFileEntry { id: 6, ..Default::default() }), ..f(FdTypes::Eventpoll, 6) },
            f(FdTypes::Pipe, 7),
        ];
        let fds = [(3, 5, FdTypes::Inotify as i32), (4, 6, FdTypes::Eventpoll as i32), (5, 7, FdTypes::Pipe as i32)];
        fixture::tree(tag, &fds, &files)
    }

    fn captured() -> Captured {
        let at = At::Task { vpid: Vpid(1), fd: FdNum(3) };
        let ino =
            CapturedInotify { id: 5, flags: 0, fown: FownEntry::default(), watches: 0, queued_bytes: None, head: vec![], body: vec![] };
        let ep = EventpollFileEntry { id: 6, ..Default::default() };
        Captured { inotify: vec![(ino, at)], eventpoll: vec![(ep, At::Task { vpid: Vpid(1), fd: FdNum(4) })] }
    }

    /// encode -> rewrite -> commit: CRIU's entries of both files become
    /// EXT (fdinfo patched in place, files.img rewritten), the pipe's stay,
    /// our two images are written and the inventory requires the plugin.
    #[test]
    fn encode_rewrite_commit_switch_every_captured_file() {
        let d = dumped("switch");
        let dir = d.fd.as_fd();
        let tree = Tree::load(dir).unwrap();
        let c = captured();
        let mut files = encode(dir, &c).unwrap();
        let (rewritten, patches) = rewrite(&tree, &c).unwrap();
        assert_eq!(patches.len(), 1, "one fdinfo image patched in place");
        assert_eq!(patches[0].1.len(), 2, "its two entries");
        files.extend(rewritten);
        takeover::commit(dir, &files, &patches, None).unwrap();
        let after = Tree::load(dir).unwrap();
        let ty = |id| after.files[&FileId(id)].ftype;
        assert_eq!((ty(5), ty(6), ty(7)), (FdTypes::Ext as i32, FdTypes::Ext as i32, FdTypes::Pipe as i32));
        let types: Vec<i32> = after.tables[&1].iter().map(|f| f.ftype).collect();
        assert_eq!(types, vec![FdTypes::Ext as i32, FdTypes::Ext as i32, FdTypes::Pipe as i32]);
        let inv: Vec<InventoryEntry> =
            image::decode_all("inventory.img", image::INVENTORY, &std::fs::read(d.path.join("inventory.img")).unwrap()).unwrap();
        assert_eq!(inv[0].plugins_entry.as_ref().unwrap().plugins, vec!["notify_plugin".to_string()]);
        let ours: Vec<InotifyFileEntry> =
            image::decode_all(INOTIFY_IMG, image::INOTIFY_FILE, &std::fs::read(d.path.join(INOTIFY_IMG)).unwrap()).unwrap();
        assert_eq!(ours.len(), 1);
        assert!(d.path.join(EVENTPOLL_IMG).exists());
    }

    /// A tree without inotify or epoll: the takeover changes nothing.
    #[test]
    fn takeover_of_a_tree_without_our_files_writes_nothing() {
        let pipe = FileEntry { r#type: FdTypes::Pipe as i32, id: 7, ..Default::default() };
        let d = fixture::tree("nothing", &[(5, 7, FdTypes::Pipe as i32)], &[pipe]);
        let before: Vec<_> = std::fs::read_dir(&d.path).unwrap().map(|e| e.unwrap().file_name()).collect();
        let dir = proc::dup_above(d.fd.as_fd(), 3).unwrap();
        let n =
            run_bounded(Deadline::start("test", std::time::Duration::from_secs(5)), move |b| takeover(dir.as_fd(), &State::default(), b))
                .unwrap();
        assert_eq!(n.unwrap(), 0);
        let after: Vec<_> = std::fs::read_dir(&d.path).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before.len(), after.len());
    }
}
