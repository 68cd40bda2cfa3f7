/*
 * Watches whose file handles CRIU cannot open, so that its own dump needs
 * a path for each from its irmap: an overlay mounted without nfs_export,
 * procfs, sysfs. Usage: irmap <case> <workdir> <outfile> (see common.h).
 *
 * Cases:
 *   overlay    workdir/merged is an overlay (lowerdir workdir/lower with
 *              lfile, cfile, ldir/inner; upperdir workdir/upper), mounted
 *              by the test. Watches: a lower-layer file (lfile), an
 *              upper-layer file (ufile, created here), a copied-up file
 *              (cfile, appended to here), a lower directory (ldir), the
 *              overlay's root directory (merged) and a lower-layer file
 *              renamed here (mfile -> renamed: its handle still names the
 *              lower file, whose path in the overlay is a whiteout now).
 *   procsys    /proc/sys/kernel/hostname and a sysfs file; after the
 *              restore both are read and the events recorded (the union of
 *              their masks: other processes may read the same files).
 *   overmount  as overlay, one watch on merged/hid/file, then a tmpfs is
 *              mounted on merged/hid: no path leads to the watched file.
 */
#include "common.h"
#include <sys/mount.h>

#define RW_EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)
#define DIR_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB)
#define READ_EVENTS (IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE)

static const char *sysfs_candidates[] = {
	"/sys/kernel/mm/transparent_hugepage/enabled",
	"/sys/kernel/uevent_seqnum",
	"/sys/power/state",
	NULL,
};

/* Objects outside the workdir, named for the records. */
static const char *g_extra[4];
static int g_nextra;

static int add(int fd, const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(fd, path, mask);
	if (wd < 0)
		die("inotify_add_watch(%d, %s, %#x)", fd, path, mask);
	rec("setup watch fd %d %s mask %#x -> wd %d\n", fd, path, mask, wd);
	return wd;
}

/* The workdir's objects (common.h), plus the extra paths. */
static void refresh(void)
{
	objects_refresh();
	for (int i = 0; i < g_nextra; i++) {
		struct stat st;
		if (!lstat(g_extra[i], &st))
			obj_add(st.st_dev, st.st_ino, g_extra[i]);
	}
	qsort(g_objs, g_nobjs, sizeof(*g_objs), obj_cmp);
}

static void snapshot(const char *tag, int fd)
{
	rec("== snapshot %s\n", tag);
	refresh();
	rec_fd_table();
	rec_fd_flags(fd);
	rec_inotify_fdinfo(fd, 100);
}

static void case_overlay(void)
{
	int fd;

	CHECK(access("merged/lfile", F_OK) == 0);
	touch("merged/ufile");
	append("merged/cfile", "copied up\n");
	CHECK(rename("merged/mfile", "merged/renamed") == 0);
	fd = inotify_init1(IN_NONBLOCK);
	CHECK(fd >= 0);
	add(fd, "merged/lfile", RW_EVENTS);
	add(fd, "merged/ufile", RW_EVENTS);
	add(fd, "merged/cfile", RW_EVENTS);
	add(fd, "merged/ldir", DIR_EVENTS);
	add(fd, "merged", DIR_EVENTS);
	add(fd, "merged/renamed", RW_EVENTS);
	rec_inotify_events(fd, NULL);

	ready_and_wait();
	snapshot("post", fd);
	append("merged/lfile", "now copied up\n");
	append("merged/ufile", "u\n");
	append("merged/renamed", "r\n");
	CHECK(chmod("merged/cfile", 0600) == 0);
	touch("merged/ldir/new");
	CHECK(unlink("merged/ldir/inner") == 0);
	touch("merged/rootnew");
	CHECK(rename("merged/rootnew", "merged/ldir/moved") == 0);
	rec_inotify_events(fd, "ops");
	snapshot("end", fd);
}

/* Read a file whole (open, read, close: three events on a watch). */
static void slurp(const char *p)
{
	char b[256];
	int f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		die("open %s", p);
	while (read(f, b, sizeof(b)) > 0)
		;
	close(f);
}

static void drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Events now queued, as the union of their masks per wd. */
static void rec_event_masks(int fd, const char *tag)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t masks[8] = { 0 };
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->wd > 0 && ev->wd < 8)
				masks[ev->wd] |= ev->mask;
			p += sizeof(*ev) + ev->len;
		}
	}
	for (int wd = 1; wd < 8; wd++)
		if (masks[wd])
			rec("ev %s wd=%d masks=%#x\n", tag, wd, masks[wd]);
}

static void case_procsys(void)
{
	const char *sysf = NULL;
	int fd;

	for (int i = 0; sysfs_candidates[i]; i++)
		if (!access(sysfs_candidates[i], R_OK)) {
			sysf = sysfs_candidates[i];
			break;
		}
	CHECK(sysf);
	g_extra[g_nextra++] = "/proc/sys/kernel/hostname";
	g_extra[g_nextra++] = sysf;
	fd = inotify_init1(IN_NONBLOCK);
	CHECK(fd >= 0);
	add(fd, "/proc/sys/kernel/hostname", READ_EVENTS);
	add(fd, sysf, READ_EVENTS);
	drain(fd);

	ready_and_wait();
	snapshot("post", fd);
	/* Others' reads may have queued events before: not part of the record. */
	drain(fd);
	slurp("/proc/sys/kernel/hostname");
	slurp(sysf);
	rec_event_masks(fd, "reads");
	snapshot("end", fd);
}

static void case_overmount(void)
{
	int fd;

	CHECK(mkdir("merged/hid", 0755) == 0);
	touch("merged/hid/file");
	fd = inotify_init1(IN_NONBLOCK);
	CHECK(fd >= 0);
	add(fd, "merged/hid/file", RW_EVENTS);
	add(fd, "merged/lfile", RW_EVENTS);
	if (mount("cnotify-cover", "merged/hid", "tmpfs", 0, "size=1m"))
		die("mount tmpfs on merged/hid");
	rec("covered merged/hid\n");

	ready_and_wait();
	snapshot("post", fd);
}

int main(int argc, char **argv)
{
	const char *c = start(argc, argv);

	if (!strcmp(c, "overlay"))
		case_overlay();
	else if (!strcmp(c, "procsys"))
		case_procsys();
	else if (!strcmp(c, "overmount"))
		case_overmount();
	else
		die("unknown case %s", c);
	finish();
	return 0;
}
