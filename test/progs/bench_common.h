/*
 * Shared by the `make bench` workloads (test/scripts/bench.sh).
 *
 * Protocol:  bench_<kind> <n> <workdir> <readyfile>
 *   set up n objects, measure the program's own setup loop (the "floor":
 *   what the same work costs when the program does it itself), then write
 *   "pid=P n=N floor_us=T" to <readyfile> (atomically) and wait forever
 *   (pause loop) until killed. The process may be dumped and restored
 *   while it waits.
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

/* argv -> n, chdir(workdir) (created if missing); returns n. */
static __attribute__((unused)) long bench_start(int argc, char **argv)
{
	char *end;
	long n;

	if (argc != 4) {
		fprintf(stderr, "usage: %s <n> <workdir> <readyfile>\n", argv[0]);
		exit(2);
	}
	n = strtol(argv[1], &end, 10);
	if (*end || n < 0 || n > 10000000) {
		fprintf(stderr, "bad n %s\n", argv[1]);
		exit(2);
	}
	if (mkdir(argv[2], 0755) && errno != EEXIST)
		bench_die("mkdir workdir");
	if (chdir(argv[2]))
		bench_die("chdir workdir");
	return n;
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

/* Report, then wait to be dumped / restored / killed. */
static __attribute__((unused)) void bench_ready_and_wait(const char *readyfile, long n, long long floor_us)
{
	char tmp[PATH_MAX + 8], line[128];
	int fd, len;

	snprintf(tmp, sizeof(tmp), "%s.tmp", readyfile);
	len = snprintf(line, sizeof(line), "pid=%d n=%ld floor_us=%lld\n", getpid(), n, floor_us);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die("create readyfile");
	if (write(fd, line, len) != len)
		bench_die("write readyfile");
	close(fd);
	if (rename(tmp, readyfile))
		bench_die("rename readyfile");
	for (;;)
		pause();
}

#endif
