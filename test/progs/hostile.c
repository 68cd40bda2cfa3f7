/*
 * Restore-time fault scenarios for the criu-notify integration tests
 * (test/integration/hostile.rs). Usage: hostile <case> <workdir> <outfile>
 * (see common.h for the protocol).
 *
 * Each case watches objects the test then breaks between dump and restore:
 *   gone    "keep" (wd 1) and "gone" (wd 2): "gone" is deleted
 *   notdir  "dir/f": "dir" becomes a regular file
 *   locked  "locked/f": "locked" becomes mode 000 (criu without DAC caps)
 *   mount   "mnt" and "mnt/f" on a tmpfs the test mounts: unmounted
 *   many    40 watched files and an epoll with 40 pipe targets: the
 *           fs.inotify / fs.epoll max_user_watches sysctls are lowered
 * After SIGUSR1 every case records its watches / registrations and the
 * events a few operations produce, so a successful restore can be
 * compared with a control run.
 */
#include "common.h"

#define MANY 40

static int g_ifd = -1, g_ep = -1;
static int g_pipes[MANY][2];

static void watch(const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(g_ifd, path, mask);
	if (wd < 0)
		die("inotify_add_watch(%s, %#x)", path, mask);
	rec("setup watch %s mask %#x -> wd %d\n", path, mask, wd);
}

static void snapshot(const char *tag)
{
	rec("== snapshot %s\n", tag);
	objects_refresh();
	rec_fd_table();
	rec_fd_flags(g_ifd);
	rec_inotify_fdinfo(g_ifd, 100);
	if (g_ep >= 0) {
		rec_fd_flags(g_ep);
		rec_epoll_fdinfo(g_ep, 100);
	}
}

int main(int argc, char **argv)
{
	const char *c = start(argc, argv);

	g_ifd = inotify_init1(IN_NONBLOCK);
	CHECK(g_ifd >= 0);
	if (!strcmp(c, "gone")) {
		touch("keep");
		touch("gone");
		watch("keep", IN_MODIFY);
		watch("gone", IN_MODIFY | IN_ATTRIB);
	} else if (!strcmp(c, "notdir")) {
		CHECK(mkdir("dir", 0755) == 0);
		touch("dir/f");
		watch("dir/f", IN_MODIFY);
	} else if (!strcmp(c, "locked")) {
		CHECK(mkdir("locked", 0755) == 0);
		touch("locked/f");
		watch("locked/f", IN_MODIFY);
	} else if (!strcmp(c, "mount")) {
		if (access("mnt", F_OK))
			CHECK(mkdir("mnt", 0755) == 0);
		touch("mnt/f");
		watch("mnt", IN_CREATE);
		watch("mnt/f", IN_MODIFY);
	} else if (!strcmp(c, "many")) {
		char p[32];
		CHECK(mkdir("many", 0755) == 0);
		for (int i = 0; i < MANY; i++) {
			snprintf(p, sizeof(p), "many/%02d", i);
			touch(p);
			watch(p, IN_MODIFY);
		}
		g_ep = epoll_create1(0);
		CHECK(g_ep >= 0);
		for (int i = 0; i < MANY; i++) {
			CHECK(pipe2(g_pipes[i], O_NONBLOCK) == 0);
			if (ep_ctl(g_ep, EPOLL_CTL_ADD, g_pipes[i][0], EPOLLIN, 0x100 + i))
				die("EPOLL_CTL_ADD %d", i);
		}
		rec("setup %d epoll targets\n", MANY);
	} else {
		die("unknown case %s", c);
	}

	ready_and_wait();
	snapshot("post");
	if (!strcmp(c, "gone")) {
		append("keep", "1");
		append("gone", "1");
	} else if (!strcmp(c, "notdir")) {
		append("dir/f", "1");
	} else if (!strcmp(c, "locked")) {
		append("locked/f", "1");
	} else if (!strcmp(c, "mount")) {
		append("mnt/f", "1");
		touch("mnt/new");
	} else {
		append("many/00", "1");
		append("many/39", "1");
		xwrite(g_pipes[0][1], "x", 1);
		xwrite(g_pipes[MANY - 1][1], "x", 1);
		rec_epoll_wait(g_ep, "ops", 0);
	}
	rec_inotify_events(g_ifd, "ops");
	finish();
	return 0;
}
