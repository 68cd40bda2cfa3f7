/*
 * `make bench` workload: one inotify instance with n watches, half on
 * directories and half on files: directories d000000.. in the workdir,
 * each holding one file "f" (created once; reused by later runs).
 * floor_us = the program's own inotify_add_watch loop (paths relative to
 * the workdir), the time a restore would need if the program re-added its
 * watches itself.
 */
#include <sys/inotify.h>

#include "bench_common.h"

#define MASK (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVE)

int main(int argc, char **argv)
{
	long n = bench_start(argc, argv), dirs = (n + 1) / 2, wd = 0;
	char p[64];
	long long t0, floor_us;
	int fd;

	for (long d = 0; d < dirs; d++) {
		int x;
		snprintf(p, sizeof(p), "d%06ld", d);
		if (mkdir(p, 0755) && errno != EEXIST)
			bench_die("mkdir");
		snprintf(p, sizeof(p), "d%06ld/f", d);
		x = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (x < 0)
			bench_die("create file");
		close(x);
	}
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		bench_die("inotify_init1");

	t0 = bench_now_us();
	for (long d = 0; d < dirs && wd < n; d++) {
		snprintf(p, sizeof(p), "d%06ld", d);
		if (inotify_add_watch(fd, p, MASK | IN_ONLYDIR) != ++wd)
			bench_die("inotify_add_watch dir");
		if (wd == n)
			break;
		snprintf(p, sizeof(p), "d%06ld/f", d);
		if (inotify_add_watch(fd, p, MASK) != ++wd)
			bench_die("inotify_add_watch file");
	}
	floor_us = bench_now_us() - t0;
	bench_ready_and_wait(argv[3], wd, floor_us);
	return 0;
}
