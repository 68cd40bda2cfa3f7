//! Overlayfs file handles and layers, to name an overlay object without
//! opening its handle (an overlay mounted without `nfs_export=on`, the
//! podman/Docker/Kubernetes default, encodes handles but cannot open them).
//!
//! An overlay handle (fs/overlayfs/overlayfs.h: `struct ovl_fh`, handle
//! type `0xf8`; `0xfb` is the same without the 3 bytes of padding) holds
//! the handle of the real inode on the layer's own filesystem: version (0),
//! magic `0xfb`, length, flags (bit 2: the inode is the upper layer's),
//! the real handle's type, the layer filesystem's uuid, then the real
//! handle. A copied-up file keeps the handle of its lower origin.
//! The layers are named by the overlay's mount options (`lowerdir=`,
//! `upperdir=`, `lowerdir+=`, `datadir+=` as mountinfo shows them).

use crate::sys::fhandle::FileHandle;

/// `OVL_FILEID_V1`: padding, then the fields.
pub const OVL_FILEID_V1: i32 = 0xf8;
/// `OVL_FILEID_V0`: the fields from the first byte.
pub const OVL_FILEID_V0: i32 = 0xfb;
/// overlayfs' `f_type` (statfs).
pub const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
const OVL_FH_MAGIC: u8 = 0xfb;
const OVL_FH_FLAG_PATH_UPPER: u8 = 1 << 2;
/// version, magic, len, flags, type, uuid.
const HEADER: usize = 5 + 16;

/// The real inode an overlay handle names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealHandle {
    /// On the upper layer (else a lower layer, or a copied-up file's origin).
    pub upper: bool,
    /// The layer filesystem's uuid (all zeros when it has none).
    pub uuid: [u8; 16],
    /// The layer filesystem's own handle of the inode.
    pub handle: FileHandle,
}

/// Decode an overlay handle; `None` if `h` is none.
pub fn real_handle(h: &FileHandle) -> Option<RealHandle> {
    let fb = match h.handle_type {
        OVL_FILEID_V1 => h.bytes.get(3..)?,
        OVL_FILEID_V0 => &h.bytes[..],
        _ => return None,
    };
    let (version, magic, len, flags, real_type) = (*fb.first()?, *fb.get(1)?, *fb.get(2)? as usize, *fb.get(3)?, *fb.get(4)?);
    if version != 0 || magic != OVL_FH_MAGIC || len <= HEADER || len > fb.len() {
        return None;
    }
    let uuid: [u8; 16] = fb[5..HEADER].try_into().ok()?;
    let handle = FileHandle { handle_type: real_type as i32, bytes: fb[HEADER..len].to_vec() };
    Some(RealHandle { upper: flags & OVL_FH_FLAG_PATH_UPPER != 0, uuid, handle })
}

/// An overlay's layer directories, as its mount options name them
/// (absolute paths, from the namespace of whoever mounted it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    pub upper: Option<String>,
    /// Lower layers, top first, data-only layers last.
    pub lower: Vec<String>,
}

/// Undo the kernel's `\ooo` escapes of option values (seq_escape).
fn unescape(s: &str) -> String {
    crate::sys::mounts::unescape(s)
}

/// Split a `lowerdir=` value at the `:` between layers (`::` before
/// data-only layers); `\:` is a colon inside a path.
fn split_layers(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                cur.push(':');
                chars.next();
            }
            ':' => {
                if !cur.is_empty() {
                    out.push(unescape(&std::mem::take(&mut cur)));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(unescape(&cur));
    }
    out
}

/// The layers named by an overlay's superblock options (mountinfo).
pub fn layers(super_opts: &str) -> Layers {
    let mut l = Layers::default();
    for opt in super_opts.split(',') {
        let Some((k, v)) = opt.split_once('=') else {
            continue;
        };
        match k {
            "upperdir" => l.upper = Some(unescape(v)),
            "lowerdir" => l.lower.extend(split_layers(v)),
            "lowerdir+" | "datadir+" => l.lower.push(unescape(v)),
            _ => {}
        }
    }
    l
}

/// Paths inside the overlay that may name a real inode found at `real`
/// (its path as a link shows it): `real` below one of `layer_roots` (the
/// layers' paths as links show them), else each tail of `real`, shortest
/// first. Every candidate is only a guess until a stat confirms it.
pub fn candidates(real: &str, layer_roots: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in layer_roots {
        let r = r.trim_end_matches('/');
        if real == r {
            out.push("/".to_owned());
        } else if let Some(rest) = real.strip_prefix(r).filter(|x| x.starts_with('/')) {
            out.push(rest.to_owned());
        }
    }
    let comps: Vec<&str> = real.split('/').filter(|c| !c.is_empty()).collect();
    for k in (0..comps.len()).rev().take(64) {
        let p = format!("/{}", comps[k..].join("/"));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// `internal` (absolute, inside a filesystem) as a path of the view where
/// the filesystem's directory `root` is mounted at `mountpoint`; `None`
/// when `internal` is not below `root`.
pub fn through_mount(internal: &str, root: &str, mountpoint: &str) -> Option<String> {
    let root = root.trim_end_matches('/');
    let rest = if root.is_empty() {
        internal
    } else if internal == root {
        ""
    } else {
        internal.strip_prefix(root).filter(|r| r.starts_with('/'))?
    };
    let rest = if rest == "/" { "" } else { rest };
    Some(match (mountpoint, rest) {
        (mp, "") => mp.to_owned(),
        ("/", r) => r.to_owned(),
        (mp, r) => format!("{mp}{r}"),
    })
}

/// Is `path` (absolute, clean) at or below directory `dir`?
pub fn at_or_below(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_of_this_kernel_decode() {
        // From fdinfo on Linux 6.18: a lower file, an upper file.
        let hex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
        let lower = FileHandle { handle_type: 0xf8, bytes: hex("00000000fb1d000100000000000000000000000000000000b1c0980063c1a925") };
        let r = real_handle(&lower).unwrap();
        assert!(!r.upper);
        assert_eq!(r.uuid, [0; 16]);
        assert_eq!(r.handle, FileHandle { handle_type: 1, bytes: hex("b1c0980063c1a925") });
        let upper = FileHandle { handle_type: 0xf8, bytes: hex("00000000fb1d04010000000000000000000000000000000052ca980038a8a480") };
        assert!(real_handle(&upper).unwrap().upper);
        // V0: no padding.
        let v0 = FileHandle { handle_type: 0xfb, bytes: lower.bytes[3..].to_vec() };
        assert_eq!(real_handle(&v0), Some(r));
    }

    #[test]
    fn other_and_damaged_handles_do_not() {
        assert_eq!(real_handle(&FileHandle { handle_type: 0x81, bytes: vec![0; 12] }), None);
        let mut b = vec![0u8, 0, 0, 0, 0xfb, 0x1d, 0, 1];
        b.extend([0; 16]);
        b.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(real_handle(&FileHandle { handle_type: 0xf8, bytes: b.clone() }).is_some());
        let mut short = b.clone();
        short.truncate(b.len() - 1);
        assert_eq!(real_handle(&FileHandle { handle_type: 0xf8, bytes: short }), None);
        let mut magic = b.clone();
        magic[4] = 0xfa;
        assert_eq!(real_handle(&FileHandle { handle_type: 0xf8, bytes: magic }), None);
        let mut empty = b.clone();
        empty[5] = 21;
        assert_eq!(real_handle(&FileHandle { handle_type: 0xf8, bytes: empty }), None);
        assert_eq!(real_handle(&FileHandle { handle_type: 0xf8, bytes: vec![0, 0] }), None);
    }

    #[test]
    fn layers_from_mount_options() {
        let l = layers("rw,lowerdir=/s/l/A:/s/l/B::/data,upperdir=/s/x/diff,workdir=/s/x/work,uuid=on");
        assert_eq!(l.upper.as_deref(), Some("/s/x/diff"));
        assert_eq!(l.lower, ["/s/l/A", "/s/l/B", "/data"]);
        let l = layers("rw,lowerdir+=/a\\054b,lowerdir+=/c,datadir+=/d,upperdir=/u\\040v");
        assert_eq!(l.lower, ["/a,b", "/c", "/d"]);
        assert_eq!(l.upper.as_deref(), Some("/u v"));
        assert_eq!(layers("rw,lowerdir=/x\\:y:/z").lower, ["/x:y", "/z"]);
        assert_eq!(layers("rw,relatime"), Layers::default());
    }

    #[test]
    fn candidates_prefer_layer_roots_then_tails() {
        let roots = vec!["/s/x/diff".to_owned(), "/s/l/A/".to_owned()];
        assert_eq!(candidates("/s/x/diff/etc/hosts", &roots)[0], "/etc/hosts");
        assert_eq!(candidates("/s/x/diff", &roots)[0], "/");
        assert_eq!(candidates("/other/etc/hosts", &roots), ["/hosts", "/etc/hosts", "/other/etc/hosts"]);
        assert_eq!(candidates("/s/x/diffx/a", &roots)[0], "/a");
    }

    #[test]
    fn paths_through_mounts() {
        assert_eq!(through_mount("/etc/hosts", "/", "/").as_deref(), Some("/etc/hosts"));
        assert_eq!(through_mount("/", "/", "/t/merged").as_deref(), Some("/t/merged"));
        assert_eq!(through_mount("/etc/hosts", "/", "/t/merged").as_deref(), Some("/t/merged/etc/hosts"));
        assert_eq!(through_mount("/etc/hosts", "/etc", "/x").as_deref(), Some("/x/hosts"));
        assert_eq!(through_mount("/etc", "/etc", "/x").as_deref(), Some("/x"));
        assert_eq!(through_mount("/etcx", "/etc", "/x"), None);
        assert!(at_or_below("/a/b", "/a"));
        assert!(at_or_below("/a", "/a"));
        assert!(at_or_below("/a", "/"));
        assert!(!at_or_below("/ab", "/a"));
    }
}
