//! The C ABI boundary: the exported `CR_PLUGIN_DESC` and the hook entry
//! points. This is the only module that knows CRIU's calling conventions.
//!
//! Every entry point runs its body under [`guard`]: a panic is caught, logged
//! and turned into an error return; typed errors become a log line and a
//! negative errno. Nothing unwinds into CRIU.
#![allow(unsafe_code)] // the C ABI: the exported descriptor and the pointer CRIU passes to RESTORE_EXT_FILE

use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::criu::log as criu_log;
use crate::stage::{dump, restore, HookResult};
use crate::sys::criu_syms;

/// CRIU's plugin ABI as this plugin uses it, in Rust: the same statement
/// as `criu-headers/criu-plugin.h` (the C side), which a unit test checks
/// this against.
mod abi {
    use std::ffi::{c_char, c_int, c_uint, c_void};

    /// CRIU_PLUGIN_VERSION of every CRIU from 3.17 on: 0.2.0 (major << 16
    /// | minor << 8 | sublevel).
    pub const CRIU_NOTIFY_PLUGIN_VERSION: c_uint = 2 << 8;

    /// The hook slots (`enum cr_plugin_hook`) this plugin knows.
    pub mod cr_plugin_hook {
        use std::ffi::c_uint;
        pub const CR_HOOK_DUMP_EXT_FILE: c_uint = 2;
        pub const CR_HOOK_RESTORE_EXT_FILE: c_uint = 3;
        pub const CR_HOOK_RESUME_DEVICES_LATE: c_uint = 9;
        pub const CR_HOOK_CHECKPOINT_DEVICES: c_uint = 11;
        /// The slots this plugin fills end here; later CRIUs add more.
        pub const CR_HOOK_USED_COUNT: c_uint = 12;
    }

    /// `struct cr_plugin_desc`, with the hook slots this plugin declares.
    #[repr(C)]
    pub struct cr_plugin_desc {
        pub name: *const c_char,
        pub init: Option<extern "C" fn(c_int) -> c_int>,
        pub exit: Option<extern "C" fn(c_int, c_int)>,
        pub version: c_uint,
        pub max_hooks: c_uint,
        pub hooks: [*mut c_void; cr_plugin_hook::CR_HOOK_USED_COUNT as usize],
    }
}

use abi::cr_plugin_hook as hook;

/// The plugin's name, as CRIU prints it and records it in the inventory.
pub use crate::criu::image::PLUGIN as NAME;

/// Run a hook body so that neither a panic nor an error escapes silently.
pub fn guard(hook: &str, body: impl FnOnce() -> HookResult) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(ret)) => ret,
        Ok(Err(e)) => {
            log::error!("{hook} failed: {e}");
            -e.errno().abs().max(1)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            log::error!("{hook} failed: internal error (panic): {what}");
            -libc::EIO
        }
    }
}

/// Panic at `step` if the test-only fault asks for it (feature
/// `fault-injection`; nothing otherwise).
fn fault_panic(step: &str) {
    #[cfg(feature = "fault-injection")]
    if crate::config::Config::get().fault(step) {
        panic!("fault injected at {step} (CRIU_NOTIFY_FAULT)");
    }
    let _ = step;
}

fn stage_name(stage: c_int) -> &'static str {
    match stage {
        0 => "dump",
        1 => "pre-dump",
        2 => "restore",
        _ => "unknown",
    }
}

/// Which CRIU a hook table of `hooks` entries belongs to.
fn criu_series(hooks: Option<usize>) -> String {
    match hooks {
        Some(12) => "4.1.x, 12 hooks".to_owned(),
        Some(13) => "4.2.x, 13 hooks".to_owned(),
        Some(n) if n > 13 => format!("development branch, {n} hooks"),
        Some(n) => format!("older than 4.1, {n} hooks"),
        None => "hook count unknown".to_owned(),
    }
}

extern "C" fn cr_init(stage: c_int) -> c_int {
    criu_log::init();
    guard("init", || {
        fault_panic("panic-init");
        let cfg = crate::config::Config::get();
        let hooks = criu_syms::criu_hook_count();
        log::info!(
            "criu-notify {} loaded for {} (criu {}; restore-ext-file ABI: {})",
            env!("CARGO_PKG_VERSION"),
            stage_name(stage),
            criu_series(hooks),
            if criu_syms::restore_ext_file_has_retry() { "id, retry_needed" } else { "id" }
        );
        // CRIU's version is not exported; its hook table's size tells 4.1.
        if hooks == Some(12) {
            if let Err(e) = crate::sys::net::inet_so_passcred() {
                if e.errno == rustix::io::Errno::OPNOTSUPP {
                    log::warn!("criu 4.1.x cannot dump TCP/UDP sockets on this kernel ({e}); use CRIU >= 4.2");
                }
            }
        }
        if let Some(src) = &cfg.source {
            log::info!("settings read from {src}");
        }
        if let Some(bad) = &cfg.bad_deadline {
            log::warn!("deadline {bad:?} is not a positive number of seconds; using {:?}", cfg.deadline);
        }
        match stage {
            0 => dump::init().map(|()| 0),
            2 => restore::init().map(|()| 0),
            _ => Ok(0),
        }
    })
}

extern "C" fn cr_exit(stage: c_int, ret: c_int) {
    guard("exit", || {
        fault_panic("panic-exit");
        match stage {
            0 => dump::finish(ret),
            2 => restore::finish(ret),
            _ => {}
        }
        log::info!("exit from {} (criu result {ret})", stage_name(stage));
        Ok(0)
    });
}

extern "C" fn dump_ext_file(fd: c_int, id: c_int) -> c_int {
    guard("DUMP_EXT_FILE", || {
        fault_panic("panic-dump-ext-file");
        dump::dump_ext_file(fd, id as u32)
    })
}

extern "C" fn restore_ext_file(id: c_int, retry_needed: *mut bool) -> c_int {
    // CRIU 4.1/4.2 pass only `id`: the second register is garbage there and
    // must not be touched. criu-dev passes an uninitialised `bool *`.
    if criu_syms::restore_ext_file_has_retry() && !retry_needed.is_null() {
        // SAFETY: criu-dev passes a valid pointer to a bool on its stack and
        // reads it after we return; we always give it a value.
        unsafe { *retry_needed = false };
    }
    guard("RESTORE_EXT_FILE", || {
        fault_panic("panic-restore-ext-file");
        restore::restore_ext_file(crate::ids::FileId(id as u32))
    })
}

extern "C" fn resume_devices_late(pid: c_int) -> c_int {
    guard("RESUME_DEVICES_LATE", || {
        fault_panic("panic-resume-devices-late");
        restore::resume_devices_late(pid)
    })
}

extern "C" fn checkpoint_devices(pid: c_int) -> c_int {
    guard("CHECKPOINT_DEVICES", || {
        fault_panic("panic-checkpoint-devices");
        dump::checkpoint_devices(pid)
    })
}

/// The descriptor, made shareable: it only holds pointers to static data.
#[repr(transparent)]
pub struct Desc(abi::cr_plugin_desc);

// SAFETY: the descriptor is immutable and every pointer in it refers to
// 'static data (a C string literal, functions).
unsafe impl Sync for Desc {}

const fn hooks() -> [*mut c_void; hook::CR_HOOK_USED_COUNT as usize] {
    let mut h = [std::ptr::null_mut(); hook::CR_HOOK_USED_COUNT as usize];
    h[hook::CR_HOOK_DUMP_EXT_FILE as usize] = dump_ext_file as *mut c_void;
    h[hook::CR_HOOK_RESTORE_EXT_FILE as usize] = restore_ext_file as *mut c_void;
    h[hook::CR_HOOK_RESUME_DEVICES_LATE as usize] = resume_devices_late as *mut c_void;
    h[hook::CR_HOOK_CHECKPOINT_DEVICES as usize] = checkpoint_devices as *mut c_void;
    h
}

/// The symbol CRIU looks up after `dlopen`.
#[no_mangle]
pub static CR_PLUGIN_DESC: Desc = Desc(abi::cr_plugin_desc {
    name: NAME.as_ptr() as *const c_char,
    init: Some(cr_init),
    exit: Some(cr_exit),
    version: abi::CRIU_NOTIFY_PLUGIN_VERSION,
    max_hooks: hook::CR_HOOK_USED_COUNT,
    hooks: hooks(),
});

impl Desc {
    /// The ABI version this plugin declares.
    pub fn version(&self) -> u32 {
        self.0.version
    }
    /// How many hook slots CRIU will read.
    pub fn max_hooks(&self) -> u32 {
        self.0.max_hooks
    }
    /// Whether slot `i` is filled.
    pub fn has_hook(&self, i: usize) -> bool {
        self.0.hooks.get(i).is_some_and(|h| !h.is_null())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::ENOTSUP;

    #[test]
    fn descriptor_is_accepted_by_criu_4_1_and_4_2() {
        assert_eq!(CR_PLUGIN_DESC.version(), 0x200);
        // CRIU 4.1 has 12 hooks, 4.2 has 13: we must not ask for more.
        assert!(CR_PLUGIN_DESC.max_hooks() <= 12);
        for i in [2, 3, 9, 11] {
            assert!(CR_PLUGIN_DESC.has_hook(i), "hook {i}");
        }
        for i in [0, 1, 4, 5, 6, 7, 8, 10] {
            assert!(!CR_PLUGIN_DESC.has_hook(i), "hook {i}");
        }
    }

    #[test]
    fn criu_is_named_by_its_hook_count() {
        assert_eq!(criu_series(Some(12)), "4.1.x, 12 hooks");
        assert_eq!(criu_series(Some(13)), "4.2.x, 13 hooks");
        assert_eq!(criu_series(Some(15)), "development branch, 15 hooks");
        assert_eq!(criu_series(None), "hook count unknown");
    }

    /// The Rust statement of the ABI says what criu-headers/criu-plugin.h
    /// says: the hook numbers, the version, the descriptor's layout.
    #[test]
    fn abi_matches_the_header() {
        let h = include_str!("../criu-headers/criu-plugin.h");
        let value = |name: &str| -> u32 {
            let line = h
                .lines()
                .find(|l| l.trim_start().starts_with(name) && l.contains('='))
                .unwrap_or_else(|| panic!("{name} not in the header"));
            line.split('=')
                .nth(1)
                .unwrap()
                .trim()
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(value("CR_HOOK_DUMP_EXT_FILE"), hook::CR_HOOK_DUMP_EXT_FILE);
        assert_eq!(value("CR_HOOK_RESTORE_EXT_FILE"), hook::CR_HOOK_RESTORE_EXT_FILE);
        assert_eq!(value("CR_HOOK_RESUME_DEVICES_LATE"), hook::CR_HOOK_RESUME_DEVICES_LATE);
        assert_eq!(value("CR_HOOK_CHECKPOINT_DEVICES"), hook::CR_HOOK_CHECKPOINT_DEVICES);
        assert_eq!(value("CR_HOOK_USED_COUNT"), hook::CR_HOOK_USED_COUNT);
        assert!(h.contains("#define CRIU_NOTIFY_PLUGIN_VERSION ((0 << 16) | (2 << 8) | 0)"));
        assert_eq!(abi::CRIU_NOTIFY_PLUGIN_VERSION, 0x200);
        // name, init, exit (pointers), version, max_hooks (two ints), hooks.
        let p = std::mem::size_of::<*const u8>();
        assert_eq!(std::mem::offset_of!(abi::cr_plugin_desc, version), 3 * p);
        assert_eq!(std::mem::offset_of!(abi::cr_plugin_desc, max_hooks), 3 * p + 4);
        assert_eq!(std::mem::offset_of!(abi::cr_plugin_desc, hooks), 3 * p + 8);
        assert_eq!(std::mem::size_of::<abi::cr_plugin_desc>(), 3 * p + 8 + 12 * p);
    }

    #[test]
    fn panics_become_errors() {
        criu_log::init();
        let r = guard("test-hook", || panic!("boom"));
        assert_eq!(r, -libc::EIO);
        let r = guard("test-hook", || -> HookResult { panic!("{}", String::from("formatted boom")) });
        assert_eq!(r, -libc::EIO);
    }

    #[test]
    fn errors_become_negative_errno() {
        let r = guard("test-hook", || Err(crate::Error::Sys(crate::sys::SysError::new("open", "/x", rustix::io::Errno::ACCESS))));
        assert_eq!(r, -libc::EACCES);
        assert_eq!(guard("test-hook", || Ok(ENOTSUP)), -libc::ENOTSUP);
        assert_eq!(guard("test-hook", || Ok(5)), 5);
    }

    #[test]
    fn hooks_called_outside_criu_do_not_unwind() {
        // No image dir, no criu: the hooks must answer, not panic.
        criu_log::init();
        assert!(restore_ext_file(12345, std::ptr::null_mut()) < 0 || restore_ext_file(12345, std::ptr::null_mut()) == ENOTSUP);
        let _ = resume_devices_late(1);
    }
}
