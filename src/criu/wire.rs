//! Decoding CRIU's largest messages on several cores.
//!
//! An inotify entry with 100k watches is one protobuf message of about
//! 11 MB, nearly all of it one repeated field (the watches). Protobuf
//! decodes a repeated message field one element at a time and appends it,
//! so the elements can be decoded apart (and in parallel) and the rest of
//! the message on its own: the result is the same message. The scan here
//! only finds where the elements are; whatever it does not understand, and
//! every failure, is decoded by prost as a whole, so that errors are always
//! prost's own.

use prost::{DecodeError, Message};

use crate::proto::{FileEntry, InotifyFileEntry};

/// Below this many elements one thread decodes the whole message.
const PARALLEL_FROM: usize = 4096;

/// `inotify_file_entry.wd`, `file_entry.ify`.
const INOTIFY_WD: u32 = 5;
const FILE_IFY: u32 = 13;

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Append a varint to `out`.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One top-level field of an encoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    /// Where the field's bytes, key included, are in the message.
    pub range: std::ops::Range<usize>,
    /// The value of a varint field.
    pub varint: Option<u64>,
    /// The payload of a length-delimited field.
    pub bytes: Option<&'a [u8]>,
}

/// The top-level fields of `msg`, in order: the one protobuf wire scanner
/// of the crate. After an error (the message does not scan: truncation,
/// groups, field number 0) it yields nothing more.
pub fn fields(msg: &[u8]) -> Fields<'_> {
    Fields { msg, pos: 0, done: false }
}

pub struct Fields<'a> {
    msg: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Fields<'a> {
    fn next_field(&mut self) -> Result<Field<'a>, &'static str> {
        let (msg, start) = (self.msg, self.pos);
        let mut pos = start;
        let key = varint(msg, &mut pos).ok_or("truncated key")?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number too large")?;
        let (mut value, mut bytes) = (None, None);
        let skip = |pos: usize, n: usize, what| pos.checked_add(n).filter(|p| *p <= msg.len()).ok_or(what);
        pos = match key & 7 {
            0 => {
                value = Some(varint(msg, &mut pos).ok_or("truncated varint")?);
                pos
            }
            1 => skip(pos, 8, "truncated fixed64")?,
            2 => {
                let len = varint(msg, &mut pos).ok_or("truncated length")?;
                let len = usize::try_from(len).map_err(|_| "length past the end")?;
                let end = skip(pos, len, "length past the end")?;
                bytes = Some(&msg[pos..end]);
                end
            }
            5 => skip(pos, 4, "truncated fixed32")?,
            _ => return Err("unsupported wire type"),
        };
        if number == 0 {
            return Err("field number 0");
        }
        self.pos = pos;
        Ok(Field { number, range: start..pos, varint: value, bytes })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.msg.len() {
            return None;
        }
        let r = self.next_field();
        self.done = r.is_err();
        Some(r)
    }
}

/// Split message `msg` into the length-delimited occurrences of field
/// `field` and the bytes of every other field, in order. `None` if the
/// wire format does not scan (groups, truncation, bad wire types).
pub fn split(msg: &[u8], field: u32) -> Option<(Vec<u8>, Vec<&[u8]>)> {
    let mut rest = Vec::new();
    let mut items = Vec::new();
    for f in fields(msg) {
        let f = f.ok()?;
        match f.bytes {
            Some(b) if f.number == field => items.push(b),
            _ => rest.extend_from_slice(&msg[f.range]),
        }
    }
    Some((rest, items))
}

/// Decode `items` in order, on up to `available_parallelism` threads, each
/// straight into its part of the result (no regrowing, no moving).
fn decode_items<E: Message + Default + Send>(items: &[&[u8]], threads_from: usize) -> Result<Vec<E>, DecodeError> {
    let chunk = crate::par::chunk_len(items.len(), threads_from);
    let mut out: Vec<E> = Vec::with_capacity(items.len());
    out.resize_with(items.len(), E::default);
    let fill = |slots: &mut [E], bytes: &[&[u8]]| -> Result<(), DecodeError> {
        for (slot, b) in slots.iter_mut().zip(bytes) {
            slot.merge(*b)?;
        }
        Ok(())
    };
    if chunk >= items.len() {
        fill(&mut out, items)?;
        return Ok(out);
    }
    std::thread::scope(|sc| {
        let parts: Vec<_> =
            out.chunks_mut(chunk).zip(items.chunks(chunk)).map(|(slots, bytes)| sc.spawn(move || fill(slots, bytes))).collect();
        parts.into_iter().try_for_each(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })?;
    Ok(out)
}

/// An inotify entry (ours or CRIU's), its watches decoded in parallel.
pub fn decode_inotify(msg: &[u8]) -> Result<InotifyFileEntry, DecodeError> {
    decode_inotify_tuned(msg, PARALLEL_FROM, PARALLEL_FROM)
}

/// [`decode_inotify`] splitting from `split_from` watches and using
/// threads from `threads_from` (small values let tests and the fuzzer reach
/// the split path with small inputs).
pub fn decode_inotify_tuned(msg: &[u8], split_from: usize, threads_from: usize) -> Result<InotifyFileEntry, DecodeError> {
    let fast = || -> Option<InotifyFileEntry> {
        let (rest, items) = split(msg, INOTIFY_WD)?;
        if items.len() < split_from {
            return None;
        }
        let mut e = InotifyFileEntry::decode(rest.as_slice()).ok()?;
        e.wd = decode_items(&items, threads_from).ok()?;
        Some(e)
    };
    match fast() {
        Some(e) => Ok(e),
        None => InotifyFileEntry::decode(msg),
    }
}

/// A files.img entry; a big inotify entry inside it decoded in parallel.
pub fn decode_file(msg: &[u8]) -> Result<FileEntry, DecodeError> {
    if msg.len() < PARALLEL_FROM * 16 {
        return FileEntry::decode(msg);
    }
    let fast = || -> Option<FileEntry> {
        let (rest, items) = split(msg, FILE_IFY)?;
        // A message field given twice is merged: leave that to prost.
        let [ify] = items.as_slice() else { return None };
        let mut f = FileEntry::decode(rest.as_slice()).ok()?;
        f.ify = Some(decode_inotify(ify).ok()?);
        Some(f)
    };
    match fast() {
        Some(f) => Ok(f),
        None => FileEntry::decode(msg),
    }
}

/// A files.img entry with its inotify watches left undecoded: the entry
/// (its `ify.wd` empty) and where each watch's bytes are in `msg`, in
/// order. Memory stays at the size of the image instead of a decoded
/// message per watch. Falls back to a whole decode (and no ranges) when
/// the scan does not apply.
pub fn decode_file_lean(msg: &[u8]) -> Result<(FileEntry, LeanWatches), DecodeError> {
    let lean = || -> Option<(FileEntry, LeanWatches)> {
        let (rest, items) = split(msg, FILE_IFY)?;
        let [ify] = items.as_slice() else { return None };
        let (ify_rest, wds) = split(ify, INOTIFY_WD)?;
        let mut f = FileEntry::decode(rest.as_slice()).ok()?;
        f.ify = Some(InotifyFileEntry::decode(ify_rest.as_slice()).ok()?);
        let at = |b: &[u8]| b.as_ptr() as usize - msg.as_ptr() as usize;
        let items = wds.iter().map(|w| at(w)..at(w) + w.len()).collect();
        Some((f, LeanWatches { items }))
    };
    if msg.len() < 1024 {
        return Ok((FileEntry::decode(msg)?, LeanWatches::default()));
    }
    match lean() {
        Some(r) => Ok(r),
        None => Ok((decode_file(msg)?, LeanWatches::default())),
    }
}

/// Where the watches of an entry decoded by [`decode_file_lean`] are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeanWatches {
    /// Each watch's bytes (without its key and length), in order.
    pub items: Vec<std::ops::Range<usize>>,
}

/// Of one encoded `inotify_wd_entry`: its `s_dev` and its handle's `path`,
/// read without decoding (no allocation). `None` if it does not scan.
/// Repeated fields take their last value, as protobuf reads them.
pub fn wd_sdev_and_path(item: &[u8]) -> Option<(u32, Option<&str>)> {
    let (mut sdev, mut path) = (None, None);
    for f in fields(item) {
        let f = f.ok()?;
        match (f.number, f.varint, f.bytes) {
            (5, Some(v), _) => sdev = Some(v as u32),
            (7, _, Some(fh)) => path = fh_path(fh)?.or(path),
            _ => {}
        }
    }
    Some((sdev?, path))
}

/// Append encoded watch `item` to `out` as field `field` of its entry,
/// with its handle cut to the words it has: CRIU writes all 16 words of a
/// `fh_entry` (MAX_HANDLE_SZ), most of them zero, and decoding them costs a
/// restore (five allocations a watch). Anything that does not scan as
/// expected is copied as it is.
pub fn put_watch_trimmed(out: &mut Vec<u8>, field: u32, item: &[u8]) {
    let put = |out: &mut Vec<u8>, bytes: &[u8]| {
        put_varint(out, u64::from(field) << 3 | 2);
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    };
    match trimmed(item) {
        Some(t) => put(out, &t),
        None => put(out, item),
    }
}

/// `item` with its f_handle (7) words (3) cut to ceil(bytes (1) / 8).
fn trimmed(item: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(item.len());
    for f in fields(item) {
        let f = f.ok()?;
        match (f.number, f.bytes) {
            (7, Some(fh)) => {
                let keep = fields(fh).find_map(|g| g.ok().filter(|g| g.number == 1).and_then(|g| g.varint))?.div_ceil(8);
                let mut words = 0u64;
                let mut new = Vec::with_capacity(fh.len());
                for g in fields(fh) {
                    let g = g.ok()?;
                    if g.number == 3 {
                        // Non-packed words only; packed ones are left as they are.
                        g.varint?;
                        words += 1;
                        if words > keep {
                            continue;
                        }
                    }
                    new.extend_from_slice(&fh[g.range]);
                }
                put_varint(&mut out, 7 << 3 | 2);
                put_varint(&mut out, new.len() as u64);
                out.extend_from_slice(&new);
            }
            _ => out.extend_from_slice(&item[f.range]),
        }
    }
    Some(out)
}

/// `fh_entry.path` (field 4) of an encoded handle: `Some(None)` if absent.
fn fh_path(fh: &[u8]) -> Option<Option<&str>> {
    let mut path = None;
    for f in fields(fh) {
        let f = f.ok()?;
        if let (4, Some(b)) = (f.number, f.bytes) {
            path = Some(std::str::from_utf8(b).ok()?);
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{FhEntry, InotifyWdEntry};

    fn big(n: u32) -> InotifyFileEntry {
        InotifyFileEntry {
            id: 7,
            flags: 0o4000,
            wd: (1..=n)
                .map(|wd| InotifyWdEntry {
                    id: 7,
                    i_ino: u64::from(wd) * 3,
                    mask: 0x3ce,
                    wd,
                    f_handle: FhEntry {
                        bytes: 8,
                        r#type: 1,
                        handle: vec![u64::from(wd) << 40],
                        path: Some(format!("/d/{wd}")),
                        mnt_id: None,
                    },
                    path: (wd % 3 == 0).then(|| format!("/p/{wd}")),
                    ..Default::default()
                })
                .collect(),
            queued_bytes: Some(5),
            ..Default::default()
        }
    }

    #[test]
    fn lean_decode_keeps_the_watches_bytes() {
        let e = big(300);
        let f = FileEntry { r#type: 8, id: 7, ify: Some(e.clone()), ..Default::default() };
        let bytes = f.encode_to_vec();
        let (lean, watches) = decode_file_lean(&bytes).unwrap();
        let ranges = watches.items;
        assert_eq!(ranges.len(), 300);

        assert!(lean.ify.as_ref().unwrap().wd.is_empty());
        for (w, r) in e.wd.iter().zip(&ranges) {
            let item = &bytes[r.clone()];
            assert_eq!(&InotifyWdEntry::decode(item).unwrap(), w);
            assert_eq!(wd_sdev_and_path(item), Some((w.s_dev, w.f_handle.path.as_deref())));
        }
        let mut whole = lean.clone();
        whole.ify.as_mut().unwrap().wd = e.wd.clone();
        assert_eq!(whole, f);
    }

    #[test]
    fn watches_keep_only_the_handle_words_they_have() {
        let mut w = big(1).wd.remove(0);
        w.f_handle.handle = vec![0xabcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        w.f_handle.bytes = 8;
        let mut out = Vec::new();
        put_watch_trimmed(&mut out, 5, &w.encode_to_vec());
        let e = InotifyFileEntry::decode(out.as_slice()).unwrap();
        let mut want = w.clone();
        want.f_handle.handle.truncate(1);
        assert_eq!(e.wd, vec![want]);
        // 12 bytes: two words kept.
        w.f_handle.bytes = 12;
        let mut out = Vec::new();
        put_watch_trimmed(&mut out, 5, &w.encode_to_vec());
        assert_eq!(InotifyFileEntry::decode(out.as_slice()).unwrap().wd[0].f_handle.handle, vec![0xabcd, 0]);
        // Not a message: copied as it is.
        let mut out = Vec::new();
        put_watch_trimmed(&mut out, 5, &[0xff]);
        assert_eq!(out, vec![0x2a, 1, 0xff]);
    }

    #[test]
    fn split_decode_equals_prost() {
        for n in [0, 3, PARALLEL_FROM as u32 + 17] {
            let e = big(n);
            let bytes = e.encode_to_vec();
            assert_eq!(decode_inotify(&bytes).unwrap(), e);
            let f = FileEntry { r#type: 9, id: 7, ify: Some(e.clone()), ..Default::default() };
            assert_eq!(decode_file(&f.encode_to_vec()).unwrap(), f);
        }
    }

    /// Damaged input: the same result as prost's (value or failure).
    #[test]
    fn damage_gives_prost_result() {
        let e = big(PARALLEL_FROM as u32 + 1);
        let good = e.encode_to_vec();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let mut b = good.clone();
            match next() % 3 {
                0 => {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
                1 => b.truncate((next() as usize) % b.len()),
                _ => {
                    let at = (next() as usize) % b.len();
                    b.insert(at, next() as u8);
                }
            }
            let ours = decode_inotify(&b).ok();
            let theirs = InotifyFileEntry::decode(b.as_slice()).ok();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn scan_refuses_what_it_does_not_know() {
        assert!(split(&[0x0b], 1).is_none(), "start group");
        assert!(split(&[0x2a, 0x05, 1], 5).is_none(), "truncated field");
        assert!(split(&[0x08], 1).is_none(), "missing varint");
        assert_eq!(split(&[0x08, 0x01, 0x2a, 0x01, 0x09], 5), Some((vec![0x08, 0x01], vec![&[0x09][..]])));
    }
}
