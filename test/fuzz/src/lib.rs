//! The bodies of the fuzz targets (fuzz_targets/*.rs are one line each) and
//! the seed inputs. Shared with the plugin's own `fuzz_regressions` test
//! (test/fuzz_regressions.rs includes this file as a module), so that a
//! found input is replayed through exactly the code that found it. Uses
//! only `criu_notify`, `prost` and std: no fuzzer types in here.
//!
//! Every target must return normally for any input: the decoders may fail,
//! never panic. Beyond "no panic", each checks properties that must hold
//! (framing round-trips, the takeover switches exactly the named entries,
//! validated entries have the shape restore relies on, ...), with `assert!`,
//! so that a broken property is a crash the fuzzer reports.

#![allow(clippy::all)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use criu_notify::config::{Config, QueuedPolicy};
use criu_notify::criu::image::{self, Kind};
use criu_notify::criu::takeover;
use criu_notify::epoll::restore as ep;
use criu_notify::inotify::restore as ino;
use criu_notify::proto::{
    EventpollFileEntry, EventpollTfdEntry, FdTypes, FdinfoEntry, FhEntry, FileEntry, FownEntry, InotifyFileEntry, InotifyWdEntry,
    InventoryEntry, PluginsEntry, PstreeEntry, StatsEntry, TaskKobjIdsEntry,
};
use criu_notify::sys::{fdinfo, mounts};
use prost::Message;

/// Every target by name, as fuzz.sh and the regression test know them.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("image_framing", image_framing),
    ("messages", messages),
    ("fdinfo", fdinfo),
    ("takeover_rewrite", takeover_rewrite),
    ("mounts", mounts),
    ("validate", validate),
    ("config", config),
];

/// Every image kind the plugin reads or writes.
pub const KINDS: [Kind; 8] =
    [image::INVENTORY, image::FILES, image::FDINFO, image::PSTREE, image::IDS, image::INOTIFY_FILE, image::EVENTPOLL_FILE, image::STATS];

/// The plugin's name in the inventory (crate::plugin::NAME).
const PLUGIN: &str = "notify_plugin";

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ---------------------------------------------------------------- framing

/// `image::parse` as every kind: a parsed image re-frames to the very same
/// bytes, and its entries lie inside the file.
pub fn image_framing(data: &[u8]) {
    for kind in KINDS {
        let Ok(parsed) = image::parse("fuzz.img", kind, data) else { continue };
        let header = if kind.head.is_some() { 8 } else { 4 };
        let total: usize = parsed.entries.iter().map(|e| 4 + e.len()).sum();
        assert_eq!(header + total, data.len(), "{}: entries do not cover the file", kind.name);
        let again = image::encode(kind, parsed.entries.iter().copied());
        assert_eq!(again, data, "{}: parse then encode is not the identity", kind.name);
    }
}

// --------------------------------------------------------------- messages

/// Decoded messages re-encode to something that decodes to the same value.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let bytes = m.encode_to_vec();
    let back = M::decode(bytes.as_slice()).expect("a re-encoded message decodes");
    assert_eq!(&back, m, "decode(encode(m)) != m");
    let _ = format!("{m:?}");
}

fn decode_as<M: Message + Default + PartialEq + std::fmt::Debug>(kind: Kind, data: &[u8]) {
    // The whole image, as the plugin reads it...
    match image::decode_all::<M>("fuzz.img", kind, data) {
        Ok(msgs) => {
            msgs.iter().for_each(round_trip);
            let again = image::encode_messages(kind, &msgs);
            let back: Vec<M> = image::decode_all("fuzz.img", kind, &again).expect("re-framed messages decode");
            assert_eq!(back, msgs);
        }
        Err(e) => {
            assert!(e.to_string().contains("fuzz.img"), "error does not name the image: {e}");
        }
    }
    // ... and the bytes as one bare message, so that the fuzzer reaches the
    // protobuf decoder without having to find the framing first.
    if let Ok(m) = M::decode(data) {
        round_trip(&m);
    }
}

/// `image::decode_all` for every message type the plugin reads; the
/// split decoder of big inotify entries gives prost's result on any input.
pub fn messages(data: &[u8]) {
    let prost_says = InotifyFileEntry::decode(data).ok();
    assert_eq!(criu_notify::criu::wire::decode_inotify_tuned(data, 0, usize::MAX).ok(), prost_says, "split decode differs from prost");
    assert_eq!(criu_notify::criu::wire::decode_inotify_tuned(data, 0, 2).ok(), prost_says, "threaded split decode differs from prost");
    decode_as::<InotifyFileEntry>(image::INOTIFY_FILE, data);
    decode_as::<EventpollFileEntry>(image::EVENTPOLL_FILE, data);
    decode_as::<FileEntry>(image::FILES, data);
    decode_as::<FdinfoEntry>(image::FDINFO, data);
    decode_as::<PstreeEntry>(image::PSTREE, data);
    decode_as::<TaskKobjIdsEntry>(image::IDS, data);
    decode_as::<InventoryEntry>(image::INVENTORY, data);
    decode_as::<StatsEntry>(image::STATS, data);
}

// ----------------------------------------------------------------- fdinfo

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The fdinfo parsers on arbitrary text; what they accept prints back (in
/// the kernel's format) to text that parses to the same values.
pub fn fdinfo(data: &[u8]) {
    let t = text(data);
    let _ = fdinfo::parse_common(&t);
    if let Ok(marks) = fdinfo::parse_inotify(&t) {
        let mut printed = String::new();
        for m in &marks {
            printed +=
                &format!("inotify wd:{:x} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:{:x}", m.wd, m.ino, m.sdev, m.mask, m.ignored_mask);
            if let Some(h) = &m.handle {
                printed += &format!(" fhandle-bytes:{:x} fhandle-type:{:x} f_handle:{}", h.bytes.len(), h.handle_type, hex_bytes(&h.bytes));
            }
            printed += "\n";
        }
        assert_eq!(fdinfo::parse_inotify(&printed).as_ref(), Ok(&marks), "inotify marks do not print back: {printed:?}");
    }
    if let Ok(targets) = fdinfo::parse_epoll(&t) {
        let printed: String = targets
            .iter()
            .map(|e| {
                format!("tfd: {:8} events: {:8x} data: {:16x}  pos:{} ino:{:x} sdev:{:x}\n", e.tfd, e.events, e.data, e.pos, e.ino, e.sdev)
            })
            .collect();
        assert_eq!(fdinfo::parse_epoll(&printed).as_ref(), Ok(&targets), "epoll targets do not print back: {printed:?}");
    }
}

// --------------------------------------------------------------- takeover

/// Does the message have top-level field `field` at all? prost decodes an
/// absent required field as 0; CRIU (protobuf-c) refuses such an entry, and
/// the takeover cannot know which file it is: no property is claimed then.
fn has_field(msg: &[u8], field: u64) -> bool {
    fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let c = *b.get(*pos)?;
            *pos += 1;
            v |= u64::from(c & 0x7f) << shift;
            if c & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut pos = 0;
    while pos < msg.len() {
        let Some(key) = varint(msg, &mut pos) else { return false };
        if key >> 3 == field {
            return true;
        }
        let skip = match key & 7 {
            0 => varint(msg, &mut pos).map(|_| 0),
            1 => Some(8),
            2 => varint(msg, &mut pos).and_then(|l| usize::try_from(l).ok()),
            5 => Some(4),
            _ => None,
        };
        let Some(next) = skip.and_then(|n| pos.checked_add(n)) else { return false };
        pos = next;
    }
    false
}

/// The entries of an image that prost decodes and that have their id
/// field (number `id_field`), with the decoded message.
fn identified<'a, M: Message + Default>(kind: Kind, body: &'a [u8], id_field: u64) -> Vec<(usize, &'a [u8], M)> {
    let Ok(p) = image::parse("fuzz.img", kind, body) else { return vec![] };
    p.entries
        .iter()
        .enumerate()
        .filter(|(_, e)| has_field(e, id_field))
        .filter_map(|(i, e)| M::decode(*e).ok().map(|m| (i, *e, m)))
        .collect()
}

/// The ids the takeover is asked to switch: those of the identified entries
/// (in order) whose bit is set in `mask` (bit i%8 for entry i).
fn chosen<M: Message + Default>(kind: Kind, body: &[u8], id_field: u64, mask: u8, id: impl Fn(&M) -> u32) -> BTreeSet<u32> {
    identified::<M>(kind, body, id_field).iter().filter(|(i, _, _)| mask & (1 << (i % 8)) != 0).map(|(_, _, m)| id(m)).collect()
}

fn fown_for(id: u32) -> FownEntry {
    FownEntry { uid: id, euid: id ^ 1, signum: 29, pid_type: 1, pid: id.wrapping_add(7) }
}

/// Byte 0 picks which entries are taken over (a bit mask over the entry
/// index mod 8); the rest is an image given to all three rewriters (its
/// magic decides which gets past the header).
pub fn takeover_rewrite(data: &[u8]) {
    let Some((&mask, body)) = data.split_first() else { return };
    rewrite_fdinfo(body, mask);
    rewrite_files(body, mask);
    add_inventory_plugin(body);
}

fn rewrite_fdinfo(body: &[u8], mask: u8) {
    let ids = chosen::<FdinfoEntry>(image::FDINFO, body, 1, mask, |m| m.id);
    let out = match takeover::rewrite_fdinfo("fdinfo-1.img", body, &ids) {
        Ok(out) => out,
        Err(e) => {
            assert!(e.to_string().contains("fdinfo-1.img"), "error does not name the image: {e}");
            return;
        }
    };
    let before = image::parse("f", image::FDINFO, body).expect("accepted input parses").entries;
    let after = match &out {
        Some(bytes) => image::parse("f", image::FDINFO, bytes).expect("rewritten fdinfo re-parses").entries,
        None => before.clone(),
    };
    assert_eq!(after.len(), before.len(), "rewrite changed the entry count");
    for (i, (old, new)) in before.iter().zip(&after).enumerate() {
        let Ok(m) = FdinfoEntry::decode(*old) else { continue };
        if !has_field(old, 1) {
            continue;
        }
        if ids.contains(&m.id) {
            let n = FdinfoEntry::decode(*new).unwrap_or_else(|e| panic!("entry {i}: switched entry does not decode: {e}"));
            assert_eq!(n.r#type, FdTypes::Ext as i32, "entry {i} (id {}) was not switched to EXT", m.id);
            assert_eq!((n.id, n.fd, n.flags), (m.id, m.fd, m.flags), "entry {i}: switch changed id/fd/flags");
        } else {
            assert_eq!(old, new, "entry {i} (id {}) not named but changed", m.id);
        }
    }
    if out.is_none() {
        assert!(
            identified::<FdinfoEntry>(image::FDINFO, body, 1).iter().all(|(_, _, m)| !ids.contains(&m.id)),
            "unchanged although an entry is named"
        );
    }
    // Patching in place gives what a rewrite would, byte for byte, or a
    // rewrite itself.
    match takeover::switch_fdinfo("fdinfo-1.img", body, &ids).expect("rewrite accepted it") {
        None => assert!(out.is_none(), "a rewrite changes what no patch does"),
        Some(takeover::FdinfoChange::Rewrite(b)) => assert_eq!(Some(b), out, "switch_fdinfo's rewrite differs"),
        Some(takeover::FdinfoChange::Patch(p)) => {
            let mut patched = body.to_vec();
            for (off, before, after) in p {
                assert_eq!(patched[off as usize], before, "patch at {off}: byte before differs");
                patched[off as usize] = after;
            }
            assert_eq!(Some(patched), out, "patched in place differs from the rewrite");
        }
    }
}

fn rewrite_files(body: &[u8], mask: u8) {
    let ids: BTreeMap<u32, FownEntry> =
        chosen::<FileEntry>(image::FILES, body, 2, mask, |m| m.id).into_iter().map(|id| (id, fown_for(id))).collect();
    let out = match takeover::rewrite_files("files.img", body, &ids) {
        Ok(out) => out,
        Err(e) => {
            assert!(e.to_string().contains("files.img"), "error does not name the image: {e}");
            return;
        }
    };
    let before = image::parse("f", image::FILES, body).expect("accepted input parses").entries;
    let after = image::parse("f", image::FILES, &out).expect("rewritten files.img re-parses").entries;
    assert_eq!(after.len(), before.len(), "rewrite changed the entry count");
    for (i, (old, new)) in before.iter().zip(&after).enumerate() {
        let Ok(m) = FileEntry::decode(*old) else { continue };
        if !has_field(old, 2) {
            continue;
        }
        if let Some(fown) = ids.get(&m.id) {
            let n = FileEntry::decode(*new).unwrap_or_else(|e| panic!("entry {i}: EXT entry does not decode: {e}"));
            assert_eq!(n.r#type, FdTypes::Ext as i32, "entry {i} (id {}) was not switched to EXT", m.id);
            assert_eq!(n.id, m.id);
            let ext = n.ext.unwrap_or_else(|| panic!("entry {i}: EXT entry without ext"));
            assert_eq!((ext.id, &ext.fown), (m.id, fown), "entry {i}: EXT entry has the wrong id or owner");
        } else {
            assert_eq!(old, new, "entry {i} (id {}) not named but changed", m.id);
        }
    }
}

fn add_inventory_plugin(body: &[u8]) {
    let out = match takeover::add_inventory_plugin("inventory.img", body, PLUGIN) {
        Ok(out) => out,
        Err(e) => {
            assert!(e.to_string().contains("inventory.img"), "error does not name the image: {e}");
            return;
        }
    };
    let before = image::parse("i", image::INVENTORY, body).expect("accepted input parses").entries;
    let old = InventoryEntry::decode(before[0]).expect("accepted inventory decodes");
    let old_plugins = old.plugins_entry.map(|p| p.plugins).unwrap_or_default();
    let Some(out) = out else {
        assert!(old_plugins.iter().any(|p| p == PLUGIN), "left unchanged without the plugin");
        return;
    };
    let after = image::parse("i", image::INVENTORY, &out).expect("new inventory re-parses").entries;
    assert_eq!(after.len(), before.len(), "inventory entry count changed");
    assert!(after[0].starts_with(before[0]), "the old inventory entry was not kept byte for byte");
    assert_eq!(&after[1..], &before[1..], "other inventory entries changed");
    let new = InventoryEntry::decode(after[0]).expect("new inventory decodes");
    let plugins = new.plugins_entry.map(|p| p.plugins).unwrap_or_default();
    assert_eq!(plugins[..plugins.len() - 1], old_plugins[..], "plugins already listed were changed");
    assert_eq!(plugins.last().map(String::as_str), Some(PLUGIN));
    assert!(
        matches!(takeover::add_inventory_plugin("inventory.img", &out, PLUGIN), Ok(None)),
        "adding the plugin twice changed the inventory again"
    );
}

// ----------------------------------------------------------------- mounts

/// mountinfo parsing and unescaping on arbitrary text.
pub fn mounts(data: &[u8]) {
    let t = text(data);
    let parsed = mounts::parse(&t);
    assert!(parsed.len() <= t.lines().count());
    for m in &parsed {
        let (maj, min) = mounts::decode_dev(m.sdev);
        assert_eq!(mounts::encode_dev(maj, min), m.sdev);
    }
    let u = mounts::unescape(&t);
    assert!(u.len() <= t.len(), "unescaping made the text longer");
    if !t.contains('\\') {
        assert_eq!(u, t, "text without escapes changed");
    }
}

// --------------------------------------------------------------- validate

/// What `clean_path` promises: an absolute path of plain components.
fn check_clean(p: &str) {
    if !ino::clean_path(p) {
        return;
    }
    assert!(!p.contains('\0'));
    assert!(p.starts_with('/'));
    assert!(!p.contains("//"), "{p:?}");
    let mut comps = Path::new(p).components();
    assert_eq!(comps.next(), Some(Component::RootDir));
    assert!(comps.all(|c| matches!(c, Component::Normal(_))), "{p:?} has . or .. components");
}

fn check_inotify(e: &InotifyFileEntry) {
    let Ok(()) = ino::validate(e) else { return };
    let mut wds = BTreeSet::new();
    for w in &e.wd {
        let wd = w.wd as i32;
        assert!(wd > 0, "validated wd {wd}");
        assert!(wds.insert(wd), "validated duplicate wd {wd}");
        if w.unlinked == Some(true) {
            assert!(w.holder_pid.is_some() && w.holder_fd.is_some());
        } else {
            let p = w.path.as_deref().or(w.f_handle.path.as_deref()).unwrap_or("");
            assert!(ino::clean_path(p), "validated unclean path {p:?}");
        }
        assert!(w.f_handle.bytes as usize <= 128 && w.f_handle.bytes as usize <= w.f_handle.handle.len() * 8);
    }
}

fn check_epoll(e: &EventpollFileEntry) {
    let Ok(()) = ep::validate(e) else { return };
    let mut keys = BTreeSet::new();
    for t in &e.tfd {
        assert!(t.tfd <= i32::MAX as u32, "validated fd {}", t.tfd);
        assert!(keys.insert((t.id, t.tfd)), "validated duplicate key");
        assert_ne!(t.id, e.id, "validated self-registration");
        let _ = ep::disarmed(t);
    }
}

/// The restore-time checks on messages decoded from arbitrary bytes: as
/// whole images (what restore reads) and as bare messages.
pub fn validate(data: &[u8]) {
    if let Ok(v) = image::decode_all::<InotifyFileEntry>("i", image::INOTIFY_FILE, data) {
        v.iter().for_each(check_inotify);
    }
    if let Ok(v) = image::decode_all::<EventpollFileEntry>("e", image::EVENTPOLL_FILE, data) {
        v.iter().for_each(check_epoll);
    }
    if let Ok(e) = InotifyFileEntry::decode(data) {
        check_inotify(&e);
        for w in &e.wd {
            w.path.as_deref().map(check_clean);
            w.f_handle.path.as_deref().map(check_clean);
        }
    }
    if let Ok(e) = EventpollFileEntry::decode(data) {
        check_epoll(&e);
    }
    check_clean(&text(data));
}

// ----------------------------------------------------------------- config

/// `Config::from_sources` with arbitrary file text (and no environment, then
/// an environment that overrides every key).
pub fn config(data: &[u8]) {
    let t = text(data);
    let c = Config::from_sources(|_| None, Some(("/etc/criu/notify-plugin.conf", &t)));
    assert_eq!(c.source.as_deref(), Some("/etc/criu/notify-plugin.conf"));
    assert_ne!(c.fault.as_deref(), Some(""));
    if !t.to_ascii_lowercase().contains("queued") {
        assert_eq!(c.queued, QueuedPolicy::Drop);
    }
    let env = Config::from_sources(
        |k| match k {
            "CRIU_NOTIFY_QUEUED" => Some("refuse".into()),
            "CRIU_NOTIFY_FOLLOW_PATHS" => Some("no".into()),
            _ => None,
        },
        Some(("x", &t)),
    );
    assert_eq!(env.queued, QueuedPolicy::Refuse);
    assert!(!env.follow_paths);
    let _ = c.fault("mid-rename");
}

// ------------------------------------------------------------------ seeds

/// Small valid inputs for every target, made with the crate's encoders:
/// (target, file name, bytes). fuzz.sh writes them into the corpora; the
/// regression test replays them too.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let fown = FownEntry { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
    let fh = |path: &str| FhEntry { bytes: 8, r#type: 1, handle: vec![0x0000_0002_0000_1a2b], path: Some(path.into()), mnt_id: Some(22) };
    let wd = |n: u32, path: &str| InotifyWdEntry {
        id: 5,
        i_ino: 0x1a2b,
        mask: 0x0000_0fff,
        ignored_mask: 0,
        s_dev: 0xfd0_0001,
        wd: n,
        f_handle: fh(path),
        fsid: Some(0x1234_5678),
        fs_type: Some(0xef53),
        mode: Some(0o40755),
        unlinked: None,
        holder_pid: None,
        holder_fd: None,
        path: Some(path.into()),
        path_pid: None,
    };
    let mut unlinked = wd(3, "/tmp/gone");
    unlinked.unlinked = Some(true);
    unlinked.holder_pid = Some(1);
    unlinked.holder_fd = Some(7);
    let inotify = vec![
        InotifyFileEntry {
            id: 5,
            flags: 0o4000,
            fown,
            wd: vec![wd(1, "/tmp"), wd(2, "/etc/passwd"), unlinked],
            queued_bytes: Some(32),
            ..Default::default()
        },
        InotifyFileEntry { id: 9, flags: 0, fown, wd: vec![], queued_bytes: None, ..Default::default() },
    ];
    let tfd =
        |id, fd, events| EventpollTfdEntry { id, tfd: fd, events, data: 0xdead_beef, dev: Some(7), inode: Some(0x61af), pos: Some(0) };
    let epoll = vec![EventpollFileEntry {
        id: 6,
        flags: 2,
        fown,
        tfd: vec![tfd(1, 0, 1), tfd(2, 4, 0x8000_0019), tfd(3, 5, 1 << 30)],
        ..Default::default()
    }];
    let fdinfo_e = |id, t: FdTypes, fd| FdinfoEntry { id, flags: 1, r#type: t as i32, fd };
    let fdinfo = vec![
        fdinfo_e(1, FdTypes::Reg, 0),
        fdinfo_e(5, FdTypes::Inotify, 3),
        fdinfo_e(6, FdTypes::Eventpoll, 4),
        fdinfo_e(2, FdTypes::Pipe, 5),
    ];
    let file = |id, t: FdTypes| FileEntry { r#type: t as i32, id, ..Default::default() };
    let files = vec![
        file(1, FdTypes::Reg),
        FileEntry { ify: Some(inotify[0].clone()), ..file(5, FdTypes::Inotify) },
        FileEntry { epfd: Some(epoll[0].clone()), ..file(6, FdTypes::Eventpoll) },
        file(2, FdTypes::Pipe),
    ];
    let pstree = vec![
        PstreeEntry { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: vec![1] },
        PstreeEntry { pid: 2, ppid: 1, pgid: 1, sid: 1, threads: vec![2, 3] },
    ];
    let ids = vec![TaskKobjIdsEntry { vm_id: 1, files_id: 2, fs_id: 3, sighand_id: 4 }];
    // CRIU's real inventory carries fields we do not model (img_version 1,
    // fdinfo_per_id 2, ...): keep a few as raw bytes before ours.
    let mut inv = vec![0x08, 0x02, 0x10, 0x01];
    inv.extend(InventoryEntry { plugins_entry: Some(PluginsEntry { plugins: vec!["other".into()] }) }.encode_to_vec());
    let stats = vec![StatsEntry::default()];

    let images: Vec<(&str, Vec<u8>)> = vec![
        ("notify-inotify.img", image::encode_messages(image::INOTIFY_FILE, &inotify)),
        ("notify-eventpoll.img", image::encode_messages(image::EVENTPOLL_FILE, &epoll)),
        ("files.img", image::encode_messages(image::FILES, &files)),
        ("fdinfo-2.img", image::encode_messages(image::FDINFO, &fdinfo)),
        ("pstree.img", image::encode_messages(image::PSTREE, &pstree)),
        ("ids-1.img", image::encode_messages(image::IDS, &ids)),
        ("inventory.img", image::encode(image::INVENTORY, [inv.as_slice()])),
        ("stats-dump", image::encode_messages(image::STATS, &stats)),
    ];
    let mut out = Vec::new();
    for (name, bytes) in &images {
        for t in ["image_framing", "messages", "validate"] {
            out.push((t, name.to_string(), bytes.clone()));
        }
        for mask in [0xffu8, 0x02] {
            let mut b = vec![mask];
            b.extend_from_slice(bytes);
            out.push(("takeover_rewrite", format!("{name}.mask{mask:02x}"), b));
        }
    }
    // Bare messages, for the decoders without framing.
    out.push(("validate", "inotify-entry".into(), inotify[0].encode_to_vec()));
    out.push(("validate", "eventpoll-entry".into(), epoll[0].encode_to_vec()));
    out.push(("messages", "file-entry".into(), files[1].encode_to_vec()));

    let fdinfo_text: [(&str, &str); 2] = [
        (
            "inotify",
            "pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t1057\n\
             inotify wd:3 ino:2 sdev:fd00001 mask:80000fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0200000000000000\n\
             inotify wd:1 ino:1a sdev:2d mask:100 ignored_mask:0\n",
        ),
        (
            "epoll",
            "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n\
             tfd:        5 events:       1d data:                0  pos:0 ino:61af sdev:7\n\
             tfd:       10 events: 80000019 data: ffffffffffffffff  pos:0 ino:1 sdev:9\n",
        ),
    ];
    for (n, t) in fdinfo_text {
        out.push(("fdinfo", n.into(), t.as_bytes().to_vec()));
    }
    out.push((
        "mounts",
        "mountinfo".into(),
        b"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
          30 22 0:45 /sub /mnt/with\\040space rw - tmpfs tmpfs rw\n\
          31 22 0:46 / /proc rw,nosuid - proc proc rw\n"
            .to_vec(),
    ));
    out.push(("config", "conf".into(), b"# criu-notify\nqueued = refuse\nfollow_paths=yes # trailing\nfault = mid-rename\n".to_vec()));
    out
}
