/*
 * `make bench` workload: a process with neither inotify nor epoll, to
 * measure what loading the plugin alone costs a dump and a restore.
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
	long n = bench_start(argc, argv);
	bench_ready_and_wait(argv[3], n, 0);
	return 0;
}
