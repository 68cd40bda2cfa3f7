//! Drives the real `criu` binary against real processes.
//!
//! - [`env`]: where criu, the plugin directory and crit are; sets this test
//!   process up as a child subreaper so restored processes (re-parented when
//!   `criu restore -d` exits) can be reaped and their exit status checked.
//! - [`prog`]: compiles a scenario program from `test/progs/<name>.c` into
//!   `test/out/bin/` (rebuilt when a source or header is newer).
//! - [`Proc`]: a scenario process in its own session (setsid), killed with
//!   its whole process group when dropped.
//! - [`Run`]: one run of a scenario: start, wait for `<out>.ready`, maybe
//!   dump + restore, then SIGUSR1 and collect the record.
//! - [`dump`] / [`restore`]: one criu invocation, `-v4 -o <stage>.log`.
//! - [`crit_decode`], [`wait_for_file`], [`assert_same_record`].
//!
//! The scenario protocol (`prog <case> <workdir> <outfile>`) and the record
//! format are described in `test/progs/common.h`.
#![allow(unsafe_code)] // the test harness's own process control: subreaper, fork/exec hook, waitpid, mounts
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Where everything is.
pub struct Env {
    pub manifest: PathBuf,
    pub criu: PathBuf,
    /// Absolute directory holding notify_plugin.so (criu chdirs into the
    /// image directory, so relative `--lib` paths would break).
    pub plugins: PathBuf,
    /// An empty directory for `--lib` when running without the plugin, so
    /// that a system-installed /usr/lib/criu plugin does not load.
    pub empty_lib: PathBuf,
    /// CRIU source tree with crit (`<tree>/lib`, `<tree>/crit`), if found.
    pub criu_tree: Option<PathBuf>,
    pub out: PathBuf,
    pub bin: PathBuf,
}

/// The plugin's name as CRIU prints it and records it in the inventory.
pub const PLUGIN_NAME: &str = "notify_plugin";

pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let criu = match std::env::var_os("CRIU").filter(|v| !v.is_empty()) {
            Some(v) => which(Path::new(&v)),
            None => {
                let p = manifest.join(".cache/criu-path");
                let text =
                    fs::read_to_string(&p).unwrap_or_else(|e| panic!("no $CRIU and cannot read {}: {e}; run `make criu`", p.display()));
                let c = PathBuf::from(text.trim());
                if c.is_absolute() {
                    c
                } else {
                    manifest.join(c)
                }
            }
        };
        assert!(criu.exists(), "criu binary {} does not exist", criu.display());
        let plugins = match std::env::var_os("CRIU_NOTIFY_PLUGIN_DIR").filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => manifest.join("plugins"),
        };
        let plugins = fs::canonicalize(&plugins).unwrap_or_else(|e| panic!("plugin dir {}: {e}; run `make plugin`", plugins.display()));
        assert!(plugins.join("notify_plugin.so").exists(), "{}/notify_plugin.so missing; run `make plugin`", plugins.display());
        if let (Some(built), Some(used)) =
            (mtime(&manifest.join("target/release/libcriu_notify.so")), mtime(&plugins.join("notify_plugin.so")))
        {
            if built > used {
                eprintln!(
                    "harness: WARNING {}/notify_plugin.so is older than target/release/libcriu_notify.so; \
                     `make plugin` (or `make integration`) refreshes it",
                    plugins.display()
                );
            }
        }
        let out = manifest.join("test/out");
        let bin = out.join("bin");
        let empty_lib = out.join("empty-lib");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&empty_lib).unwrap();
        // CRIU's tree: <tree>/criu/criu, or the provisioned one.
        let mut trees = vec![];
        if let Some(t) = std::env::var_os("CRIU_TREE") {
            trees.push(PathBuf::from(t));
        }
        if let Some(t) = fs::canonicalize(&criu).ok().and_then(|c| c.parent()?.parent().map(Path::to_path_buf)) {
            trees.push(t);
        }
        // The provisioned tree (`make criu-tree`), e.g. for a criu from PATH.
        if let Ok(t) = fs::read_to_string(manifest.join(".cache/criu-tree")) {
            trees.push(PathBuf::from(t.trim()));
        }
        let criu_tree = trees.into_iter().find(|t| t.join("crit/crit/__main__.py").exists() && t.join("lib/pycriu").exists());
        // Restored processes are re-parented to us when criu exits: be
        // their subreaper so that their exit status can be collected.
        // SAFETY: plain prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        eprintln!("harness: criu {} plugins {} crit tree {:?}", criu.display(), plugins.display(), criu_tree);
        Env { manifest, criu, plugins, empty_lib, criu_tree, out, bin }
    })
}

/// A bare command name (no `/`) is looked up in $PATH.
fn which(p: &Path) -> PathBuf {
    if p.components().count() > 1 {
        return p.to_path_buf();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .unwrap_or_else(|| p.to_path_buf())
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Path of the compiled scenario program `name` (test/progs/<name>.c),
/// compiled with `cc -O1 -Wall` when missing or older than its sources.
pub fn prog(name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let e = env();
    let dir = e.manifest.join("test/progs");
    let src = dir.join(format!("{name}.c"));
    assert!(src.exists(), "{} missing", src.display());
    let bin = e.bin.join(name);
    let mut newest = mtime(&src).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "h") {
            newest = newest.max(mtime(&p).unwrap());
        }
    }
    if mtime(&bin).is_some_and(|b| b >= newest) {
        return bin;
    }
    let tmp = e.bin.join(format!(".{name}.tmp"));
    let out = Command::new("cc").args(["-O1", "-Wall", "-o"]).arg(&tmp).arg(&src).arg("-I").arg(&dir).output().expect("run cc");
    assert!(out.status.success(), "compiling {} failed:\n{}", src.display(), String::from_utf8_lossy(&out.stderr));
    if !out.stderr.is_empty() {
        eprintln!("cc warnings for {name}:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    fs::rename(&tmp, &bin).unwrap();
    bin
}

// ---------------------------------------------------------------------
// Waiting

/// Poll for `path` to exist, every 10 ms, up to `timeout`.
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    wait_until(timeout, || path.exists())
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------
// Test directories and mounts

/// `test/out/<name>/`, emptied at creation (mounts below it detached).
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let path = env().out.join(name);
        unmount_below(&path);
        if path.exists() {
            fs::remove_dir_all(&path).unwrap_or_else(|e| panic!("rm -r {}: {e}", path.display()));
        }
        fs::create_dir_all(&path).unwrap();
        TestDir { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// A path for CRIU_NOTIFY_CONFIG that does not exist, so that a
    /// machine-wide /etc/criu/notify-plugin.conf cannot change the tests.
    pub fn no_config(&self) -> PathBuf {
        self.path.join("no-notify-plugin.conf")
    }
}

/// Detach every mount at or below `dir` (left over by a crashed run).
pub fn unmount_below(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let c = CString::new(p).unwrap();
        // SAFETY: valid C string; MNT_DETACH never blocks.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// A tmpfs mounted at a path, detached on drop.
pub struct TmpfsMount {
    pub path: PathBuf,
}

impl TmpfsMount {
    pub fn new(path: &Path) -> Result<TmpfsMount, String> {
        TmpfsMount::with_options(path, "size=16m,mode=0755")
    }

    pub fn with_options(path: &Path, opts: &str) -> Result<TmpfsMount, String> {
        fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        let o = CString::new(opts).unwrap();
        // SAFETY: valid C strings.
        let r = unsafe { libc::mount(c"tmpfs".as_ptr(), c.as_ptr(), c"tmpfs".as_ptr(), 0, o.as_ptr() as *const libc::c_void) };
        if r != 0 {
            return Err(format!("mount tmpfs on {}: {}", path.display(), std::io::Error::last_os_error()));
        }
        Ok(TmpfsMount { path: path.to_path_buf() })
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        unmount_below(&self.path);
    }
}

// ---------------------------------------------------------------------
// Processes

/// A scenario process (and its process group). Dropping it kills the group
/// and the process, and reaps them.
pub struct Proc {
    pub pid: i32,
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    reaped: Option<i32>,
}

fn kill(pid: i32, sig: i32) -> bool {
    signal(pid, sig)
}

/// Send signal `sig` to `pid` (negative: a process group); true if sent.
pub fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) with integer arguments.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Reap `pid` if it is a zombie child of ours (we are the subreaper).
pub fn reap_if_zombie(pid: i32) {
    let mut st = 0;
    // SAFETY: waitpid(2) with a pointer to a live int.
    unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
}

impl Proc {
    /// Start `prog args...` in a new session, stdin /dev/null, stdout and
    /// stderr appended to files, every other fd closed.
    pub fn spawn(prog: &Path, args: &[&str], stdout: &Path, stderr: &Path) -> Proc {
        let so = fs::OpenOptions::new().create(true).append(true).open(stdout).unwrap();
        let se = fs::OpenOptions::new().create(true).append(true).open(stderr).unwrap();
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null()).stdout(so).stderr(se);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", prog.display()));
        Proc { pid: child.id() as i32, child: Some(child), stdout: stdout.to_path_buf(), stderr: stderr.to_path_buf(), reaped: None }
    }

    /// Take charge of a process that is not (or no longer) our child, e.g.
    /// one restored by `criu restore -d` with the same pid.
    pub fn adopt(&mut self) {
        self.child = None;
        self.reaped = None;
    }

    pub fn signal(&self, sig: i32) -> bool {
        kill(self.pid, sig)
    }

    /// Exists and is not a zombie.
    pub fn alive(&self) -> bool {
        if self.reaped.is_some() {
            return false;
        }
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(s) => {
                let state = s.rsplit(')').next().and_then(|r| r.split_whitespace().next());
                state != Some("Z") && state != Some("X")
            }
            Err(_) => false,
        }
    }

    /// Reap the process if it has exited (ours as parent or as subreaper).
    /// Returns the raw wait status.
    pub fn try_reap(&mut self) -> Option<i32> {
        if self.reaped.is_some() {
            return self.reaped;
        }
        let mut st = 0;
        // SAFETY: plain syscall.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        if r == self.pid {
            self.reaped = Some(st);
            self.child = None;
        }
        self.reaped
    }

    /// Wait for the process to end (up to `timeout`), reaping it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut gone = false;
        wait_until(timeout, || {
            if self.try_reap().is_some() {
                return true;
            }
            // not our child (no subreaper): it is gone once /proc says so
            gone = !Path::new(&format!("/proc/{}", self.pid)).exists();
            gone
        });
        self.reaped
    }

    /// Pids whose process group is this process's (it is a session and
    /// group leader; its children inherit the group).
    pub fn group_pids(&self) -> Vec<i32> {
        let mut v = vec![];
        let Ok(rd) = fs::read_dir("/proc") else {
            return v;
        };
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // fields after "comm)": state ppid pgrp ...
            let rest = stat.rsplit(')').next().unwrap_or("");
            if rest.split_whitespace().nth(2).and_then(|s| s.parse::<i32>().ok()) == Some(self.pid) {
                v.push(pid);
            }
        }
        v
    }

    /// After criu killed the dumped tree: wait until every process of the
    /// group is gone, reaping the ones that are (or became) our children,
    /// so that their pids are free for the restore.
    pub fn reap_group(&mut self, timeout: Duration) -> bool {
        wait_until(timeout, || {
            loop {
                let mut st = 0;
                // SAFETY: plain syscall.
                let r = unsafe { libc::waitpid(-self.pid, &mut st, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                if r == self.pid {
                    self.reaped = Some(st);
                    self.child = None;
                }
            }
            self.group_pids().is_empty()
        })
    }

    pub fn output(&self) -> String {
        format!(
            "--- stdout of pid {}:\n{}--- stderr:\n{}",
            self.pid,
            fs::read_to_string(&self.stdout).unwrap_or_default(),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.pid;
        if self.reaped.is_none() {
            kill(-pid, libc::SIGKILL);
            kill(pid, libc::SIGKILL);
        }
        // Reap the process and whatever of its group was re-parented to us.
        let end = Instant::now() + Duration::from_secs(2);
        loop {
            let mut st = 0;
            // SAFETY: plain syscall.
            let r = unsafe { libc::waitpid(-pid, &mut st, libc::WNOHANG) };
            if r > 0 {
                continue;
            }
            // r == 0: members still dying; r < 0: none of them is ours
            if r < 0 && !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            if Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

pub fn describe_status(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exit code {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("status {st:#x}")
    }
}

// ---------------------------------------------------------------------
// criu

/// One criu invocation.
pub struct CriuResult {
    pub what: String,
    pub status: ExitStatus,
    /// The `-o` log (dump.log / restore.log).
    pub log: String,
    pub stderr: String,
    pub secs: f64,
}

impl CriuResult {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Error lines and the last lines of the log, for assertion messages.
    pub fn summary(&self) -> String {
        let errors: Vec<&str> = self.log.lines().filter(|l| l.contains("Error") || l.contains("Warn") || l.contains(PLUGIN_NAME)).collect();
        let lines: Vec<&str> = self.log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        format!(
            "{} -> {} in {:.2}s\n--- errors/warnings/plugin lines:\n{}\n--- log tail:\n{}\n--- stderr:\n{}",
            self.what,
            self.status,
            self.secs,
            errors.join("\n"),
            tail.join("\n"),
            self.stderr
        )
    }

    /// Log lines written by the plugin (prefix `notify_plugin: `).
    pub fn plugin_lines(&self) -> Vec<&str> {
        self.log.lines().filter(|l| l.contains("notify_plugin: ")).collect()
    }
}

fn lib_dir(with_plugin: bool) -> &'static Path {
    if with_plugin {
        &env().plugins
    } else {
        &env().empty_lib
    }
}

/// Environment variables the plugin reads; cleared for every criu run
/// unless the test sets them.
const PLUGIN_ENV: &[&str] =
    &["CRIU_NOTIFY_QUEUED", "CRIU_NOTIFY_FOLLOW_PATHS", "CRIU_NOTIFY_FAULT", "CRIU_NOTIFY_DEADLINE", "CRIU_NOTIFY_CONFIG", "CRIU_LIBS_DIR"];

fn run_criu(what: &str, args: &[String], dir: &Path, log_name: &str, envs: &[(&str, &str)]) -> CriuResult {
    run_criu_at(&env().criu, what, args, dir, log_name, envs)
}

/// One run of the criu binary at `bin`, with no plugin settings leaking in
/// from the environment; `log_name` is read back from `dir`.
pub fn run_criu_at(bin: &Path, what: &str, args: &[String], dir: &Path, log_name: &str, envs: &[(&str, &str)]) -> CriuResult {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    for k in PLUGIN_ENV {
        cmd.env_remove(k);
    }
    cmd.env("CRIU_NOTIFY_CONFIG", dir.join("no-notify-plugin.conf"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    let t = Instant::now();
    let out = cmd.output().unwrap_or_else(|err| panic!("run {}: {err}", bin.display()));
    let secs = t.elapsed().as_secs_f64();
    let log = fs::read(dir.join(log_name)).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    stderr.push_str(&String::from_utf8_lossy(&out.stdout));
    CriuResult { what: format!("{what}: {} {}", bin.display(), args.join(" ")), status: out.status, log, stderr, secs }
}

/// `criu dump -t pid -D dir -v4 -o dump.log --lib <plugins|empty> extra...`
pub fn dump(pid: i32, dir: &Path, with_plugin: bool, extra: &[&str]) -> CriuResult {
    dump_env(pid, dir, with_plugin, extra, &[])
}

pub fn dump_env(pid: i32, dir: &Path, with_plugin: bool, extra: &[&str], envs: &[(&str, &str)]) -> CriuResult {
    fs::create_dir_all(dir).unwrap();
    let mut args: Vec<String> = vec![
        "dump".into(),
        "--no-default-config".into(),
        "-t".into(),
        pid.to_string(),
        "-D".into(),
        dir.display().to_string(),
        "-v4".into(),
        "-o".into(),
        "dump.log".into(),
        "--lib".into(),
        lib_dir(with_plugin).display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run_criu("dump", &args, dir, "dump.log", envs)
}

/// `criu restore -d -D dir -v4 -o restore.log --lib <plugins|empty> extra...`
pub fn restore(dir: &Path, with_plugin: bool, extra: &[&str]) -> CriuResult {
    restore_env(dir, with_plugin, extra, &[])
}

pub fn restore_env(dir: &Path, with_plugin: bool, extra: &[&str], envs: &[(&str, &str)]) -> CriuResult {
    let mut args: Vec<String> = vec![
        "restore".into(),
        "--no-default-config".into(),
        "-d".into(),
        "-D".into(),
        dir.display().to_string(),
        "-v4".into(),
        "-o".into(),
        "restore.log".into(),
        "--lib".into(),
        lib_dir(with_plugin).display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run_criu("restore", &args, dir, "restore.log", envs)
}

// ---------------------------------------------------------------------
// crit

/// `crit decode -i <img> --pretty` with CRIU's own (stock) crit.
pub fn crit_decode(img: &Path) -> Result<String, String> {
    let e = env();
    let mut cmd;
    if let Some(tree) = &e.criu_tree {
        cmd = Command::new("/usr/bin/python3");
        cmd.env("PYTHONPATH", format!("{}:{}", tree.join("lib").display(), tree.join("crit").display()));
        cmd.args(["-m", "crit"]);
    } else {
        cmd = Command::new("crit");
    }
    cmd.args(["decode", "-i"]).arg(img).arg("--pretty");
    let out = cmd.output().map_err(|err| format!("run crit: {err}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "crit decode {} -> {}\n{}{}",
            img.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

// ---------------------------------------------------------------------
// Scenario runs

/// One run of a scenario program.
pub struct Run {
    pub label: String,
    pub work: PathBuf,
    pub img: PathBuf,
    pub out: PathBuf,
    pub proc: Proc,
    pub ready_timeout: Duration,
    pub done_timeout: Duration,
}

impl Run {
    /// Start `prog case work out`, with `prepare(work)` run first (e.g. to
    /// mount something), and wait for `<out>.ready`.
    pub fn start(t: &TestDir, label: &str, prog_name: &str, case: &str, prepare: impl FnOnce(&Path)) -> Run {
        Run::start_timeout(t, label, prog_name, case, prepare, Duration::from_secs(60))
    }

    pub fn start_timeout(
        t: &TestDir,
        label: &str,
        prog_name: &str,
        case: &str,
        prepare: impl FnOnce(&Path),
        ready_timeout: Duration,
    ) -> Run {
        let bin = prog(prog_name);
        let work = t.join(&format!("work-{label}"));
        let img = t.join(&format!("img-{label}"));
        let out = t.join(&format!("{label}.out"));
        fs::create_dir_all(&work).unwrap();
        prepare(&work);
        let ready = t.join(&format!("{label}.out.ready"));
        let proc = Proc::spawn(
            &bin,
            &[case, &work.display().to_string(), &out.display().to_string()],
            &t.join(&format!("{label}.stdout")),
            &t.join(&format!("{label}.stderr")),
        );
        let mut run = Run { label: label.to_owned(), work, img, out, proc, ready_timeout, done_timeout: Duration::from_secs(30) };
        let ok = wait_until(ready_timeout, || ready.exists() || !run.proc.alive());
        if !ok || !ready.exists() {
            let st = run.proc.try_reap().map(describe_status).unwrap_or_else(|| "still running".into());
            panic!("{prog_name} {case} ({label}) did not get ready within {ready_timeout:?} ({st})\n{}", run.proc.output());
        }
        run
    }

    /// Dump the running scenario. On success the task was killed by criu:
    /// reap it so its pid is free for the restore.
    pub fn dump(&mut self, with_plugin: bool, extra: &[&str], envs: &[(&str, &str)]) -> CriuResult {
        let r = dump_env(self.proc.pid, &self.img, with_plugin, extra, envs);
        if r.ok() && !extra.contains(&"-R") && !extra.contains(&"--leave-running") {
            let gone = self.proc.reap_group(Duration::from_secs(10));
            assert!(gone, "dumped tree of {} still present: {:?}", self.proc.pid, self.proc.group_pids());
        }
        r
    }

    /// `criu restore -d`; on success the restored task (same pid) becomes
    /// ours to signal and kill.
    pub fn restore(&mut self, with_plugin: bool, extra: &[&str], envs: &[(&str, &str)]) -> CriuResult {
        let r = restore_env(&self.img, with_plugin, extra, envs);
        self.proc.adopt();
        if !r.ok() {
            // criu killed what it had restored; reap it (we are the
            // subreaper) so that the pid is free for another attempt
            self.proc.reap_group(Duration::from_secs(10));
        }
        r
    }

    /// Send SIGUSR1, wait for the record, check the exit status.
    /// After a failed dump or restore: true when no process of the
    /// scenario's group is left (reaping what is ours).
    pub fn nothing_left(&mut self) -> bool {
        self.proc.reap_group(Duration::from_secs(10))
    }

    pub fn finish(&mut self) -> String {
        match self.try_finish() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn try_finish(&mut self) -> Result<String, String> {
        if !self.proc.alive() {
            return Err(format!("{}: process {} is not running before SIGUSR1\n{}", self.label, self.proc.pid, self.proc.output()));
        }
        self.proc.signal(libc::SIGUSR1);
        let out = self.out.clone();
        let got = wait_until(self.done_timeout, || out.exists() || !self.proc.alive());
        if !got || !out.exists() {
            // it may have written the file just before exiting
            if !out.exists() {
                let st = self.proc.try_reap().map(describe_status).unwrap_or_else(|| "still running".into());
                return Err(format!(
                    "{}: no record from pid {} ({}; {st})\n{}",
                    self.label,
                    self.proc.pid,
                    if got { "it ended".to_string() } else { format!("waited {:?}", self.done_timeout) },
                    self.proc.output()
                ));
            }
        }
        let st = self.proc.wait_exit(Duration::from_secs(10));
        let record = fs::read_to_string(&out).unwrap();
        match st {
            Some(s) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0 => Ok(record),
            // not our child (no subreaper available): the record is all we have
            None if !self.proc.alive() => Ok(record),
            other => Err(format!(
                "{}: pid {} ended with {}\n{}",
                self.label,
                self.proc.pid,
                other.map(describe_status).unwrap_or_else(|| "still running".into()),
                self.proc.output()
            )),
        }
    }
}

/// Control run: no checkpoint/restore.
pub fn control(t: &TestDir, prog_name: &str, case: &str, prepare: impl FnOnce(&Path)) -> String {
    let mut r = Run::start(t, "control", prog_name, case, prepare);
    r.finish()
}

/// Result of a checkpoint/restore run that succeeded.
pub struct CrRun {
    pub record: String,
    pub dump: CriuResult,
    pub restore: CriuResult,
    pub img: PathBuf,
    pub work: PathBuf,
}

/// Start, dump, restore, finish; panics (with logs) if any step fails.
pub fn checkpoint_restore(t: &TestDir, prog_name: &str, case: &str, with_plugin: bool, prepare: impl FnOnce(&Path)) -> CrRun {
    checkpoint_restore_env(t, prog_name, case, with_plugin, prepare, &[])
}

/// [`checkpoint_restore`] with plugin settings for the dump.
pub fn checkpoint_restore_env(
    t: &TestDir,
    prog_name: &str,
    case: &str,
    with_plugin: bool,
    prepare: impl FnOnce(&Path),
    envs: &[(&str, &str)],
) -> CrRun {
    let label = if with_plugin { "cr" } else { "cr-criu-only" };
    let mut r = Run::start(t, label, prog_name, case, prepare);
    let d = r.dump(with_plugin, &[], envs);
    assert!(d.ok(), "dump failed\n{}", d.summary());
    let rs = r.restore(with_plugin, &[], &[]);
    assert!(rs.ok(), "restore failed\n{}\ndump plugin lines:\n{}", rs.summary(), d.plugin_lines().join("\n"));
    let record = match r.try_finish() {
        Ok(rec) => rec,
        Err(e) => panic!("{e}\n{}", rs.summary()),
    };
    CrRun { record, dump: d, restore: rs, img: r.img.clone(), work: r.work.clone() }
}

// ---------------------------------------------------------------------
// Comparing records

/// Line diff (LCS) of two texts, unified-diff style with context.
pub fn diff(a: &str, b: &str) -> String {
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    let (n, m) = (x.len(), y.len());
    let mut out = String::new();
    if n * m > 16_000_000 {
        let i = x.iter().zip(&y).position(|(p, q)| p != q).unwrap_or(n.min(m));
        let _ = writeln!(out, "first difference at line {}:\n- {:?}\n+ {:?}", i + 1, x.get(i), y.get(i));
        return out;
    }
    // lcs[i][j] = LCS length of x[i..], y[j..]
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[idx(i, j)] = if x[i] == y[j] { lcs[idx(i + 1, j + 1)] + 1 } else { lcs[idx(i + 1, j)].max(lcs[idx(i, j + 1)]) };
        }
    }
    let mut ops: Vec<(char, &str)> = vec![];
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            ops.push((' ', x[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[idx(i, j + 1)] >= lcs[idx(i + 1, j)]) {
            ops.push(('+', y[j]));
            j += 1;
        } else {
            ops.push(('-', x[i]));
            i += 1;
        }
    }
    const CTX: usize = 3;
    let changed: Vec<usize> = ops.iter().enumerate().filter(|(_, o)| o.0 != ' ').map(|(k, _)| k).collect();
    let mut shown_to = 0usize;
    for (ci, &k) in changed.iter().enumerate() {
        let from = k.saturating_sub(CTX).max(shown_to);
        if ci == 0 || from > shown_to {
            let _ = writeln!(out, "@@ record line ~{} @@", from + 1);
        }
        let next = changed.get(ci + 1).copied().unwrap_or(usize::MAX);
        let to = if next != usize::MAX && next <= k + 2 * CTX + 1 { next } else { (k + CTX + 1).min(ops.len()) };
        for op in &ops[from.max(shown_to)..to] {
            let _ = writeln!(out, "{}{}", op.0, op.1);
        }
        shown_to = to;
    }
    out
}

/// Assert two records are equal; on mismatch print a readable diff
/// (`-` expected / `+` actual) and where both files are.
pub fn assert_same_record(what: &str, expected: &str, actual: &str) {
    if expected != actual {
        panic!("{what}: records differ (- expected, + actual)\n{}\n--- full actual record:\n{}", diff(expected, actual), actual);
    }
}

// ---------------------------------------------------------------------
// Log checks

/// The message part of a CRIU log line: without "(00.123456) " and an
/// optional "  1234: " pid prefix.
pub fn log_message(line: &str) -> &str {
    let mut s = line.trim_start();
    if s.starts_with('(') {
        if let Some(p) = s.find(") ") {
            s = &s[p + 2..];
        }
    }
    let t = s.trim_start();
    if let Some(p) = t.find(": ") {
        if p > 0 && t[..p].bytes().all(|b| b.is_ascii_digit()) {
            return &t[p + 2..];
        }
    }
    s
}

fn parse_id(tok: &str) -> Option<u64> {
    let t: String = tok.chars().take_while(|c| c.is_ascii_hexdigit() || *c == 'x' || *c == 'X').collect();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        t.parse().ok()
    }
}

/// Ids that follow `needle` in the log, one per line that has it.
pub fn ids_after(log: &str, needle: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.find(needle).map(|p| &l[p + needle.len()..]))
        .map(|rest| parse_id(rest.trim_start()).unwrap_or_else(|| panic!("no id after {needle:?} in {rest:?}")))
        .collect()
}

/// File ids CRIU's own dump code dumped: (inotify, epoll).
pub fn criu_dumped_ids(dump_log: &str) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let mut ino = BTreeSet::new();
    let mut ep = BTreeSet::new();
    for l in dump_log.lines() {
        let m = log_message(l);
        if let Some(rest) = m.strip_prefix("fsnotify: id ") {
            if let Some(id) = parse_id(rest) {
                ino.insert(id);
            }
        }
        if let Some(rest) = m.strip_prefix("epoll: Dumping eventpoll: id ") {
            if let Some(id) = parse_id(rest) {
                ep.insert(id);
            }
        }
    }
    (ino, ep)
}

/// Lines of restore.log that come from CRIU's own inotify/epoll restore
/// code (criu/fsnotify.c and criu/eventpoll.c: "fsnotify: Collected id",
/// "fsnotify: \tRestore 0x.. wd for ..", "epoll: Collected eventpoll: id",
/// "epoll: Restore eventpoll: id", "epoll: Restore eventpoll-tfd: ...").
pub fn criu_own_notify_restore_lines(restore_log: &str) -> Vec<&str> {
    restore_log
        .lines()
        .filter(|l| !l.contains("notify_plugin"))
        .filter(|l| {
            let m = log_message(l);
            m.starts_with("fsnotify: ")
                || m.starts_with("epoll: ")
                || m.contains("(criu/fsnotify.c:")
                || m.contains("(criu/eventpoll.c:")
                || m.contains("fsnotify.c:")
                || m.contains("eventpoll.c:")
        })
        .collect()
}

/// The logs prove the plugin, not CRIU, checkpointed and restored exactly
/// `n_inotify` inotify files and `n_epoll` epoll files:
/// dump.log has one `notify_plugin: owns inotify id <N>` /
/// `owns eventpoll id <N>` line per file, restore.log one
/// `restored inotify id <N>` / `restored eventpoll id <N>` line per file
/// with the same ids, and no line from CRIU's own restore code.
pub fn assert_plugin_owns(cr: &CrRun, n_inotify: usize, n_epoll: usize) {
    let ctx = || {
        format!(
            "\n--- dump plugin lines:\n{}\n--- restore plugin lines:\n{}",
            cr.dump.plugin_lines().join("\n"),
            cr.restore.plugin_lines().join("\n")
        )
    };
    let (criu_ino, criu_ep) = criu_dumped_ids(&cr.dump.log);
    for (kind, n, criu_ids) in [("inotify", n_inotify, &criu_ino), ("eventpoll", n_epoll, &criu_ep)] {
        let owns = ids_after(&cr.dump.log, &format!("notify_plugin: owns {kind} id "));
        let restored = ids_after(&cr.restore.log, &format!("notify_plugin: restored {kind} id "));
        let owns_set: BTreeSet<u64> = owns.iter().copied().collect();
        let restored_set: BTreeSet<u64> = restored.iter().copied().collect();
        assert_eq!(owns.len(), n, "dump.log: expected {n} `owns {kind} id` lines, got {owns:?}{}", ctx());
        assert_eq!(owns_set.len(), n, "dump.log: duplicate `owns {kind} id` lines: {owns:?}{}", ctx());
        if !criu_ids.is_empty() {
            assert_eq!(&owns_set, criu_ids, "dump.log: plugin's {kind} ids differ from the files CRIU dumped{}", ctx());
        }
        assert_eq!(restored.len(), n, "restore.log: expected {n} `restored {kind} id` lines, got {restored:?}{}", ctx());
        assert_eq!(restored_set, owns_set, "restore.log: restored {kind} ids differ from the dumped ones{}", ctx());
    }
    let own = criu_own_notify_restore_lines(&cr.restore.log);
    assert!(own.is_empty(), "restore.log has lines from CRIU's own inotify/epoll restore:\n{}{}", own.join("\n"), ctx());
}

/// Control run vs checkpoint/restore with the plugin; records equal and
/// the logs show plugin ownership. Returns the C/R run for more checks.
pub fn check_case(test: &str, prog_name: &str, case: &str, n_inotify: usize, n_epoll: usize) -> CrRun {
    let t = TestDir::new(test);
    check_case_in(&t, prog_name, case, n_inotify, n_epoll)
}

/// [`check_case`] in a prepared test directory (e.g. with mounts in place).
pub fn check_case_in(t: &TestDir, prog_name: &str, case: &str, n_inotify: usize, n_epoll: usize) -> CrRun {
    let t1 = Instant::now();
    let expected = control(t, prog_name, case, |_| {});
    let t2 = Instant::now();
    let cr = checkpoint_restore(t, prog_name, case, true, |_| {});
    eprintln!(
        "{prog_name} {case}: control run {:.2}s, C/R run {:.2}s (dump {:.2}s, restore {:.2}s)",
        (t2 - t1).as_secs_f64(),
        t2.elapsed().as_secs_f64(),
        cr.dump.secs,
        cr.restore.secs
    );
    assert_same_record(&format!("{prog_name} {case}: control vs C/R with plugin"), &expected, &cr.record);
    assert_plugin_owns(&cr, n_inotify, n_epoll);
    cr
}

/// Control run vs checkpoint/restore by CRIU alone (no plugin): checks the
/// harness and documents what CRIU itself handles.
pub fn check_case_criu_only(test: &str, prog_name: &str, case: &str) -> CrRun {
    let t = TestDir::new(test);
    let expected = control(&t, prog_name, case, |_| {});
    let cr = checkpoint_restore(&t, prog_name, case, false, |_| {});
    assert_same_record(&format!("{prog_name} {case}: control vs C/R by CRIU alone"), &expected, &cr.record);
    assert!(cr.dump.plugin_lines().is_empty() && cr.restore.plugin_lines().is_empty(), "plugin loaded without --lib");
    cr
}
