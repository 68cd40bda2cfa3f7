//! The restore stage: load our images, create each inotify/epoll instance
//! inside its restored task when CRIU asks (RESTORE_EXT_FILE), and once the
//! whole tree exists (RESUME_DEVICES_LATE, tasks stopped) add the watches
//! and registrations. Any failure there kills the restored tree, so that
//! `criu restore` fails instead of resuming a process with part of its
//! state missing (CRIU ignores this hook's return value).

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};

use super::{keep_until_exit, HookResult, HookState, ENOTSUP};
use crate::config::Config;
use crate::criu::image::{EVENTPOLL_IMG, INOTIFY_IMG, PLUGIN};
use crate::criu::takeover;
use crate::criu::tree::{Tree, TreeError};
use crate::criu::{image, wire};
use crate::deadline::{run_bounded, Bounded, Deadline};
use crate::epoll::restore as ep;
use crate::ids::{FdNum, FileId, RealPid, Vpid};
use crate::inotify::restore as ino;
use crate::proto::{EventpollFileEntry, FdTypes, InotifyFileEntry};
use crate::sys::shared::SharedFlags;
use crate::sys::{criu_syms, proc};
use crate::Error;

#[derive(Default)]
struct State {
    tree: Tree,
    inotify: HashMap<FileId, InotifyFileEntry>,
    epoll: HashMap<FileId, EventpollFileEntry>,
    /// Which registrations the restored tasks made themselves.
    in_task: Option<InTask>,
    finished: bool,
}

/// One shared flag per registration of every epoll: set by the restored
/// task that made it (RESTORE_EXT_FILE), read by the late pass.
struct InTask {
    flags: SharedFlags,
    /// Index of each epoll's first registration among the flags.
    base: HashMap<FileId, usize>,
}

impl InTask {
    fn new(epoll: &HashMap<FileId, EventpollFileEntry>) -> Option<InTask> {
        let mut ids: Vec<FileId> = epoll.keys().copied().collect();
        ids.sort_unstable();
        let mut base = HashMap::new();
        let mut n = 0usize;
        for id in ids {
            base.insert(id, n);
            n += epoll[&id].tfd.len();
        }
        match SharedFlags::new(n) {
            Ok(flags) => Some(InTask { flags, base }),
            Err(e) => {
                log::warn!("every epoll registration is made from outside the tasks: {e}");
                None
            }
        }
    }
}

static STATE: HookState<State> = HookState::new();

/// init(RESTORE): tell CRIU we are here, finish an interrupted takeover,
/// load and check our images. A bad image fails the restore right here.
pub fn init() -> Result<(), Error> {
    let required = criu_syms::check_and_remove_inventory_plugin(PLUGIN);
    match required {
        Some(true) => log::debug!("the images name this plugin as required"),
        Some(false) => log::debug!("the images do not require this plugin"),
        None => {}
    }
    let Some(dir) = criu_syms::image_dir() else {
        return Ok(());
    };
    let done = takeover::recover(dir)?;
    if !done.is_empty() {
        log::warn!("completed a takeover interrupted at dump: {}", done.join(", "));
    }
    let state = load(dir, required == Some(true))?;
    if !state.inotify.is_empty() || !state.epoll.is_empty() {
        log::info!("{} inotify and {} eventpoll files to restore", state.inotify.len(), state.epoll.len());
    }
    STATE.with(|s| *s = state);
    Ok(())
}

/// `required`: the inventory names this plugin, so a takeover wrote both
/// of our images.
fn load(dir: std::os::fd::BorrowedFd<'_>, required: bool) -> Result<State, Error> {
    let t0 = std::time::Instant::now();
    let inotify: Vec<InotifyFileEntry> = match read_ours(dir, INOTIFY_IMG, required)? {
        Some(b) => image::decode_all_with(INOTIFY_IMG, image::INOTIFY_FILE, &b, wire::decode_inotify)?,
        None => vec![],
    };
    let epoll: Vec<EventpollFileEntry> = match read_ours(dir, EVENTPOLL_IMG, required)? {
        Some(b) => image::decode_all(EVENTPOLL_IMG, image::EVENTPOLL_FILE, &b)?,
        None => vec![],
    };
    if inotify.is_empty() && epoll.is_empty() {
        return Ok(State::default());
    }
    let t1 = std::time::Instant::now();
    let mut s = State { tree: Tree::load(dir)?, ..Default::default() };
    let t2 = std::time::Instant::now();
    for e in inotify {
        s.add_inotify(e)?;
    }
    for e in epoll {
        s.add_epoll(e)?;
    }
    if !s.epoll.is_empty() {
        s.in_task = InTask::new(&s.epoll);
    }
    let ms = |a: std::time::Instant, b: std::time::Instant| (b - a).as_secs_f64() * 1e3;
    log::debug!(
        "images loaded: ours read and decoded in {:.1} ms, CRIU's tree in {:.1} ms, checked in {:.1} ms",
        ms(t0, t1),
        ms(t1, t2),
        ms(t2, std::time::Instant::now())
    );
    s.warn_unknown_ext();
    Ok(s)
}

fn bad(file: &str, what: String) -> Error {
    Error::BadImage { file: file.to_owned(), what }
}

/// One of our images; `required`: the inventory names this plugin, so a
/// takeover wrote both of them.
fn read_ours(dir: std::os::fd::BorrowedFd<'_>, name: &str, required: bool) -> Result<Option<Vec<u8>>, Error> {
    match image::read_file(dir, name)? {
        None if required => Err(bad(
            name,
            format!("missing, but inventory.img requires {} (a takeover writes both of its images)", PLUGIN.to_string_lossy()),
        )),
        other => Ok(other),
    }
}

impl State {
    fn is_ext(&self, id: FileId) -> bool {
        self.tree.files.get(&id).is_some_and(|f| f.ftype == FdTypes::Ext as i32)
    }

    /// Check an inotify entry of our image and keep it.
    fn add_inotify(&mut self, mut e: InotifyFileEntry) -> Result<(), Error> {
        crate::criu::format::check(INOTIFY_IMG, e.id, e.format)?;
        ino::apply_fs_table(&mut e);
        if !self.is_ext(FileId(e.id)) {
            return Err(bad(INOTIFY_IMG, format!("file id {} is not an EXT file in files.img", e.id)));
        }
        ino::validate(&e).map_err(|err| bad(INOTIFY_IMG, err.to_string()))?;
        if self.inotify.contains_key(&FileId(e.id)) {
            return Err(bad(INOTIFY_IMG, format!("file id {} appears twice", e.id)));
        }
        self.inotify.insert(FileId(e.id), e);
        Ok(())
    }

    /// Check an eventpoll entry of our image and keep it.
    fn add_epoll(&mut self, e: EventpollFileEntry) -> Result<(), Error> {
        crate::criu::format::check(EVENTPOLL_IMG, e.id, e.format)?;
        if !self.is_ext(FileId(e.id)) {
            return Err(bad(EVENTPOLL_IMG, format!("file id {} is not an EXT file in files.img", e.id)));
        }
        ep::validate(&e).map_err(|err| bad(EVENTPOLL_IMG, err.to_string()))?;
        for t in &e.tfd {
            if !self.tree.files.contains_key(&FileId(t.id)) {
                return Err(bad(EVENTPOLL_IMG, format!("eventpoll id {}: target file id {} is not in files.img", e.id, t.id)));
            }
            // A dump only records targets it found open in the tree.
            if self.tree.holder(FileId(t.id)).is_none() {
                return Err(bad(
                    EVENTPOLL_IMG,
                    format!(
                        "eventpoll id {}: target file id {} (registered as fd {}) is not open at any fd of the dumped tasks",
                        e.id, t.id, t.tfd
                    ),
                ));
            }
        }
        if self.epoll.contains_key(&FileId(e.id)) || self.inotify.contains_key(&FileId(e.id)) {
            return Err(bad(EVENTPOLL_IMG, format!("file id {} appears twice", e.id)));
        }
        self.epoll.insert(FileId(e.id), e);
        Ok(())
    }

    /// EXT files no image of ours lists: another plugin's, or ours lost
    /// from a damaged image (then CRIU fails with "Unable to restore").
    fn warn_unknown_ext(&self) {
        let mut others: Vec<FileId> = self
            .tree
            .files
            .iter()
            .filter(|(id, f)| f.ftype == FdTypes::Ext as i32 && !self.inotify.contains_key(id) && !self.epoll.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        if !others.is_empty() {
            others.sort_unstable();
            log::warn!(
                "EXT file ids {others:?} of files.img are in neither {INOTIFY_IMG} nor {EVENTPOLL_IMG}: unless another plugin restores them, criu fails with \"Unable to restore\""
            );
        }
    }
}

/// RESTORE_EXT_FILE, inside the restored task: a fresh instance.
pub fn restore_ext_file(id: FileId) -> HookResult {
    let fd: Option<Result<OwnedFd, Error>> = STATE.with(|s| {
        if let Some(e) = s.inotify.get(&id) {
            Some(ino::create(e).map_err(Into::into).inspect(|_| log::debug!("opened inotify id {id}; {} watches follow", e.wd.len())))
        } else {
            s.epoll.get(&id).map(|e| {
                ep::create(e).map_err(Into::into).inspect(|fd| {
                    if let Some(it) = &s.in_task {
                        register_in_task(&s.tree, e, fd.as_fd(), it);
                    }
                    log::debug!("opened eventpoll id {id}; {} registrations follow", e.tfd.len())
                })
            })
        }
    });
    match fd {
        None => Ok(ENOTSUP),
        Some(r) => Ok(r?.into_raw_fd()),
    }
}

pub fn finish(_ret: i32) {}

/// Inside the restored task (RESTORE_EXT_FILE): register every target that
/// already sits at its number in this task, as CRIU's own code does, with
/// one epoll_ctl each. fds are restored in order, so targets below the
/// epoll's number are usually there; the rest is left to the late pass,
/// which learns from the shared flags which ones were made here.
/// Signalfds need this path: a signalfd reports the signals of the task
/// that registered it.
fn register_in_task(tree: &Tree, e: &EventpollFileEntry, ep: std::os::fd::BorrowedFd<'_>, it: &InTask) {
    // Inside the restored task: getpid() is its pid as the tree knows it.
    let me = Vpid(std::process::id());
    let unique = ep::unique_numbers(e);
    let base = it.base.get(&FileId(e.id)).copied().unwrap_or(usize::MAX);
    let mut made = 0usize;
    for (i, t) in e.tfd.iter().enumerate() {
        if !ep::in_task_candidate(t, &unique) || tree.file_at(me, FdNum(t.tfd)) != Some(FileId(t.id)) {
            continue;
        }
        // EBADF: nothing at that number yet; other failures are met again,
        // and reported, by the late pass.
        let r = proc::epoll_add_at(
            ep,
            t.tfd as i32,
            rustix::event::epoll::EventData::new_u64(t.data),
            rustix::event::epoll::EventFlags::from_bits_retain(t.events),
        );
        match r {
            Ok(()) => {
                it.flags.set(base.saturating_add(i));
                made += 1;
            }
            Err(err) if err.errno != rustix::io::Errno::BADF => {
                log::debug!("eventpoll id {}: fd {} not registered inside the task: {err}", e.id, t.tfd);
            }
            Err(_) => {}
        }
    }
    log::debug!("eventpoll id {}: {made} of {} registrations made inside the task", e.id, e.tfd.len());
}

/// Real pids of the restored tree, by dumped pid: walk the children of the
/// root task (the first RESUME_DEVICES_LATE call) and read NSpid.
fn restored_pids(root: i32) -> HashMap<Vpid, RealPid> {
    let mut out = HashMap::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if let Ok(ns) = proc::nspid(p) {
            if let Some(v) = ns.last() {
                out.insert(Vpid(*v as u32), RealPid(p));
            }
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                todo.extend(c.split_whitespace().filter_map(|x| x.parse::<i32>().ok()));
            }
        }
    }
    out
}

/// RESUME_DEVICES_LATE(pid), in the criu process with every task stopped.
/// The first call (the root task) does the work for the whole tree.
pub fn resume_devices_late(pid: i32) -> HookResult {
    let work = STATE.with(|s| {
        if s.finished || (s.inotify.is_empty() && s.epoll.is_empty()) {
            return None;
        }
        s.finished = true;
        Some((std::mem::take(&mut s.tree), std::mem::take(&mut s.inotify), std::mem::take(&mut s.epoll), s.in_task.take()))
    });
    let Some((tree, inotify, epoll, in_task)) = work else { return Ok(ENOTSUP) };
    let pids = restored_pids(pid);
    // The late pass holds a pidfd per task above the highest registered
    // number: grow the fd table before its thread exists (reserve_fd_table).
    let top = epoll.values().flat_map(|e| e.tfd.iter().map(|t| t.tfd as i32)).max().unwrap_or(0);
    proc::reserve_fd_table(top.saturating_add(pids.len() as i32).saturating_add(64));
    let deadline = Deadline::start("the restore's late pass", Config::get().deadline);
    // On a thread of its own, so that a step blocked in the kernel cannot
    // hold the stopped tasks past the deadline.
    let theirs = pids.clone();
    let r = run_bounded(deadline, move |b| {
        if Config::get().fault("stall-late") {
            // Test-only: a step that blocks past any deadline.
            std::thread::sleep(Config::get().deadline * 3);
        }
        let r = complete(&tree, &inotify, &epoll, in_task.as_ref(), &theirs, b);
        keep_until_exit(Box::new((tree, inotify, epoll)));
        r
    })
    .map_err(Error::from)
    .and_then(|r| r);
    if let Err(e) = r {
        log::error!("restore cannot be completed: {e}");
        if let Some(h) = hint(&e) {
            log::error!("{h}");
        }
        log::error!("killing the restored tree so that the restore fails instead of resuming it without this state");
        for real in pids.values() {
            let _ =
                rustix::process::kill_process(rustix::process::Pid::from_raw(real.0).expect("positive pid"), rustix::process::Signal::KILL);
        }
        return Err(e);
    }
    Ok(ENOTSUP)
}

/// What an errno alone does not say: ENOSPC here is a per-user limit.
fn hint(e: &Error) -> Option<&'static str> {
    match e {
        Error::Inotify(crate::inotify::InotifyError::AddWatch { source, .. }) if source.errno == rustix::io::Errno::NOSPC => {
            Some("ENOSPC from inotify_add_watch: the user's inotify watches reached fs.inotify.max_user_watches")
        }
        Error::Epoll(crate::epoll::EpollError::Register { source, .. }) if source.errno == rustix::io::Errno::NOSPC => {
            Some("ENOSPC from epoll_ctl: the user's epoll registrations reached fs.epoll.max_user_watches")
        }
        _ => None,
    }
}

fn complete(
    tree: &Tree,
    inotify: &HashMap<FileId, InotifyFileEntry>,
    epoll: &HashMap<FileId, EventpollFileEntry>,
    in_task: Option<&InTask>,
    pids: &HashMap<Vpid, RealPid>,
    b: &Bounded,
) -> Result<(), Error> {
    let mut late = Late { tree, pids, pidfds: HashMap::new(), b };
    let mut ids: Vec<&FileId> = inotify.keys().collect();
    ids.sort();
    for id in ids {
        late.inotify(*id, &inotify[id])?;
    }
    if epoll.is_empty() {
        return Ok(());
    }
    // Every task's pidfd, opened up front so that targets can be fetched
    // from the helper thread that registers them. They sit above every fd
    // number a registration will occupy in the helper thread's private fd
    // table.
    let top = epoll.values().flat_map(|e| e.tfd.iter().map(|t| t.tfd as i32)).max().unwrap_or(0);
    proc::allow_fd_number(top.saturating_add(pids.len() as i32 + 64));
    let mut above: HashMap<RealPid, OwnedFd> = HashMap::new();
    for real in pids.values() {
        above.insert(*real, proc::dup_above(proc::pidfd(real.0)?, top.saturating_add(1))?);
    }
    let fetch = |tid: FileId| -> Result<OwnedFd, crate::epoll::EpollError> {
        let (vpid, fd) = tree.holder(tid).ok_or(TreeError::NoHolder(tid))?;
        let r = pids.get(&vpid).copied().ok_or(TreeError::NoRealPid(vpid))?;
        let pfd = above.get(&r).ok_or(TreeError::NoRealPid(vpid))?;
        Ok(proc::getfd(pfd.as_fd(), r.0, fd.raw())?)
    };
    let mut ids: Vec<&FileId> = epoll.keys().collect();
    ids.sort();
    for id in ids {
        // What RESTORE_EXT_FILE registered inside the task.
        let e = &epoll[id];
        let made: HashSet<u32> = match in_task.and_then(|it| Some((it, *it.base.get(id)?))) {
            Some((it, base)) => e.tfd.iter().enumerate().filter(|(i, _)| it.flags.get(base + i)).map(|(_, t)| t.tfd).collect(),
            None => HashSet::new(),
        };
        late.epoll(*id, e, &made, &fetch)?;
    }
    Ok(())
}

/// The late pass under way: the restored tree, and one pidfd per task.
struct Late<'a> {
    tree: &'a Tree,
    pids: &'a HashMap<Vpid, RealPid>,
    pidfds: HashMap<RealPid, OwnedFd>,
    b: &'a Bounded,
}

impl Late<'_> {
    fn real(&self, vpid: Vpid) -> Result<RealPid, TreeError> {
        self.pids.get(&vpid).copied().ok_or(TreeError::NoRealPid(vpid))
    }

    /// Our copy of file `id` from the first task holding it, and where.
    fn file_of(&mut self, id: FileId) -> Result<(OwnedFd, Vpid, FdNum), Error> {
        let (vpid, fd) = self.tree.holder(id).ok_or(TreeError::NoHolder(id))?;
        let r = self.real(vpid)?;
        if let std::collections::hash_map::Entry::Vacant(e) = self.pidfds.entry(r) {
            e.insert(proc::pidfd(r.0)?);
        }
        Ok((proc::getfd(self.pidfds[&r].as_fd(), r.0, fd.raw())?, vpid, fd))
    }

    fn inotify(&mut self, id: FileId, e: &InotifyFileEntry) -> Result<(), Error> {
        let (file, vpid, fd) = self.file_of(id)?;
        self.b.doing(format!("adding the watches of inotify id {id} (pid {vpid} fd {fd})"));
        let t0 = std::time::Instant::now();
        let pids = self.pids;
        let pid_of = |vpid: Vpid| pids.get(&vpid).copied();
        let out = ino::add_watches(file.as_fd(), e, self.real(vpid)?, &pid_of, Config::get().follow_paths, &self.b.deadline)?;
        log::info!("restored inotify id {id} (pid {vpid} fd {fd}): {} watches in {:.1} ms", out.watches, t0.elapsed().as_secs_f64() * 1e3);
        if out.moved > 0 {
            log::info!("inotify id {id}: {} watches re-attached by path on a different filesystem than at dump (migration)", out.moved);
        }
        Ok(())
    }

    /// Register what the task did not (`made`: numbers registered inside it).
    fn epoll(&mut self, id: FileId, e: &EventpollFileEntry, made: &HashSet<u32>, fetch: &ep::Fetch<'_>) -> Result<(), Error> {
        let (file, vpid, fd) = self.file_of(id)?;
        self.b.doing(format!("registering the targets of eventpoll id {id} (pid {vpid} fd {fd})"));
        let unique = ep::unique_numbers(e);
        let skip = |t: &crate::proto::EventpollTfdEntry| -> bool { ep::in_task_candidate(t, &unique) && made.contains(&t.tfd) };
        let out = ep::register_all(file.as_fd(), e, fetch, &skip, &self.b.deadline)?;
        for tfd in &out.rearmed {
            log::warn!(
                "eventpoll id {id}: disarmed EPOLLONESHOT registration of fd {tfd} (target not ready) restored armed for ERR/HUP only"
            );
        }
        let inside = if out.in_task > 0 { format!(" ({} made inside the task)", out.in_task) } else { String::new() };
        log::info!("restored eventpoll id {id} (pid {vpid} fd {fd}): {} registrations{inside}", out.registrations);
        let signalfd =
            |t: &&crate::proto::EventpollTfdEntry| self.tree.files.get(&FileId(t.id)).map(|f| f.ftype) == Some(FdTypes::Signalfd as i32);
        for t in e.tfd.iter().filter(signalfd).filter(|t| !skip(t)) {
            log::warn!(
                "eventpoll id {id}: signalfd target fd {} was registered from outside the task: signals to the task will not wake this epoll",
                t.tfd
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::proto::{EventpollTfdEntry, ExtFileEntry, FhEntry, FileEntry, InotifyWdEntry};
    use crate::stage::fixture;

    const INO: u32 = 5;
    const EP: u32 = 6;
    const PIPE: u32 = 7;

    fn ext(id: u32) -> FileEntry {
        FileEntry { r#type: FdTypes::Ext as i32, id, ext: Some(ExtFileEntry { id, fown: Default::default() }), ..Default::default() }
    }

    /// The tree after a takeover: an inotify (fd 3) and an epoll (fd 4)
    /// switched to EXT, and a pipe (fd 5) the epoll watches.
    fn taken_over(tag: &str) -> fixture::Dir {
        let files = [ext(INO), ext(EP), FileEntry { r#type: FdTypes::Pipe as i32, id: PIPE, ..Default::default() }];
        let d = fixture::tree(tag, &[(3, INO, FdTypes::Ext as i32), (4, EP, FdTypes::Ext as i32), (5, PIPE, FdTypes::Pipe as i32)], &files);
        let wd = InotifyWdEntry {
            id: INO,
            i_ino: 2,
            mask: 0x100,
            s_dev: 8,
            wd: 1,
            f_handle: FhEntry { bytes: 8, r#type: 1, handle: vec![7], path: Some("/tmp".into()), mnt_id: None },
            ..Default::default()
        };
        let ino = InotifyFileEntry { id: INO, wd: vec![wd], format: Some(crate::criu::format::CURRENT), ..Default::default() };
        fixture::write(&d, INOTIFY_IMG, image::encode_messages(image::INOTIFY_FILE, &[ino]));
        let tfd = EventpollTfdEntry { id: PIPE, tfd: 5, events: 1, data: 9, dev: None, inode: None, pos: None };
        let ep = EventpollFileEntry { id: EP, tfd: vec![tfd], format: Some(crate::criu::format::CURRENT), ..Default::default() };
        fixture::write(&d, EVENTPOLL_IMG, image::encode_messages(image::EVENTPOLL_FILE, &[ep]));
        d
    }

    #[test]
    fn load_takes_both_images_and_the_tree() {
        let d = taken_over("load");
        let s = load(d.fd.as_fd(), true).unwrap();
        assert_eq!(s.inotify.keys().copied().collect::<Vec<_>>(), vec![FileId(INO)]);
        assert_eq!(s.epoll[&FileId(EP)].tfd[0].tfd, 5);
        assert_eq!(s.tree.holder(FileId(PIPE)), Some((Vpid(1), FdNum(5))));
    }

    #[test]
    fn load_refuses_what_a_takeover_cannot_have_written() {
        // Required but missing.
        let d = taken_over("missing");
        std::fs::remove_file(d.path.join(EVENTPOLL_IMG)).unwrap();
        let e = load(d.fd.as_fd(), true).err().expect("refused").to_string();
        assert!(e.contains(EVENTPOLL_IMG) && e.contains("missing, but inventory.img requires notify_plugin"), "{e}");
        // Not missing when the inventory does not require us.
        assert!(load(d.fd.as_fd(), false).is_ok());
        // An entry whose file CRIU would restore itself.
        let d = taken_over("not-ext");
        let files = [ext(INO), FileEntry { r#type: FdTypes::Eventpoll as i32, id: EP, ..Default::default() }, ext(PIPE)];
        fixture::write(&d, "files.img", image::encode_messages(image::FILES, &files));
        let e = load(d.fd.as_fd(), true).err().expect("refused").to_string();
        assert!(e.contains(&format!("file id {EP} is not an EXT file in files.img")), "{e}");
        // A format of a newer major version.
        let d = taken_over("newer");
        let ep = EventpollFileEntry { id: EP, format: Some(9 << 16), ..Default::default() };
        fixture::write(&d, EVENTPOLL_IMG, image::encode_messages(image::EVENTPOLL_FILE, &[ep]));
        let e = load(d.fd.as_fd(), true).err().expect("refused").to_string();
        assert!(e.contains("format version 9.0, newer than the 1.0"), "{e}");
    }

    #[test]
    fn load_of_a_dump_without_our_files_is_empty() {
        let d = fixture::tree(
            "plain",
            &[(0, PIPE, FdTypes::Pipe as i32)],
            &[FileEntry { r#type: FdTypes::Pipe as i32, id: PIPE, ..Default::default() }],
        );
        let s = load(d.fd.as_fd(), false).unwrap();
        assert!(s.inotify.is_empty() && s.epoll.is_empty());
    }
}
