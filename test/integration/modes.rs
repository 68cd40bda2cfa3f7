//! CRIU's other modes with the plugin loaded: `--leave-running`, one image
//! set restored twice, `--page-server`, and `--stream` (criu-image-streamer,
//! built by test/scripts/provision-streamer.sh into .cache/).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::harness::*;

/// The inotify and epoll fds of `pid` with their fdinfo, one block per fd
/// in fd order: the kernel's whole view of the state the plugin restores.
fn notify_fdinfo(pid: i32) -> String {
    let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let mut out = String::new();
    for fd in fds {
        let Ok(link) = fs::read_link(format!("/proc/{pid}/fd/{fd}")) else { continue };
        let link = link.to_string_lossy().into_owned();
        if link == "anon_inode:inotify" || link == "anon_inode:[eventpoll]" {
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
            out.push_str(&format!("fd {fd} {link}\n{info}"));
        }
    }
    out
}

/// Every image file of `dir` (logs and restore stats left out) with its bytes.
fn image_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            // stats-restore: CRIU's timings of the last restore.
            if name.ends_with(".log") || name == "stats-restore" || !e.file_type().ok()?.is_file() {
                return None;
            }
            Some((name, fs::read(e.path()).ok()?))
        })
        .collect()
}

/// What a scenario's work directory held at dump time, so that a second
/// run from the same images can start from the same files: the watched
/// objects must be the very same inodes (the plugin checks their file
/// handles), so the directory is put back by undoing the first run's
/// changes, not by copying it.
struct WorkState {
    root: PathBuf,
    /// path -> (inode, size of regular files)
    entries: BTreeMap<PathBuf, (u64, Option<u64>)>,
}

impl WorkState {
    fn walk(root: &Path) -> BTreeMap<PathBuf, (u64, Option<u64>)> {
        use std::os::unix::fs::MetadataExt;
        let mut out = BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let m = fs::symlink_metadata(e.path()).unwrap();
                if m.is_dir() {
                    todo.push(e.path());
                }
                out.insert(e.path(), (m.ino(), m.is_file().then_some(m.len())));
            }
        }
        out
    }

    fn capture(root: &Path) -> WorkState {
        WorkState { root: root.to_path_buf(), entries: WorkState::walk(root) }
    }

    /// Remove what the run created, cut files it grew back to their size.
    fn undo(&self) {
        let now = WorkState::walk(&self.root);
        for (p, (ino, size)) in now.iter().rev() {
            match self.entries.get(p) {
                None => {
                    let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
                }
                Some((was_ino, was_size)) => {
                    assert_eq!(ino, was_ino, "{} was replaced by the run: cannot put the work directory back", p.display());
                    if let (Some(s), Some(w)) = (size, was_size) {
                        if s != w {
                            fs::OpenOptions::new().write(true).open(p).unwrap().set_len(*w).unwrap();
                        }
                    }
                }
            }
        }
        for p in self.entries.keys() {
            assert!(fs::symlink_metadata(p).is_ok(), "{} was removed by the run: cannot put the work directory back", p.display());
        }
    }
}

/// The (inotify, eventpoll) ids CRIU dumped, which the plugin must own.
fn check_owned_at_dump(d: &CriuResult, n_inotify: usize, n_epoll: usize) {
    let (ino, ep) = criu_dumped_ids(&d.log);
    for (kind, n, criu) in [("inotify", n_inotify, ino), ("eventpoll", n_epoll, ep)] {
        let owns = ids_after(&d.log, &format!("notify_plugin: owns {kind} id "));
        assert_eq!(owns.len(), n, "dump.log: {n} `owns {kind}` lines expected\n{}", d.plugin_lines().join("\n"));
        assert_eq!(owns.into_iter().collect::<std::collections::BTreeSet<_>>(), criu, "owned {kind} ids differ from CRIU's");
    }
}

/// Restore `r`'s images again (the previous process must be gone) and
/// finish the scenario; checks the plugin restored everything.
fn restore_and_finish(r: &mut Run, d: &CriuResult, n_inotify: usize, n_epoll: usize) -> CrRun {
    let _ = fs::remove_file(&r.out);
    let rs = r.restore(true, &[], &[]);
    assert!(rs.ok(), "restore failed\n{}", rs.summary());
    let record = r.try_finish().unwrap_or_else(|e| panic!("{e}\n{}", rs.summary()));
    let cr = CrRun { record, dump: clone_result(d), restore: rs, img: r.img.clone(), work: r.work.clone() };
    assert_plugin_owns(&cr, n_inotify, n_epoll);
    cr
}

fn clone_result(r: &CriuResult) -> CriuResult {
    CriuResult { what: r.what.clone(), status: r.status, log: r.log.clone(), stderr: r.stderr.clone(), secs: r.secs }
}

/// `--leave-running`: the dumped process keeps running with exactly the
/// state it had (fdinfo byte-identical: the IN_ONESHOT / IN_EXCL_UNLINK
/// masks, epoll keys and data), still gets its events afterwards, and the
/// images it left are complete: restored after it exited, it behaves as a
/// run without checkpoint.
///
/// "Gets its events" is judged against the same --leave-running dump by
/// CRIU alone, and, unless `criu_touches_watched`, against a run without
/// checkpoint too. CRIU's own dump reads the contents of unlinked-but-open
/// files (it saves them as ghost files): the running process sees those
/// reads as IN_OPEN / IN_ACCESS, with or without the plugin, and the plugin
/// must add nothing. (The test's own look at the work directory after the
/// dump, which opens and reads the watched directories, is made in both
/// runs alike.)
fn leave_running(test: &str, prog_name: &str, case: &str, n_inotify: usize, n_epoll: usize, criu_touches_watched: bool) {
    let t = TestDir::new(test);
    let control_record = control(&t, prog_name, case, |_| {});
    let mut c = Run::start(&t, "criu-only", prog_name, case, |_| {});
    let d = c.dump(false, &["--leave-running"], &[]);
    assert!(d.ok(), "dump --leave-running by CRIU alone failed\n{}", d.summary());
    let _ = WorkState::capture(&c.work);
    let criu_only = c.finish();
    if criu_touches_watched {
        assert!(
            criu_only != control_record,
            "{prog_name} {case}: CRIU's dump no longer shows in the events; set criu_touches_watched = false"
        );
    }

    let mut r = Run::start(&t, "cr", prog_name, case, |_| {});
    let before = notify_fdinfo(r.proc.pid);
    assert!(!before.is_empty(), "no inotify/epoll fds in pid {}", r.proc.pid);
    let d = r.dump(true, &["--leave-running"], &[]);
    assert!(d.ok(), "dump --leave-running failed\n{}", d.summary());
    assert!(r.proc.alive(), "the dumped process is gone after --leave-running");
    let after = notify_fdinfo(r.proc.pid);
    let at_dump = WorkState::capture(&r.work);
    check_owned_at_dump(&d, n_inotify, n_epoll);
    assert_same_record(&format!("{prog_name} {case}: fdinfo before vs after dump --leave-running"), &before, &after);
    let record = r.finish();
    assert_same_record(&format!("{prog_name} {case}: still running after the dump, CRIU alone vs with the plugin"), &criu_only, &record);
    if !criu_touches_watched {
        assert_same_record(&format!("{prog_name} {case}: control vs still running after the dump"), &control_record, &record);
    }

    // The same images, restored once the original has exited, in the work
    // directory as it was at the dump.
    at_dump.undo();
    let cr = restore_and_finish(&mut r, &d, n_inotify, n_epoll);
    assert_same_record(&format!("{prog_name} {case}: control vs restored from --leave-running images"), &control_record, &cr.record);
}

/// Watches with IN_ONESHOT and IN_EXCL_UNLINK (CRIU alone would drop both
/// at restore), two of them over directories with unlinked-but-open files.
#[test]
fn leave_running_inotify_masks() {
    leave_running("mode_leave_running_masks", "inotify", "masks", 1, 0, true);
}

/// Epoll registrations under dup'ed, closed and reused numbers.
#[test]
fn leave_running_epoll_keys() {
    leave_running("mode_leave_running_keys", "epoll", "keys", 0, 1, false);
}

/// One image set restored twice (restore, let it finish, restore again,
/// with the work directory put back in between): the same behaviour both
/// times, and a restore leaves the images as they were (the plugin's images
/// and CRIU's, byte for byte).
#[test]
fn restore_same_images_twice() {
    let t = TestDir::new("mode_restore_twice");
    let expected = control(&t, "epoll", "targets", |_| {});
    let mut r = Run::start(&t, "cr", "epoll", "targets", |_| {});
    let d = r.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    let images = image_files(&r.img);
    let at_dump = WorkState::capture(&r.work);
    for round in 1..=2 {
        at_dump.undo();
        let cr = restore_and_finish(&mut r, &d, 1, 2);
        assert_same_record(&format!("epoll targets: control vs restore #{round}"), &expected, &cr.record);
        let now = image_files(&r.img);
        let changed: Vec<&String> = images.keys().chain(now.keys()).filter(|k| images.get(*k) != now.get(*k)).collect();
        assert!(changed.is_empty(), "restore #{round} changed the images: {changed:?}");
    }
}

/// A TCP port on 127.0.0.1 nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `criu page-server` on 127.0.0.1 receives the memory pages, the dump
/// writes the rest; with both in one directory the restore (plugin owning
/// both files of the forked pair) behaves as a run without checkpoint.
#[test]
fn page_server() {
    let t = TestDir::new("mode_page_server");
    let expected = control(&t, "epoll", "fork", |_| {});
    let mut r = Run::start(&t, "cr", "epoll", "fork", |_| {});
    let ps_dir = t.join("page-server");
    fs::create_dir_all(&ps_dir).unwrap();
    let port = free_port().to_string();
    // --daemon: returns once it listens; it serves one dump, then exits.
    let pidfile = ps_dir.join("page-server.pid");
    let ps = run_criu_at(
        &env().criu,
        "page-server",
        &[
            "page-server",
            "--no-default-config",
            "-d",
            "-D",
            &ps_dir.display().to_string(),
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--pidfile",
            &pidfile.display().to_string(),
            "-v4",
            "-o",
            "page-server.log",
        ]
        .map(String::from),
        &ps_dir,
        "page-server.log",
        &[],
    );
    assert!(ps.ok(), "criu page-server failed\n{}", ps.summary());
    let ps_pid: i32 = fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let mut ps_proc = PageServer(ps_pid);

    let d = r.dump(true, &["--page-server", "--address", "127.0.0.1", "--port", &port], &[]);
    assert!(
        d.ok(),
        "dump to the page server failed\n{}\n--- page server log:\n{}",
        d.summary(),
        fs::read_to_string(ps_dir.join("page-server.log")).unwrap_or_default()
    );
    assert!(wait_until(Duration::from_secs(10), || !ps_proc.alive()), "page server still running after the dump");
    ps_proc.0 = 0;
    let pages: Vec<PathBuf> = fs::read_dir(&ps_dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".img")))
        .collect();
    assert!(pages.iter().any(|p| p.file_name().unwrap().to_string_lossy().starts_with("pages-")), "page server wrote no pages: {pages:?}");
    assert!(
        !fs::read_dir(&r.img).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("pages-")),
        "the dump wrote pages locally despite --page-server"
    );
    for p in &pages {
        fs::copy(p, r.img.join(p.file_name().unwrap())).unwrap();
    }
    let cr = restore_and_finish(&mut r, &d, 1, 1);
    assert_same_record("epoll fork: control vs C/R through the page server", &expected, &cr.record);
}

/// A criu page-server daemon (re-parented to us, the subreaper): killed and
/// reaped on drop unless it exited.
struct PageServer(i32);

impl PageServer {
    fn alive(&mut self) -> bool {
        use rustix::process::{waitpid, Pid, WaitOptions};
        // The daemon is our child (we are the subreaper) or gone.
        match waitpid(Pid::from_raw(self.0), WaitOptions::NOHANG) {
            Ok(None) => true,
            Ok(Some(_)) => false,
            Err(_) => Path::new(&format!("/proc/{}", self.0)).exists(),
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        if self.0 > 0 && self.alive() {
            use rustix::process::{kill_process, waitpid, Pid, Signal, WaitOptions};
            if let Some(pid) = Pid::from_raw(self.0) {
                let _ = kill_process(pid, Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
            }
        }
    }
}

/// criu-image-streamer, built once per test run (cached in .cache/).
fn streamer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("CRIU_IMAGE_STREAMER").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        let script = env().manifest.join("test/scripts/provision-streamer.sh");
        let out = Command::new("bash").arg(&script).output().expect("run provision-streamer.sh");
        assert!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(text.lines().last().expect("provision-streamer.sh printed no path").trim())
    })
}

/// `criu-image-streamer --images-dir DIR capture|serve`, its image stream
/// piped to or from `tar` (the streamer needs pipes), in its own session.
fn start_streamer(t: &TestDir, dir: &Path, what: &str, tar: &Path) -> Proc {
    let s = streamer().display().to_string();
    let cmd = match what {
        "capture" => format!("'{s}' --images-dir '{}' capture | cat > '{}'", dir.display(), tar.display()),
        _ => format!("cat '{}' | '{s}' --images-dir '{}' serve", tar.display(), dir.display()),
    };
    let _ = fs::remove_file(dir.join(format!("streamer-{what}.sock")));
    let p = Proc::spawn(
        Path::new("/bin/sh"),
        &["-c", &cmd],
        &t.join(&format!("streamer-{what}.stdout")),
        &t.join(&format!("streamer-{what}.stderr")),
    );
    let sock = dir.join(if what == "capture" { "streamer-capture.sock" } else { "streamer-serve.sock" });
    assert!(wait_for_file(&sock, Duration::from_secs(10)), "{what}: no {} after 10 s\n{}", sock.display(), p.output());
    p
}

/// `--stream`: CRIU's images go through criu-image-streamer, none reaches
/// the image directory, and images already sent cannot be rewritten. The
/// plugin must notice, leave the files to CRIU's own code (no takeover, no
/// error) and say plainly in dump.log that it does and what that loses.
/// The restore from the stream is CRIU's own and behaves as a run without
/// checkpoint for a case CRIU handles (plain watches). Needs the dump stage
/// to call `criu::stream::leave_streamed_dump_to_criu` before it reads
/// CRIU's images (without it the takeover fails with "image pstree.img is
/// missing").
#[test]
fn stream_leaves_files_to_criu_and_says_so() {
    let t = TestDir::new("mode_stream");
    let expected = control(&t, "inotify", "basic", |_| {});
    let mut r = Run::start(&t, "cr", "inotify", "basic", |_| {});
    fs::create_dir_all(&r.img).unwrap();
    let tar = t.join("img.stream");
    let mut cap = start_streamer(&t, &r.img, "capture", &tar);
    let d = r.dump(true, &["--stream"], &[]);
    assert!(d.ok(), "dump --stream failed\n{}", d.summary());
    assert!(cap.wait_exit(Duration::from_secs(10)).is_some(), "capture did not end\n{}", cap.output());
    assert!(fs::metadata(&tar).map(|m| m.len() > 0).unwrap_or(false), "empty image stream\n{}", cap.output());

    let lines = d.plugin_lines();
    let all = lines.join("\n");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("criu streams this dump") && l.contains("leaves 1 inotify and 0 eventpoll fd(s) to CRIU's own code")),
        "dump.log does not say that under --stream the plugin leaves the files to CRIU's own code:\n{all}"
    );
    assert!(
        lines.iter().any(|l| l.contains("under --stream, lost against the plugin")
            && l.contains("IN_ONESHOT and IN_EXCL_UNLINK")
            && l.contains("epoll keys")),
        "dump.log does not say what is lost under --stream:\n{all}"
    );
    assert!(!all.contains("owns "), "the plugin claims files of a streamed dump:\n{all}");
    assert!(!all.contains("takeover failed") && !all.contains("is missing"), "the plugin reports an error:\n{all}");
    let (ino, _) = criu_dumped_ids(&d.log);
    assert_eq!(ino.len(), 1, "CRIU's own code did not dump the inotify file");

    let _srv = start_streamer(&t, &r.img, "serve", &tar);
    let rs = r.restore(true, &["--stream"], &[]);
    assert!(rs.ok(), "restore --stream failed\n{}", rs.summary());
    assert!(!criu_own_notify_restore_lines(&rs.log).is_empty(), "CRIU's own code did not restore the inotify file");
    let rlines = rs.plugin_lines().join("\n");
    assert!(!rlines.contains("restored inotify"), "the plugin restored a file of a streamed dump:\n{rlines}");
    let record = r.try_finish().unwrap_or_else(|e| panic!("{e}\n{}", rs.summary()));
    assert_same_record("inotify basic: control vs --stream (CRIU's own code)", &expected, &record);
}
