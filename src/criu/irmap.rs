//! Handing paths to CRIU's irmap (criu/irmap.c), so that its own inotify
//! dump finds a path for objects whose file handles it cannot open.
//!
//! What CRIU does (4.1, 4.2 and the development branch alike):
//! `irmap_lookup(dev, ino)` looks in a hash cache first, then scans the
//! `irmap-scan-path`s, then its built-in hints. The cache is filled by
//! those scans and by `irmap_load_cache()`, which `cr_dump_tasks` calls
//! once before it freezes the tasks: it reads the image `irmap-cache` (a
//! service image, no `.img` suffix on disk) from criu's working directory
//! (or, when that has none, the parent images'), the file a pre-dump
//! writes (`irmap_predump_run`, its only writer).
//! Entries loaded from it are revalidated at lookup (stat of the path from
//! the root of the dumped tree's mount namespace, same device and inode),
//! so a path handed over this way is checked by CRIU itself.
//! `irmap_queue_cache` only queues work for a pre-dump; nothing of it
//! reaches `irmap_lookup`. A scan path added late is consulted, but a
//! lookup that misses walks every scan path and expands directories
//! recursively (crossing into any filesystem below), so directories are
//! never handed over as scan paths.
//!
//! So at CHECKPOINT_DEVICES the plugin writes its entries into
//! `irmap-cache`, after the entries already there (a pre-dump's stay in
//! the file at every moment), has CRIU load the file again, and puts back
//! exactly what was there before (or removes the file): no file of ours
//! changes a later dump. CRIU keeps the entries of both loads; an entry
//! loaded twice costs one more stat if it is ever looked up.

use std::os::fd::BorrowedFd;

use thiserror::Error;

use super::image::{self, ImageError, Kind, IMG_SERVICE_MAGIC};
use crate::proto::IrmapCacheEntry;
use crate::sys::criu_syms;

/// CRIU's file name (`CR_FD_IRMAP_CACHE`), in criu's working directory.
pub const IRMAP_CACHE_IMG: &str = "irmap-cache";
/// Where the new content is written before it is renamed into place.
const NEW: &str = "irmap-cache.notify-new";
/// A service image: `IMG_SERVICE_MAGIC`, then `IRMAP_CACHE_MAGIC`.
pub const IRMAP_CACHE: Kind = Kind { name: "irmap-cache", head: Some(IMG_SERVICE_MAGIC), magic: 0x5700_4059 };
/// CRIU creates its images 0600 (`CR_FD_PERM`).
const MODE: u32 = 0o600;

/// One object and the path CRIU should dump for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Kernel encoding, as fdinfo's `sdev:`.
    pub dev: u32,
    pub ino: u64,
    /// Absolute, from the root CRIU's irmap resolves paths in.
    pub path: String,
    pub dir: bool,
}

#[derive(Debug, Error)]
pub enum IrmapError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("criu's irmap_load_cache() failed ({ret}) reading the plugin's entries from {IRMAP_CACHE_IMG} in {cwd}")]
    Load { ret: i32, cwd: String },
    #[error("{IRMAP_CACHE_IMG} in {cwd} could not be put back as it was ({source}); it holds {added} entries of the plugin after those that were there: remove the file (or restore it from a pre-dump) before another dump")]
    PutBack {
        cwd: String,
        added: usize,
        #[source]
        source: ImageError,
    },
}

/// How the paths reached CRIU.
#[derive(Debug, PartialEq, Eq)]
pub enum Handed {
    /// Loaded into CRIU's cache (`irmap_load_cache`).
    Cache(usize),
    /// As scan paths (`irmap_scan_path_add`): criu exports no
    /// `irmap_load_cache`; directories left out (`skipped`).
    ScanPaths { added: usize, skipped: usize },
    /// criu exports neither function.
    Nothing,
}

/// A path as CRIU's irmap keeps it: it stats `path + 1` from its root, so
/// the root itself is "/." (CRIU's own hint for it), not "/".
pub fn criu_path(path: &str) -> String {
    if path == "/" {
        "/.".to_owned()
    } else {
        path.to_owned()
    }
}

/// The file to load: the entries already in `existing` (when it is a
/// non-empty image; its framing is checked), then ours.
pub fn merged(existing: Option<&[u8]>, entries: &[Entry]) -> Result<Vec<u8>, IrmapError> {
    let ours = entries.iter().map(|e| IrmapCacheEntry { dev: e.dev, inode: e.ino, path: criu_path(&e.path) });
    let ours: Vec<IrmapCacheEntry> = ours.collect();
    match existing.filter(|b| !b.is_empty()) {
        None => Ok(image::encode_messages(IRMAP_CACHE, &ours)),
        Some(old) => {
            image::parse(IRMAP_CACHE_IMG, IRMAP_CACHE, old)?;
            let framed = image::encode_messages(IRMAP_CACHE, &ours);
            let mut out = old.to_vec();
            // Our entries without the two magic words of their framing.
            out.extend_from_slice(&framed[8..]);
            Ok(out)
        }
    }
}

fn cwd() -> String {
    rustix::process::getcwd(Vec::new()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "criu's working directory".into())
}

/// Replace `name` in `dir` by `bytes` (mode `mode`): written beside it,
/// then renamed over it, so the file is whole at every moment.
fn replace(dir: BorrowedFd<'_>, name: &str, bytes: &[u8], mode: u32) -> Result<(), ImageError> {
    image::write_file(dir, NEW, bytes, mode)?;
    image::rename(dir, NEW, name).inspect_err(|_| {
        let _ = image::remove(dir, NEW);
    })
}

/// Hand `entries` to CRIU (see the module documentation). Only from a
/// hook, on criu's own thread: the file is read relative to criu's cwd
/// (its working directory) and CRIU is called.
pub fn hand_over(entries: &[Entry]) -> Result<Handed, IrmapError> {
    if entries.is_empty() {
        return Ok(Handed::Cache(0));
    }
    if !criu_syms::has_irmap_load_cache() {
        return Ok(scan_paths(entries));
    }
    let dir = rustix::fs::CWD;
    let before = image::read_file(dir, IRMAP_CACHE_IMG)?;
    let mode = image::mode_of(dir, IRMAP_CACHE_IMG).unwrap_or(MODE);
    let bytes = merged(before.as_deref(), entries)?;
    replace(dir, IRMAP_CACHE_IMG, &bytes, mode)?;
    let ret = criu_syms::irmap_load_cache().unwrap_or(-1);
    let put_back = match &before {
        Some(b) => replace(dir, IRMAP_CACHE_IMG, b, mode),
        None => image::remove(dir, IRMAP_CACHE_IMG),
    };
    put_back.map_err(|source| IrmapError::PutBack { cwd: cwd(), added: entries.len(), source })?;
    if ret != 0 {
        return Err(IrmapError::Load { ret, cwd: cwd() });
    }
    Ok(Handed::Cache(entries.len()))
}

/// The fallback: files as scan paths (each is found by the stat of its
/// own entry); directories left out, see the module documentation.
fn scan_paths(entries: &[Entry]) -> Handed {
    if !criu_syms::has_irmap_scan_path_add() {
        return Handed::Nothing;
    }
    let (mut added, mut skipped) = (0, 0);
    for e in entries {
        let Ok(c) = std::ffi::CString::new(criu_path(&e.path)) else {
            skipped += 1;
            continue;
        };
        if e.dir || criu_syms::irmap_scan_path_add(&c) != Some(0) {
            skipped += 1;
        } else {
            added += 1;
        }
    }
    Handed::ScanPaths { added, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(dev: u32, ino: u64, path: &str) -> Entry {
        Entry { dev, ino, path: path.into(), dir: false }
    }

    fn decoded(b: &[u8]) -> Vec<IrmapCacheEntry> {
        image::decode_all(IRMAP_CACHE_IMG, IRMAP_CACHE, b).unwrap()
    }

    #[test]
    fn a_new_cache_holds_our_entries() {
        let b = merged(None, &[e(0x2b, 7, "/watched"), e(0x15, 9, "/")]).unwrap();
        assert_eq!(&b[..4], &IMG_SERVICE_MAGIC.to_ne_bytes());
        assert_eq!(&b[4..8], &0x5700_4059u32.to_ne_bytes());
        let d = decoded(&b);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].dev, d[0].inode, d[0].path.as_str()), (0x2b, 7, "/watched"));
        // CRIU stats path + 1: the root is "/.".
        assert_eq!(d[1].path, "/.");
        // An empty file is no image (CRIU then looks in the parent).
        assert_eq!(merged(Some(&[]), &[e(1, 2, "/a")]).unwrap(), merged(None, &[e(1, 2, "/a")]).unwrap());
    }

    #[test]
    fn a_pre_dump_cache_keeps_its_entries_first() {
        let pre = merged(None, &[e(0xfd00001, 5, "/etc/hosts")]).unwrap();
        let b = merged(Some(&pre), &[e(0x2b, 7, "/watched")]).unwrap();
        assert!(b.starts_with(&pre));
        let d = decoded(&b);
        assert_eq!(d.iter().map(|x| x.path.as_str()).collect::<Vec<_>>(), ["/etc/hosts", "/watched"]);
    }

    #[test]
    fn a_damaged_cache_is_refused_not_extended() {
        let mut pre = merged(None, &[e(1, 5, "/etc/hosts")]).unwrap();
        pre.truncate(pre.len() - 2);
        assert!(merged(Some(&pre), &[e(1, 2, "/a")]).is_err());
        assert!(merged(Some(b"\x19\x43\x56\x54\x31\x44\x42\x48"), &[e(1, 2, "/a")]).is_err());
    }
}
