/*
 * epoll scenarios for the criu-notify integration tests.
 * Usage: epoll <case> <workdir> <outfile>   (see common.h for the protocol)
 *
 * Cases: targets oneshot keys nested fork many
 */
#include "common.h"
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

static void add(int efd, int fd, uint32_t events, uint64_t data)
{
	if (ep_ctl(efd, EPOLL_CTL_ADD, fd, events, data))
		die("EPOLL_CTL_ADD ep %d fd %d", efd, fd);
	rec("setup epoll %d add %d events %#x data %#llx\n", efd, fd, events, (unsigned long long)data);
}

/* epoll_ctl after restore: record ok/errno. */
static void ctl_post(int efd, int op, int fd, uint32_t events, uint64_t data)
{
	char what[128];
	const char *o = op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_DEL ? "DEL" : "MOD";
	int r = ep_ctl(efd, op, fd, events, data);
	snprintf(what, sizeof(what), "epoll_ctl(%d, %s, %d, %#x, %#llx)", efd, o, fd, events,
		 (unsigned long long)data);
	rec_ret(what, r);
}

static void snapshot(const char *tag, const int *eps, int n, const int *ifds, int ni, size_t max_print)
{
	rec("== snapshot %s\n", tag);
	objects_refresh();
	rec_fd_table();
	for (int i = 0; i < n; i++) {
		rec_fd_flags(eps[i]);
		rec_epoll_fdinfo(eps[i], max_print);
	}
	for (int i = 0; i < ni; i++) {
		rec_fd_flags(ifds[i]);
		rec_inotify_fdinfo(ifds[i], max_print);
	}
}

static void drain_fd(int fd)
{
	char b[4096];
	while (read(fd, b, sizeof(b)) > 0)
		;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

static void case_targets(void)
{
	int p[2], s[2], efd, tfd, sfd, ifd, ep, ep2;
	sigset_t set;
	struct itimerspec its;
	uint64_t one = 1;
	int eps[2];

	CHECK(pipe2(p, O_NONBLOCK) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
	efd = eventfd(0, EFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	sfd = signalfd(-1, &set, SFD_NONBLOCK);
	ifd = inotify_init1(IN_NONBLOCK);
	CHECK(efd >= 0 && tfd >= 0 && sfd >= 0 && ifd >= 0);
	CHECK(inotify_add_watch(ifd, ".", IN_CREATE) == 1);
	ep = epoll_create1(0);
	ep2 = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0 && ep2 >= 0);
	set_nonblock(ep2);
	CHECK(fcntl(ep2, F_SETOWN, getpid()) == 0);

	add(ep, p[0], EPOLLIN, 0x1111222233334444ULL);
	add(ep, p[1], EPOLLOUT, 0x8000000000000001ULL);
	add(ep, s[0], EPOLLIN | EPOLLRDHUP | EPOLLPRI, 0xfffffffffffffffeULL);
	add(ep, efd, EPOLLIN | EPOLLET, 3);
	add(ep, tfd, EPOLLIN, 4);
	add(ep, sfd, EPOLLIN, 5);
	add(ep, ifd, EPOLLIN, 6);
	/* edge-triggered registrations on targets that are not ready at dump */
	add(ep2, p[0], EPOLLIN | EPOLLET | EPOLLRDHUP, 0x22);
	add(ep2, s[1], EPOLLIN | EPOLLET, 0x23);
	rec_epoll_wait(ep, "setup", 0);
	rec_epoll_wait(ep2, "setup2", 0);
	eps[0] = ep, eps[1] = ep2;

	ready_and_wait();
	snapshot("post", eps, 2, &ifd, 1, 100);
	rec_epoll_wait(ep, "initial", 0);
	rec_epoll_wait(ep2, "initial2", 0);
	xwrite(p[1], "x", 1);
	rec_epoll_wait(ep, "pipe", 0);
	rec_epoll_wait(ep2, "pipe-et", 0);
	rec_epoll_wait(ep2, "pipe-et-again", 0);
	xwrite(efd, &one, 8);
	rec_epoll_wait(ep, "eventfd", 0);
	rec_epoll_wait(ep, "eventfd-again", 0);
	xwrite(s[1], "y", 1);
	rec_epoll_wait(ep, "sock", 0);
	rec_ret("send(MSG_OOB)", send(s[1], "z", 1, MSG_OOB));
	rec_epoll_wait(ep, "oob", 0);
	CHECK(shutdown(s[1], SHUT_WR) == 0);
	rec_epoll_wait(ep, "rdhup", 0);
	xwrite(s[0], "w", 1);
	rec_epoll_wait(ep2, "sock-et", 0);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = 1000000;
	CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0);
	msleep(50);
	rec_epoll_wait(ep, "timer", 0);
	CHECK(kill(getpid(), SIGUSR2) == 0);
	rec_epoll_wait(ep, "signal", 0);
	touch("created");
	rec_epoll_wait(ep, "inotify", 0);
	drain_fd(p[0]);
	drain_fd(efd);
	drain_fd(tfd);
	drain_fd(sfd);
	rec_inotify_events(ifd, "inotify");
	{
		char b[16];
		while (recv(s[0], b, sizeof(b), MSG_DONTWAIT) > 0)
			;
		while (recv(s[0], b, sizeof(b), MSG_DONTWAIT | MSG_OOB) > 0)
			;
		while (recv(s[1], b, sizeof(b), MSG_DONTWAIT) > 0)
			;
	}
	rec_epoll_wait(ep, "drained", 0);
	rec_epoll_wait(ep2, "drained2", 0);
	snapshot("end", eps, 2, &ifd, 1, 100);
}

static void case_oneshot(void)
{
	int a[2], b[2], c[2], d[2], e[2], ep;

	CHECK(pipe2(a, O_NONBLOCK) == 0);
	CHECK(pipe2(b, O_NONBLOCK) == 0);
	CHECK(pipe2(c, O_NONBLOCK) == 0);
	CHECK(pipe2(d, O_NONBLOCK) == 0);
	CHECK(pipe2(e, O_NONBLOCK) == 0);
	ep = epoll_create1(0);
	CHECK(ep >= 0);
	add(ep, a[0], EPOLLIN | EPOLLONESHOT, 0xa);                /* armed */
	add(ep, b[0], EPOLLIN | EPOLLONESHOT, 0xb);                /* fires below */
	add(ep, c[0], EPOLLIN | EPOLLONESHOT | EPOLLET, 0xc);      /* fires, keeps data */
	add(ep, d[0], EPOLLIN | EPOLLEXCLUSIVE, 0xd);
	add(ep, e[1], EPOLLOUT | EPOLLONESHOT, 0xe);               /* fires at once */
	xwrite(b[1], "b", 1);
	xwrite(c[1], "c", 1);
	rec_epoll_wait(ep, "setup", 0);
	drain_fd(b[0]);

	ready_and_wait();
	snapshot("post", &ep, 1, NULL, 0, 100);
	rec_epoll_wait(ep, "initial", 0);       /* none: b, c, e disarmed */
	xwrite(a[1], "a", 1);
	rec_epoll_wait(ep, "a", 0);
	xwrite(a[1], "a", 1);
	rec_epoll_wait(ep, "a-again", 0);       /* none: fired once */
	close(b[1]);
	rec_epoll_wait(ep, "b-hup", 0);         /* none: disarmed stays silent on HUP */
	close(c[1]);
	rec_epoll_wait(ep, "c-hup", 0);
	xwrite(d[1], "d", 1);
	rec_epoll_wait(ep, "d", 0);
	ctl_post(ep, EPOLL_CTL_MOD, d[0], EPOLLIN, 0xd0);          /* EINVAL: exclusive */
	ctl_post(ep, EPOLL_CTL_MOD, b[0], EPOLLIN | EPOLLONESHOT, 0xb0); /* re-arm */
	rec_epoll_wait(ep, "b-rearmed", 0);
	rec_epoll_wait(ep, "b-rearmed-again", 0);
	snapshot("end", &ep, 1, NULL, 0, 100);
}

/* Registration keys are (file, fd number) pairs; the numbers need not
 * name the file any more. */
/* high: the epoll itself sits above every target (moved to 40) and one
 * more target, f, is registered under the number it still has (21): the
 * restore may register f from inside the task, and must not take any of
 * the reused or closed numbers for their keys. */
static void case_keys(int high)
{
	int p[2], ep, nul;

	ep = epoll_create1(0);
	CHECK(ep >= 0);
	/* a: registered as 10, dup'ed to 20, 10 closed */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	move_fd(p[0], 10);
	move_fd(p[1], 11);
	add(ep, 10, EPOLLIN, 0xa10);
	CHECK(dup2(10, 20) == 20);
	close(10);
	/* b: one file registered as 12 and 14, both closed, open as 30 */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	move_fd(p[0], 12);
	move_fd(p[1], 13);
	CHECK(dup2(12, 14) == 14);
	add(ep, 12, EPOLLIN, 0xb12);
	add(ep, 14, EPOLLIN | EPOLLRDHUP, 0xb14);
	CHECK(dup2(12, 30) == 30);
	close(12);
	close(14);
	/* c/d: 15 registered, moved to 31; 15 reused by another file,
	 * registered too */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	move_fd(p[0], 15);
	move_fd(p[1], 16);
	add(ep, 15, EPOLLIN, 0xc15);
	CHECK(dup2(15, 31) == 31);
	close(15);
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	move_fd(p[0], 15);
	move_fd(p[1], 17);
	add(ep, 15, EPOLLIN, 0xd15);
	/* e: 18 registered, moved to 32; 18 now holds an unregistered file */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	move_fd(p[0], 18);
	move_fd(p[1], 19);
	add(ep, 18, EPOLLIN, 0xe18);
	CHECK(dup2(18, 32) == 32);
	nul = open("/dev/null", O_RDONLY);
	move_fd(nul, 18);
	if (high) {
		/* f: registered as 21, still open there */
		CHECK(pipe2(p, O_NONBLOCK) == 0);
		move_fd(p[0], 21);
		move_fd(p[1], 22);
		add(ep, 21, EPOLLIN | EPOLLET, 0xf21);
		move_fd(ep, 40);
		ep = 40;
	}

	ready_and_wait();
	snapshot("post", &ep, 1, NULL, 0, 100);
	rec_epoll_wait(ep, "initial", 0);
	xwrite(11, "a", 1);
	rec_epoll_wait(ep, "a", 0);
	xwrite(13, "b", 1);
	rec_epoll_wait(ep, "b", 0);
	xwrite(16, "c", 1);
	rec_epoll_wait(ep, "c", 0);
	xwrite(17, "d", 1);
	rec_epoll_wait(ep, "cd", 0);
	xwrite(19, "e", 1);
	rec_epoll_wait(ep, "cde", 0);
	drain_fd(20);
	drain_fd(30);
	drain_fd(31);
	drain_fd(15);
	drain_fd(32);
	rec_epoll_wait(ep, "drained", 0);

	/* a: the new number is a new key; the old key is still there */
	ctl_post(ep, EPOLL_CTL_ADD, 20, EPOLLIN, 0xa20);      /* ok */
	CHECK(dup2(20, 10) == 10);
	ctl_post(ep, EPOLL_CTL_DEL, 10, 0, 0);                /* ok: (a, 10) */
	ctl_post(ep, EPOLL_CTL_DEL, 10, 0, 0);                /* ENOENT */
	close(10);
	/* b */
	ctl_post(ep, EPOLL_CTL_ADD, 30, EPOLLIN, 0xb30);      /* ok */
	CHECK(dup2(30, 12) == 12);
	ctl_post(ep, EPOLL_CTL_DEL, 12, 0, 0);                /* ok */
	close(12);
	CHECK(dup2(30, 14) == 14);
	ctl_post(ep, EPOLL_CTL_MOD, 14, EPOLLIN, 0xb140);     /* ok */
	close(14);
	/* c/d */
	ctl_post(ep, EPOLL_CTL_DEL, 15, 0, 0);                /* ok: (d, 15) */
	ctl_post(ep, EPOLL_CTL_DEL, 15, 0, 0);                /* ENOENT */
	CHECK(dup2(15, 33) == 33);                            /* keep d open */
	CHECK(dup2(31, 15) == 15);
	ctl_post(ep, EPOLL_CTL_MOD, 15, EPOLLIN, 0xc150);     /* ok: (c, 15) */
	/* e */
	ctl_post(ep, EPOLL_CTL_DEL, 18, 0, 0);                /* ENOENT: /dev/null */
	CHECK(dup2(32, 18) == 18);
	ctl_post(ep, EPOLL_CTL_DEL, 18, 0, 0);                /* ok: (e, 18) */
	xwrite(11, "a", 1);
	xwrite(13, "b", 1);
	xwrite(16, "c", 1);
	xwrite(17, "d", 1);
	xwrite(19, "e", 1);
	if (high) {
		xwrite(22, "f", 1);
		ctl_post(ep, EPOLL_CTL_ADD, 21, EPOLLIN, 0xf210);  /* EEXIST: (f, 21) */
	}
	rec_epoll_wait(ep, "after-ops", 0);
	snapshot("end", &ep, 1, NULL, 0, 100);
}

/* Four levels: e4(40) > e3(70) > e2(50) > e1(60) > pipe; the outermost
 * registration is edge-triggered. */
static void case_nested(void)
{
	int p[2], e1, e2, e3, e4, e5;
	int eps[5];

	CHECK(pipe2(p, O_NONBLOCK) == 0);
	e1 = move_fd(epoll_create1(0), 60);
	e2 = move_fd(epoll_create1(0), 50);
	e3 = move_fd(epoll_create1(EPOLL_CLOEXEC), 70);
	e4 = move_fd(epoll_create1(0), 40);
	e5 = move_fd(epoll_create1(0), 45); /* sibling: also watches e1 */
	add(e1, p[0], EPOLLIN, 0x1);
	add(e2, e1, EPOLLIN, 0x2);
	add(e3, e2, EPOLLIN, 0x3);
	add(e4, e3, EPOLLIN | EPOLLET, 0x4);
	add(e5, e1, EPOLLIN | EPOLLONESHOT, 0x5);
	eps[0] = e1, eps[1] = e2, eps[2] = e3, eps[3] = e4, eps[4] = e5;

	ready_and_wait();
	snapshot("post", eps, 5, NULL, 0, 100);
	rec_epoll_wait(e4, "initial4", 0);
	xwrite(p[1], "x", 1);
	rec_epoll_wait(e1, "e1", 0);
	rec_epoll_wait(e2, "e2", 0);
	rec_epoll_wait(e3, "e3", 0);
	rec_epoll_wait(e4, "e4", 0);
	rec_epoll_wait(e4, "e4-again", 0);
	rec_epoll_wait(e5, "e5", 0);
	rec_epoll_wait(e5, "e5-again", 0);
	drain_fd(p[0]);
	rec_epoll_wait(e1, "e1-drained", 0);
	rec_epoll_wait(e3, "e3-drained", 0);
	xwrite(p[1], "y", 1);
	rec_epoll_wait(e4, "e4-second", 0);
	snapshot("end", eps, 5, NULL, 0, 100);
}

/* epoll and inotify shared by parent and child after fork. */
static void case_fork(void)
{
	int p1[2], sp[2], ep, ifd, status;
	pid_t child;
	char c;

	CHECK(pipe2(p1, O_NONBLOCK) == 0);
	ep = epoll_create1(0);
	ifd = inotify_init1(IN_NONBLOCK);
	CHECK(ep >= 0 && ifd >= 0);
	add(ep, p1[0], EPOLLIN, 0x1);
	CHECK(inotify_add_watch(ifd, ".", IN_CREATE) == 1);
	CHECK(pipe(sp) == 0);

	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int p2[2];
		char path[PATH_MAX + 16];

		CHECK(pipe2(p2, O_NONBLOCK) == 0);
		close(sp[0]);
		xwrite(sp[1], "r", 1);
		close(sp[1]);
		wait_go();
		/* child's record: what it does to the shared instances */
		g_len = 0;
		rec("child: start\n");
		ctl_post(ep, EPOLL_CTL_ADD, p2[0], EPOLLIN, 0xc2);
		touch("childfile");
		{
			int wd = inotify_add_watch(ifd, "childfile", IN_MODIFY);
			rec_ret("child inotify_add_watch(childfile)", wd);
		}
		append("childfile", "c");
		xwrite(p2[1], "c", 1);
		xwrite(p1[1], "c", 1);
		rec_epoll_wait(ep, "child", 0);
		objects_refresh();
		rec_epoll_fdinfo(ep, 100);
		rec_inotify_fdinfo(ifd, 100);
		snprintf(path, sizeof(path), "%s.child", g_outfile);
		write_file_atomic(path, g_buf, g_len);
		_exit(0);
	}
	close(sp[1]);
	CHECK(read(sp[0], &c, 1) == 1);
	close(sp[0]);

	ready_and_wait();
	snapshot("post", &ep, 1, &ifd, 1, 100);
	CHECK(kill(child, SIGUSR1) == 0);
	CHECK(waitpid(child, &status, 0) == child);
	rec("child exited: %s %d\n", WIFEXITED(status) ? "code" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	{
		char path[PATH_MAX + 16];
		char buf[65536];
		ssize_t n;
		int fd;
		snprintf(path, sizeof(path), "%s.child", g_outfile);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0);
		n = read(fd, buf, sizeof(buf) - 1);
		CHECK(n >= 0);
		buf[n] = 0;
		close(fd);
		rec("%s", buf);
	}
	rec_epoll_wait(ep, "parent", 0);
	rec_inotify_events(ifd, "parent");
	snapshot("end", &ep, 1, &ifd, 1, 100);
}

#define MANY 10000

static void case_many(void)
{
	struct rlimit rl;
	int ep, first = -1;
	uint64_t one = 1;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < MANY + 100) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur < MANY + 100)
			die("RLIMIT_NOFILE hard limit %lu too low", (unsigned long)rl.rlim_max);
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	ep = epoll_create1(0);
	CHECK(ep >= 0);
	for (int i = 0; i < MANY; i++) {
		uint32_t ev = EPOLLIN;
		int fd = eventfd(0, EFD_NONBLOCK);
		CHECK(fd >= 0);
		if (first < 0)
			first = fd;
		CHECK(fd == first + i);
		if (i % 3 == 0)
			ev |= EPOLLET;
		if (i % 5 == 0)
			ev |= EPOLLRDHUP;
		if (i % 7 == 0 && !(ev & EPOLLET))
			ev |= EPOLLOUT; /* level-triggered: ready at once */
		if (ep_ctl(ep, EPOLL_CTL_ADD, fd, ev, ((uint64_t)i << 32) | (uint64_t)(i * 7)))
			die("add %d", i);
	}
	rec("setup %d eventfds from fd %d\n", MANY, first);
	rec_epoll_wait(ep, "setup", 0);

	ready_and_wait();
	snapshot("post", &ep, 1, NULL, 0, 20);
	for (int i = 0; i < MANY; i += 997)
		xwrite(first + i, &one, 8);
	rec_epoll_wait(ep, "some", 0);
	for (int i = 0; i < MANY; i++)
		xwrite(first + i, &one, 8);
	rec_epoll_wait(ep, "all", 0);
	rec_epoll_wait(ep, "all-again", 0);
	snapshot("end", &ep, 1, NULL, 0, 20);
}

#define MANY_CLOSED 500

/* Every target registered under a number that is closed at dump: each
 * eventfd is dup'ed to a new number and its registered number closed (the
 * freed numbers are then reused by later eventfds, registered too). */
static void case_many_closed(void)
{
	struct rlimit rl;
	int ep, *kept;
	uint64_t one = 1;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2 * MANY_CLOSED + 100) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur < 2 * MANY_CLOSED + 100)
			die("RLIMIT_NOFILE hard limit %lu too low", (unsigned long)rl.rlim_max);
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	kept = calloc(MANY_CLOSED, sizeof(int));
	CHECK(kept != NULL);
	ep = epoll_create1(0);
	CHECK(ep >= 0);
	for (int i = 0; i < MANY_CLOSED; i++) {
		int fd = eventfd(0, EFD_NONBLOCK);
		CHECK(fd >= 0);
		if (ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN | (i % 2 ? EPOLLET : 0), ((uint64_t)i << 32) | 0xc1))
			die("add %d", i);
		kept[i] = dup(fd);
		CHECK(kept[i] >= 0);
		CHECK(close(fd) == 0);
	}
	rec("setup %d eventfds, every registered number closed\n", MANY_CLOSED);
	ready_and_wait();
	snapshot("post", &ep, 1, NULL, 0, 20);
	for (int i = 0; i < MANY_CLOSED; i += 101)
		xwrite(kept[i], &one, 8);
	rec_epoll_wait(ep, "some", 0);
	snapshot("end", &ep, 1, NULL, 0, 20);
}

int main(int argc, char **argv)
{
	const char *c = start(argc, argv);

	if (!strcmp(c, "targets"))
		case_targets();
	else if (!strcmp(c, "oneshot"))
		case_oneshot();
	else if (!strcmp(c, "keys"))
		case_keys(0);
	else if (!strcmp(c, "keys_high"))
		case_keys(1);
	else if (!strcmp(c, "nested"))
		case_nested();
	else if (!strcmp(c, "fork"))
		case_fork();
	else if (!strcmp(c, "many"))
		case_many();
	else if (!strcmp(c, "many_closed"))
		case_many_closed();
	else
		die("unknown case %s", c);
	finish();
	return 0;
}
