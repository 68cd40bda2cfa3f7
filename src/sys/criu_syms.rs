//! The functions the criu binary exports to plugins, resolved at run time.
//!
//! The plugin is `dlopen`ed by criu, so `dlsym(RTLD_DEFAULT, ..)` finds
//! criu's exported symbols. Test binaries have no criu: every lookup then
//! yields `None` and callers fall back (log to stderr, no image dir).
#![allow(unsafe_code)] // calls into functions criu exports, found with dlsym

use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::OnceLock;

type PrintOnLevel = unsafe extern "C" fn(c_uint, *const c_char, ...);
type GetImageDir = unsafe extern "C" fn() -> c_int;
type CheckAndRemoveInventoryPlugin = unsafe extern "C" fn(*const c_char, usize) -> bool;

struct Syms {
    print_on_level: Option<PrintOnLevel>,
    get_image_dir: Option<GetImageDir>,
    check_and_remove_inventory_plugin: Option<CheckAndRemoveInventoryPlugin>,
    criu_dev_restore_ext_file: bool,
}

fn lookup(name: &CStr) -> *mut libc::c_void {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name has no
    // preconditions; a null result means "not found".
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

fn syms() -> &'static Syms {
    static SYMS: OnceLock<Syms> = OnceLock::new();
    SYMS.get_or_init(|| {
        let p = lookup(c"print_on_level");
        let g = lookup(c"criu_get_image_dir");
        let c = lookup(c"check_and_remove_inventory_plugin");
        Syms {
            // SAFETY: each pointer, when non-null, is criu's exported
            // function of exactly this C signature (criu/include/*.h).
            print_on_level: (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, PrintOnLevel>(p) }),
            // SAFETY: as above.
            get_image_dir: (!g.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, GetImageDir>(g) }),
            // SAFETY: as above.
            check_and_remove_inventory_plugin: (!c.is_null())
                .then(|| unsafe { std::mem::transmute::<*mut libc::c_void, CheckAndRemoveInventoryPlugin>(c) }),
            criu_dev_restore_ext_file: detect_retry_abi(),
        }
    })
}

/// CRIU's development branch passes `bool *retry_needed` to
/// RESTORE_EXT_FILE; 4.1 and 4.2 pass only the id. That branch has more
/// hooks (4.1: 12, 4.2: 13, criu-dev: 15 and up) and exports
/// `criu_plugin_get_options`. The hook count is read from the size of
/// criu's exported `cr_plugin_ctl` (one 16-byte list head per hook plus
/// one). `CRIU_NOTIFY_RESTORE_EXT_FILE_ABI=id|retry` overrides.
fn detect_retry_abi() -> bool {
    match std::env::var("CRIU_NOTIFY_RESTORE_EXT_FILE_ABI").as_deref() {
        Ok("retry") => return true,
        Ok("id") => return false,
        _ => {}
    }
    if !lookup(c"criu_plugin_get_options").is_null() {
        return true;
    }
    criu_hook_count().is_some_and(|n| n >= 14)
}

/// The number of hooks the running criu knows, if it can be told.
pub fn criu_hook_count() -> Option<usize> {
    let ctl = lookup(c"cr_plugin_ctl");
    if ctl.is_null() {
        return None;
    }
    // SAFETY: Dl_info is plain data; dladdr1 fills it and points `sym` at
    // the ELF symbol table entry of `ctl` (RTLD_DL_SYMENT = 1), which stays
    // mapped as long as criu runs.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let mut sym: *mut libc::c_void = std::ptr::null_mut();
        if libc::dladdr1(ctl, &mut info, &mut sym, 1) == 0 || sym.is_null() {
            return None;
        }
        let size = (*(sym as *const libc::Elf64_Sym)).st_size as usize;
        (size >= 32).then(|| size / 16 - 1)
    }
}

/// True when criu is present in this process (the plugin runs inside criu).
pub fn in_criu() -> bool {
    syms().print_on_level.is_some()
}

/// Whether RESTORE_EXT_FILE receives a second `bool *retry_needed` argument.
pub fn restore_ext_file_has_retry() -> bool {
    syms().criu_dev_restore_ext_file
}

/// Print one line into CRIU's log at `level` (1 error .. 4 debug).
/// Returns false when criu is not there to print it.
pub fn print(level: u32, line: &str) -> bool {
    let Some(f) = syms().print_on_level else {
        return false;
    };
    // Interior NULs would cut the line; replace them.
    let text = CString::new(line.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: "%s\n" consumes exactly one C string argument, which lives
    // until the call returns.
    unsafe { f(level as c_uint, c"%s\n".as_ptr(), text.as_ptr()) };
    true
}

/// CRIU's image directory fd, borrowed from criu (it owns and closes it).
pub fn image_dir() -> Option<BorrowedFd<'static>> {
    let f = syms().get_image_dir?;
    // SAFETY: criu_get_image_dir takes no arguments.
    let fd: RawFd = unsafe { f() };
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd is criu's service fd for the image directory, open for
    // the whole criu run in which the plugin's hooks are called.
    Some(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Tell CRIU at restore that the plugin named in the inventory is here.
/// `None` when this criu has no such function (older than 4.1).
pub fn check_and_remove_inventory_plugin(name: &CStr) -> Option<bool> {
    let f = syms().check_and_remove_inventory_plugin?;
    // SAFETY: a valid NUL-terminated string and its length without NUL.
    Some(unsafe { f(name.as_ptr(), name.to_bytes().len()) })
}

/// CRIU's irmap (inode-to-path map) entry points. Internal functions, not
/// plugin API: every release from 4.1 to the development branch exports
/// them (criu/irmap.c), a future one may not, so each is looked up once
/// and callers degrade when it is missing.
struct IrmapSyms {
    /// `int irmap_load_cache(void)`: reads `irmap-cache` of criu's
    /// working directory (else of the parent images) into the cache that
    /// `irmap_lookup` consults first.
    load_cache: Option<IrmapLoadCache>,
    /// `int irmap_scan_path_add(char *path)`: one more directory or file
    /// `irmap_lookup` scans after its cache (copied with strdup).
    scan_path_add: Option<IrmapScanPathAdd>,
}

type IrmapLoadCache = unsafe extern "C" fn() -> c_int;
type IrmapScanPathAdd = unsafe extern "C" fn(*mut c_char) -> c_int;

fn irmap_syms() -> &'static IrmapSyms {
    static SYMS: OnceLock<IrmapSyms> = OnceLock::new();
    SYMS.get_or_init(|| {
        let l = lookup(c"irmap_load_cache");
        let s = lookup(c"irmap_scan_path_add");
        // SAFETY: each pointer, when non-null, is criu's exported function
        // of exactly this C signature (criu/include/irmap.h).
        let load_cache = (!l.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, IrmapLoadCache>(l) });
        // SAFETY: as above.
        let scan_path_add = (!s.is_null()).then(|| unsafe { std::mem::transmute::<*mut libc::c_void, IrmapScanPathAdd>(s) });
        IrmapSyms { load_cache, scan_path_add }
    })
}

/// Whether criu exports `irmap_load_cache`.
pub fn has_irmap_load_cache() -> bool {
    irmap_syms().load_cache.is_some()
}

/// Whether criu exports `irmap_scan_path_add`.
pub fn has_irmap_scan_path_add() -> bool {
    irmap_syms().scan_path_add.is_some()
}

/// Call criu's `irmap_load_cache()`: `None` when criu does not export it,
/// else its result (0 on success). Only from a hook, on criu's own thread:
/// CRIU's code is not thread-safe.
pub fn irmap_load_cache() -> Option<i32> {
    let f = irmap_syms().load_cache?;
    // SAFETY: no arguments; called from within one of criu's plugin hooks,
    // on the thread that called it, while criu waits for the hook.
    Some(unsafe { f() })
}

/// Call criu's `irmap_scan_path_add(path)`: `None` when criu does not
/// export it, else its result (0 on success). Same rule as
/// [`irmap_load_cache`].
pub fn irmap_scan_path_add(path: &CStr) -> Option<i32> {
    let f = irmap_syms().scan_path_add?;
    // SAFETY: a valid NUL-terminated string that outlives the call; criu
    // copies it (xstrdup) and never writes through the pointer.
    Some(unsafe { f(path.as_ptr().cast_mut()) })
}
