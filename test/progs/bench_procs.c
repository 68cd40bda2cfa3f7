/*
 * `make bench` workload, size "PxW": a tree of P processes (this one, the
 * root, and P-1 children) each with its own inotify instance holding W
 * watches and its own epoll set with two registrations: the inotify fd
 * (data 0) and an eventfd (data 1). Process k works in the subdirectory
 * pNNN of the workdir, which holds directories d000000.. each with one
 * file "f" (created once, reused by later runs); like bench_inotify, half
 * of its watches are on the directories and half on the files.
 *
 * The processes set up one after another (each child reports to the root
 * over a pipe before the next one is forked; the root sets itself up last,
 * so no process inherits another's inotify or epoll fd), so that floor_us,
 * the sum of the P inotify_add_watch loops, is not inflated by contention.
 *
 * Every inotify instance counts against fs.inotify.max_user_instances
 * (often 128): P must stay below it.
 */
#include "bench_common.h" /* first: it defines _GNU_SOURCE (pipe2) */

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

static pid_t root;

/* On failure, take the whole tree down, not just this process; but only
 * when the root leads its own session (bench.sh starts it with setsid), so
 * that the process group is the tree's and not the caller's. */
static void procs_die(const char *what)
{
	fprintf(stderr, "FATAL(pid %d): %s: %s\n", getpid(), what, strerror(errno));
	if (getsid(0) == root && getpgrp() == root)
		kill(0, SIGKILL);
	exit(2);
}

/* Process k's inotify instance with w watches and its epoll set; returns
 * the time of its inotify_add_watch loop in us. */
static long long setup(int k, long w)
{
	char p[64];
	const char *failed;
	long long floor_us;
	int in, ev, ep;
	struct epoll_event e = { .events = EPOLLIN };

	snprintf(p, sizeof(p), "p%03d", k);
	if (mkdir(p, 0755) && errno != EEXIST)
		procs_die("mkdir");
	snprintf(p, sizeof(p), "p%03d/", k);
	if ((failed = bench_make_tree(p, (w + 1) / 2)))
		procs_die(failed);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		procs_die("inotify_init1 (fs.inotify.max_user_instances?)");
	if ((failed = bench_add_watches(in, p, w, &floor_us)))
		procs_die(failed);

	ev = eventfd(0, EFD_NONBLOCK);
	if (ev < 0)
		procs_die("eventfd");
	ep = epoll_create1(0);
	if (ep < 0)
		procs_die("epoll_create1");
	e.data.u64 = 0;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, in, &e))
		procs_die("epoll_ctl inotify");
	e.data.u64 = 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e))
		procs_die("epoll_ctl eventfd");
	return floor_us;
}

int main(int argc, char **argv)
{
	const char *rest;
	long p, w;
	long long floor_us = 0;
	char size[64];

	root = getpid();
	bench_args(argc, argv);
	p = bench_count(argv[1], 'x', &rest);
	w = bench_count(rest + 1, '\0', NULL);
	if (p < 1 || p > 999) {
		fprintf(stderr, "bad process count %ld\n", p);
		exit(2);
	}

	for (int k = 1; k < p; k++) {
		long long us;
		int pfd[2];
		pid_t pid;

		if (pipe2(pfd, O_CLOEXEC))
			procs_die("pipe2");
		pid = fork();
		if (pid < 0)
			procs_die("fork");
		if (pid == 0) {
			close(pfd[0]);
			us = setup(k, w);
			if (write(pfd[1], &us, sizeof(us)) != sizeof(us))
				procs_die("write report");
			close(pfd[1]);
			for (;;)
				pause();
		}
		close(pfd[1]);
		if (read(pfd[0], &us, sizeof(us)) != sizeof(us)) {
			errno = ECHILD;
			procs_die("child did not report");
		}
		close(pfd[0]);
		floor_us += us;
	}
	floor_us += setup(0, w);

	snprintf(size, sizeof(size), "%ldx%ld", p, w);
	bench_ready_and_wait_s(argv[3], size, floor_us);
	return 0;
}
