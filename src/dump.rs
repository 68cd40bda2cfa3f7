//! The dump stage: remember the frozen tasks, optionally refuse queued
//! events, and at the end take over every inotify and epoll file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;

use crate::config::{Config, QueuedPolicy};
use crate::criu::image;
use crate::criu::takeover::{self, TakeoverError};
use crate::criu::tree::{Tree, TreeError};
use crate::inotify::{capture::Capturer, InotifyError};
use crate::plugin::{HookResult, ENOTSUP};
use crate::proto::{EventpollFileEntry, FdTypes, FownEntry, InotifyFileEntry};
use crate::epoll::targets::{Candidate, EpollAt, Targets};
use crate::sys::fdinfo::EpollTarget;
use crate::sys::{criu_syms, proc, SysError};
use crate::{epoll, Error};

/// Our image of inotify files (CRIU's INOTIFY_FILE magic; a name CRIU never reads).
pub const INOTIFY_IMG: &str = "notify-inotify.img";
/// Our image of epoll files (CRIU's EVENTPOLL_FILE magic).
pub const EVENTPOLL_IMG: &str = "notify-eventpoll.img";

#[derive(Default)]
struct State {
    /// Real pids of the frozen tasks (CHECKPOINT_DEVICES).
    pids: Vec<i32>,
    /// Files CRIU handed us through DUMP_EXT_FILE: our copy and CRIU's id.
    ext: Vec<(OwnedFd, u32, Kind)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Inotify,
    Eventpoll,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(State::default))
}

pub fn init() -> Result<(), Error> {
    with_state(|s| *s = State::default());
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
    with_state(|s| s.pids.push(pid));
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
    with_state(|s| s.ext.push((copy, id, kind)));
    Ok(0)
}

/// exit(DUMP): tasks are still frozen and CRIU's images are complete.
pub fn finish(ret: i32) {
    let state = with_state(std::mem::take);
    if ret != 0 {
        log::info!("dump failed (criu result {ret}); the plugin changes nothing");
        return;
    }
    let Some(dir) = criu_syms::image_dir() else {
        log::error!("no image directory from criu; inotify/epoll files stay with CRIU's own code");
        return;
    };
    let t0 = std::time::Instant::now();
    match takeover(dir, &state) {
        Ok(0) => log::debug!("no inotify or epoll files in the dumped tree"),
        Ok(n) => log::info!("took over {n} inotify/epoll files in {:.1} ms", t0.elapsed().as_secs_f64() * 1e3),
        Err(e) if state.ext.is_empty() => log::error!(
            "takeover failed, CRIU's own images are left intact (its own code will restore these files): {e}"
        ),
        Err(e) => log::error!(
            "takeover failed and files handed over by DUMP_EXT_FILE cannot be restored without the plugin's images: {e}"
        ),
    }
}

/// Dumped (virtual) pid → real pid.
pub struct PidMap(HashMap<u32, i32>);

impl PidMap {
    pub fn new(real: impl IntoIterator<Item = i32>) -> PidMap {
        PidMap(
            real.into_iter()
                .filter_map(|r| Some((*proc::nspid(r).ok()?.last()? as u32, r)))
                .collect(),
        )
    }

    pub fn real(&self, vpid: u32) -> Result<i32, TreeError> {
        if let Some(r) = self.0.get(&vpid) {
            return Ok(*r);
        }
        // Not in a pid namespace of its own: the numbers are the same.
        match proc::nspid(vpid as i32) {
            Ok(ns) if ns == [vpid as i32] => Ok(vpid as i32),
            _ => Err(TreeError::NoRealPid(vpid)),
        }
    }
}

fn fault(step: &'static str) -> Result<(), Error> {
    if Config::get().fault(step) {
        return Err(TakeoverError::Fault(step).into());
    }
    Ok(())
}

/// Capture, write our images, switch CRIU's entries: all or nothing.
fn takeover(dir: std::os::fd::BorrowedFd<'_>, state: &State) -> Result<usize, Error> {
    fault("load")?;
    let t0 = std::time::Instant::now();
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
    let tree = Tree::load(dir)?;
    log::debug!("takeover: CRIU's images read in {:.1} ms", ms(t0));
    let ino_ids = tree.files_of_type(FdTypes::Inotify);
    let ep_ids = tree.files_of_type(FdTypes::Eventpoll);
    if ino_ids.is_empty() && ep_ids.is_empty() && state.ext.is_empty() {
        return Ok(0);
    }
    let pids = PidMap::new(state.pids.iter().copied());
    let mut pidfds: HashMap<i32, OwnedFd> = HashMap::new();
    let mut pidfd = |real: i32| -> Result<OwnedFd, SysError> {
        if let std::collections::hash_map::Entry::Vacant(e) = pidfds.entry(real) {
            e.insert(proc::pidfd(real)?);
        }
        rustix::io::fcntl_dupfd_cloexec(&pidfds[&real], 3).map_err(|e| SysError::new("dup", "pidfd", e))
    };
    let holder_of = |id: u32| tree.holder(id).ok_or(TreeError::NoHolder(id));

    fault("capture")?;
    // Unlinked-but-open watched objects: which task holds them open.
    let holder_lookup = |dev: u64, ino: u64| -> Option<(u32, u32)> {
        for t in &tree.tasks {
            let Ok(real) = pids.real(t.vpid) else { continue };
            for fd in tree.table_of(t.vpid).unwrap_or(&[]) {
                if fd.ftype != FdTypes::Reg as i32 {
                    continue;
                }
                if let Ok(st) = rustix::fs::stat(format!("/proc/{real}/fd/{}", fd.fd)) {
                    if st.st_dev == dev && st.st_ino == ino {
                        return Some((t.vpid, fd.fd));
                    }
                }
            }
        }
        None
    };

    let mut capturer = Capturer::default();
    let all_tasks: Vec<(u32, i32)> = tree.tasks.iter().filter_map(|t| Some((t.vpid, pids.real(t.vpid).ok()?))).collect();
    let mut inotify: Vec<(InotifyFileEntry, String)> = Vec::new();
    for &id in &ino_ids {
        let (vpid, fd) = holder_of(id)?;
        let real = pids.real(vpid)?;
        let pfd = pidfd(real)?;
        let file = proc::getfd(pfd.as_fd(), real, fd as i32)?;
        let criu = tree.files[&id].entry.ify.as_ref();
        let fown = criu.map(|e| e.fown).unwrap_or_default();
        let e = capturer.capture(real, fd as i32, file.as_fd(), id, fown, &holder_lookup, &all_tasks, criu)?;
        inotify.push((e, format!("pid {vpid} fd {fd}")));
    }

    // Every file of the tree, for registrations whose file CRIU's own entry
    // does not name: indexed on first use only.
    let mut targets: Option<Targets> = None;
    let (mut from_criu, mut searched) = (0usize, 0usize);
    let mut search = |epoll: EpollAt, t: &EpollTarget, toff: u32| {
        searched += 1;
        let index = targets.get_or_insert_with(|| {
            Targets::new(tree.tasks.iter().filter_map(|t| Some((pids.real(t.vpid).ok()?, tree.table_of(t.vpid)?))).flat_map(
                |(real, fds)| fds.iter().map(move |fd| Candidate { pid: real, fd: fd.fd as i32, file: fd.id }),
            ))
        });
        index.find(epoll, t, toff)
    };

    let mut eventpoll: Vec<(EventpollFileEntry, String)> = Vec::new();
    for &id in &ep_ids {
        let (vpid, fd) = holder_of(id)?;
        let real = pids.real(vpid)?;
        let criu = tree.files[&id].entry.epfd.as_ref();
        let fown = criu.map(|e| e.fown).unwrap_or_default();
        // CRIU's own entry lists the registrations in the same fdinfo order,
        // each under a number of the same task at which it proved (kcmp) the
        // target sits: the original number, or one it rewrote the key to
        // (the original was closed or reused). The file at that number is
        // the target, with no kcmp of ours; the key stays the original.
        let criu_tfds: &[crate::proto::EventpollTfdEntry] = criu.map(|e| e.tfd.as_slice()).unwrap_or(&[]);
        let mut resolve = |t: &EpollTarget, toff: u32, index: usize, total: usize| {
            if criu_tfds.len() == total {
                let c = &criu_tfds[index];
                if c.inode == Some(t.ino) && c.dev == Some(t.sdev) {
                    if let Some(at) = tree.file_at(vpid, c.tfd) {
                        from_criu += 1;
                        return Ok(Some(at));
                    }
                }
            }
            search(EpollAt { pid: real, fd: fd as i32 }, t, toff)
        };
        let e = epoll::capture::capture(real, fd as i32, id, fown, &mut resolve)?;
        eventpoll.push((e, format!("pid {vpid} fd {fd}")));
    }

    // Files CRIU handed us itself: their owner is CRIU's ext entry's.
    let me = std::process::id() as i32;
    for (copy, id, kind) in &state.ext {
        let fd = copy.as_raw_fd();
        match kind {
            Kind::Inotify => {
                let e = capturer.capture(me, fd, copy.as_fd(), *id, FownEntry::default(), &holder_lookup, &all_tasks, None)?;
                inotify.push((e, "DUMP_EXT_FILE".into()));
            }
            Kind::Eventpoll => {
                let mut resolve = |t: &EpollTarget, toff: u32, _: usize, _: usize| search(EpollAt { pid: me, fd }, t, toff);
                let e = epoll::capture::capture(me, fd, *id, FownEntry::default(), &mut resolve)?;
                eventpoll.push((e, "DUMP_EXT_FILE".into()));
            }
        }
    }

    let calls = targets.as_ref().map_or(0, |t| t.kcmp_calls);
    if from_criu + searched > 0 {
        log::debug!("epoll targets: {from_criu} named by CRIU's entries, {searched} searched with {calls} kcmp calls");
    }
    log::debug!("takeover: captured in {:.1} ms", ms(t0));
    fault("write")?;
    // The new contents of every file that changes.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let inv = image::read_file(dir, "inventory.img")?.ok_or(TreeError::Missing("inventory.img".into()))?;
    if let Some(b) = takeover::add_inventory_plugin("inventory.img", &inv, "notify_plugin")? {
        files.push(("inventory.img".into(), b));
    }
    let ino_old: Vec<InotifyFileEntry> = existing(dir, INOTIFY_IMG, image::INOTIFY_FILE)?;
    let ep_old: Vec<EventpollFileEntry> = existing(dir, EVENTPOLL_IMG, image::EVENTPOLL_FILE)?;
    files.push((INOTIFY_IMG.into(), image::encode_messages(image::INOTIFY_FILE, ino_old.iter().chain(inotify.iter().map(|e| &e.0)))));
    files.push((EVENTPOLL_IMG.into(), image::encode_messages(image::EVENTPOLL_FILE, ep_old.iter().chain(eventpoll.iter().map(|e| &e.0)))));

    fault("rewrite")?;
    let owners: BTreeMap<u32, FownEntry> = inotify
        .iter()
        .filter(|(_, w)| w != "DUMP_EXT_FILE")
        .map(|(e, _)| (e.id, e.fown))
        .chain(eventpoll.iter().filter(|(_, w)| w != "DUMP_EXT_FILE").map(|(e, _)| (e.id, e.fown)))
        .collect();
    let ids: BTreeSet<u32> = owners.keys().copied().collect();
    for fid in tree.tables.keys() {
        let name = format!("fdinfo-{fid}.img");
        let bytes = image::read_file(dir, &name)?.ok_or_else(|| TreeError::Missing(name.clone()))?;
        if let Some(b) = takeover::rewrite_fdinfo(&name, &bytes, &ids)? {
            files.push((name, b));
        }
    }
    if !owners.is_empty() {
        let bytes = image::read_file(dir, "files.img")?.ok_or(TreeError::Missing("files.img".into()))?;
        files.push(("files.img".into(), takeover::rewrite_files("files.img", &bytes, &owners)?));
    }
    log::debug!("takeover: images encoded in {:.1} ms", ms(t0));
    takeover::commit(dir, &files, Config::get().fault.as_deref())?;
    log::debug!("takeover: committed in {:.1} ms", ms(t0));

    for (e, where_) in &inotify {
        log::info!("owns inotify id {} ({where_}): {} watches, flags {:#o}", e.id, e.wd.len(), e.flags);
        if let Some(q) = e.queued_bytes {
            log::warn!(
                "inotify id {} ({where_}): {q} bytes of queued events are dropped (no kernel interface re-injects them; CRIU_NOTIFY_QUEUED=refuse fails the dump instead)",
                e.id
            );
        }
    }
    for (e, where_) in &eventpoll {
        log::info!("owns eventpoll id {} ({where_}): {} registrations, flags {:#o}", e.id, e.tfd.len(), e.flags);
    }
    let n = inotify.len() + eventpoll.len();
    crate::keep_until_exit(Box::new((tree, inotify, eventpoll)));
    Ok(n)
}

/// Entries already in our image (written by an earlier step); ours follow.
fn existing<M: prost::Message + Default>(dir: std::os::fd::BorrowedFd<'_>, name: &str, kind: image::Kind) -> Result<Vec<M>, Error> {
    Ok(match image::read_file(dir, name)? {
        Some(b) => image::decode_all(name, kind, &b)?,
        None => vec![],
    })
}
