/*
 * `make bench` helper: bench_reaper <command> [args...]
 * Become a child subreaper, then exec the command (bench.sh re-executes
 * itself this way). Processes that `criu restore -d` leaves behind are
 * re-parented to the nearest subreaper when criu exits; without one they
 * go to pid 1, which in some sandboxes never reaps them, and each killed
 * one would stay a zombie holding its pid. bash reaps any child it gets.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <command> [args...]\n", argv[0]);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		fprintf(stderr, "bench_reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 2;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "bench_reaper: exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}
