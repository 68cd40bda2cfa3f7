//! `criu dump --stream` / `criu restore --stream`: CRIU sends its images
//! through criu-image-streamer instead of writing them into the image
//! directory, so the takeover has nothing to read or rewrite.
//!
//! How CRIU streams (criu/img-streamer.c, 4.1 to criu-dev): with `--stream`,
//! `open_image_dir()` connects an AF_UNIX stream socket to
//! `<images dir>/streamer-capture.sock` (dump) or `streamer-serve.sock`
//! (restore), which criu-image-streamer has bound there, and keeps it as a
//! service fd until `close_image_dir()`. Each image is then a pipe received
//! over that socket; the streamer forwards its bytes as they come and
//! accepts each file name once (its serve side asserts when an image is
//! written twice and refuses one requested twice). The image directory holds
//! only the socket and the `stats-dump` CRIU writes locally. At exit(DUMP)
//! (`cr_plugin_fini`, before `close_image_dir`) every image of CRIU's is
//! already sent: `files.img` and the `fdinfo-N.img`s keep their INOTIFY and
//! EVENTPOLL entries, and CRIU's own code restores those files.
//!
//! Detection: one of criu's own fds is a connected AF_UNIX socket whose
//! peer is bound to a streamer socket of the image directory. The socket
//! file alone proves nothing (the streamer leaves it behind when it exits),
//! and `opts.stream` in criu's exported `opts` sits at a version-dependent
//! offset, so neither is used.

use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType};
use rustix::net::SocketAddrUnix;

use crate::sys::proc;

/// The socket criu-image-streamer binds for `criu dump --stream`.
pub const CAPTURE_SOCKET: &str = "streamer-capture.sock";
/// The socket criu-image-streamer binds for `criu restore --stream`.
pub const SERVE_SOCKET: &str = "streamer-serve.sock";

/// Which way the images flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `criu dump --stream`: criu -> streamer (`streamer-capture.sock`).
    Capture,
    /// `criu restore --stream`: streamer -> criu (`streamer-serve.sock`).
    Serve,
}

/// CRIU is streaming its images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streaming {
    pub direction: Direction,
    /// criu's fd connected to the streamer.
    pub fd: RawFd,
    /// The streamer's socket as criu named it when connecting.
    pub socket: String,
}

/// What a peer address names: a streamer socket (by its file name), or not.
pub fn socket_kind(peer: &[u8]) -> Option<Direction> {
    let name = peer.rsplit(|&b| b == b'/').next()?;
    match name {
        n if n == CAPTURE_SOCKET.as_bytes() => Some(Direction::Capture),
        n if n == SERVE_SOCKET.as_bytes() => Some(Direction::Serve),
        _ => None,
    }
}

fn socket_name(d: Direction) -> &'static str {
    match d {
        Direction::Capture => CAPTURE_SOCKET,
        Direction::Serve => SERVE_SOCKET,
    }
}

/// The path the peer of `fd` is bound to, when `fd` is a connected AF_UNIX
/// socket whose peer has a path (not abstract, not unnamed).
fn unix_peer_path(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    let st = rustix::fs::fstat(fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return None;
    }
    let addr = rustix::net::getpeername(fd).ok()??;
    let unix = SocketAddrUnix::try_from(addr).ok()?;
    unix.path_bytes().map(<[u8]>::to_vec)
}

/// Whether `peer` (a path criu connected to) is the socket named `name` in
/// `image_dir`: the image directory must hold a socket of that name, and
/// when `peer` is absolute it must be that very socket file. A relative
/// `peer` (criu was given a relative `-D`) is resolved from criu's working
/// directory at connect time, which may have changed since: the name and the
/// socket in the image directory then suffice.
fn is_socket_in(image_dir: BorrowedFd<'_>, name: &str, peer: &[u8]) -> bool {
    let Ok(there) = rustix::fs::statat(image_dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    if FileType::from_raw_mode(there.st_mode) != FileType::Socket {
        return false;
    }
    if peer.first() != Some(&b'/') {
        return true;
    }
    match rustix::fs::stat(std::ffi::OsStr::from_bytes(peer)) {
        Ok(st) => st.st_dev == there.st_dev && st.st_ino == there.st_ino,
        Err(_) => false,
    }
}

/// Among `fds` (fd numbers of this process), the one connected to a
/// criu-image-streamer socket of `image_dir`, if any.
pub fn detect_among(image_dir: BorrowedFd<'_>, fds: impl IntoIterator<Item = RawFd>) -> Option<Streaming> {
    for fd in fds {
        // Our own copy: a number criu closes meanwhile is an error, never a
        // dangling borrow.
        let Ok(copy) = proc::dup_raw(fd) else { continue };
        let Some(peer) = unix_peer_path(copy.as_fd()) else { continue };
        let Some(direction) = socket_kind(&peer) else { continue };
        if is_socket_in(image_dir, socket_name(direction), &peer) {
            return Some(Streaming { direction, fd, socket: String::from_utf8_lossy(&peer).into_owned() });
        }
    }
    None
}

/// Whether criu (this process) streams its images through
/// criu-image-streamer, given its image directory. A few fstat/getpeername
/// calls over criu's own fds; criu has a handful.
pub fn detect(image_dir: BorrowedFd<'_>) -> Option<Streaming> {
    let fds = proc::fds(std::process::id() as i32).ok()?;
    detect_among(image_dir, fds)
}

/// Inotify and epoll fds of the frozen tasks `pids` (real pids), counted
/// per fd number: (inotify, eventpoll).
fn count_notify_fds(pids: &[i32]) -> (usize, usize) {
    let (mut ino, mut ep) = (0, 0);
    for &pid in pids {
        let Ok(fds) = proc::fds(pid) else { continue };
        for fd in fds {
            match proc::fd_link(pid, fd).as_deref() {
                Ok("anon_inode:inotify") => ino += 1,
                Ok("anon_inode:[eventpoll]") => ep += 1,
                _ => {}
            }
        }
    }
    (ino, ep)
}

/// What CRIU's own code loses against the plugin, for the log.
pub const LOST_WITH_CRIU: &str = "IN_ONESHOT and IN_EXCL_UNLINK on watches (CRIU drops them from the masks), \
     the exact epoll keys of targets that are dup'ed or whose registered fd number is closed \
     (CRIU re-keys them, or fails the restore when one file sits under two closed numbers), \
     watches on unlinked-but-open files, the check that a watched path still leads to the dumped object, \
     disarmed EPOLLONESHOT registrations (re-armed), and IN_DONT_FOLLOW watches on symlinks \
     (CRIU's restore fails)";

/// The two lines the dump stage logs when CRIU streams the dump: what the
/// plugin does, and what that loses.
pub fn dump_notice(s: &Streaming, inotify_fds: usize, eventpoll_fds: usize) -> [String; 2] {
    [
        format!(
            "criu streams this dump (--stream: images go through criu-image-streamer's socket {}, \
             none is written to the image directory), and images already sent cannot be rewritten: \
             the plugin leaves {inotify_fds} inotify and {eventpoll_fds} eventpoll fd(s) to CRIU's own code, \
             which dumps and restores them without the plugin",
            s.socket
        ),
        format!("under --stream, lost against the plugin: {LOST_WITH_CRIU}"),
    ]
}

/// For the dump stage, at exit(DUMP) before it reads CRIU's images: when
/// criu streams this dump, log plainly (warning level) that the plugin leaves
/// the inotify and epoll files to CRIU's own code and what that loses, and
/// return true: the caller then leaves everything as it is (no takeover, no
/// error). `pids` are the frozen tasks (CHECKPOINT_DEVICES), for the count.
///
/// Files that a patched CRIU handed over through DUMP_EXT_FILE are EXT in
/// the streamed `files.img` and need the plugin's images, which this stage
/// cannot write into the stream: the caller should say so as an error.
pub fn leave_streamed_dump_to_criu(image_dir: BorrowedFd<'_>, pids: &[i32]) -> bool {
    let Some(s) = detect(image_dir) else { return false };
    let (ino, ep) = count_notify_fds(pids);
    if ino + ep == 0 {
        log::info!("criu streams this dump (--stream, {}); the dumped tasks have no inotify or epoll fds", s.socket);
    } else {
        for line in dump_notice(&s, ino, ep) {
            log::warn!("{line}");
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::{UnixListener, UnixStream};

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("criu-notify-stream-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn open_dir(p: &std::path::Path) -> std::os::fd::OwnedFd {
        rustix::fs::open(p, rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).unwrap()
    }

    #[test]
    fn socket_names() {
        assert_eq!(socket_kind(b"/tmp/img/streamer-capture.sock"), Some(Direction::Capture));
        assert_eq!(socket_kind(b"img/streamer-serve.sock"), Some(Direction::Serve));
        assert_eq!(socket_kind(b"streamer-capture.sock"), Some(Direction::Capture));
        assert_eq!(socket_kind(b"/tmp/img/streamer-capture.sock.old"), None);
        assert_eq!(socket_kind(b"/run/other.sock"), None);
        assert_eq!(socket_kind(b""), None);
    }

    #[test]
    fn a_connection_to_the_image_dirs_capture_socket_is_streaming() {
        let d = tempdir("capture");
        let listener = UnixListener::bind(d.join(CAPTURE_SOCKET)).unwrap();
        let client = UnixStream::connect(d.join(CAPTURE_SOCKET)).unwrap();
        let dir = open_dir(&d);
        let s = detect(dir.as_fd()).expect("streaming detected");
        assert_eq!(s.direction, Direction::Capture);
        assert_eq!(s.fd, client.as_raw_fd());
        assert!(s.socket.ends_with("/streamer-capture.sock"), "{}", s.socket);
        let [what, lost] = dump_notice(&s, 1, 2);
        assert!(what.contains("leaves 1 inotify and 2 eventpoll fd(s) to CRIU's own code"), "{what}");
        assert!(lost.contains("IN_ONESHOT and IN_EXCL_UNLINK") && lost.contains("epoll keys"), "{lost}");
        drop((client, listener));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_stale_socket_file_or_another_dirs_socket_is_not_streaming() {
        // The streamer is gone, its socket file stays: no connection.
        let d = tempdir("stale");
        drop(UnixListener::bind(d.join(CAPTURE_SOCKET)).unwrap());
        let dir = open_dir(&d);
        assert_eq!(detect(dir.as_fd()), None);
        // A live streamer socket of another directory.
        let other = tempdir("other");
        let _l = UnixListener::bind(other.join(SERVE_SOCKET)).unwrap();
        let c = UnixStream::connect(other.join(SERVE_SOCKET)).unwrap();
        assert_eq!(detect_among(dir.as_fd(), [c.as_raw_fd()]), None);
        let odir = open_dir(&other);
        assert_eq!(detect_among(odir.as_fd(), [c.as_raw_fd()]).map(|s| s.direction), Some(Direction::Serve));
        // Numbers that are not open, or not sockets.
        assert_eq!(detect_among(odir.as_fd(), [-1, 1_000_000, odir.as_raw_fd()]), None);
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn no_pids_no_count() {
        assert_eq!(count_notify_fds(&[]), (0, 0));
    }
}
