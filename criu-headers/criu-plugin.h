/*
 * criu-notify's own statement of CRIU's plugin ABI (plugin version 0.2.0),
 * as CRIU 4.1.x and 4.2.x load it from a shared object.  bindgen turns this
 * file into Rust (build.rs); nothing here is compiled into C.
 *
 * CRIU looks up the exported data symbol CR_PLUGIN_DESC, checks
 *   version   <= the version it speaks (0.2.0 from 3.17 to 4.2), and
 *   max_hooks <= its own number of hooks (4.1: 12, 4.2: 13, criu-dev: 15),
 * then reads hooks[0 .. max_hooks).  A hook answers -ENOTSUP for "not mine".
 */
#ifndef CRIU_NOTIFY_CRIU_PLUGIN_H
#define CRIU_NOTIFY_CRIU_PLUGIN_H

#include <stdbool.h>

/* Version numbers are packed as (major << 16) | (minor << 8) | sublevel. */
#define CRIU_NOTIFY_PLUGIN_VERSION ((0 << 16) | (2 << 8) | 0)

/* Hook slots: the index into cr_plugin_desc.hooks. */
enum cr_plugin_hook {
	CR_HOOK_DUMP_UNIX_SK = 0,        /* int (int fd, int id) */
	CR_HOOK_RESTORE_UNIX_SK = 1,     /* int (int id) */
	CR_HOOK_DUMP_EXT_FILE = 2,       /* int (int fd, int id) */
	CR_HOOK_RESTORE_EXT_FILE = 3,    /* int (int id); criu-dev: int (int id, bool *retry_needed) */
	CR_HOOK_DUMP_EXT_MOUNT = 4,      /* int (char *mountpoint, int id) */
	CR_HOOK_RESTORE_EXT_MOUNT = 5,   /* int (int id, char *mountpoint, char *old_root, int *is_file) */
	CR_HOOK_DUMP_EXT_LINK = 6,       /* int (int index, int type, char *kind) */
	CR_HOOK_HANDLE_DEVICE_VMA = 7,   /* int (int fd, const struct stat *st) */
	CR_HOOK_UPDATE_VMA_MAP = 8,      /* int (const char *path, uint64_t addr, uint64_t old_pgoff, uint64_t *new_pgoff, int *plugin_fd) */
	CR_HOOK_RESUME_DEVICES_LATE = 9, /* int (int pid); return value ignored by CRIU */
	CR_HOOK_PAUSE_DEVICES = 10,      /* int (int pid) */
	CR_HOOK_CHECKPOINT_DEVICES = 11, /* int (int pid); an error fails the dump */
	/* The slots this plugin fills end here; later CRIUs add more. */
	CR_HOOK_USED_COUNT = 12,
};

/* Stages passed to init() and exit(). */
enum cr_plugin_stage {
	CR_STAGE_DUMP = 0,
	CR_STAGE_PRE_DUMP = 1,
	CR_STAGE_RESTORE = 2,
};

typedef int (*cr_plugin_init_fn)(int stage);
typedef void (*cr_plugin_exit_fn)(int stage, int ret);

typedef int (*cr_hook_fd_id_fn)(int fd, int id);
typedef int (*cr_hook_id_fn)(int id);
typedef int (*cr_hook_id_retry_fn)(int id, bool *retry_needed);
typedef int (*cr_hook_pid_fn)(int pid);

/* The descriptor.  hooks[] is as long as this plugin needs; CRIU never reads
 * past max_hooks. */
struct cr_plugin_desc {
	const char *name;
	cr_plugin_init_fn init;
	cr_plugin_exit_fn exit;
	unsigned int version;
	unsigned int max_hooks;
	void *hooks[CR_HOOK_USED_COUNT];
};

/* Exported by the criu binary; resolved at run time with dlsym so that
 * binaries without CRIU still link. */
int criu_get_image_dir(void);
void print_on_level(unsigned int loglevel, const char *format, ...);
int add_inventory_plugin(const char *name);
bool check_and_remove_inventory_plugin(const char *name, unsigned long n);

/* CRIU's log levels for print_on_level. */
enum criu_log_level {
	CRIU_LOG_MSG = 0,
	CRIU_LOG_ERROR = 1,
	CRIU_LOG_WARN = 2,
	CRIU_LOG_INFO = 3,
	CRIU_LOG_DEBUG = 4,
};

#endif
