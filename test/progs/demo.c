/*
 * Sample program for `make demo` (test/scripts/demo.sh).
 *
 *   demo <workdir>
 *
 * Sets up, inside <workdir>:
 *   - an inotify instance (IN_NONBLOCK) with two watches:
 *       watched/        IN_CREATE|IN_DELETE
 *       watched/config  IN_MODIFY|IN_ONESHOT  (CRIU's own code drops
 *                       IN_ONESHOT at restore; the plugin keeps it)
 *   - an epoll set over the inotify fd and the read end of a pipe;
 * writes "<pid>\n" to <workdir>/ready, then waits for SIGUSR1 (it may be
 * checkpointed and restored meanwhile).  On SIGUSR1 it modifies
 * watched/config, creates watched/new-file, modifies watched/config again,
 * epoll_waits, reads every inotify event and prints them on stdout, then
 * exits 0.  The exit status is 2 if no IN_CREATE event for new-file came.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG_INOTIFY 0x1111
#define TAG_PIPE    0x2222

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void touch_append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		die(path);
	if (write(fd, text, strlen(text)) < 0)
		die("write");
	close(fd);
}

static void print_mask(uint32_t m)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ IN_MODIFY, "IN_MODIFY" }, { IN_CREATE, "IN_CREATE" },
		{ IN_DELETE, "IN_DELETE" }, { IN_IGNORED, "IN_IGNORED" },
		{ IN_ISDIR, "IN_ISDIR" }, { IN_Q_OVERFLOW, "IN_Q_OVERFLOW" },
	};
	const char *sep = "";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (m & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = "|";
			m &= ~names[i].bit;
		}
	}
	if (m)
		printf("%s%#x", sep, m);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <workdir>\n", argv[0]);
		return 1;
	}
	if (chdir(argv[1]) < 0)
		die("chdir");
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (mkdir("watched", 0755) < 0 && errno != EEXIST)
		die("mkdir watched");
	touch_append("watched/config", "");

	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		die("inotify_init1");
	int wd_dir = inotify_add_watch(in, "watched", IN_CREATE | IN_DELETE);
	int wd_cfg = inotify_add_watch(in, "watched/config", IN_MODIFY | IN_ONESHOT);
	if (wd_dir < 0 || wd_cfg < 0)
		die("inotify_add_watch");

	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_INOTIFY };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev) < 0)
		die("epoll_ctl inotify");
	ev.data.u64 = TAG_PIPE;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0)
		die("epoll_ctl pipe");

	/* Block SIGUSR1 until sigsuspend so that a signal sent right after the
	 * ready marker appears is not lost. */
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		die("sigaction");
	if (sigprocmask(SIG_BLOCK, &usr1, &old) < 0)
		die("sigprocmask");

	printf("pid %d: inotify fd %d (wd %d watched/, wd %d watched/config), "
	       "epoll fd %d (inotify fd %d, pipe fd %d)\n",
	       (int)getpid(), in, wd_dir, wd_cfg, ep, in, p[0]);

	FILE *r = fopen("ready.tmp", "w");
	if (!r || fprintf(r, "%d\n", (int)getpid()) < 0 || fclose(r) != 0)
		die("ready.tmp");
	if (rename("ready.tmp", "ready") < 0)
		die("rename ready");

	/* sigsuspend returns -1/EINTR after every handled signal (and may also
	 * be interrupted by the freeze/restore); only `go` ends the wait. */
	sigset_t wait_mask = old;
	sigdelset(&wait_mask, SIGUSR1);
	while (!go)
		sigsuspend(&wait_mask);
	sigprocmask(SIG_SETMASK, &old, NULL);

	touch_append("watched/config", "a\n"); /* IN_MODIFY, then IN_IGNORED (oneshot) */
	touch_append("watched/new-file", "");  /* IN_CREATE on watched/ */
	touch_append("watched/config", "b\n"); /* nothing if IN_ONESHOT survived */

	struct epoll_event out[4];
	int n;
	do
		n = epoll_wait(ep, out, 4, 5000);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("epoll_wait");
	printf("epoll_wait: %d ready:", n);
	for (int i = 0; i < n; i++)
		printf(" %s", out[i].data.u64 == TAG_INOTIFY ? "inotify" :
			       out[i].data.u64 == TAG_PIPE ? "pipe" : "?");
	printf("\n");

	int saw_create = 0, modifies = 0, ignored = 0;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t len = read(in, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (char *q = buf; q < buf + len;) {
			struct inotify_event *e = (struct inotify_event *)q;
			printf("event: wd %d ", e->wd);
			print_mask(e->mask);
			printf(" %s\n", e->len ? e->name : "");
			if ((e->mask & IN_CREATE) && e->len && !strcmp(e->name, "new-file"))
				saw_create = 1;
			if (e->wd == wd_cfg && (e->mask & IN_MODIFY))
				modifies++;
			if (e->wd == wd_cfg && (e->mask & IN_IGNORED))
				ignored++;
			q += sizeof(*e) + e->len;
		}
	}
	printf("IN_CREATE seen: %s; IN_ONESHOT kept: %s (%d IN_MODIFY, %d IN_IGNORED)\n",
	       saw_create ? "yes" : "NO", modifies == 1 && ignored == 1 ? "yes" : "no",
	       modifies, ignored);
	return saw_create ? 0 : 2;
}
