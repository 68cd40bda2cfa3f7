//! Switching CRIU's own entries for inotify/epoll files to `EXT`, so that
//! restore asks the plugin (`RESTORE_EXT_FILE`), and registering the plugin
//! in the inventory, so that a restore without the plugin fails by name.
//!
//! All or nothing: every new file is written beside the old one
//! (`X.notify-new`); then a journal is written (the commit point); then the
//! originals are kept as `X.notify-orig` hard links and the new files are
//! renamed into place, `inventory.img` first. A failure before the journal
//! leaves CRIU's images untouched; a failure after it renames the originals
//! back. If criu is killed after the commit point, the plugin completes the
//! switch at the next restore ([`recover`]); a restore without the plugin
//! fails with "Missing required plugin: notify_plugin".
//!
//! Entries are rewritten at the protobuf wire level: fields we do not know
//! are kept byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::BorrowedFd;

use prost::Message;
use thiserror::Error;

use super::image::{self, ImageError};
use crate::proto::{ExtFileEntry, FdTypes, FileEntry, FownEntry, InventoryEntry, PluginsEntry};

/// The journal that marks a takeover past its commit point.
pub const JOURNAL: &str = "notify-takeover.journal";
const NEW: &str = ".notify-new";
const ORIG: &str = ".notify-orig";

#[derive(Debug, Error)]
pub enum TakeoverError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{file}: entry {index}: malformed protobuf ({what})")]
    Wire { file: String, index: usize, what: &'static str },
    #[error("{file}: no entry for file id {id}")]
    NoEntry { file: String, id: u32 },
    /// Test builds only (feature `fault-injection`).
    #[cfg(any(test, feature = "fault-injection"))]
    #[error("fault injected at takeover step {0} (CRIU_NOTIFY_FAULT)")]
    Fault(&'static str),
    #[error("journal {JOURNAL}: names {0:?}, which is not an image file name")]
    BadJournal(String),
}

fn wire(file: &str, index: usize, what: &'static str) -> TakeoverError {
    TakeoverError::Wire { file: file.to_owned(), index, what }
}

/// One top-level field of a message: its number, where its bytes (key
/// included) are, and its value if it is a varint.
type Field = (u32, std::ops::Range<usize>, Option<u64>);

/// Walk the top-level fields of a message.
fn fields(msg: &[u8]) -> Result<Vec<Field>, &'static str> {
    super::wire::fields(msg).map(|f| f.map(|f| (f.number, f.range, f.varint))).collect()
}

/// The value of scalar field `field`: its last occurrence, as protobuf
/// (and protobuf-c, with which CRIU reads the images) decode it.
fn last_varint(fs: &[Field], field: u32) -> Option<u64> {
    fs.iter().rev().find(|f| f.0 == field).and_then(|f| f.2)
}

/// A `uint32` field's value: the low 32 bits of a longer varint, as
/// protobuf-c and prost read it (not "no id").
fn last_u32(fs: &[Field], field: u32) -> Option<u32> {
    last_varint(fs, field).map(|v| v as u32)
}

/// The fdinfo image with every entry that names one of `ids` switched to
/// type EXT (field 3); other fields kept as they are. `None` if unchanged.
pub fn rewrite_fdinfo(file: &str, bytes: &[u8], ids: &BTreeSet<u32>) -> Result<Option<Vec<u8>>, TakeoverError> {
    let entries = image::parse(file, image::FDINFO, bytes)?.entries;
    let mut changed = false;
    let mut out_entries = Vec::with_capacity(entries.len());
    for (index, e) in entries.iter().enumerate() {
        let fs = fields(e).map_err(|w| wire(file, index, w))?;
        let hit = last_u32(&fs, 1).is_some_and(|id| ids.contains(&id));
        if !hit {
            out_entries.push(e.to_vec());
            continue;
        }
        changed = true;
        // Exactly one type field, EXT: in place of the first, or appended
        // when the entry has none.
        let ext = |m: &mut Vec<u8>| {
            super::wire::put_varint(m, 3 << 3);
            super::wire::put_varint(m, FdTypes::Ext as u64);
        };
        let mut m = Vec::with_capacity(e.len() + 2);
        let mut typed = false;
        for (field, range, _) in &fs {
            if *field != 3 {
                m.extend_from_slice(&e[range.clone()]);
            } else if !typed {
                ext(&mut m);
                typed = true;
            }
        }
        if !typed {
            ext(&mut m);
        }
        out_entries.push(m);
    }
    Ok(changed.then(|| image::encode(image::FDINFO, out_entries.iter().map(Vec::as_slice))))
}

/// One byte of an image file to change in place: (offset, before, after).
pub type Patch = (u64, u8, u8);

/// What switching one fdinfo image to EXT takes.
#[derive(Debug, PartialEq, Eq)]
pub enum FdinfoChange {
    /// The type byte of each entry, in place: the common case (every type
    /// CRIU writes, and EXT, is a one-byte varint), with no file created.
    Patch(Vec<Patch>),
    /// A new content (an entry whose type field is not one plain byte).
    Rewrite(Vec<u8>),
}

/// How to switch every entry of the fdinfo image `bytes` that names one of
/// `ids` to type EXT. `None` if no entry does.
pub fn switch_fdinfo(file: &str, bytes: &[u8], ids: &BTreeSet<u32>) -> Result<Option<FdinfoChange>, TakeoverError> {
    let entries = image::parse(file, image::FDINFO, bytes)?.entries;
    let mut patches = Vec::new();
    for (index, e) in entries.iter().enumerate() {
        let fs = fields(e).map_err(|w| wire(file, index, w))?;
        if !last_u32(&fs, 1).is_some_and(|id| ids.contains(&id)) {
            continue;
        }
        let types: Vec<&Field> = fs.iter().filter(|f| f.0 == 3).collect();
        let at = e.as_ptr() as usize - bytes.as_ptr() as usize;
        match types.as_slice() {
            [(_, r, Some(v))] if r.len() == 2 && e[r.start] == 3 << 3 && *v < 0x80 => {
                patches.push(((at + r.start + 1) as u64, *v as u8, FdTypes::Ext as u8));
            }
            _ => return Ok(rewrite_fdinfo(file, bytes, ids)?.map(FdinfoChange::Rewrite)),
        }
    }
    Ok((!patches.is_empty()).then_some(FdinfoChange::Patch(patches)))
}

/// files.img with the entries of `ids` replaced by EXT entries carrying the
/// given owners; all other entries byte for byte.
pub fn rewrite_files(file: &str, bytes: &[u8], ids: &BTreeMap<u32, FownEntry>) -> Result<Vec<u8>, TakeoverError> {
    let entries = image::parse(file, image::FILES, bytes)?.entries;
    let mut seen = BTreeSet::new();
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(entries.len());
    for (index, e) in entries.iter().enumerate() {
        let fs = fields(e).map_err(|w| wire(file, index, w))?;
        let id = last_u32(&fs, 2);
        match id.and_then(|id| ids.get(&id).map(|fown| (id, fown))) {
            Some((id, fown)) => {
                seen.insert(id);
                let ext = FileEntry { r#type: FdTypes::Ext as i32, id, ext: Some(ExtFileEntry { id, fown: *fown }), ..Default::default() };
                out.push(ext.encode_to_vec());
            }
            None => out.push(e.to_vec()),
        }
    }
    if let Some(id) = ids.keys().find(|id| !seen.contains(id)) {
        return Err(TakeoverError::NoEntry { file: file.to_owned(), id: *id });
    }
    Ok(image::encode(image::FILES, out.iter().map(Vec::as_slice)))
}

/// inventory.img with `name` in its plugin list (appended as a protobuf
/// field, which merges into any list already there). `None` if present.
pub fn add_inventory_plugin(file: &str, bytes: &[u8], name: &str) -> Result<Option<Vec<u8>>, TakeoverError> {
    let entries = image::parse(file, image::INVENTORY, bytes)?.entries;
    let first = *entries.first().ok_or_else(|| wire(file, 0, "no inventory entry"))?;
    let inv = InventoryEntry::decode(first).map_err(|_| wire(file, 0, "inventory does not decode"))?;
    if inv.plugins_entry.as_ref().is_some_and(|p| p.plugins.iter().any(|p| p == name)) {
        return Ok(None);
    }
    let add = InventoryEntry { plugins_entry: Some(PluginsEntry { plugins: vec![name.to_owned()] }) };
    let mut merged = first.to_vec();
    merged.extend_from_slice(&add.encode_to_vec());
    let mut all: Vec<&[u8]> = vec![&merged];
    all.extend_from_slice(&entries[1..]);
    Ok(Some(image::encode(image::INVENTORY, all)))
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && !n.contains('/') && n != "." && n != ".." && !n.contains('\0')
}

/// Write `(offset, byte)` pairs into image `name` in place.
fn poke(dir: BorrowedFd<'_>, name: &str, bytes: impl IntoIterator<Item = (u64, u8)>) -> Result<(), TakeoverError> {
    let io = |op, e: rustix::io::Errno| TakeoverError::from(ImageError::Io { file: name.to_owned(), op, source: e.into() });
    let fd = rustix::fs::openat(
        dir,
        name,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io("open", e))?;
    for (off, b) in bytes {
        match rustix::io::pwrite(&fd, &[b], off) {
            Ok(1) => {}
            Ok(_) => return Err(io("write", rustix::io::Errno::IO)),
            Err(e) => return Err(io("write", e)),
        }
    }
    Ok(())
}

/// The byte at `off` of image `name`, if the file is that long.
fn peek(dir: BorrowedFd<'_>, name: &str, off: u64) -> Result<Option<u8>, TakeoverError> {
    let io = |op, e: rustix::io::Errno| TakeoverError::from(ImageError::Io { file: name.to_owned(), op, source: e.into() });
    let fd = rustix::fs::openat(dir, name, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        .map_err(|e| io("open", e))?;
    let mut b = [0u8; 1];
    match rustix::io::pread(&fd, &mut b, off) {
        Ok(1) => Ok(Some(b[0])),
        Ok(_) => Ok(None),
        Err(e) => Err(io("read", e)),
    }
}

/// The journal: the files to rename into place, then the bytes to patch
/// (`patch NAME OFFSET BEFORE AFTER`).
fn journal(files: &[(String, image::Pieces<'_>)], patches: &[(String, Vec<Patch>)]) -> String {
    let mut out: String = files.iter().map(|(n, _)| format!("{n}\n")).collect();
    for (n, ps) in patches {
        for (off, before, after) in ps {
            out.push_str(&format!("patch {n} {off} {before} {after}\n"));
        }
    }
    out
}

/// Fail at `step` if it is the test-only `fault` asked for.
#[cfg(any(test, feature = "fault-injection"))]
fn inject(fault: Option<&str>, step: &'static str) -> Result<(), TakeoverError> {
    if fault == Some(step) {
        return Err(TakeoverError::Fault(step));
    }
    Ok(())
}

#[cfg(not(any(test, feature = "fault-injection")))]
fn inject(_: Option<&str>, _: &'static str) -> Result<(), TakeoverError> {
    Ok(())
}

/// Put `files` (name, new content) in place and apply `patches` (bytes of
/// existing images changed in place), all or nothing. `fault` names
/// a test-only step at which to fail (`write-new`, `before-journal`,
/// `mid-rename`), or `stall-after-journal`: sleep 30 s once the journal is
/// written and the first file renamed, for a test to kill criu there.
pub fn commit(
    dir: BorrowedFd<'_>,
    files: &[(String, image::Pieces<'_>)],
    patches: &[(String, Vec<Patch>)],
    fault: Option<&str>,
) -> Result<(), TakeoverError> {
    // Test builds only; in a release build every injection point is dead.
    let fault = fault.filter(|_| cfg!(any(test, feature = "fault-injection")));
    let c = Commit { dir, files, patches, fault };
    // 1. New files beside the old ones.
    if let Err(e) = c.write_new().and_then(|()| inject(fault, "before-journal")) {
        c.remove_new();
        return Err(e);
    }
    // 2. Keep the originals (hard links), then the commit point.
    let mut kept = Vec::new();
    if let Err(e) = c.keep_originals(&mut kept).and_then(|()| c.write_journal()) {
        c.remove(&kept, ORIG);
        let _ = image::remove(dir, JOURNAL);
        c.remove_new();
        return Err(e);
    }
    // 3. Rename into place, 4. then patch in place (a restore of a
    //    half-done commit finishes both from the journal); undo everything
    //    on failure.
    let mut renamed: Vec<&str> = Vec::new();
    let mut patched: Vec<&(String, Vec<Patch>)> = Vec::new();
    let result = c.rename_all(&mut renamed).and_then(|()| c.patch_all(&mut patched));
    if result.is_err() {
        c.undo(&renamed, &patched, &kept);
    }
    c.remove(&kept, ORIG);
    image::remove(dir, JOURNAL)?;
    result
}

/// One commit under way (see [`commit`]).
struct Commit<'c, 'f> {
    dir: BorrowedFd<'c>,
    files: &'c [(String, image::Pieces<'f>)],
    patches: &'c [(String, Vec<Patch>)],
    fault: Option<&'c str>,
}

impl Commit<'_, '_> {
    fn write_new(&self) -> Result<(), TakeoverError> {
        for (i, (name, bytes)) in self.files.iter().enumerate() {
            let mode = image::mode_of(self.dir, name).unwrap_or(image::IMAGE_MODE);
            image::write_pieces(self.dir, &format!("{name}{NEW}"), bytes, mode)?;
            if i == 0 {
                inject(self.fault, "write-new")?;
            }
        }
        Ok(())
    }

    fn remove_new(&self) {
        for (n, _) in self.files {
            let _ = image::remove(self.dir, &format!("{n}{NEW}"));
        }
    }

    /// `names` + `suffix`, best effort.
    fn remove(&self, names: &[String], suffix: &str) {
        for n in names {
            let _ = image::remove(self.dir, &format!("{n}{suffix}"));
        }
    }

    /// Hard-link each existing original as `X.notify-orig` (listed in `kept`).
    fn keep_originals(&self, kept: &mut Vec<String>) -> Result<(), TakeoverError> {
        for (n, _) in self.files {
            let orig = format!("{n}{ORIG}");
            let _ = image::remove(self.dir, &orig);
            match rustix::fs::linkat(self.dir, n.as_str(), self.dir, orig.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) => kept.push(n.clone()),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(ImageError::Io { file: n.clone(), op: "link original", source: e.into() }.into()),
            }
        }
        Ok(())
    }

    /// The commit point.
    fn write_journal(&self) -> Result<(), TakeoverError> {
        Ok(image::write_file(self.dir, JOURNAL, journal(self.files, self.patches).as_bytes(), image::IMAGE_MODE)?)
    }

    fn rename_all<'n>(&'n self, renamed: &mut Vec<&'n str>) -> Result<(), TakeoverError> {
        for (i, (name, _)) in self.files.iter().enumerate() {
            if i == 1 {
                inject(self.fault, "mid-rename")?;
            }
            image::rename(self.dir, &format!("{name}{NEW}"), name)?;
            renamed.push(name);
            if i == 0 && self.fault == Some("stall-after-journal") {
                // Test-only: past the commit point with the first file
                // switched, so that a test can SIGKILL criu right here.
                log::warn!("stalling 30 s after the takeover's commit point (CRIU_NOTIFY_FAULT=stall-after-journal)");
                std::thread::sleep(std::time::Duration::from_secs(30));
            }
        }
        Ok(())
    }

    fn patch_all<'n>(&'n self, patched: &mut Vec<&'n (String, Vec<Patch>)>) -> Result<(), TakeoverError> {
        for p in self.patches {
            // A file that failed may be partly patched: it is undone too.
            patched.push(p);
            poke(self.dir, &p.0, p.1.iter().map(|(off, _, after)| (*off, *after)))?;
        }
        Ok(())
    }

    /// Put back what `renamed` and `patched` changed.
    fn undo(&self, renamed: &[&str], patched: &[&(String, Vec<Patch>)], kept: &[String]) {
        for (name, ps) in patched {
            let _ = poke(self.dir, name, ps.iter().map(|(off, before, _)| (*off, *before)));
        }
        for name in renamed {
            if kept.iter().any(|k| k == name) {
                let _ = image::rename(self.dir, &format!("{name}{ORIG}"), name);
            } else {
                let _ = image::remove(self.dir, name);
            }
        }
        self.remove_new();
    }
}

/// At restore: complete a takeover that criu's death interrupted after its
/// commit point. Returns the names completed.
pub fn recover(dir: BorrowedFd<'_>) -> Result<Vec<String>, TakeoverError> {
    let Some(list) = image::read_file(dir, JOURNAL)? else { return Ok(vec![]) };
    let list = String::from_utf8_lossy(&list).into_owned();
    let mut done = Vec::new();
    for line in list.lines().filter(|l| !l.is_empty()) {
        if let Some(p) = line.strip_prefix("patch ") {
            let bad = || TakeoverError::BadJournal(line.to_owned());
            let f: Vec<&str> = p.split(' ').collect();
            let [name, off, before, after] = f.as_slice() else { return Err(bad()) };
            let (off, before, after): (u64, u8, u8) =
                (off.parse().map_err(|_| bad())?, before.parse().map_err(|_| bad())?, after.parse().map_err(|_| bad())?);
            if !valid_name(name) {
                return Err(bad());
            }
            let now = peek(dir, name, off)?;
            match now {
                Some(b) if b == after => {}
                Some(b) if b == before => {
                    poke(dir, name, [(off, after)])?;
                    if done.last() != Some(&name.to_string()) {
                        done.push(name.to_string());
                    }
                }
                _ => return Err(bad()),
            }
            continue;
        }
        let name = line;
        if !valid_name(name) {
            return Err(TakeoverError::BadJournal(name.to_owned()));
        }
        let new = format!("{name}{NEW}");
        if image::read_file(dir, &new)?.is_some() {
            image::rename(dir, &new, name)?;
            done.push(name.to_owned());
        }
        image::remove(dir, &format!("{name}{ORIG}"))?;
    }
    image::remove(dir, JOURNAL)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::FdinfoEntry;
    use std::os::fd::AsFd;

    fn fdinfo(entries: &[(u32, i32, u32)]) -> Vec<u8> {
        let msgs: Vec<FdinfoEntry> = entries.iter().map(|&(id, t, fd)| FdinfoEntry { id, flags: 1, r#type: t, fd }).collect();
        image::encode_messages(image::FDINFO, &msgs)
    }

    #[test]
    fn fdinfo_switches_only_named_ids_and_keeps_unknown_fields() {
        let mut bytes = fdinfo(&[(5, 8, 3), (6, 1, 4)]);
        // Append an unknown field (xattr, 5) to the first entry by hand.
        let parsed = image::parse("f", image::FDINFO, &bytes).unwrap().entries;
        let mut e0 = parsed[0].to_vec();
        e0.extend_from_slice(&[0x2a, 0x02, b'h', b'i']);
        let e1 = parsed[1].to_vec();
        bytes = image::encode(image::FDINFO, [e0.as_slice(), e1.as_slice()]);
        let out = rewrite_fdinfo("f", &bytes, &BTreeSet::from([5])).unwrap().unwrap();
        let back = image::parse("f", image::FDINFO, &out).unwrap().entries;
        let m0 = FdinfoEntry::decode(back[0]).unwrap();
        assert_eq!((m0.id, m0.r#type, m0.fd, m0.flags), (5, FdTypes::Ext as i32, 3, 1));
        assert!(back[0].ends_with(&[0x2a, 0x02, b'h', b'i']));
        assert_eq!(back[1], e1.as_slice());
        assert!(rewrite_fdinfo("f", &bytes, &BTreeSet::from([99])).unwrap().is_none());
    }

    #[test]
    fn fdinfo_ids_are_read_as_protobuf_reads_them() {
        // id 5 then id 7: the entry is file 7 (last wins); no type field at
        // all: the switched entry must still say EXT. Both found by fuzzing.
        let dup = [0x08, 0x05, 0x08, 0x07, 0x10, 0x01, 0x18, 0x08, 0x20, 0x03];
        let untyped = [0x08, 0x09, 0x10, 0x01, 0x20, 0x04];
        let bytes = image::encode(image::FDINFO, [&dup[..], &untyped[..]]);
        assert!(rewrite_fdinfo("f", &bytes, &BTreeSet::from([5])).unwrap().is_none());
        let out = rewrite_fdinfo("f", &bytes, &BTreeSet::from([7, 9])).unwrap().unwrap();
        let back: Vec<FdinfoEntry> = image::decode_all("f", image::FDINFO, &out).unwrap();
        assert_eq!((back[0].id, back[0].r#type, back[0].fd), (7, FdTypes::Ext as i32, 3));
        assert_eq!((back[1].id, back[1].r#type, back[1].fd), (9, FdTypes::Ext as i32, 4));
        // A 33-bit varint for a uint32 id: file 5 to protobuf-c and prost.
        let long = [0x08, 0x85, 0x80, 0x80, 0x80, 0x10, 0x20, 0x06];
        let bytes = image::encode(image::FDINFO, [&long[..]]);
        let out = rewrite_fdinfo("f", &bytes, &BTreeSet::from([5])).unwrap().unwrap();
        let back: Vec<FdinfoEntry> = image::decode_all("f", image::FDINFO, &out).unwrap();
        assert_eq!((back[0].id, back[0].r#type, back[0].fd), (5, FdTypes::Ext as i32, 6));
    }

    #[test]
    fn files_ids_are_read_as_protobuf_reads_them() {
        let dup = [0x08, 0x08, 0x10, 0x05, 0x10, 0x07];
        let bytes = image::encode(image::FILES, [&dup[..]]);
        let ids = BTreeMap::from([(7, FownEntry::default())]);
        let out = rewrite_files("files.img", &bytes, &ids).unwrap();
        let back: Vec<FileEntry> = image::decode_all("files.img", image::FILES, &out).unwrap();
        assert_eq!((back[0].id, back[0].r#type), (7, FdTypes::Ext as i32));
        let ids = BTreeMap::from([(5, FownEntry::default())]);
        assert!(matches!(rewrite_files("files.img", &bytes, &ids), Err(TakeoverError::NoEntry { id: 5, .. })));
    }

    #[test]
    fn files_switch_to_ext() {
        let fe = |id, t| FileEntry { r#type: t, id, ..Default::default() };
        let bytes = image::encode_messages(image::FILES, &[fe(5, 8), fe(6, 1), fe(7, 7)]);
        let fown = FownEntry { uid: 1, euid: 2, signum: 3, pid_type: 4, pid: 5 };
        let ids = BTreeMap::from([(5, fown), (7, FownEntry::default())]);
        let out = rewrite_files("files.img", &bytes, &ids).unwrap();
        let back: Vec<FileEntry> = image::decode_all("files.img", image::FILES, &out).unwrap();
        assert_eq!(back[0].r#type, FdTypes::Ext as i32);
        assert_eq!(back[0].ext.as_ref().unwrap().fown, fown);
        assert_eq!(back[1], fe(6, 1));
        assert_eq!(back[2].ext.as_ref().unwrap().id, 7);
        let missing = BTreeMap::from([(9, FownEntry::default())]);
        assert!(matches!(rewrite_files("files.img", &bytes, &missing), Err(TakeoverError::NoEntry { id: 9, .. })));
    }

    #[test]
    fn inventory_gets_the_plugin_once() {
        // img_version = 2 (field 1) and an unknown field 13 string.
        let body = [0x08, 0x02, 0x6a, 0x01, b'x'];
        let bytes = image::encode(image::INVENTORY, [&body[..]]);
        let out = add_inventory_plugin("inventory.img", &bytes, "notify_plugin").unwrap().unwrap();
        let e = image::parse("i", image::INVENTORY, &out).unwrap().entries[0].to_vec();
        assert!(e.starts_with(&body));
        let inv = InventoryEntry::decode(e.as_slice()).unwrap();
        assert_eq!(inv.plugins_entry.unwrap().plugins, vec!["notify_plugin"]);
        assert!(add_inventory_plugin("inventory.img", &out, "notify_plugin").unwrap().is_none());
    }

    #[test]
    fn malformed_entries_are_errors() {
        let bytes = image::encode(image::FDINFO, [&[0x08, 0xff][..]]);
        assert!(matches!(rewrite_fdinfo("f", &bytes, &BTreeSet::from([1])), Err(TakeoverError::Wire { .. })));
        let bytes = image::encode(image::FILES, [&[0x12, 0x05, 0x01][..]]);
        assert!(rewrite_files("f", &bytes, &BTreeMap::new()).is_err());
    }

    fn whole(files: &[(&str, &[u8])]) -> Vec<(String, image::Pieces<'static>)> {
        files.iter().map(|(n, b)| (n.to_string(), vec![b.to_vec().into()])).collect()
    }

    fn tmpdir(tag: &str) -> (std::path::PathBuf, std::os::fd::OwnedFd) {
        let p = std::env::temp_dir().join(format!("criu-notify-takeover-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        let d = image::open_dir(&p).unwrap();
        (p, d)
    }

    fn snapshot(p: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
            })
            .collect()
    }

    #[test]
    fn commit_is_all_or_nothing() {
        for fault in ["write-new", "before-journal", "mid-rename"] {
            let (p, d) = tmpdir(fault);
            std::fs::write(p.join("a.img"), b"A").unwrap();
            std::fs::write(p.join("b.img"), b"B").unwrap();
            let before = snapshot(&p);
            let files = whole(&[("a.img", b"A2"), ("b.img", b"B2"), ("c.img", b"C")]);
            let e = commit(d.as_fd(), &files, &[], Some(fault)).unwrap_err();
            assert!(matches!(e, TakeoverError::Fault(_)), "{fault}: {e}");
            assert_eq!(snapshot(&p), before, "{fault}");
            commit(d.as_fd(), &files, &[], None).unwrap();
            let after = snapshot(&p);
            assert_eq!(after.len(), 3);
            assert_eq!(after["a.img"], b"A2");
            assert_eq!(after["c.img"], b"C");
            std::fs::remove_dir_all(&p).unwrap();
        }
    }

    #[test]
    fn recover_completes_an_interrupted_commit() {
        let (p, d) = tmpdir("recover");
        std::fs::write(p.join("a.img"), b"A2").unwrap();
        std::fs::write(p.join("a.img.notify-orig"), b"A").unwrap();
        std::fs::write(p.join("b.img"), b"B").unwrap();
        std::fs::write(p.join("b.img.notify-new"), b"B2").unwrap();
        std::fs::write(p.join(JOURNAL), b"a.img\nb.img\n").unwrap();
        assert_eq!(recover(d.as_fd()).unwrap(), vec!["b.img"]);
        let s = snapshot(&p);
        assert_eq!(s.len(), 2);
        assert_eq!(s["b.img"], b"B2");
        std::fs::write(p.join(JOURNAL), b"../etc/passwd\n").unwrap();
        assert!(matches!(recover(d.as_fd()), Err(TakeoverError::BadJournal(_))));
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn fdinfo_type_bytes_are_patched_in_place_when_they_can_be() {
        let bytes = fdinfo(&[(5, 8, 3), (6, 1, 4), (7, 7, 5)]);
        let Some(FdinfoChange::Patch(p)) = switch_fdinfo("f", &bytes, &BTreeSet::from([5, 7])).unwrap() else { panic!("no patch") };
        let mut patched = bytes.clone();
        for (off, before, after) in &p {
            assert_eq!(patched[*off as usize], *before);
            patched[*off as usize] = *after;
        }
        // The same result as rewriting the file.
        assert_eq!(Some(patched), rewrite_fdinfo("f", &bytes, &BTreeSet::from([5, 7])).unwrap());
        assert_eq!(switch_fdinfo("f", &bytes, &BTreeSet::from([99])).unwrap(), None);
        // A type given as a two-byte varint cannot be patched: rewritten.
        let parsed = image::parse("f", image::FDINFO, &bytes).unwrap().entries;
        let mut e0 = parsed[0].to_vec();
        e0.extend_from_slice(&[0x18, 0x88, 0x00]);
        let odd = image::encode(image::FDINFO, [e0.as_slice()]);
        assert!(matches!(switch_fdinfo("f", &odd, &BTreeSet::from([5])).unwrap(), Some(FdinfoChange::Rewrite(_))));
    }

    #[test]
    fn commit_patches_after_renames_and_undoes_them_on_failure() {
        let (p, d) = tmpdir("patch");
        std::fs::write(p.join("a.img"), b"A").unwrap();
        std::fs::write(p.join("f.img"), b"xx\x08yy\x07").unwrap();
        let files = whole(&[("a.img", b"A2"), ("b.img", b"B")]);
        let patches = vec![("f.img".to_string(), vec![(2u64, 8u8, 16u8), (5, 7, 16)])];
        // A failure before the patches leaves everything as it was.
        assert!(commit(d.as_fd(), &files, &patches, Some("mid-rename")).is_err());
        let s = snapshot(&p);
        assert_eq!((s.len(), &s["a.img"][..], &s["f.img"][..]), (2, &b"A"[..], &b"xx\x08yy\x07"[..]));
        commit(d.as_fd(), &files, &patches, None).unwrap();
        let s = snapshot(&p);
        assert_eq!(s["f.img"], b"xx\x10yy\x10");
        assert_eq!((s.len(), &s["a.img"][..]), (3, &b"A2"[..]));
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn recover_applies_journaled_patches_once() {
        let (p, d) = tmpdir("recover-patch");
        std::fs::write(p.join("f.img"), b"xx\x08yy\x10").unwrap();
        std::fs::write(p.join(JOURNAL), b"patch f.img 2 8 16\npatch f.img 5 7 16\n").unwrap();
        assert_eq!(recover(d.as_fd()).unwrap(), vec!["f.img"]);
        assert_eq!(std::fs::read(p.join("f.img")).unwrap(), b"xx\x10yy\x10");
        // A byte that is neither before nor after: the journal is not ours.
        std::fs::write(p.join(JOURNAL), b"patch f.img 0 8 16\n").unwrap();
        assert!(matches!(recover(d.as_fd()), Err(TakeoverError::BadJournal(_))));
        std::fs::write(p.join(JOURNAL), b"patch ../x 0 8 16\n").unwrap();
        assert!(matches!(recover(d.as_fd()), Err(TakeoverError::BadJournal(_))));
        std::fs::remove_dir_all(&p).unwrap();
    }
}
