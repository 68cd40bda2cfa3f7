/*
 * container_watch: the program `make test-containers` runs inside runc and
 * podman containers (test/scripts/containers.sh). Built with `cc -static`:
 * the container's rootfs holds only busybox-static and this binary.
 *
 * Usage: container_watch LOG DIR...
 *
 * One inotify instance watches every DIR (one on a bind-mounted volume, one
 * on the container's own root filesystem); an epoll set holds the inotify fd
 * and the read end of a pipe. The program waits in epoll_wait and appends
 * one line per thing it sees to LOG (a file on the volume, opened and closed
 * for every line, so no host-side regular file is held open across the
 * checkpoint):
 *
 *   ready pid=1 inotify=3 epoll=6 wd=1:/vol/w wd=2:/watched
 *   inotify wd=1 dir=/vol/w name=after-1 mask=IN_CREATE
 *   pipe bytes=1
 *   epoll_wait EINTR (retrying)
 *
 * A file whose name starts with "poke" makes the program write one byte into
 * its pipe, so the epoll registration of the pipe is exercised too. A
 * blocked epoll_wait returns EINTR once after a restore; the program logs it
 * and waits again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#define MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE)
#define MAX_DIRS 16

static const char *log_path;

static void logf_(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, fd;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, n) != n) {
		/* Nothing better to do: the log is our only channel. */
	}
	close(fd);
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void die(const char *what)
{
	logf_("fatal %s: %s", what, strerror(errno));
	exit(1);
}

static const char *mask_name(uint32_t m)
{
	if (m & IN_CREATE)
		return "IN_CREATE";
	if (m & IN_MOVED_TO)
		return "IN_MOVED_TO";
	if (m & IN_DELETE)
		return "IN_DELETE";
	if (m & IN_CLOSE_WRITE)
		return "IN_CLOSE_WRITE";
	if (m & IN_Q_OVERFLOW)
		return "IN_Q_OVERFLOW";
	if (m & IN_IGNORED)
		return "IN_IGNORED";
	return "OTHER";
}

int main(int argc, char **argv)
{
	const char *dirs[MAX_DIRS];
	int wds[MAX_DIRS], ndirs = argc - 2;
	int ifd, epfd, p[2];
	struct epoll_event ev;
	char line[1024];
	size_t off;

	if (argc < 3 || ndirs > MAX_DIRS) {
		fprintf(stderr, "usage: container_watch LOG DIR...\n");
		return 2;
	}
	log_path = argv[1];
	/* pid 1 of the container ignores signals it has no handler for. */
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		die("inotify_init1");
	off = 0;
	for (int i = 0; i < ndirs; i++) {
		dirs[i] = argv[i + 2];
		wds[i] = inotify_add_watch(ifd, dirs[i], MASK);
		if (wds[i] < 0)
			die(dirs[i]);
		off += snprintf(line + off, sizeof(line) - off, " wd=%d:%s", wds[i], dirs[i]);
		if (off >= sizeof(line))
			off = sizeof(line) - 1;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		die("pipe2");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, ifd, &ev))
		die("epoll_ctl inotify");
	ev.events = EPOLLIN;
	ev.data.u64 = 2;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev))
		die("epoll_ctl pipe");

	logf_("ready pid=%d inotify=%d epoll=%d%s", (int)getpid(), ifd, epfd, line);

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, -1);

		if (n < 0) {
			if (errno == EINTR) {
				logf_("epoll_wait EINTR (retrying)");
				continue;
			}
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == 1) {
				char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
				ssize_t len;

				while ((len = read(ifd, buf, sizeof(buf))) > 0) {
					for (char *q = buf; q < buf + len;) {
						struct inotify_event *e = (struct inotify_event *)q;
						const char *dir = "?";

						for (int j = 0; j < ndirs; j++)
							if (wds[j] == e->wd)
								dir = dirs[j];
						logf_("inotify wd=%d dir=%s name=%s mask=%s", e->wd, dir,
						      e->len ? e->name : "", mask_name(e->mask));
						if (e->len && !strncmp(e->name, "poke", 4) && (e->mask & IN_CREATE) &&
						    write(p[1], "x", 1) != 1)
							die("write pipe");
						q += sizeof(*e) + e->len;
					}
				}
				if (len < 0 && errno != EAGAIN)
					die("read inotify");
			} else if (evs[i].data.u64 == 2) {
				char buf[64];
				ssize_t len = read(p[0], buf, sizeof(buf));

				if (len < 0 && errno != EAGAIN)
					die("read pipe");
				logf_("pipe bytes=%zd", len);
			} else {
				logf_("unexpected epoll data %llu", (unsigned long long)evs[i].data.u64);
			}
		}
	}
}
