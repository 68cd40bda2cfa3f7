/*
 * `make bench` workload: one epoll instance with n eventfd targets, each
 * registered (EPOLLIN, data = its index) under its fd number; then every
 * target is dup()ed to a new number above all of them and its original
 * number closed. The registrations stay (the files are still open), but
 * each one's key, the fd number it was added under, is a closed number at
 * dump time: a dumper cannot find a target by its key and has to search.
 * floor_us = the program's own epoll_ctl(ADD) loop, as in bench_epoll.
 *
 * Needs about 2n fds: the n originals and their n copies are open at once
 * (all copies are made before any original is closed, so no copy lands on
 * a key number), and the copies keep numbers up to about 2n.
 *
 * Before the readyfile it writes <readyfile>.keys: "epfd=E", then one line
 * "tfd events data" (decimal, hex, hex) per registration, as the kernel
 * shows them in /proc/PID/fdinfo/E (events with EPOLLERR | EPOLLHUP, which
 * epoll_ctl always adds), so that bench.sh can check the restored keys.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "bench_common.h"

int main(int argc, char **argv)
{
	long n = bench_start(argc, argv);
	long long floor_us;
	int ep, *fds, *copies, top = 0;
	char path[PATH_MAX + 8], *buf;
	size_t len = 0, cap;

	bench_nofile(2 * n + 64);
	fds = calloc(n ? n : 1, sizeof(int));
	copies = calloc(n ? n : 1, sizeof(int));
	cap = 64 + (size_t)n * 48;
	buf = malloc(cap);
	if (!fds || !copies || !buf)
		bench_die("calloc");
	for (long i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK);
		if (fds[i] < 0)
			bench_die("eventfd");
		if (fds[i] > top)
			top = fds[i];
	}
	ep = epoll_create1(0);
	if (ep < 0)
		bench_die("epoll_create1");
	if (ep > top)
		top = ep;

	floor_us = bench_epoll_add_all(ep, fds, n);

	for (long i = 0; i < n; i++) {
		copies[i] = fcntl(fds[i], F_DUPFD, top + 1);
		if (copies[i] < 0)
			bench_die("fcntl F_DUPFD");
	}
	for (long i = 0; i < n; i++)
		if (close(fds[i]))
			bench_die("close original");

	len += (size_t)snprintf(buf + len, cap - len, "epfd=%d\n", ep);
	for (long i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%d %x %llx\n", fds[i],
					(unsigned)(EPOLLIN | EPOLLERR | EPOLLHUP), (unsigned long long)i);
	snprintf(path, sizeof(path), "%s.keys", argv[3]);
	bench_publish(path, buf, len);
	bench_ready_and_wait(argv[3], n, floor_us);
	return 0;
}
