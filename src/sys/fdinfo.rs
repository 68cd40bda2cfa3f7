//! Parsers for `/proc/PID/fdinfo/FD` of inotify and epoll files
//! (fs/notify/fdinfo.c, fs/eventpoll.c). Pure functions over text.

use thiserror::Error;

use super::fhandle::FileHandle;

/// The fields every fdinfo file starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    pub pos: u64,
    /// File status flags (octal in the text): O_NONBLOCK, O_CLOEXEC (of the fd) ...
    pub flags: u32,
    pub mnt_id: u32,
    pub ino: u64,
}

/// One `inotify wd:..` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InotifyMark {
    pub wd: i32,
    pub ino: u64,
    /// New-style encoded dev_t of the watched inode's superblock.
    pub sdev: u32,
    /// As the kernel keeps it: event bits plus IN_ONESHOT / IN_EXCL_UNLINK.
    pub mask: u32,
    pub ignored_mask: u32,
    /// Present when the filesystem can encode handles.
    pub handle: Option<FileHandle>,
}

/// One `tfd:` line of an epoll file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpollTarget {
    /// The fd number the target was registered under (half of the key).
    pub tfd: i32,
    pub events: u32,
    pub data: u64,
    pub pos: u64,
    pub ino: u64,
    pub sdev: u32,
}

/// Malformed fdinfo text.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("fdinfo line {line}: {what}")]
pub struct FdinfoError {
    pub line: usize,
    pub what: String,
}

fn need<T>(o: Option<T>, line: usize, what: &str) -> Result<T, FdinfoError> {
    o.ok_or_else(|| err(line, format!("missing {what}")))
}

fn err(line: usize, what: impl Into<String>) -> FdinfoError {
    FdinfoError { line, what: what.into() }
}

/// `key:value key:value ...` with any spacing, as the kernel prints it.
fn fields(s: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = s.trim_start();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let colon = rest.find(':')?;
        let key = rest[..colon].trim();
        let after = rest[colon + 1..].trim_start();
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let value = &after[..end];
        rest = after[end..].trim_start();
        Some((key, value))
    })
}

fn hex<T: TryFrom<u64>>(line: usize, key: &str, v: &str) -> Result<T, FdinfoError> {
    u64::from_str_radix(v, 16).ok().and_then(|n| T::try_from(n).ok()).ok_or_else(|| err(line, format!("bad hex value for {key}: {v:?}")))
}

fn dec<T: std::str::FromStr>(line: usize, key: &str, v: &str) -> Result<T, FdinfoError> {
    v.parse().map_err(|_| err(line, format!("bad number for {key}: {v:?}")))
}

/// Parse the common header fields (unknown lines are skipped).
pub fn parse_common(text: &str) -> Result<Common, FdinfoError> {
    let mut c = Common::default();
    for (i, l) in text.lines().enumerate() {
        let Some((k, v)) = l.split_once(':') else { continue };
        let v = v.trim();
        match k {
            "pos" => c.pos = dec(i + 1, k, v)?,
            "flags" => c.flags = u32::from_str_radix(v, 8).map_err(|_| err(i + 1, format!("bad octal flags: {v:?}")))?,
            "mnt_id" => c.mnt_id = dec(i + 1, k, v)?,
            "ino" => c.ino = dec(i + 1, k, v)?,
            _ => {}
        }
    }
    Ok(c)
}

/// Pairs of hex digits. Works on bytes: slicing the `str` two bytes at a
/// time would panic inside a multi-byte character (found by fuzzing).
fn parse_handle_hex(line: usize, s: &str) -> Result<Vec<u8>, FdinfoError> {
    if s.len() % 2 != 0 {
        return Err(err(line, "odd-length f_handle"));
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
            _ => Err(err(line, "bad f_handle hex")),
        })
        .collect()
}

/// All `inotify wd:` lines.
pub fn parse_inotify(text: &str) -> Result<Vec<InotifyMark>, FdinfoError> {
    let mut marks = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let Some(rest) = l.strip_prefix("inotify ") else { continue };
        let n = i + 1;
        let (mut wd, mut ino, mut sdev, mut mask, mut ign) = (None, None, None, None, None);
        let (mut hbytes, mut htype, mut hdata): (Option<u32>, Option<i32>, Option<Vec<u8>>) = (None, None, None);
        for (k, v) in fields(rest) {
            match k {
                "wd" => wd = Some(hex::<u32>(n, k, v)? as i32),
                "ino" => ino = Some(hex(n, k, v)?),
                "sdev" => sdev = Some(hex(n, k, v)?),
                "mask" => mask = Some(hex(n, k, v)?),
                "ignored_mask" => ign = Some(hex(n, k, v)?),
                "fhandle-bytes" => hbytes = Some(hex(n, k, v)?),
                "fhandle-type" => htype = Some(hex::<u32>(n, k, v)? as i32),
                "f_handle" => hdata = Some(parse_handle_hex(n, v)?),
                _ => {}
            }
        }
        let handle = match (hbytes, htype, hdata) {
            (Some(b), Some(t), Some(d)) => {
                if d.len() != b as usize {
                    return Err(err(n, format!("f_handle has {} bytes, fhandle-bytes says {b}", d.len())));
                }
                Some(FileHandle { handle_type: t, bytes: d })
            }
            (None, None, None) => None,
            _ => return Err(err(n, "incomplete file handle")),
        };
        marks.push(InotifyMark {
            wd: need(wd, n, "wd")?,
            ino: need(ino, n, "ino")?,
            sdev: need(sdev, n, "sdev")?,
            mask: need(mask, n, "mask")?,
            ignored_mask: need(ign, n, "ignored_mask")?,
            handle,
        });
    }
    Ok(marks)
}

/// All `tfd:` lines.
pub fn parse_epoll(text: &str) -> Result<Vec<EpollTarget>, FdinfoError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if !l.starts_with("tfd:") {
            continue;
        }
        let n = i + 1;
        let (mut tfd, mut events, mut data, mut pos, mut ino, mut sdev) = (None, None, None, None, None, None);
        for (k, v) in fields(l) {
            match k {
                "tfd" => tfd = Some(dec::<i32>(n, k, v)?),
                "events" => events = Some(hex(n, k, v)?),
                "data" => data = Some(hex(n, k, v)?),
                "pos" => pos = Some(dec(n, k, v)?),
                "ino" => ino = Some(hex(n, k, v)?),
                "sdev" => sdev = Some(hex(n, k, v)?),
                _ => {}
            }
        }
        out.push(EpollTarget {
            tfd: need(tfd, n, "tfd")?,
            events: need(events, n, "events")?,
            data: need(data, n, "data")?,
            pos: pos.unwrap_or(0),
            ino: ino.unwrap_or(0),
            sdev: sdev.unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INOTIFY: &str = "pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t1057\n\
inotify wd:3 ino:2 sdev:fd00001 mask:80000fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0200000000000000\n\
inotify wd:1 ino:1a sdev:2d mask:100 ignored_mask:0\n";

    #[test]
    fn inotify_lines() {
        let c = parse_common(INOTIFY).unwrap();
        assert_eq!(c, Common { pos: 0, flags: 0o2004000, mnt_id: 15, ino: 1057 });
        let m = parse_inotify(INOTIFY).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].wd, 3);
        assert_eq!(m[0].sdev, 0xfd00001);
        assert_eq!(m[0].mask, 0x80000fff);
        assert_eq!(m[0].handle, Some(FileHandle { handle_type: 1, bytes: vec![2, 0, 0, 0, 0, 0, 0, 0] }));
        assert_eq!(m[1].ino, 0x1a);
        assert_eq!(m[1].handle, None);
    }

    #[test]
    fn large_wd_is_hex() {
        let m = parse_inotify("inotify wd:7ffffff8 ino:1 sdev:1 mask:2 ignored_mask:0\n").unwrap();
        assert_eq!(m[0].wd, 0x7ffffff8);
    }

    #[test]
    fn inotify_errors_name_the_line() {
        let e = parse_inotify("pos:\t0\ninotify wd:zz ino:1 sdev:1 mask:2 ignored_mask:0\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_inotify("inotify wd:1 ino:1 sdev:1 ignored_mask:0\n").unwrap_err().what.contains("mask"));
        assert!(parse_inotify("inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0 fhandle-bytes:4 fhandle-type:1 f_handle:00\n").is_err());
        assert!(parse_inotify("inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0 fhandle-bytes:1\n").is_err());
    }

    #[test]
    fn non_ascii_handle_is_an_error_not_a_panic() {
        // "a\u{e9}0": 4 bytes, a 2-byte character across the pair boundary.
        for h in ["a\u{e9}0", "\u{e9}\u{e9}", "+f"] {
            let t = format!("inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0 fhandle-bytes:2 fhandle-type:1 f_handle:{h}\n");
            assert!(parse_inotify(&t).unwrap_err().what.contains("f_handle"), "{h:?}");
        }
    }

    #[test]
    fn epoll_lines() {
        let t = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n\
tfd:        5 events:       1d data:                0  pos:0 ino:61af sdev:7\n\
tfd:       10 events: 80000019 data: ffffffffffffffff  pos:0 ino:1 sdev:9\n";
        let e = parse_epoll(t).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0], EpollTarget { tfd: 5, events: 0x1d, data: 0, pos: 0, ino: 0x61af, sdev: 7 });
        assert_eq!(e[1].data, u64::MAX);
        assert_eq!(e[1].events, 0x80000019);
        assert!(parse_epoll("tfd: x events: 1 data: 0\n").is_err());
    }
}
