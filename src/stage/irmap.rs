//! CHECKPOINT_DEVICES, before CRIU dumps any file: paths for the watched
//! objects CRIU's own inotify dump could not open by file handle (overlay
//! without nfs_export, procfs, sysfs), found by the plugin
//! ([`crate::inotify::paths`]) and handed to CRIU's irmap
//! ([`crate::criu::irmap`]), so that such dumps succeed with no
//! `irmap-scan-path` from the user.
//!
//! The search runs on its own thread under the `deadline` setting (one
//! budget for the whole dump: the tasks stay frozen meanwhile); CRIU's
//! irmap is called on criu's own thread. A watched object no path leads to
//! fails the dump here, with the reason.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::{Config, FindPaths};
use crate::criu::irmap::{self, Handed};
use crate::deadline::{run_bounded, Deadline};
use crate::inotify::paths::{self, Finder};
use crate::inotify::InotifyError;
use crate::Error;

#[derive(Default)]
struct State {
    /// The first task CHECKPOINT_DEVICES names is the tree's root
    /// (criu/seize.c `checkpoint_devices` walks the tree from its root).
    root: Option<i32>,
    finder: Option<Finder>,
    /// Set once the finder cannot be had (or was lost to the deadline).
    off: bool,
    /// Whether this dump needs the pass at all (see [`wanted`]).
    wanted: Option<bool>,
    deadline: Option<Deadline>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Whether to read the tree's watches for paths at all: the pass reads every
/// inotify instance's fdinfo once more while the tasks are frozen (0.2-0.4 s
/// for 100k watches), so by default (`find_paths = auto`) only where CRIU's
/// own dump would fail for watches of a kind every container has: an
/// overlay mount without `nfs_export` in the root task's mount namespace.
/// procfs and sysfs are mounted everywhere, watched almost nowhere:
/// `find_paths = yes` covers them.
fn wanted(root: i32) -> bool {
    match Config::get().find_paths {
        FindPaths::Yes => true,
        FindPaths::No => false,
        FindPaths::Auto => crate::sys::mountinfo::read(&root.to_string())
            .map(|ms| ms.iter().any(|m| m.fstype == "overlay" && !m.super_opts.split(',').any(|o| o == "nfs_export=on")))
            .unwrap_or(true),
    }
}

/// Whether `find_paths = auto` left this dump's watches to CRIU alone.
pub fn skipped() -> bool {
    STATE.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|s| s.wanted == Some(false))
}

/// A new dump: forget the last one's.
pub fn init() {
    *STATE.lock().unwrap_or_else(|p| p.into_inner()) = Some(State::default());
}

/// CHECKPOINT_DEVICES for task `pid` (real pid, frozen).
pub fn checkpoint_devices(pid: i32) -> Result<(), Error> {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let st = guard.get_or_insert_with(State::default);
    let root = *st.root.get_or_insert(pid);
    if st.off {
        return Ok(());
    }
    if st.wanted.is_none() {
        st.wanted = Some(wanted(root));
        if st.wanted == Some(false) {
            log::debug!("irmap: no overlay without nfs_export in the tree's mount namespace; CRIU opens the watched objects itself (find_paths = yes also covers procfs and sysfs)");
        }
    }
    if st.wanted == Some(false) {
        return Ok(());
    }
    let fds = paths::inotify_fds(pid);
    if fds.is_empty() {
        return Ok(());
    }
    let t0 = Instant::now();
    let finder = match st.finder.take() {
        Some(f) => f,
        None => {
            match Finder::new(root) {
                Ok(f) => f,
                Err(e) => {
                    st.off = true;
                    log::warn!("irmap: cannot see the dumped tree's root ({e}); watches CRIU cannot open by file handle get no path from the plugin");
                    return Ok(());
                }
            }
        }
    };
    let deadline = *st.deadline.get_or_insert_with(|| Deadline::start("the search for paths of watched objects", Config::get().deadline));
    let r = run_bounded(deadline, move |b| {
        let mut finder = finder;
        b.doing(format!("reading the watches of pid {pid}"));
        let r = finder.task(pid, &fds, &b.deadline);
        (finder, r)
    });
    let out = match r {
        Ok((finder, r)) => {
            st.finder = Some(finder);
            r.map_err(|e| Error::from(InotifyError::from(e)))?
        }
        Err(e) => {
            st.off = true;
            log::warn!("irmap: {e}; CRIU now tries its own irmap scan for the watches the plugin found no path for (raise the deadline, or add an irmap-scan-path, if it fails with \"Can't dump that handle\")");
            return Ok(());
        }
    };
    drop(guard);
    for u in &out.unfinished {
        log::warn!("irmap: {u}");
    }
    if out.entries.is_empty() {
        return Ok(());
    }
    for e in &out.entries {
        let (ma, mi) = crate::sys::mounts::decode_dev(e.dev);
        log::debug!("irmap: {ma}:{mi} inode {:#x} -> {}", e.ino, e.path);
    }
    let n = out.entries.len();
    let how = format!("{} through their overlay layer, {} by a search of {} directories", out.by_layer, out.by_search, out.dirs_searched);
    match irmap::hand_over(&out.entries) {
        Ok(Handed::Cache(_)) => log::info!(
            "irmap: pid {pid}: gave CRIU the paths of {n} watched objects it cannot open by file handle ({how}) in {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        ),
        Ok(Handed::ScanPaths { added, skipped }) => log::warn!(
            "irmap: pid {pid}: criu exports no irmap_load_cache; gave CRIU {added} of {n} paths as irmap scan paths ({how}); {skipped} directories need an irmap-scan-path from the user"
        ),
        Ok(Handed::Nothing) => log::error!(
            "irmap: pid {pid}: criu exports neither irmap_load_cache nor irmap_scan_path_add: the plugin cannot give CRIU the paths of {n} watched objects it cannot open by file handle; add an irmap-scan-path for them"
        ),
        Err(e) => log::error!("irmap: pid {pid}: the paths of {n} watched objects did not reach CRIU: {e}"),
    }
    Ok(())
}
