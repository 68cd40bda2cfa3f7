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

int main(int argc, char **argv)
{
	long n = bench_start(argc, argv);
	long long floor_us;
	const char *failed;
	int fd;

	if ((failed = bench_make_tree("", (n + 1) / 2)))
		bench_die(failed);
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		bench_die("inotify_init1");
	if ((failed = bench_add_watches(fd, "", n, &floor_us)))
		bench_die(failed);
	bench_ready_and_wait(argv[3], n, floor_us);
	return 0;
}
