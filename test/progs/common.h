/*
 * Shared helpers for the criu-notify scenario programs.
 *
 * Protocol of every program:  prog <case> <workdir> <outfile>
 *   1. chdir(workdir), set up the case's state (all paths relative to it);
 *   2. create "<outfile>.ready" and wait for SIGUSR1 (the process may be
 *      dumped and restored while it waits);
 *   3. perform a fixed sequence of operations, record what it observes;
 *   4. write the record to "<outfile>.tmp", rename it to <outfile>, exit 0.
 *
 * The record is plain text, one fact per line, normalized so that a run
 * without checkpoint/restore and a run with a dump+restore in the middle
 * produce byte-identical records when the restore was exact:
 *   - inode numbers / devices are mapped to names (relative to workdir) or
 *     to "fd:N" for objects reachable only through an open fd;
 *   - inotify cookies are renumbered in order of appearance (C1, C2, ...);
 *   - epoll_wait results are sorted within one call (kernel ready-list
 *     order is not part of the contract), fdinfo entries sorted by key;
 *   - pids: "self", "parent", "pgrp-self" or "other".
 * Big sets (100k watches, 10k targets) are printed as count + FNV-1a hash
 * plus a few sample lines.
 */
#ifndef CRIU_NOTIFY_TEST_COMMON_H
#define CRIU_NOTIFY_TEST_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcmp.h>

#define UNUSED __attribute__((unused))

#ifndef INOTIFY_IOC_SETNEXTWD
#define INOTIFY_IOC_SETNEXTWD 0x40044900
#endif
#ifndef IN_MASK_CREATE
#define IN_MASK_CREATE 0x10000000
#endif
#ifndef EPOLLEXCLUSIVE
#define EPOLLEXCLUSIVE (1u << 28)
#endif

/* ------------------------------------------------------------------ */
/* Output buffer                                                       */

static char *g_buf;
static size_t g_len, g_cap;
static char g_outfile[PATH_MAX];
static char g_workdir[PATH_MAX]; /* canonical absolute path */
static volatile sig_atomic_t g_go;
static volatile sig_atomic_t g_async_sigs;

static UNUSED void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	fprintf(stderr, "FATAL(pid %d): ", getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno %d %s)\n", e, strerror(e));
	fflush(stderr);
	exit(2);
}

#define CHECK(x)                                                                \
	do {                                                                    \
		if (!(x))                                                       \
			die("%s:%d: check failed: %s", __FILE__, __LINE__, #x); \
	} while (0)

static UNUSED void rec(const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = g_cap - g_len;
		va_start(ap, fmt);
		int n = vsnprintf(g_buf ? g_buf + g_len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf");
		if ((size_t)n < room) {
			g_len += n;
			return;
		}
		g_cap = (g_cap + n + 1) * 2;
		g_buf = realloc(g_buf, g_cap);
		CHECK(g_buf);
	}
}

static UNUSED const char *errname(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

/* Result of a syscall: "ok <ret>" or "err <ERRNO>". */
static UNUSED void rec_ret(const char *what, long ret)
{
	if (ret < 0)
		rec("call %s -> err %s\n", what, errname(errno));
	else
		rec("call %s -> ok %ld\n", what, ret);
}

static UNUSED uint64_t fnv1a(uint64_t h, const char *s)
{
	if (!h)
		h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= '\n';
	h *= 0x100000001b3ULL;
	return h;
}

/* Print a sorted list of lines, or count+hash+samples when it is long. */
static UNUSED void rec_lines(const char *indent, char **lines, size_t n, size_t max_print)
{
	if (n <= max_print) {
		for (size_t i = 0; i < n; i++)
			rec("%s%s\n", indent, lines[i]);
		return;
	}
	uint64_t h = 0;
	for (size_t i = 0; i < n; i++)
		h = fnv1a(h, lines[i]);
	rec("%scount %zu hash %016" PRIx64 "\n", indent, n, h);
	for (size_t i = 0; i < 3; i++)
		rec("%sfirst %s\n", indent, lines[i]);
	for (size_t i = n - 3; i < n; i++)
		rec("%slast %s\n", indent, lines[i]);
}

static UNUSED void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* ------------------------------------------------------------------ */
/* Start / wait / finish                                               */

static void on_usr1(int sig)
{
	(void)sig;
	g_go = 1;
}

static void on_async(int sig)
{
	(void)sig;
	g_async_sigs++;
}

/* Parse argv, chdir into workdir; returns the case name. */
static UNUSED const char *start(int argc, char **argv)
{
	struct sigaction sa;

	if (argc != 4) {
		fprintf(stderr, "usage: %s <case> <workdir> <outfile>\n", argv[0]);
		exit(2);
	}
	if (strlen(argv[3]) + 8 >= sizeof(g_outfile))
		die("outfile too long");
	strcpy(g_outfile, argv[3]);
	if (chdir(argv[2]))
		die("chdir %s", argv[2]);
	CHECK(getcwd(g_workdir, sizeof(g_workdir)));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sa.sa_handler = on_async;
	CHECK(sigaction(SIGRTMIN + 2, &sa, NULL) == 0);
	CHECK(sigaction(SIGIO, &sa, NULL) == 0);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return argv[1];
}

/* Robust wait for SIGUSR1: a short sleep loop survives EINTR, restarted
 * syscalls and a signal mask CRIU might restore slightly differently. */
static UNUSED void wait_go(void)
{
	while (!g_go) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static UNUSED void ready_and_wait(void)
{
	char p[PATH_MAX + 16];
	int fd;

	snprintf(p, sizeof(p), "%s.ready", g_outfile);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create %s", p);
	close(fd);
	printf("ready pid %d\n", getpid());
	wait_go();
	printf("go\n");
}

static UNUSED void write_file_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 16];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create %s", tmp);
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write %s", tmp);
		data += n;
		len -= n;
	}
	CHECK(fsync(fd) == 0);
	close(fd);
	if (rename(tmp, path))
		die("rename %s", tmp);
}

static UNUSED void finish(void)
{
	write_file_atomic(g_outfile, g_buf ? g_buf : "", g_len);
	printf("done\n");
	exit(0);
}

/* ------------------------------------------------------------------ */
/* Small file helpers                                                  */

static UNUSED void touch(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("touch %s", p);
	close(fd);
}

static UNUSED void append(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("append %s", p);
	CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	close(fd);
}

static UNUSED void xwrite(int fd, const void *b, size_t n)
{
	ssize_t r = write(fd, b, n);
	if (r != (ssize_t)n)
		die("write fd %d", fd);
}

/* Move fd to exactly number `want` (closing the old number). */
static UNUSED int move_fd(int fd, int want)
{
	if (fd == want)
		return fd;
	if (dup2(fd, want) != want)
		die("dup2 %d -> %d", fd, want);
	close(fd);
	return want;
}

/* ------------------------------------------------------------------ */
/* Object naming: (dev, ino) -> name relative to workdir or fd:N       */

struct obj {
	unsigned maj, min;
	unsigned long ino;
	char *name;
};

static struct obj *g_objs;
static size_t g_nobjs, g_capobjs;

static void obj_add(dev_t dev, ino_t ino, const char *name)
{
	if (g_nobjs == g_capobjs) {
		g_capobjs = g_capobjs ? g_capobjs * 2 : 1024;
		g_objs = realloc(g_objs, g_capobjs * sizeof(*g_objs));
		CHECK(g_objs);
	}
	g_objs[g_nobjs].maj = major(dev);
	g_objs[g_nobjs].min = minor(dev);
	g_objs[g_nobjs].ino = ino;
	g_objs[g_nobjs].name = strdup(name);
	g_nobjs++;
}

static int obj_cmp(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;
	if (x->maj != y->maj)
		return x->maj < y->maj ? -1 : 1;
	if (x->min != y->min)
		return x->min < y->min ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	/* names before fd:N, then shortest, then alphabetical */
	int xf = strncmp(x->name, "fd:", 3) == 0, yf = strncmp(y->name, "fd:", 3) == 0;
	if (xf != yf)
		return xf - yf;
	size_t lx = strlen(x->name), ly = strlen(y->name);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void scan_dir(const char *rel, int depth)
{
	DIR *d = opendir(rel);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strcmp(rel, "."))
			snprintf(p, sizeof(p), "%s", de->d_name);
		else
			snprintf(p, sizeof(p), "%s/%s", rel, de->d_name);
		if (lstat(p, &st))
			continue;
		obj_add(st.st_dev, st.st_ino, p);
		if (S_ISDIR(st.st_mode) && depth < 4)
			scan_dir(p, depth + 1);
	}
	closedir(d);
}

/* Build the object table from the current state of workdir and fds. */
static UNUSED void objects_refresh(void)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	for (size_t i = 0; i < g_nobjs; i++)
		free(g_objs[i].name);
	g_nobjs = 0;

	if (!lstat(".", &st))
		obj_add(st.st_dev, st.st_ino, ".");
	scan_dir(".", 0);

	d = opendir("/proc/self/fd");
	CHECK(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		char n[32];
		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (fstat(fd, &st))
			continue;
		snprintf(n, sizeof(n), "fd:%d", fd);
		obj_add(st.st_dev, st.st_ino, n);
	}
	closedir(d);
	qsort(g_objs, g_nobjs, sizeof(*g_objs), obj_cmp);
}

/* sdev as shown in fdinfo is the kernel dev_t: major << 20 | minor. */
static UNUSED const char *obj_name(unsigned sdev, unsigned long ino)
{
	struct obj key = { sdev >> 20, sdev & 0xfffff, ino, NULL };
	size_t lo = 0, hi = g_nobjs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct obj *o = &g_objs[mid];
		int c = (o->maj != key.maj) ? (o->maj < key.maj ? -1 : 1)
		      : (o->min != key.min) ? (o->min < key.min ? -1 : 1)
		      : (o->ino != key.ino) ? (o->ino < key.ino ? -1 : 1) : 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < g_nobjs && g_objs[lo].maj == key.maj && g_objs[lo].min == key.min && g_objs[lo].ino == key.ino)
		return g_objs[lo].name;
	return "?unknown";
}

/* ------------------------------------------------------------------ */
/* fd descriptions                                                     */

/* Normalized type of an open fd: pipe, socket, eventfd, path relative
 * to workdir, "file" for paths outside it. */
static UNUSED void fd_type(int fd, char *out, size_t outsz)
{
	char p[64], l[PATH_MAX];
	ssize_t n;
	size_t wl = strlen(g_workdir);

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, l, sizeof(l) - 1);
	if (n < 0) {
		snprintf(out, outsz, "closed");
		return;
	}
	l[n] = 0;
	if (!strncmp(l, "pipe:", 5))
		snprintf(out, outsz, "pipe");
	else if (!strncmp(l, "socket:", 7))
		snprintf(out, outsz, "socket");
	else if (!strncmp(l, "anon_inode:", 11)) {
		char tt[64];
		snprintf(tt, sizeof(tt), "%.60s", l + 11);
		/* "[eventfd]" -> "eventfd" */
		if (tt[0] == '[') {
			memmove(tt, tt + 1, strlen(tt));
			char *e = strchr(tt, ']');
			if (e)
				*e = 0;
		}
		snprintf(out, outsz, "%s", tt);
	} else if (!strncmp(l, g_workdir, wl) && (l[wl] == '/' || l[wl] == 0))
		snprintf(out, outsz, "path:%s", l[wl] ? l + wl + 1 : ".");
	else if (!strcmp(l, "/dev/null"))
		snprintf(out, outsz, "/dev/null");
	else
		snprintf(out, outsz, "file");
}

static UNUSED const char *owner_name(pid_t p)
{
	if (p == 0)
		return "none";
	if (p == getpid())
		return "self";
	if (p == getppid())
		return "parent";
	if (p == getpgrp())
		return "pgrp-self";
	return "other";
}

/* One line: flags, owner and signal of an fd. */
static UNUSED void rec_fd_flags(int fd)
{
	struct f_owner_ex own;
	char t[PATH_MAX];
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), sig;
	const char *ot = "?";

	fd_type(fd, t, sizeof(t));
	if (fl < 0) {
		rec("fd %d closed\n", fd);
		return;
	}
	memset(&own, 0, sizeof(own));
	CHECK(fcntl(fd, F_GETOWN_EX, &own) == 0);
	switch (own.type) {
	case F_OWNER_TID: ot = "tid"; break;
	case F_OWNER_PID: ot = "pid"; break;
	case F_OWNER_PGRP: ot = "pgrp"; break;
	}
	sig = fcntl(fd, F_GETSIG);
	rec("fd %d %s nonblock=%d async=%d cloexec=%d acc=%d owner=%s:%s sig=%d\n", fd, t,
	    !!(fl & O_NONBLOCK), !!(fl & O_ASYNC), !!(fdfl & FD_CLOEXEC), fl & O_ACCMODE, ot,
	    owner_name(own.pid), sig);
}

static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* All open fds, with their normalized types. */
static UNUSED void rec_fd_table(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	static int fds[65536];
	int n = 0;
	CHECK(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (n < 65536)
			fds[n++] = fd;
	}
	closedir(d);
	qsort(fds, n, sizeof(int), int_cmp);
	rec("fds %d:", n);
	if (n > 64) {
		uint64_t h = 0;
		for (int i = 0; i < n; i++) {
			char t[PATH_MAX], l[PATH_MAX + 32];
			fd_type(fds[i], t, sizeof(t));
			snprintf(l, sizeof(l), "%d=%s", fds[i], t);
			h = fnv1a(h, l);
		}
		rec(" hash %016" PRIx64 "\n", h);
		return;
	}
	for (int i = 0; i < n; i++) {
		char t[PATH_MAX];
		fd_type(fds[i], t, sizeof(t));
		rec(" %d=%s", fds[i], t);
	}
	rec("\n");
}

/* ------------------------------------------------------------------ */
/* /proc/self/fdinfo                                                   */

static char *read_fdinfo(int fd)
{
	char p[64];
	size_t cap = 65536, len = 0;
	char *b = malloc(cap);
	int f;
	CHECK(b);
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		b[0] = 0;
		return b;
	}
	for (;;) {
		ssize_t n;
		if (cap - len < 65536) {
			cap *= 2;
			b = realloc(b, cap);
			CHECK(b);
		}
		n = read(f, b + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n == 0)
			break;
		len += n;
	}
	close(f);
	b[len] = 0;
	return b;
}

struct iwatch {
	int wd;
	unsigned long ino;
	unsigned sdev, mask, ignored;
};

static int iwatch_cmp(const void *a, const void *b)
{
	const struct iwatch *x = a, *y = b;
	return (x->wd > y->wd) - (x->wd < y->wd);
}

/* Normalized watch list of an inotify fd (wd, mask, ignored_mask, object). */
static UNUSED void rec_inotify_fdinfo(int fd, size_t max_print)
{
	char *b = read_fdinfo(fd), *s = b;
	struct iwatch *w = NULL;
	size_t n = 0, cap = 0;
	char **lines;

	while (s && *s) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		if (!strncmp(s, "inotify ", 8)) {
			struct iwatch x;
			if (sscanf(s, "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x", (unsigned *)&x.wd,
				   &x.ino, &x.sdev, &x.mask, &x.ignored) != 5)
				die("bad fdinfo line: %s", s);
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				w = realloc(w, cap * sizeof(*w));
				CHECK(w);
			}
			w[n++] = x;
		}
		s = nl ? nl + 1 : NULL;
	}
	free(b);
	qsort(w, n, sizeof(*w), iwatch_cmp);
	lines = calloc(n + 1, sizeof(char *));
	CHECK(lines);
	for (size_t i = 0; i < n; i++)
		CHECK(asprintf(&lines[i], "wd %d mask %#x ignored %#x obj %s", w[i].wd, w[i].mask, w[i].ignored,
			       obj_name(w[i].sdev, w[i].ino)) > 0);
	rec("inotify fd %d watches %zu\n", fd, n);
	rec_lines("  ", lines, n, max_print);
	free_lines(lines, n);
	free(w);
}

struct etgt {
	int tfd;
	unsigned events;
	unsigned long long data;
	unsigned toff;
	char *line;
};

static int etgt_cmp(const void *a, const void *b)
{
	const struct etgt *x = a, *y = b;
	return strcmp(x->line, y->line);
}

static int kcmp_tfd(int fd, int efd, int tfd, unsigned toff)
{
	struct kcmp_epoll_slot slot = { (unsigned)efd, (unsigned)tfd, toff };
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_EPOLL_TFD, fd, (unsigned long)&slot);
}

/* Which of our open fds holds the registered target file: "same" when
 * the registered number itself does, "fdN" otherwise, "none". */
static void target_label(int efd, int tfd, unsigned toff, char *out, size_t outsz)
{
	char t[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int best = -1;

	if (fcntl(tfd, F_GETFD) >= 0 && kcmp_tfd(tfd, efd, tfd, toff) == 0) {
		fd_type(tfd, t, sizeof(t));
		snprintf(out, outsz, "same(%s)", t);
		return;
	}
	d = opendir("/proc/self/fd");
	CHECK(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (kcmp_tfd(fd, efd, tfd, toff) == 0 && (best < 0 || fd < best))
			best = fd;
	}
	closedir(d);
	if (best < 0) {
		snprintf(out, outsz, "none");
		return;
	}
	fd_type(best, t, sizeof(t));
	snprintf(out, outsz, "fd%d(%s)", best, t);
}

/* Normalized registrations of an epoll fd: tfd, events, data, target. */
static UNUSED void rec_epoll_fdinfo(int efd, size_t max_print)
{
	char *b = read_fdinfo(efd), *s = b;
	struct etgt *e = NULL;
	size_t n = 0, cap = 0;
	char **lines;

	while (s && *s) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		if (!strncmp(s, "tfd:", 4)) {
			struct etgt x;
			memset(&x, 0, sizeof(x));
			if (sscanf(s, "tfd: %d events: %x data: %llx", &x.tfd, &x.events, &x.data) != 3)
				die("bad epoll fdinfo line: %s", s);
			for (size_t i = 0; i < n; i++)
				if (e[i].tfd == x.tfd)
					x.toff++;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				e = realloc(e, cap * sizeof(*e));
				CHECK(e);
			}
			e[n++] = x;
		}
		s = nl ? nl + 1 : NULL;
	}
	free(b);
	for (size_t i = 0; i < n; i++) {
		char lbl[PATH_MAX + 32];
		target_label(efd, e[i].tfd, e[i].toff, lbl, sizeof(lbl));
		CHECK(asprintf(&e[i].line, "tfd %d events %#x data %#llx target %s", e[i].tfd, e[i].events,
			       e[i].data, lbl) > 0);
	}
	qsort(e, n, sizeof(*e), etgt_cmp);
	lines = calloc(n + 1, sizeof(char *));
	CHECK(lines);
	for (size_t i = 0; i < n; i++)
		lines[i] = e[i].line;
	rec("epoll fd %d targets %zu\n", efd, n);
	rec_lines("  ", lines, n, max_print);
	free_lines(lines, n);
	free(e);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

static uint32_t g_cookies[256];
static int g_ncookies;

static int cookie_id(uint32_t c)
{
	if (!c)
		return 0;
	for (int i = 0; i < g_ncookies; i++)
		if (g_cookies[i] == c)
			return i + 1;
	if (g_ncookies < 256)
		g_cookies[g_ncookies++] = c;
	return g_ncookies;
}

/* Read every inotify event available now; record them (label "tag").
 * Returns the number of events. */
static UNUSED int rec_inotify_events(int fd, const char *tag)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	int total = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, 0);
		ssize_t n;
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			die("read inotify %d", fd);
		for (char *p2 = buf; p2 < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p2;
			if (tag)
				rec("ev %s wd=%d mask=%#x cookie=C%d name=%s\n", tag, ev->wd, ev->mask,
				    cookie_id(ev->cookie), ev->len ? ev->name : "");
			total++;
			p2 += sizeof(*ev) + ev->len;
		}
	}
	if (tag && !total)
		rec("ev %s none\n", tag);
	return total;
}

struct evrec {
	unsigned events;
	unsigned long long data;
};

static int evrec_cmp(const void *a, const void *b)
{
	const struct evrec *x = a, *y = b;
	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return (x->events > y->events) - (x->events < y->events);
}

/* epoll_wait once; record the sorted result. Returns n. */
static UNUSED int rec_epoll_wait(int efd, const char *tag, int timeout_ms)
{
	static struct epoll_event ev[16384];
	struct evrec r[16384];
	int n;
	do
		n = epoll_wait(efd, ev, 16384, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rec("wait %s err %s\n", tag, errname(errno));
		return n;
	}
	for (int i = 0; i < n; i++) {
		r[i].events = ev[i].events;
		r[i].data = ev[i].data.u64;
	}
	qsort(r, n, sizeof(r[0]), evrec_cmp);
	if (n > 32) {
		uint64_t h = 0;
		for (int i = 0; i < n; i++) {
			char l[64];
			snprintf(l, sizeof(l), "%#x/%#llx", r[i].events, r[i].data);
			h = fnv1a(h, l);
		}
		rec("wait %s n=%d hash %016" PRIx64 "\n", tag, n, h);
		return n;
	}
	rec("wait %s n=%d:", tag, n);
	for (int i = 0; i < n; i++)
		rec(" [%#x %#llx]", r[i].events, r[i].data);
	rec("\n");
	return n;
}

static UNUSED int ep_ctl(int efd, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event e;
	memset(&e, 0, sizeof(e));
	e.events = events;
	e.data.u64 = data;
	return epoll_ctl(efd, op, fd, &e);
}

static UNUSED void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

#endif
