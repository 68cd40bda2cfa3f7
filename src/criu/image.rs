//! CRIU image framing.
//!
//! An image file is a 32-bit magic pair (`IMG_COMMON_MAGIC` or
//! `IMG_SERVICE_MAGIC`, then the image type's magic; `inventory.img` has no
//! common magic), then entries: a 32-bit size in host byte order followed by
//! that many bytes of protobuf. This is the format stock `crit` reads.
//!
//! Files are read whole and entries are borrowed slices of that buffer, so a
//! corrupt size can never make us allocate more than the file holds.

use std::io::Write;
use std::os::fd::BorrowedFd;

/// The plugin's name, as CRIU prints it and as the inventory of a dump we
/// took over records it (a restore without the plugin then fails by name).
pub const PLUGIN: &std::ffi::CStr = c"notify_plugin";
/// Our image of inotify files (CRIU's INOTIFY_FILE magic; a name CRIU never reads).
pub const INOTIFY_IMG: &str = "notify-inotify.img";
/// Our image of epoll files (CRIU's EVENTPOLL_FILE magic).
pub const EVENTPOLL_IMG: &str = "notify-eventpoll.img";

use rustix::fs::{Mode, OFlags};
use thiserror::Error;

/// The first word of ordinary images.
pub const IMG_COMMON_MAGIC: u32 = 0x5456_4319;
/// The first word of service images (stats, irmap cache).
pub const IMG_SERVICE_MAGIC: u32 = 0x5510_5940;

/// Image kinds we read or write: file-name-independent framing facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Human name, for messages.
    pub name: &'static str,
    /// First word, or `None` for images without it (inventory).
    pub head: Option<u32>,
    /// The type's own magic.
    pub magic: u32,
}

impl Kind {
    const fn common(name: &'static str, magic: u32) -> Self {
        Kind { name, head: Some(IMG_COMMON_MAGIC), magic }
    }
}

/// `inventory.img` (no common magic).
pub const INVENTORY: Kind = Kind { name: "inventory", head: None, magic: 0x5831_3116 };
/// `files.img`.
pub const FILES: Kind = Kind::common("files", 0x5630_3138);
/// `fdinfo-N.img`.
pub const FDINFO: Kind = Kind::common("fdinfo", 0x5621_3732);
/// `pstree.img`.
pub const PSTREE: Kind = Kind::common("pstree", 0x5027_3030);
/// `ids-PID.img`.
pub const IDS: Kind = Kind::common("ids", 0x5443_2030);
/// Inotify files (CRIU's magic; our file name).
pub const INOTIFY_FILE: Kind = Kind::common("inotify-file", 0x4842_4431);
/// Epoll files (CRIU's magic; our file name).
pub const EVENTPOLL_FILE: Kind = Kind::common("eventpoll-file", 0x4502_3858);
/// `stats-dump` / `stats-restore`.
pub const STATS: Kind = Kind { name: "stats", head: Some(IMG_SERVICE_MAGIC), magic: 0x5709_3306 };

/// What can go wrong with an image; each names the file.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("image {file}: {op}: {source}")]
    Io {
        file: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("image {file}: not a CRIU {kind} image: magic {found:#010x}, expected {expected:#010x}")]
    BadMagic { file: String, kind: &'static str, expected: u32, found: u32 },
    #[error("image {file}: truncated {what} at byte {offset}")]
    Truncated { file: String, what: &'static str, offset: usize },
    #[error("image {file}: entry at byte {offset} claims {len} bytes, only {left} left")]
    TooLong { file: String, offset: usize, len: usize, left: usize },
    #[error("image {file}: entry {index} does not decode: {source}")]
    Decode {
        file: String,
        index: usize,
        #[source]
        source: prost::DecodeError,
    },
}

/// A parsed image: its entries as slices of the file's bytes.
#[derive(Debug)]
pub struct Entries<'a> {
    pub entries: Vec<&'a [u8]>,
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}

/// Split `bytes` (a whole image file) into entries, checking the header.
pub fn parse<'a>(file: &str, kind: Kind, bytes: &'a [u8]) -> Result<Entries<'a>, ImageError> {
    let mut pos = 0;
    let check = |expected: u32, pos: &mut usize| -> Result<(), ImageError> {
        let found = word(bytes, *pos).ok_or_else(|| ImageError::Truncated { file: file.to_owned(), what: "magic", offset: *pos })?;
        if found != expected {
            return Err(ImageError::BadMagic { file: file.to_owned(), kind: kind.name, expected, found });
        }
        *pos += 4;
        Ok(())
    };
    if let Some(head) = kind.head {
        check(head, &mut pos)?;
    }
    check(kind.magic, &mut pos)?;

    let mut entries = Vec::new();
    while pos < bytes.len() {
        let len =
            word(bytes, pos).ok_or_else(|| ImageError::Truncated { file: file.to_owned(), what: "entry size", offset: pos })? as usize;
        let start = pos + 4;
        let left = bytes.len() - start;
        if len > left {
            return Err(ImageError::TooLong { file: file.to_owned(), offset: pos, len, left });
        }
        entries.push(&bytes[start..start + len]);
        pos = start + len;
    }
    Ok(Entries { entries })
}

/// Decode every entry of an image as message `M`.
pub fn decode_all<M: prost::Message + Default>(file: &str, kind: Kind, bytes: &[u8]) -> Result<Vec<M>, ImageError> {
    decode_all_with(file, kind, bytes, |e| M::decode(e))
}

/// Decode every entry of an image with `decode` (e.g. one of
/// [`super::wire`]'s parallel decoders).
pub fn decode_all_with<M>(
    file: &str,
    kind: Kind,
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<M, prost::DecodeError>,
) -> Result<Vec<M>, ImageError> {
    parse(file, kind, bytes)?
        .entries
        .iter()
        .enumerate()
        .map(|(index, e)| decode(e).map_err(|source| ImageError::Decode { file: file.to_owned(), index, source }))
        .collect()
}

/// Frame raw entries into a whole image file.
pub fn encode<'e>(kind: Kind, entries: impl IntoIterator<Item = &'e [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(head) = kind.head {
        out.extend_from_slice(&head.to_ne_bytes());
    }
    out.extend_from_slice(&kind.magic.to_ne_bytes());
    for e in entries {
        let len = u32::try_from(e.len()).expect("an image entry over 4 GiB");
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Frame messages into a whole image file.
pub fn encode_messages<'m, M: prost::Message + 'm>(kind: Kind, msgs: impl IntoIterator<Item = &'m M>) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = msgs.into_iter().map(|m| m.encode_to_vec()).collect();
    encode(kind, bodies.iter().map(Vec::as_slice))
}

fn io<'a>(file: &'a str, op: &'static str) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
    move |source| ImageError::Io { file: file.to_owned(), op, source }
}

/// Read a whole file of the image directory. `Ok(None)` if it does not exist.
pub fn read_file(dir: BorrowedFd<'_>, name: &str) -> Result<Option<Vec<u8>>, ImageError> {
    let fd = match rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io(name, "open")(e.into())),
    };
    // Sized once from fstat (read_to_end would ask again with statx and
    // lseek), read straight into the spare capacity.
    let size = rustix::fs::fstat(&fd).map(|st| st.st_size.max(0) as usize).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size + 1);
    loop {
        if bytes.len() == bytes.capacity() {
            bytes.reserve(4096);
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut bytes)) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io(name, "read")(e.into())),
        }
    }
    Ok(Some(bytes))
}

/// CRIU's own image files are 0644 (readable by a restore that runs in a
/// user namespace); ours are the same.
pub const IMAGE_MODE: u32 = 0o644;

/// Write a whole file of the image directory (created or truncated) with
/// permission bits `mode`.
pub fn write_file(dir: BorrowedFd<'_>, name: &str, bytes: &[u8], mode: u32) -> Result<(), ImageError> {
    write_pieces(dir, name, &[std::borrow::Cow::Borrowed(bytes)], mode)
}

/// The content of an image file to write, in pieces: bytes of ours, and
/// runs of an image read at load that go out as they are (no copy).
pub type Pieces<'a> = Vec<std::borrow::Cow<'a, [u8]>>;

/// [`write_file`] of content given in pieces.
pub fn write_pieces(dir: BorrowedFd<'_>, name: &str, pieces: &[std::borrow::Cow<'_, [u8]>], mode: u32) -> Result<(), ImageError> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| io(name, "create")(e.into()))?;
    // The umask may have taken bits away.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| io(name, "chmod")(e.into()))?;
    let mut f = std::fs::File::from(fd);
    for p in pieces {
        f.write_all(p).map_err(io(name, "write"))?;
    }
    Ok(())
}

/// Frame entries, each given in pieces, into the pieces of a whole image
/// file.
pub fn encode_pieces<'a>(kind: Kind, entries: impl IntoIterator<Item = Pieces<'a>>) -> Pieces<'a> {
    let mut out: Pieces<'a> = vec![encode(kind, std::iter::empty()).into()];
    for e in entries {
        let len: usize = e.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).expect("an image entry over 4 GiB");
        out.push(len.to_ne_bytes().to_vec().into());
        out.extend(e);
    }
    out
}

/// The permission bits of a file of the image directory, if it exists.
pub fn mode_of(dir: BorrowedFd<'_>, name: &str) -> Option<u32> {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok().map(|st| st.st_mode & 0o7777)
}

/// Rename within the image directory.
pub fn rename(dir: BorrowedFd<'_>, from: &str, to: &str) -> Result<(), ImageError> {
    rustix::fs::renameat(dir, from, dir, to).map_err(|e| io(to, "rename")(e.into()))
}

/// Remove a file of the image directory; a missing file is fine.
pub fn remove(dir: BorrowedFd<'_>, name: &str) -> Result<(), ImageError> {
    match rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io(name, "remove")(e.into())),
    }
}

/// An image directory opened by path (tools and tests; inside criu use
/// [`crate::sys::criu_syms::image_dir`]).
pub fn open_dir(path: &std::path::Path) -> Result<std::os::fd::OwnedFd, ImageError> {
    let name = path.display().to_string();
    rustix::fs::open(path, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io(&name, "open directory")(e.into()))
}

#[cfg(test)]
mod pieces_tests {
    use super::*;

    #[test]
    fn framing_in_pieces_equals_framing_whole() {
        let e = [vec![1u8, 2, 3], vec![], vec![9u8; 300]];
        let want = encode(INOTIFY_FILE, e.iter().map(Vec::as_slice));
        let pieces =
            encode_pieces(INOTIFY_FILE, e.iter().map(|b| vec![b[..b.len() / 2].into(), std::borrow::Cow::Borrowed(&b[b.len() / 2..])]));
        assert_eq!(pieces.concat(), want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{FownEntry, InotifyFileEntry};
    use std::os::fd::AsFd;

    fn sample() -> Vec<InotifyFileEntry> {
        vec![
            InotifyFileEntry { id: 7, flags: 0o4000, fown: FownEntry::default(), wd: vec![], queued_bytes: None, ..Default::default() },
            InotifyFileEntry {
                id: 9,
                flags: 0,
                fown: FownEntry { pid: 3, ..Default::default() },
                wd: vec![],
                queued_bytes: Some(32),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = encode_messages(INOTIFY_FILE, &sample());
        assert_eq!(&bytes[0..4], &IMG_COMMON_MAGIC.to_ne_bytes());
        assert_eq!(&bytes[4..8], &0x4842_4431u32.to_ne_bytes());
        let back: Vec<InotifyFileEntry> = decode_all("x.img", INOTIFY_FILE, &bytes).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn empty_image_has_no_entries() {
        let bytes = encode(FILES, []);
        assert_eq!(parse("f", FILES, &bytes).unwrap().entries.len(), 0);
    }

    #[test]
    fn inventory_has_no_common_magic() {
        let bytes = encode(INVENTORY, [&b"\x08\x02"[..]]);
        assert_eq!(bytes.len(), 4 + 4 + 2);
        assert_eq!(parse("inventory.img", INVENTORY, &bytes).unwrap().entries, vec![&b"\x08\x02"[..]]);
    }

    #[test]
    fn bad_magic() {
        let mut bytes = encode_messages(INOTIFY_FILE, &sample());
        bytes[4] ^= 0xff;
        let e = parse("x.img", INOTIFY_FILE, &bytes).unwrap_err();
        assert!(matches!(e, ImageError::BadMagic { .. }), "{e}");
        assert!(e.to_string().contains("x.img"));
        let e = parse("x.img", EVENTPOLL_FILE, &encode_messages(INOTIFY_FILE, &sample())).unwrap_err();
        assert!(matches!(e, ImageError::BadMagic { .. }));
    }

    #[test]
    fn truncated_header() {
        let e = parse("x.img", FILES, &IMG_COMMON_MAGIC.to_ne_bytes()[..3]).unwrap_err();
        assert!(matches!(e, ImageError::Truncated { what: "magic", .. }), "{e}");
    }

    #[test]
    fn truncated_size() {
        let mut bytes = encode(FILES, [&b"ab"[..]]);
        bytes.extend_from_slice(&[1, 0]);
        let e = parse("x.img", FILES, &bytes).unwrap_err();
        assert!(matches!(e, ImageError::Truncated { what: "entry size", .. }), "{e}");
    }

    #[test]
    fn truncated_body() {
        let mut bytes = encode(FILES, [&b"abcdef"[..]]);
        bytes.truncate(bytes.len() - 2);
        let e = parse("x.img", FILES, &bytes).unwrap_err();
        assert!(matches!(e, ImageError::TooLong { len: 6, left: 4, .. }), "{e}");
    }

    #[test]
    fn absurd_length_does_not_allocate() {
        let mut bytes = encode(FILES, []);
        bytes.extend_from_slice(&u32::MAX.to_ne_bytes());
        bytes.extend_from_slice(b"xy");
        let e = parse("x.img", FILES, &bytes).unwrap_err();
        assert!(matches!(e, ImageError::TooLong { len, .. } if len == u32::MAX as usize), "{e}");
    }

    #[test]
    fn garbage_body_fails_decode_with_index() {
        let bytes = encode(INOTIFY_FILE, [&b"\xff\xff\xff"[..]]);
        let e = decode_all::<InotifyFileEntry>("x.img", INOTIFY_FILE, &bytes).unwrap_err();
        assert!(matches!(e, ImageError::Decode { index: 0, .. }), "{e}");
    }

    #[test]
    fn files_in_a_directory() {
        let dir = std::env::temp_dir().join(format!("criu-notify-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = open_dir(&dir).unwrap();
        assert!(read_file(d.as_fd(), "nope.img").unwrap().is_none());
        let bytes = encode_messages(INOTIFY_FILE, &sample());
        write_file(d.as_fd(), "a.img", &bytes, IMAGE_MODE).unwrap();
        assert_eq!(mode_of(d.as_fd(), "a.img"), Some(0o644));
        rename(d.as_fd(), "a.img", "b.img").unwrap();
        assert_eq!(read_file(d.as_fd(), "b.img").unwrap().unwrap(), bytes);
        remove(d.as_fd(), "b.img").unwrap();
        remove(d.as_fd(), "b.img").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
