//! Whole `/proc/PID/mountinfo` lines: besides what [`super::mounts`] keeps
//! (device, root, mount point), the filesystem type and its superblock
//! options (an overlay's `lowerdir=`/`upperdir=`), for finding paths of
//! objects whose file handles cannot be opened.

use super::mounts::{encode_dev, unescape};
use super::{Context, SysError};

/// One mount, as one task sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mnt_id: u32,
    /// The superblock's device, kernel encoding (fdinfo's `sdev:`).
    pub sdev: u32,
    /// Path inside the filesystem that is mounted here.
    pub root: String,
    /// Where, relative to the reading task's root.
    pub mountpoint: String,
    pub fstype: String,
    /// Superblock options, still escaped as the kernel shows them (an
    /// overlay's layer paths keep their `\:` and `\,`).
    pub super_opts: String,
}

/// Parse mountinfo text (lines that do not parse are skipped).
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let mut f = head.split(' ');
            let mnt_id = f.next()?.parse().ok()?;
            let _parent = f.next()?;
            let (maj, min) = f.next()?.split_once(':')?;
            let sdev = encode_dev(maj.parse().ok()?, min.parse().ok()?);
            let root = unescape(f.next()?);
            let mountpoint = unescape(f.next()?);
            let mut t = tail.splitn(3, ' ');
            let fstype = unescape(t.next()?);
            let _source = t.next()?;
            let super_opts = t.next().unwrap_or("").to_owned();
            Some(MountEntry { mnt_id, sdev, root, mountpoint, fstype, super_opts })
        })
        .collect()
}

/// The mounts `/proc/<who>/mountinfo` shows (`who`: a pid or "self").
pub fn read(who: &str) -> Result<Vec<MountEntry>, SysError> {
    let p = format!("/proc/{who}/mountinfo");
    let text = std::fs::read_to_string(&p).ctx("read", &p)?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_optional_fields_and_options() {
        let t = "82 55 0:43 / / rw,relatime - overlay overlay rw,lowerdir=/s/l/AB,upperdir=/s/x/diff,workdir=/s/x/work,uuid=on\n\
                 30 22 0:45 /sub /mnt/with\\040space rw shared:3 master:1 - tmpfs tmpfs rw,size=16m\n\
                 31 22 0:46 / /p rw - proc proc\n\
                 garbage\n";
        let m = parse(t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].fstype, "overlay");
        assert_eq!(m[0].sdev, encode_dev(0, 43));
        assert_eq!(m[0].super_opts, "rw,lowerdir=/s/l/AB,upperdir=/s/x/diff,workdir=/s/x/work,uuid=on");
        assert_eq!(m[1].mountpoint, "/mnt/with space");
        assert_eq!(m[1].root, "/sub");
        assert_eq!(m[1].fstype, "tmpfs");
        assert_eq!(m[2].super_opts, "");
    }

    #[test]
    fn own_mounts_include_the_root() {
        let m = read("self").unwrap();
        assert!(m.iter().any(|e| e.mountpoint == "/"), "{m:?}");
    }
}
