#!/usr/bin/env bash
# `make bench`: checkpoint/restore times with notify_plugin.so vs CRIU's own
# inotify/epoll code (the same criu binary, same run) vs the syscall floor,
# printed as one table of ratios against the goals of issues 6 and 12, and written to
# test/out/bench.txt (with date, kernel, CPU, CRIU version).
#
# Workloads (test/progs/bench_*.c, built into test/out/bin):
#   inotify N   one inotify instance, N watches: N/2 directories + N/2 files;
#               the program times its own inotify_add_watch loop (the floor)
#   epoll N     one epoll instance, N eventfd targets; floor = its epoll_ctl loop
#   epollclosed N  like epoll, but then every target is dup()ed to a new number
#               and the number it was registered under closed: at dump time
#               no registration's key is an open fd. After each restore the
#               keys in /proc/PID/fdinfo/<epfd> (tfd, events, data) are
#               compared with what the program registered (it lists them in
#               <readyfile>.keys): row "keys exact".
#   procs PxW   a tree of P processes (criu dump -t <root>), each with its own
#               inotify instance of W watches (in its own subdirectory) and
#               its own epoll set (the inotify fd and an eventfd); floor =
#               the sum of the processes' inotify_add_watch loops.
#               P <= fs.inotify.max_user_instances (128 here) minus other users.
#   plain       neither (what loading the plugin alone costs)
#
# Each repetition runs, for each mode:
#   native  criu dump/restore -v1 --lib <empty dir>  (nothing loads: CRIU's code)
#   plugin  criu dump/restore -v1 --lib <plugins>
#   probe   the plugin again at -v4, only to read the plugin's own timings from
#           the logs (takeover, capture, image load, watch re-adding); its
#           wall times are not used: -v4 logging slows CRIU's own part.
# Measured: wall time of each criu command, CRIU's frozen_time (stats-dump)
# and restore_time (stats-restore) decoded by criu-notify-tool (our own image
# reader), image sizes, the peak RSS of each criu command (GNU time %M: criu's
# own, not the tasks criu restore -d leaves running; see run_criu). Ratios use
# min(plugin)/min(native) and median(plugin)/median(native). Timing is
# reported, never asserted. Each criu command has $BENCH_TIMEOUT seconds; a
# timeout is recorded as fail=timeout and the remaining runs of that
# workload in that mode (plugin and probe count as one) as fail=skipped.
#
# Note: CRIU stops its restore_time clock before RESUME_DEVICES_LATE, the hook
# in which the plugin re-adds watches and registrations; so restore_time does
# not include the plugin's main restore work, and restore goals use the wall
# time of `criu restore -d` (it returns when the tasks run again).
#
# Environment:
#   BENCH_REPS=5          repetitions per workload (plain: 3x as many, it is cheap)
#   BENCH_WORKLOADS="inotify:10000 inotify:100000 epoll:2500 epoll:5000 epoll:10000 epoll:20000
#                    epollclosed:2500 epollclosed:5000 epollclosed:10000 epollclosed:20000
#                    procs:120x200 procs:120x20 plain:0"
#   BENCH_TIMEOUT=600     seconds each criu dump / restore may take
#   CRIU=/path/to/criu    default: .cache/criu-path
# epoll targets need one fd each, epollclosed targets two: when RLIMIT_NOFILE's
# hard limit (which root without CAP_SYS_RESOURCE cannot raise) is too low for
# N, N is lowered to what fits and the table says so (hard limit 20000:
# epoll 19900, epollclosed 9900).
set -euo pipefail

TOP="${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$TOP"
BIN="$TOP/test/out/bin"
OUT="$TOP/test/out/bench"
REPORT="$TOP/test/out/bench.txt"
PLUGINS="$TOP/plugins" # absolute: criu chdirs into the image dir
NOLIB="$OUT/empty-lib"
TOOL="$TOP/target/release/criu-notify-tool"
CRIU="${CRIU:-$(cat "$TOP/.cache/criu-path" 2>/dev/null || command -v criu || true)}"
REPS="${BENCH_REPS:-5}"
TIMEOUT="${BENCH_TIMEOUT:-600}"
WORKLOADS="${BENCH_WORKLOADS:-inotify:10000 inotify:100000 epoll:2500 epoll:5000 epoll:10000 epoll:20000 epollclosed:2500 epollclosed:5000 epollclosed:10000 epollclosed:20000 procs:120x200 procs:120x20 plain:0}"

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

[[ -n "$CRIU" && -x "$CRIU" ]] || die "no criu binary (run: make criu)"
[[ -f "$PLUGINS/notify_plugin.so" ]] || die "no $PLUGINS/notify_plugin.so (run: make plugin)"
[[ $(id -u) -eq 0 ]] || die "criu dump/restore needs root"
command -v python3 >/dev/null || die "python3 is needed for the table"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
# GNU time reports the peak RSS of each criu command (package "time").
if [[ ! -x /usr/bin/time ]]; then
	note "installing /usr/bin/time (apt-get install time)"
	{ apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }; } ||
		die "could not install the time package"
fi

# Build: the workloads, the subreaper helper, the stats reader.
mkdir -p "$BIN" "$OUT/work" "$NOLIB"
if [[ -z "${BENCH_REAPED:-}" ]]; then
	for src in "$TOP"/test/progs/bench_*.c; do
		prog="$(basename "$src" .c)"
		cc -O2 -Wall -Wextra -o "$BIN/$prog" "$src"
	done
	cargo build --release --quiet --bin criu-notify-tool
	# Processes criu restore -d leaves behind are re-parented to the nearest
	# subreaper: make it this shell, so that killed ones are reaped (pid 1
	# may never reap them) and their pids are free again.
	BENCH_REAPED=1 exec "$BIN/bench_reaper" bash "${BASH_SOURCE[0]}" "$@"
fi

# criu must not see settings of the caller's (e.g. CRIU_NOTIFY_QUEUED).
for v in $(compgen -e); do
	[[ $v == CRIU_NOTIFY_* && $v != CRIU_NOTIFY_TOP ]] && unset "$v"
done

PID=""
# Is pid $1 one of our workloads: a bench_ program, or (after a failed or
# timed-out restore) a task still being restored from one of our images,
# which has criu's command line until its memory is restored?
ours() {
	local cmd
	cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
	[[ $cmd == *"$BIN/bench_"* || $cmd == "$CRIU restore -D $OUT/"* ]]
}
# Workloads run in their own session (setsid), so a workload's processes
# (bench_procs: the whole tree) are the process group whose id is its pid.
is_group_leader() {
	local st
	st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" || return 1
	[[ $(cut -d' ' -f3 <<<"$st") == "$1" ]]
}
cleanup() {
	# Kill the workload still running, by its number, if it is ours.
	if [[ -n "$PID" ]] && ours "$PID"; then
		if is_group_leader "$PID"; then kill -KILL -- "-$PID" 2>/dev/null || true; fi
		kill -KILL "$PID" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }

# Wait until /proc/$1 is gone (a task with 100k watches takes a while to
# exit; restoring before it is gone fails with "Can't fork for PID").
wait_gone() {
	local pid=$1 i
	wait "$pid" 2>/dev/null || true
	for ((i = 0; i < 12000; i++)); do
		[[ -e /proc/$pid ]] || return 0
		sleep 0.01
	done
	die "pid $pid still exists after 120 s"
}

# Kill workload $1 (its whole process group if it leads one) and wait
# until every one of its processes is gone: a restore needs all their pids.
kill_ours() {
	local pid=$1 group="" i
	ours "$pid" || return 0
	if is_group_leader "$pid"; then
		group=1
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	kill -KILL "$pid" 2>/dev/null || true
	wait_gone "$pid"
	[[ -n $group ]] || return 0
	for ((i = 0; i < 12000; i++)); do
		pgrep -g "$pid" >/dev/null || return 0
		sleep 0.01
	done
	die "processes of group $pid still exist after 120 s"
}

# run_criu <rss file> <criu args...>: criu under a time limit ($TIMEOUT s,
# then SIGKILL 10 s later) and GNU time. Status 124 or 137: timed out.
# The rss file's last line is %M, the peak RSS in kB of what time waited
# for: the larger of timeout's and criu's own (wait4 counts a child and its
# reaped descendants), i.e. criu's. Not included: the tasks criu restore -d
# forks (they are never reaped by criu; when it exits they are re-parented
# to this shell), so the restored workload's memory does not pollute the
# restore number; but work the plugin does inside the restored tasks is
# not counted either.
run_criu() {
	local rss=$1
	shift
	/usr/bin/time -o "$rss" -f %M timeout -k 10 "$TIMEOUT" "$CRIU" "$@"
}
rss_of() { { tail -n1 "$1" 2>/dev/null || true; } | { grep -E '^[0-9]+$' || true; }; }

# Seconds-since-start stamp "(SS.uuuuuu)" of the first line matching $2 in log $1, in ms.
stamp_ms() {
	{ grep -m1 -E -- "$2" "$1" || true; } | sed -n 's/^(\([0-9]*\.[0-9]*\)).*/\1/p' | awk '{ if ($1 != "") printf "%.3f", $1 * 1000 }'
}
stamp_last_ms() {
	{ grep -E -- "$2" "$1" || true; } | tail -n1 | sed -n 's/^(\([0-9]*\.[0-9]*\)).*/\1/p' | awk '{ if ($1 != "") printf "%.3f", $1 * 1000 }'
}
# First number after "$2" on the first matching line of $1.
num_after() {
	{ grep -m1 -o -E -- "$2 [0-9.]+" "$1" || true; } | awk '{ print $NF }'
}

size_of() { [[ -f $1 ]] && stat -c %s "$1" || echo 0; }

# keys_exact <pid> <keys file> <diff file>: "yes" if the registrations of
# the epoll fd named in the keys file (epfd=E), as /proc/<pid>/fdinfo/E
# shows them, are exactly the "tfd events data" lines of the keys file
# (as sets); else "no", and the difference is left in <diff file>.
keys_exact() {
	local pid=$1 keys=$2 out=$3 epfd
	epfd="$(sed -n 's/^epfd=//p' "$keys")"
	if LC_ALL=C diff <(grep -v '^epfd=' "$keys" | LC_ALL=C sort) \
		<(awk '$1 == "tfd:" { print $2, $4, $6 }' "/proc/$pid/fdinfo/$epfd" 2>/dev/null | LC_ALL=C sort) >"$out"; then
		rm -f "$out"
		echo yes
	else
		echo no
	fi
}

# One timed criu command of run_once (its locals kind, n, mode, dir, img,
# line, PID are in scope): on failure the result line says why (timeout or
# failure, with the log's last errors), the workload is killed and it
# returns 1; on success STEP_MS is its wall time.
#   timed_step <step> <log name> <rss file> <criu args...>
timed_step() {
	local step=$1 log=$2 rss=$3 t0 t1 rc=0
	shift 3
	t0=$(now_ns)
	run_criu "$rss" "$@" >>"$dir/criu.err" 2>&1 || rc=$?
	t1=$(now_ns)
	if ((rc)); then
		if ((rc == 124 || rc == 137)); then
			note "$kind $n $mode: criu $step timed out after $TIMEOUT s"
			echo "$line fail=timeout step=$step" >>"$RESULTS"
		else
			note "$kind $n $mode: criu $step failed:"; grep -E 'Error|rror \(' "$img/$log" | tail -n 5 >&2 || true
			echo "$line fail=$step" >>"$RESULTS"
		fi
		kill_ours "$PID"
		return 1
	fi
	STEP_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
}

# One run: start the workload, dump, wait, restore, kill. Appends one line
# of key=value pairs to $RESULTS. Returns non-zero on a failed step (the
# line then says so).
#   run_once <kind> <n> <mode> <rep>
run_once() {
	local kind=$1 n=$2 mode=$3 rep=$4
	local dir="$OUT/$kind-$n/$mode" lib=$PLUGINS verb=1
	local work="$OUT/work/$kind-$n" img ready t0 t1 dump_ms restore_ms floor stats line i rc
	[[ $mode == native ]] && lib=$NOLIB
	[[ $mode == probe ]] && verb=4
	img="$dir/img"
	ready="$dir/ready"
	rm -rf "$dir"
	mkdir -p "$img"
	line="kind=$kind n=$n mode=$mode rep=$rep"

	setsid "$BIN/bench_$kind" "$n" "$work" "$ready" </dev/null >"$dir/prog.out" 2>&1 &
	PID=$!
	disown "$PID" # no "Killed" notice when criu kills it; this shell still reaps it
	for ((i = 0; i < 3000; i++)); do
		[[ -e $ready ]] && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.02
	done
	if [[ ! -e $ready ]]; then
		note "$kind $n: workload did not get ready: $(cat "$dir/prog.out")"
		echo "$line fail=setup" >>"$RESULTS"
		kill_ours "$PID"
		return 1
	fi
	PID="$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$ready")"
	floor="$(sed -n 's/.* floor_us=\([0-9]*\).*/\1/p' "$ready")"
	n="$(sed -n 's/.* n=\([0-9x]*\) .*/\1/p' "$ready")"
	line="$line floor_us=$floor"
	# epollclosed: are the keys as registered before the dump (a check of
	# the workload itself) and after the restore?
	if [[ -f $ready.keys ]]; then
		line="$line keys_pre=$(keys_exact "$PID" "$ready.keys" "$dir/keys-pre.diff")"
	fi

	timed_step dump dump.log "$dir/dump.rss" dump -t "$PID" -D "$img" -v$verb -o dump.log --lib "$lib" || return 1
	dump_ms=$STEP_MS
	line="$line dump_ms=$dump_ms dump_rss_kb=$(rss_of "$dir/dump.rss")"
	wait_gone "$PID"
	# The dumped tree is gone when its root is (criu dump kills it whole),
	# but make sure of it: every pid must be free for the restore.
	for ((i = 0; i < 12000; i++)); do
		pgrep -g "$PID" >/dev/null || break
		sleep 0.01
	done

	timed_step restore restore.log "$dir/restore.rss" restore -D "$img" -d -v$verb -o restore.log --lib "$lib" || return 1
	restore_ms=$STEP_MS
	line="$line restore_ms=$restore_ms restore_rss_kb=$(rss_of "$dir/restore.rss")"
	kill -0 "$PID" 2>/dev/null || note "$kind $n $mode: restored pid $PID is not running"
	# How many processes run again (procs: should be P).
	i="$(pgrep -g "$PID" | wc -l)"
	line="$line tasks=$i"
	[[ $kind == procs && $i != "${n%%x*}" ]] && note "$kind $n $mode: $i processes restored, not ${n%%x*}"
	if [[ -f $ready.keys ]]; then
		line="$line keys=$(keys_exact "$PID" "$ready.keys" "$dir/keys.diff")"
		# (CRIU's own code re-registers under the targets' current numbers,
		# so native differs by design; the table says so.)
		[[ $mode != native && -f $dir/keys.diff ]] && note "$kind $n $mode: restored epoll keys differ ($dir/keys.diff)"
	fi
	kill_ours "$PID"
	PID=""

	stats="$("$TOOL" stats "$img")" || die "criu-notify-tool stats $img failed"
	line="$line $stats"
	line="$line files_img=$(size_of "$img/files.img") ino_img=$(size_of "$img/notify-inotify.img") ep_img=$(size_of "$img/notify-eventpoll.img")"

	if [[ $mode == probe ]]; then
		local d="$img/dump.log" r="$img/restore.log" x
		# Dump (exit(DUMP)): cumulative stamps of the takeover.
		line="$line takeover_ms=$(num_after "$d" 'notify_plugin: took over [0-9]+ inotify/epoll files in')"
		line="$line t_read_ms=$(num_after "$d" "takeover: CRIU's images read in")"
		line="$line t_captured_ms=$(num_after "$d" 'takeover: captured in')"
		line="$line t_encoded_ms=$(num_after "$d" 'takeover: images encoded in')"
		line="$line t_committed_ms=$(num_after "$d" 'takeover: committed in')"
		# Restore: image loading at init; the late hook (watches, registrations).
		t0="$(stamp_ms "$r" 'notify_plugin: criu-notify .* loaded for restore')"
		t1="$(stamp_ms "$r" 'notify_plugin: [0-9]+ inotify and [0-9]+ eventpoll files to restore')"
		[[ -n $t0 && -n $t1 ]] && line="$line r_init_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
		x="$({ grep -o -E 'notify_plugin: restored inotify id .* watches in [0-9.]+ ms' "$r" || true; } | awk '{ s += $(NF - 1) } END { if (NR) printf "%.3f", s }')"
		[[ -n $x ]] && line="$line r_watches_ms=$x"
		t0="$(stamp_ms "$r" 'Run late stage hook')"
		t1="$(stamp_last_ms "$r" 'notify_plugin: restored (inotify|eventpoll) id')"
		[[ -n $t0 && -n $t1 ]] && line="$line r_late_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
		# The -v4 logs of 100k watches are large; the numbers are taken.
		gzip -f "$d" "$r"
	fi
	echo "$line" >>"$RESULTS"
}

# epoll targets: one fd each, plus CRIU's service fds at restore (CRIU puts
# them above the task's highest fd, below round_down(RLIMIT_NOFILE, 128)).
# epollclosed: two fds per target while it dups them, and its targets then
# have numbers up to about 2n.
hard_nofile="$(ulimit -Hn)"
epoll_max=1000000000
epollclosed_max=1000000000
if [[ $hard_nofile != unlimited ]]; then
	epoll_max=$(((hard_nofile / 128 * 128 - 64) / 100 * 100))
	epollclosed_max=$(((hard_nofile / 128 * 128 - 64) / 2 / 100 * 100))
fi

RESULTS="$OUT/results.txt"
: >"$RESULTS"
started=$(now_ns)
kernel="$(uname -r)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) CPUs)"
criu_version="$("$CRIU" --version 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"
plugin_rev="$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')"
git -C "$TOP" diff --quiet HEAD -- src 2>/dev/null || plugin_rev="$plugin_rev+uncommitted changes in src/"
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "kernel=$kernel"
	echo "cpu=$cpu"
	echo "criu=$criu_version ($CRIU)"
	echo "plugin=$plugin_rev"
	echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "reps=$REPS"
	echo "nofile_hard=$hard_nofile"
} >"$OUT/meta.txt"

failures=0
declare -A timed_out # mode -> 1 once a run of this workload in it timed out
for w in $WORKLOADS; do
	kind="${w%%:*}"
	n="${w#*:}"
	want=$n
	if [[ $kind == epoll ]] && ((n > epoll_max)); then
		note "epoll $n: RLIMIT_NOFILE hard limit $hard_nofile fits $epoll_max targets; running $epoll_max"
		n=$epoll_max
	fi
	if [[ $kind == epollclosed ]] && ((n > epollclosed_max)); then
		note "epollclosed $n: RLIMIT_NOFILE hard limit $hard_nofile fits $epollclosed_max targets (2 fds each); running $epollclosed_max"
		n=$epollclosed_max
	fi
	reps=$REPS
	[[ $kind == plain ]] && reps=$((REPS * 3))
	note "$kind $n: $reps repetitions"
	timed_out=()
	for ((rep = 1; rep <= reps; rep++)); do
		# Alternate the order so that warm caches favour neither mode.
		if ((rep % 2)); then modes="native plugin probe"; else modes="plugin native probe"; fi
		[[ $kind == plain ]] && modes="${modes/ probe/}"
		for mode in $modes; do
			# After a timeout, the mode's remaining runs of this workload
			# would most likely time out too: skip them (plugin and probe
			# run the same code, so a timeout in one skips both).
			if [[ -n ${timed_out[$mode]:-} ]]; then
				echo "kind=$kind n=$n mode=$mode rep=$rep fail=skipped" >>"$RESULTS"
				failures=$((failures + 1))
				continue
			fi
			run_once "$kind" "$n" "$mode" "$rep" || failures=$((failures + 1))
			if tail -n1 "$RESULTS" | grep -q ' fail=timeout'; then
				timed_out[$mode]=1
				[[ $mode == native ]] || { timed_out[plugin]=1; timed_out[probe]=1; }
			fi
		done
	done
	[[ $want != "$n" ]] && echo "kind=$kind n=$n mode=clamped want=$want" >>"$RESULTS"
done
echo "elapsed_s=$((($(now_ns) - started) / 1000000000))" >>"$OUT/meta.txt"
echo "failures=$failures" >>"$OUT/meta.txt"
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"

python3 - "$OUT/meta.txt" "$RESULTS" "$REPORT" <<'PY'
import statistics, sys

meta_path, results_path, report_path = sys.argv[1:4]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(meta_path) if "=" in l)
# n: a count (int), or a size such as "120x200" (procs: kept as the string).
def size(s):
    return int(s) if s.isdigit() else s

def size_key(n):
    return tuple(int(x) for x in str(n).split("x"))

runs, clamped = [], {}
for l in open(results_path):
    kv = dict(f.split("=", 1) for f in l.split())
    kv["n"] = size(kv["n"])
    if kv.get("mode") == "clamped":
        clamped[(kv["kind"], kv["n"])] = int(kv["want"])
        continue
    runs.append(kv)

def vals(kind, n, mode, key):
    out = []
    for r in runs:
        if r["kind"] == kind and r["n"] == n and r["mode"] == mode and "fail" not in r and r.get(key):
            out.append(float(r[key]))
    return out

def mm(xs):
    return (min(xs), statistics.median(xs)) if xs else (None, None)

def sizes(kind):
    return sorted({r["n"] for r in runs if r["kind"] == kind}, key=size_key)

def label(kind, n):
    if kind == "plain":
        return "plain"
    if isinstance(n, str):
        return f"{kind} {n}"
    s = f"{n/1000:g}k"
    if (kind, n) in clamped:
        s += f" (for {clamped[(kind, n)]/1000:g}k)"
    return f"{kind} {s}"

rows = []  # (check, measure, min, median, goal text, status)
def fmt(x, unit=""):
    if x is None:
        return "-"
    if unit == "x":
        return f"{x:.2f}x"
    if unit == "%":
        return f"{x*100:.1f}%"
    if unit == "ms":
        return f"{x:.1f} ms"
    return f"{x:.1f}{unit}"

def judge(value, limit):
    if value is None:
        return "n/a"
    return "met" if value <= limit else "MISSED"

def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b

# --- inotify: restore vs native and vs floor; dump takeover ------------------
for n in sorted(sizes("inotify"), reverse=True):
    L = label("inotify", n)
    pr, nr = mm(vals("inotify", n, "plugin", "restore_ms")), mm(vals("inotify", n, "native", "restore_ms"))
    rmin, rmed = ratio(pr[0], nr[0]), ratio(pr[1], nr[1])
    rows.append((f"{L}: restore plugin/native", "wall of criu restore", fmt(rmin, "x"), fmt(rmed, "x"), "<= 0.50x", judge(rmed, 0.5)))
    fl = mm(vals("inotify", n, "plugin", "floor_us") + vals("inotify", n, "native", "floor_us") + vals("inotify", n, "probe", "floor_us"))
    fl = tuple(None if x is None else x / 1000 for x in fl)
    work = [a + b for a, b in zip(vals("inotify", n, "probe", "r_init_ms"), vals("inotify", n, "probe", "r_watches_ms"))]
    w = mm(work)
    rows.append((f"{L}: restore plugin/floor", "plugin work (image load + re-adding) / floor", fmt(ratio(w[0], fl[0]), "x"), fmt(ratio(w[1], fl[1]), "x"), "<= 1.50x", judge(ratio(w[1], fl[1]), 1.5)))
    ad = mm(vals("inotify", n, "probe", "r_watches_ms"))
    rows.append((f"{L}: restore plugin/floor", "re-adding watches only / floor", fmt(ratio(ad[0], fl[0]), "x"), fmt(ratio(ad[1], fl[1]), "x"), "(detail)", ""))
    rows.append((f"{L}: restore plugin/floor", "wall of criu restore / floor", fmt(ratio(pr[0], fl[0]), "x"), fmt(ratio(pr[1], fl[1]), "x"), "(detail)", ""))
for n in sorted(sizes("inotify"), reverse=True):
    L = label("inotify", n)
    pf, nf = mm(vals("inotify", n, "plugin", "frozen_time_us")), mm(vals("inotify", n, "native", "frozen_time_us"))
    add = [None if None in (pf[i], nf[i]) else (pf[i] - nf[i]) / nf[i] for i in (0, 1)]
    rows.append((f"{L}: dump, added by takeover", "(plugin - native frozen_time) / native", fmt(add[0], "%"), fmt(add[1], "%"), "<= 10%", judge(add[1], 0.10)))
    tk = mm(vals("inotify", n, "probe", "takeover_ms"))
    rows.append((f"{L}: dump, added by takeover", "takeover (plugin log) / native frozen_time", fmt(ratio(tk[0], nf[0] and nf[0] / 1000), "%"), fmt(ratio(tk[1], nf[1] and nf[1] / 1000), "%"), "(detail)", ""))

def plugin_vs_native(kind, n, key, what, check, limit):
    """Row: plugin/native of key; goal <= limit (None: detail only)."""
    p, q = mm(vals(kind, n, "plugin", key)), mm(vals(kind, n, "native", key))
    r = (ratio(p[0], q[0]), ratio(p[1], q[1]))
    goal, status = (f"<= {limit:.2f}x", judge(r[1], limit)) if limit is not None else ("(detail)", "")
    rows.append((f"{label(kind, n)}: {check}", what, fmt(r[0], "x"), fmt(r[1], "x"), goal, status))

for n in sorted(sizes("inotify"), reverse=True):
    plugin_vs_native("inotify", n, "dump_ms", "wall of criu dump", "dump plugin/native", 1.10 if n == 100000 else None)
# Peak RSS of the criu process itself (see run_criu in bench.sh).
for n in sorted(sizes("inotify"), reverse=True):
    big = n == 100000
    plugin_vs_native("inotify", n, "dump_rss_kb", "max resident set of criu dump", "peak RSS criu dump plugin/native", 1.30 if big else None)
    plugin_vs_native("inotify", n, "restore_rss_kb", "max resident set of criu restore (not its tasks)", "peak RSS criu restore plugin/native", 1.30 if big else None)

# --- epoll -------------------------------------------------------------------
ep = sizes("epoll")
for n in ep:
    pr, nr = mm(vals("epoll", n, "plugin", "restore_ms")), mm(vals("epoll", n, "native", "restore_ms"))
    goal, status = ("<= 1.00x", judge(ratio(pr[1], nr[1]), 1.0)) if n == 10000 else ("(detail)", "")
    rows.append((f"{label('epoll', n)}: restore plugin/native", "wall of criu restore", fmt(ratio(pr[0], nr[0]), "x"), fmt(ratio(pr[1], nr[1]), "x"), goal, status))
for n in ep:
    pf, nf = mm(vals("epoll", n, "plugin", "frozen_time_us")), mm(vals("epoll", n, "native", "frozen_time_us"))
    add = [None if None in (pf[i], nf[i]) else (pf[i] - nf[i]) / nf[i] for i in (0, 1)]
    rows.append((f"{label('epoll', n)}: dump, added by takeover", "(plugin - native frozen_time) / native", fmt(add[0], "%"), fmt(add[1], "%"), "(detail)", ""))
per_target = {}
for n in ep:
    cap = [c - r for c, r in zip(vals("epoll", n, "probe", "t_captured_ms"), vals("epoll", n, "probe", "t_read_ms"))]
    c = mm(cap)
    if c[1] is not None:
        per_target[n] = c[1] * 1000 / n
    rows.append((f"{label('epoll', n)}: capture (plugin log)", "ms; us per target", fmt(c[0], "ms"), f"{fmt(c[1], 'ms')}; {per_target.get(n, 0):.1f} us/target", "linear", "(below)"))
if len(per_target) >= 2:
    lo, hi = min(per_target), max(per_target)
    growth = per_target[hi] / per_target[lo] if per_target[lo] else None
    rows.append((f"epoll capture {lo/1000:g}k -> {hi/1000:g}k", "us/target at largest / at smallest", "-", fmt(growth, "x"), "<= 2.00x (linear)", judge(growth, 2.0)))

# --- epollclosed: every registration's key number closed at dump time ----------
for n in sizes("epollclosed"):
    plugin_vs_native("epollclosed", n, "dump_ms", "wall of criu dump", "dump plugin/native", 1.10)
    plugin_vs_native("epollclosed", n, "restore_ms", "wall of criu restore", "restore plugin/native", None)
for n in sizes("epollclosed"):
    def exact(mode):
        k = [r.get("keys") for r in runs if r["kind"] == "epollclosed" and r["n"] == n and r["mode"] == mode and "fail" not in r]
        k = [x for x in k if x]
        return None if not k else ("yes" if all(x == "yes" for x in k) else f"no ({k.count('no')}/{len(k)} runs)")
    p, nat = exact("plugin"), exact("native")
    pre = [r.get("keys_pre") for r in runs if r["kind"] == "epollclosed" and r["n"] == n and r.get("keys_pre")]
    what = f"fdinfo (tfd, events, data) = registered; native: {nat or '-'}"
    if any(x != "yes" for x in pre):
        what += "; WORKLOAD's own check before dump failed"
    rows.append((f"{label('epollclosed', n)}: keys exact after plugin restore", what, "-", p or "-", "exact",
                 "n/a" if p is None else ("met" if p == "yes" else "MISSED")))

# --- procs: many processes, each with its own inotify instance and epoll set ----
for n in sorted(sizes("procs"), key=size_key, reverse=True):
    plugin_vs_native("procs", n, "dump_ms", "wall of criu dump", "dump plugin/native", 1.00)
    plugin_vs_native("procs", n, "restore_ms", "wall of criu restore", "restore plugin/native", 1.00)

# --- plain ---------------------------------------------------------------------
if sizes("plain"):
    n = sizes("plain")[0]
    tot = lambda mode: [d + r for d, r in zip(vals("plain", n, mode, "dump_ms"), vals("plain", n, mode, "restore_ms"))]
    p, q = mm(tot("plugin")), mm(tot("native"))
    d = [None if None in (p[i], q[i]) else p[i] - q[i] for i in (0, 1)]
    rows.append(("plain: plugin adds to dump+restore", "wall (plugin - native)", fmt(d[0], "ms"), fmt(d[1], "ms"), "<= 5 ms", judge(d[1], 5.0)))
    st = lambda mode: [d + r for d, r in zip(vals("plain", n, mode, "frozen_time_us"), vals("plain", n, mode, "restore_time_us"))]
    p, q = mm(st("plugin")), mm(st("native"))
    d = [None if None in (p[i], q[i]) else (p[i] - q[i]) / 1000 for i in (0, 1)]
    rows.append(("plain: plugin adds to dump+restore", "frozen_time + restore_time (plugin - native)", fmt(d[0], "ms"), fmt(d[1], "ms"), "(detail)", ""))

# --- image bytes -----------------------------------------------------------------
for kind, img, unit in (("inotify", "ino_img", "watch"), ("epoll", "ep_img", "registration")):
    for n in sizes(kind):
        ours = statistics.median(vals(kind, n, "plugin", img) or [0])
        fp = statistics.median(vals(kind, n, "plugin", "files_img") or [0])
        fn = statistics.median(vals(kind, n, "native", "files_img") or [0])
        if not n or not ours or not fn:
            continue
        criu = fn - fp
        rows.append((f"{label(kind, n)}: image bytes per {unit}", f"plugin {ours/n:.1f} B vs CRIU {criu/n:.1f} B", "-", fmt(ratio(ours, criu), "x"), "(shown)", ""))

# --- raw measurements ------------------------------------------------------------
KINDS = ("inotify", "epoll", "epollclosed", "procs", "plain")
raw = []
for kind in KINDS:
    for n in sizes(kind):
        def med(mode, key, scale=1.0):
            v = vals(kind, n, mode, key)
            return f"{statistics.median(v) * scale:.1f}" if v else "-"
        raw.append((label(kind, n),
                    med("native", "floor_us", 1e-3) if kind != "plain" else "-",
                    med("native", "dump_ms"), med("plugin", "dump_ms"),
                    med("native", "frozen_time_us", 1e-3), med("plugin", "frozen_time_us", 1e-3),
                    med("native", "restore_ms"), med("plugin", "restore_ms"),
                    med("native", "restore_time_us", 1e-3), med("plugin", "restore_time_us", 1e-3),
                    med("probe", "takeover_ms"), med("probe", "r_init_ms"), med("probe", "r_late_ms"),
                    str(len(vals(kind, n, "plugin", "dump_ms")))))

rss = []
for kind in KINDS:
    for n in sizes(kind):
        def med(mode, key):
            v = vals(kind, n, mode, key)
            return f"{statistics.median(v) / 1024:.1f}" if v else "-"
        rss.append((label(kind, n), med("native", "dump_rss_kb"), med("plugin", "dump_rss_kb"),
                    med("native", "restore_rss_kb"), med("plugin", "restore_rss_kb")))

def table(header, body):
    w = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([line(header), line(["-" * x for x in w])] + [line(r) for r in body])

out = []
out.append("criu-notify benchmark (make bench): plugin vs CRIU's own code vs the syscall floor")
out.append(f"date {meta.get('date')}; kernel {meta.get('kernel')}; CPU {meta.get('cpu')}")
out.append(f"CRIU {meta.get('criu')}; plugin {meta.get('plugin')}; loadavg before/after {meta.get('load')} / {meta.get('load_after')}")
out.append(f"{meta.get('reps')} repetitions per workload (plain: 3x); ran {meta.get('elapsed_s')} s; failed runs {meta.get('failures')}")
failed = {}
for r in runs:
    if "fail" in r:
        what = r["fail"] + (f" ({r['step']})" if r.get("step") else "")
        k = (label(r["kind"], r["n"]), r["mode"], what)
        failed[k] = failed.get(k, 0) + 1
if failed:
    out.append("failed: " + "; ".join(f"{w} {m}: {f} x{c}" for (w, m, f), c in failed.items()))
out.append("ratios: min = min(plugin)/min(native), median = median(plugin)/median(native); goals are judged on the median")
out.append("")
out.append(table(("check", "measure", "min", "median", "goal", "result"), rows))
out.append("")
out.append("medians, ms (native = CRIU's own code, plugin = notify_plugin at -v1; takeover, r_init, r_late from the -v4 probe runs)")
out.append(table(("workload", "floor", "dump nat", "dump plug", "frozen nat", "frozen plug", "rest nat", "rest plug",
                  "rtime nat", "rtime plug", "takeover", "r_init", "r_late", "runs"), raw))
out.append("")
out.append("peak RSS, MB (medians; max resident set of the criu process, from GNU time; the restored tasks are not included)")
out.append(table(("workload", "dump nat", "dump plug", "rest nat", "rest plug"), rss))
out.append("")
out.append("floor = the workload's own inotify_add_watch / epoll_ctl loop (procs: the sum of its processes' add_watch loops);")
out.append("dump/rest = wall of criu dump/restore; frozen = stats-dump frozen_time; rtime = stats-restore restore_time")
out.append("(CRIU stops it before the plugin's RESUME_DEVICES_LATE work, so it excludes re-adding watches/registrations:")
out.append("r_late); r_init = plugin image load at restore.")
out.append("image bytes: plugin = notify-*.img; CRIU = files.img (native) - files.img (plugin run), i.e. the inotify/eventpoll")
out.append("entries CRIU keeps in files.img, which the plugin run replaces by small EXT entries.")
if clamped:
    out.append("epoll/epollclosed sizes lowered to fit RLIMIT_NOFILE (hard limit %s; raising it needs CAP_SYS_RESOURCE): %s" % (
        meta.get("nofile_hard"), ", ".join(f"{w} -> {n}" for (k, n), w in clamped.items())))
text = "\n".join(out) + "\n"
sys.stdout.write("\n" + text)
open(report_path, "w").write(text)
print(f"(written to {report_path}; every run in {results_path})")
PY
