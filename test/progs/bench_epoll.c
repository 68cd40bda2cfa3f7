/*
 * `make bench` workload: one epoll instance with n targets, each its own
 * eventfd (EPOLLIN, data = its index). floor_us = the program's own
 * epoll_ctl(ADD) loop (the eventfds exist before the clock starts).
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "bench_common.h"

int main(int argc, char **argv)
{
	long n = bench_start(argc, argv);
	long long floor_us;
	int ep, *fds;

	bench_nofile(n + 64);
	fds = calloc(n ? n : 1, sizeof(int));
	if (!fds)
		bench_die("calloc");
	for (long i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK);
		if (fds[i] < 0)
			bench_die("eventfd");
	}
	ep = epoll_create1(0);
	if (ep < 0)
		bench_die("epoll_create1");

	floor_us = bench_epoll_add_all(ep, fds, n);
	bench_ready_and_wait(argv[3], n, floor_us);
	return 0;
}
