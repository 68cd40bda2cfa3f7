/*
 * 100k inotify watches for the criu-notify integration tests.
 * Usage: watches 100k <workdir> <outfile>   (see common.h for the protocol)
 *
 * 100 directories with 1000 files each; every directory and the first
 * 99 900 files are watched (100 000 watches, wds 1..100000), with a mix
 * of masks including IN_ONESHOT and IN_EXCL_UNLINK. The record holds a
 * count + hash of the normalized watch list, so any lost or changed
 * watch shows.
 */
#include "common.h"

#define DIRS 100
#define FILES 1000
#define WATCHES 100000

int main(int argc, char **argv)
{
	const char *c = start(argc, argv);
	int fd, n = 0;
	char p[64];

	if (strcmp(c, "100k"))
		die("unknown case %s", c);

	for (int d = 0; d < DIRS; d++) {
		snprintf(p, sizeof(p), "d%03d", d);
		CHECK(mkdir(p, 0755) == 0);
		for (int f = 0; f < FILES; f++) {
			int x;
			snprintf(p, sizeof(p), "d%03d/f%03d", d, f);
			x = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (x < 0)
				die("create %s", p);
			close(x);
		}
	}
	fd = inotify_init1(IN_NONBLOCK);
	CHECK(fd >= 0);
	for (int d = 0; d < DIRS; d++) {
		snprintf(p, sizeof(p), "d%03d", d);
		if (inotify_add_watch(fd, p, IN_CREATE | IN_DELETE | IN_MOVED_TO) != ++n)
			die("watch %s", p);
	}
	for (int d = 0; d < DIRS && n < WATCHES; d++) {
		for (int f = 0; f < FILES && n < WATCHES; f++) {
			uint32_t m = IN_MODIFY;
			int i = d * FILES + f;
			if (i % 7 == 0)
				m |= IN_ATTRIB;
			if (i % 13 == 0)
				m |= IN_CLOSE_WRITE;
			if (i % 101 == 0)
				m |= IN_ONESHOT;
			if (i % 103 == 0)
				m |= IN_EXCL_UNLINK;
			snprintf(p, sizeof(p), "d%03d/f%03d", d, f);
			if (inotify_add_watch(fd, p, m) != ++n)
				die("watch %s", p);
		}
	}
	rec("setup %d watches\n", n);

	ready_and_wait();
	rec("== snapshot post\n");
	objects_refresh();
	rec_fd_table();
	rec_fd_flags(fd);
	rec_inotify_fdinfo(fd, 20);
	rec_inotify_events(fd, "after-restore");
	append("d000/f000", "x");  /* ATTRIB|CLOSE_WRITE|ONESHOT|EXCL_UNLINK mix */
	append("d000/f000", "x");  /* oneshot: gone */
	append("d050/f500", "x");
	append("d099/f899", "x");  /* last watched file */
	append("d099/f950", "x");  /* not watched */
	CHECK(chmod("d007/f007", 0600) == 0);
	touch("d001/new");
	rec_inotify_events(fd, "ops");
	touch("fresh");
	{
		int wd = inotify_add_watch(fd, "fresh", IN_MODIFY);
		rec_ret("inotify_add_watch(fresh)", wd); /* expected 100001 */
	}
	rec("== snapshot end\n");
	objects_refresh();
	rec_inotify_fdinfo(fd, 20);
	finish();
	return 0;
}
