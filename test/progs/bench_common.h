/*
 * Shared by the `make bench` workloads (test/scripts/bench.sh).
 *
 * Protocol:  bench_<kind> <n> <workdir> <readyfile>
 *   set up n objects, measure the program's own setup loop (the "floor":
 *   what the same work costs when the program does it itself), then write
 *   "pid=P n=N floor_us=T" to <readyfile> (atomically) and wait forever
 *   (pause loop) until killed. The process may be dumped and restored
 *   while it waits. <n> may be a size such as "120x200" for workloads
 *   that parse it themselves (bench_procs); N is then that string.
 *   A workload may write more files next to <readyfile> (<readyfile>.keys)
 *   before the readyfile appears.
 */
#ifndef CRIU_NOTIFY_BENCH_COMMON_H
#define CRIU_NOTIFY_BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __attribute__((unused)) void bench_die(const char *what)
{
	fprintf(stderr, "FATAL(pid %d): %s: %s\n", getpid(), what, strerror(errno));
	exit(2);
}

static __attribute__((unused)) long long bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Check argc, chdir(workdir) (created if missing). */
static __attribute__((unused)) void bench_args(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s <n> <workdir> <readyfile>\n", argv[0]);
		exit(2);
	}
	if (mkdir(argv[2], 0755) && errno != EEXIST)
		bench_die("mkdir workdir");
	if (chdir(argv[2]))
		bench_die("chdir workdir");
}

/* A count in [0, 10000000] at s, ending at the character stop; *rest = where it ends. */
static __attribute__((unused)) long bench_count(const char *s, char stop, const char **rest)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (end == s || *end != stop || n < 0 || n > 10000000) {
		fprintf(stderr, "bad size %s\n", s);
		exit(2);
	}
	if (rest)
		*rest = end;
	return n;
}

/* argv -> n, chdir(workdir) (created if missing); returns n. */
static __attribute__((unused)) long bench_start(int argc, char **argv)
{
	bench_args(argc, argv);
	return bench_count(argv[1], '\0', NULL);
}

/* Write buf to path atomically (path.tmp, then rename). */
static __attribute__((unused)) void bench_publish(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX + 8];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die("create result file");
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			bench_die("write result file");
		}
		buf += w;
		len -= (size_t)w;
	}
	close(fd);
	if (rename(tmp, path))
		bench_die("rename result file");
}

/* Room for `need` fds (the caller is root: the hard limit may be raised). */
static __attribute__((unused)) void bench_nofile(long need)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r))
		bench_die("getrlimit");
	if ((long)r.rlim_cur >= need)
		return;
	r.rlim_cur = need;
	if ((long)r.rlim_max < need)
		r.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &r))
		bench_die("setrlimit RLIMIT_NOFILE");
}

/* Report (n as a string, e.g. "120x200"), then wait to be dumped / restored / killed. */
static __attribute__((unused)) void bench_ready_and_wait_s(const char *readyfile, const char *n, long long floor_us)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "pid=%d n=%s floor_us=%lld\n", getpid(), n, floor_us);

	bench_publish(readyfile, line, (size_t)len);
	for (;;)
		pause();
}

/* Report, then wait to be dumped / restored / killed. */
static __attribute__((unused)) void bench_ready_and_wait(const char *readyfile, long n, long long floor_us)
{
	char s[32];

	snprintf(s, sizeof(s), "%ld", n);
	bench_ready_and_wait_s(readyfile, s, floor_us);
}

/* The inotify workloads' tree: dirs directories "<pre>d000000".. under the
 * cwd, each holding one file "f" (created once; reused by later runs).
 * Returns NULL, or what failed (errno set). */
static __attribute__((unused)) const char *bench_make_tree(const char *pre, long dirs)
{
	char p[PATH_MAX];

	for (long d = 0; d < dirs; d++) {
		int x;
		snprintf(p, sizeof(p), "%sd%06ld", pre, d);
		if (mkdir(p, 0755) && errno != EEXIST)
			return "mkdir";
		snprintf(p, sizeof(p), "%sd%06ld/f", pre, d);
		x = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (x < 0)
			return "create file";
		close(x);
	}
	return NULL;
}

#define BENCH_MASK (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVE)

/* Add n watches to inotify fd in the tree of bench_make_tree: a directory,
 * its file, the next directory... (wds 1..n in order). *floor_us = the time
 * of the loop. Returns NULL, or what failed. */
static __attribute__((unused)) const char *bench_add_watches(int fd, const char *pre, long n, long long *floor_us)
{
	char p[PATH_MAX];
	long wd = 0;
	long long t0 = bench_now_us();

	for (long d = 0; wd < n; d++) {
		snprintf(p, sizeof(p), "%sd%06ld", pre, d);
		if (inotify_add_watch(fd, p, BENCH_MASK | IN_ONLYDIR) != ++wd)
			return "inotify_add_watch dir";
		if (wd == n)
			break;
		snprintf(p, sizeof(p), "%sd%06ld/f", pre, d);
		if (inotify_add_watch(fd, p, BENCH_MASK) != ++wd)
			return "inotify_add_watch file";
	}
	*floor_us = bench_now_us() - t0;
	return NULL;
}

/* Register fds[0..n) in epoll ep (EPOLLIN, data = the index); returns the
 * time of the epoll_ctl(ADD) loop in us (the workload's floor). */
static __attribute__((unused)) long long bench_epoll_add_all(int ep, const int *fds, long n)
{
	long long t0 = bench_now_us();

	for (long i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = (unsigned long long)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e))
			bench_die("epoll_ctl");
	}
	return bench_now_us() - t0;
}

#endif
