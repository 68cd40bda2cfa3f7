#!/usr/bin/env bash
# "Nothing breaks that the plugin does not own" (`make zdtm`, after
# zdtm.sh): a broad sample of CRIU's zdtm static tests that have no inotify,
# epoll or fanotify in them, run once without and once with
# notify_plugin.so loaded. Fails when a test that passes without the plugin
# fails with it, or when the plugin was not loaded, logged an error, or took
# over a file in a run with it.
#
# What it does:
#   * the CRIU tree is the one the criu binary was built in: CRIU ($CRIU, else
#     .cache/criu-path) is <tree>/criu/criu; zdtm.py runs from <tree>/test
#     with that tree's criu;
#   * builds zdtm's lib and the sample's static tests when they are missing;
#   * runs each test in one flavor: h (host) where its .desc allows it,
#     else the first of ns, uns it allows; one zdtm.py per (pass, flavor);
#   * pass 1: <tree>/test/plugins holds no notify_plugin.so; pass 2: a copy
#     of plugins/notify_plugin.so is there (zdtm sets CRIU_LIBS_DIR to that
#     directory), removed again on exit, also when interrupted;
#   * for pass 2 it reads every kept dump.log / restore.log: the plugin must
#     be loaded, must own nothing (the sample has no inotify/epoll files) and
#     must log no error;
#   * shares zdtm.sh's lock on the tree (one zdtm run at a time per tree).
#
# Output: test/out/zdtm-sample-report.txt (the table), zdtm's own output in
# test/out/zdtm-sample/<pass>.<flavor>.log.
#
# Environment:
#   CRIU=path                 criu binary of a built CRIU tree
#   ZDTM_SAMPLE="t1 t2"       tests to run instead of the sample below
#   ZDTM_RUN_TIMEOUT=900      seconds before one zdtm.py run is killed
#   ZDTM_PLUGIN=path          plugin to load instead of plugins/notify_plugin.so
#
# Notes on this machine kind (as in zdtm.sh): ZDTM_ROOTLESS=1 (root without
# CAP_SYS_RESOURCE: tests stay uid 0), PATH=/usr/sbin:/usr/bin:/sbin:/bin so
# that zdtm_ct finds the system python3 with python3-protobuf and
# python3-yaml; Debian's iptables for the TCP tests' network lock.
set -euo pipefail

# The sample: every test below passes without the plugin with CRIU 4.2.1 on
# this machine kind (Linux 6.18, Debian 12). By area:
#   files         file_append file_attr file_shared file_fown fd01
#                 write_read00 cwd00 link10 symlink
#   ghost files   unlink_fstat00 ghost_holes00 unlink_largefile unlink_mmap00
#                 unlink_regular00
#   pipes, fifos  pipe00 pipe02 fifo fifo-ghost fifo_ro unlink_fifo
#   file locks    file_locks00 file_locks01 file_locks06 file_lease00
#   unix sockets  sockets00 sockets02 sockets_dgram socket_queues sk-unix-rel
#                 sk-unix01 scm03
#   inet sockets  socket-tcp socket-tcp6 socket_udp socket_listen socket-tcpbuf
#   threads       pthread00 pthread01 clone_fs
#   timers        posix_timers timers timerfd pthread_timers
#   signals       sigaltstack signalfd00
#   other         env00 zombie00 fdt_shared maps00 memfd00 sem msgque
# (unlink_regular00, sem and msgque run in the ns flavor: their .desc has no h)
# Left out on purpose:
#   * every test whose source mentions inotify, epoll or fanotify (epoll,
#     epoll01, eventfs00 (epoll over an eventfd), inotify*, fanotify00):
#     zdtm.sh runs those that the plugin owns;
#   * tests that fail without the plugin here: seccomp_filter (CRIU dump:
#     "Can't get rlimit 0: Operation not permitted", no CAP_SYS_RESOURCE),
#     pidfd_of_thread (CRIU dump: "PIDFD_THREAD flag is currently not
#     supported"), socket-tcp-nft-nfconntrack (needs the nft binary),
#     aio00 (does not build: needs libaio.h from libaio-dev), apparmor
#     (zdtm skips it: no AppArmor).
DEFAULT_SAMPLE="file_append file_attr file_shared file_fown fd01 write_read00 cwd00 link10 symlink
unlink_fstat00 ghost_holes00 unlink_largefile unlink_mmap00 unlink_regular00
pipe00 pipe02 fifo fifo-ghost fifo_ro unlink_fifo
file_locks00 file_locks01 file_locks06 file_lease00
sockets00 sockets02 sockets_dgram socket_queues sk-unix-rel sk-unix01 scm03
socket-tcp socket-tcp6 socket_udp socket_listen socket-tcpbuf
pthread00 pthread01 clone_fs
posix_timers timers timerfd pthread_timers
sigaltstack signalfd00
env00 zombie00 fdt_shared maps00 memfd00 sem msgque"

top=${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
criu=${CRIU:-$(cat "$top/.cache/criu-path" 2>/dev/null || true)}
plugin=${ZDTM_PLUGIN:-$top/plugins/notify_plugin.so}
out=$top/test/out
logs=$out/zdtm-sample
report=$out/zdtm-sample-report.txt
ztmp=$out/zdtm-sample-tmp
py=/usr/bin/python3
run_timeout=${ZDTM_RUN_TIMEOUT:-900}
read -r -a sample <<< "$(echo ${ZDTM_SAMPLE:-$DEFAULT_SAMPLE})"

log() { echo "zdtm-sample: $*" >&2; }
die() { log "$*"; exit 1; }

[ -n "$criu" ] || die "no criu (set CRIU= or run make criu)"
criu=$(readlink -f "$criu")
tree=$(dirname "$(dirname "$criu")")
tdir=$tree/test
static=$tdir/zdtm/static
plugin_copy=$tdir/plugins/notify_plugin.so
[ -f "$tdir/zdtm.py" ] || die "$criu is not in a built CRIU tree ($tdir/zdtm.py is missing)"
[ -f "$plugin" ] || die "$plugin is missing; run 'make plugin' first"
"$py" -c 'import google.protobuf, yaml' 2>/dev/null ||
	die "$py lacks the protobuf/yaml modules zdtm needs (Debian: python3-protobuf python3-yaml)"
for t in "${sample[@]}"; do
	[ -f "$static/$t.c" ] || [ -f "$static/$t.desc" ] || die "no zdtm test $t in $static"
done

zdtm_env=(env -u PYTHONPATH -u PYTHONHOME -u CRIU_LIBS_DIR
	PATH=/usr/sbin:/usr/bin:/sbin:/bin
	ZDTM_ROOTLESS=1
	TMPDIR="$ztmp")

# Processes of this tree's zdtm a killed run may leave: zdtm_ct, zdtm.py
# working in the tree, the sample's test programs. Each by its pid.
kill_leftovers() {
	local p pid exe cwd victims=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		cwd=$(readlink "$p/cwd" 2>/dev/null) || cwd=
		case $exe in
		"$tdir/zdtm_ct" | "$static"/* | /zdtm/static/*) victims+=("$pid") ;;
		*)
			if [ "$cwd" = "$tdir" ] && tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q 'zdtm\.py'; then
				victims+=("$pid")
			fi
			;;
		esac
	done
	[ ${#victims[@]} -gt 0 ] || return 0
	log "killing leftover zdtm processes: ${victims[*]}"
	kill -KILL "${victims[@]}" 2>/dev/null || true
	sleep 0.5
}

exec 9> "$tdir/.criu-notify-zdtm.lock"
flock -w 1200 9 || die "another zdtm run holds $tdir/.criu-notify-zdtm.lock"

zdtm_pid=
on_exit() {
	local rc=$?
	if [ -n "$zdtm_pid" ]; then
		kill -TERM "$zdtm_pid" 2>/dev/null || true
		kill_leftovers
	fi
	rm -f "$plugin_copy" "$plugin_copy.tmp"
	rm -rf "$ztmp"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$logs" "$ztmp"
rm -rf "${logs:?}"/*

# --- build ------------------------------------------------------------------
missing=()
for t in "${sample[@]}"; do [ -x "$static/$t" ] || missing+=("$t"); done
if [ ! -f "$tdir/zdtm/lib/libzdtmtst.a" ] || [ ${#missing[@]} -gt 0 ]; then
	log "building zdtm lib and ${#missing[@]} static tests in $tree"
	make -C "$tdir/zdtm/lib" -j"$(nproc)" >&2
	make -C "$static" -j"$(nproc)" "${missing[@]}" >&2
fi

kill_leftovers
rm -f "$plugin_copy"

# --- flavors --------------------------------------------------------------------
# The flavor each test runs in: h if its .desc allows it, else ns, else uns.
declare -A flavor_of=()
while read -r t f; do flavor_of[$t]=$f; done < <("$py" - "$static" "${sample[@]}" <<- 'EOF'
	import ast, os, sys
	static, tests = sys.argv[1], sys.argv[2:]
	for t in tests:
	    desc = os.path.join(static, t + ".desc")
	    allowed = "h ns uns"
	    if os.path.exists(desc):
	        allowed = ast.literal_eval(open(desc).read() or "{}").get("flavor", allowed)
	    print(t, next((f for f in ("h", "ns", "uns") if f in allowed.split()), "h"))
	EOF
)
flavors=$(printf '%s\n' "${flavor_of[@]}" | sort -u)

# --- runs -------------------------------------------------------------------------
# run_pass PASS: one zdtm.py per flavor over the sample's tests of that
# flavor, output in $logs/PASS.FLAVOR.log.
run_pass() {
	local pass=$1 f t args
	for f in $flavors; do
		args=()
		for t in "${sample[@]}"; do [ "${flavor_of[$t]}" = "$f" ] && args+=(-t "zdtm/static/$t"); done
		log "$pass the plugin: $((${#args[@]} / 2)) tests in flavor $f"
		(cd "$tdir" && exec "${zdtm_env[@]}" timeout -k 10 "$run_timeout" \
			"$py" zdtm.py run "${args[@]}" -f "$f" --keep-going --keep-img always) \
			> "$logs/$pass.$f.log" 2>&1 9>&- &
		zdtm_pid=$!
		wait "$zdtm_pid" || true
		zdtm_pid=
		kill_leftovers
	done
}

# Per test of one pass: "test result step dump_log restore_log" (logs
# relative to $tdir, "-" when absent), from zdtm's output.
results() {
	"$py" - "$@" <<- 'EOF'
	import re, sys
	res = {}
	for path in sys.argv[1:]:
	    cur = None
	    for line in open(path, errors="replace"):
	        m = re.search(r"Run zdtm/static/(\S+) in (\w+)", line)
	        if m:
	            cur = m.group(1)
	            res[cur] = ["fail", "-", "-", "-"]
	            continue
	        m = re.search(r"^Skipping zdtm/static/(\S+) ", line)
	        if m:
	            res[m.group(1)] = ["skip", "-", "-", "-"]
	            continue
	        m = re.search(r"=\[log\]=> (\S+/(dump|restore)\.log)$", line)
	        if m and cur:
	            res[cur][2 if m.group(2) == "dump" else 3] = m.group(1)
	            continue
	        m = re.search(r"Test zdtm/static/(\S+) (PASS|FAIL)(?: at (.*?))?[ =#]*$", line)
	        if m:
	            r = res.setdefault(m.group(1), ["fail", "-", "-", "-"])
	            r[0] = m.group(2).lower()
	            r[1] = (m.group(3) or "-").strip().replace(" ", "_") or "-"
	    for t, r in res.items():
	        print(t, *r)
	EOF
}

# Plugin evidence of one run: "loaded owned errors" over its dump.log and
# restore.log (read before the next pass: zdtm reuses the dump dirs).
evidence() {
	local f loaded=0 owned=0 errors=0
	for f in "$@"; do
		[ -f "$f" ] || continue
		grep -q 'Plugin "notify_plugin"' "$f" && loaded=$((loaded + 1))
		owned=$((owned + $(grep -cE 'notify_plugin: (owns|restored) ' "$f" || true)))
		errors=$((errors + $(grep -ciE 'notify_plugin: .*(error|fail)' "$f" || true)))
	done
	echo "$loaded $owned $errors"
}

start=$(date +%s)
declare -A r_without=() r_with=() step_with=() dlog=() rlog=() loaded_without=()
run_pass without
while read -r t r s d l; do
	r_without[$t]=$r
	read -r loaded_without[$t] _ _ <<< "$(evidence "$tdir/$d" "$tdir/$l")"
done < <(results "$logs"/without.*.log)
cp "$plugin" "$plugin_copy.tmp" && mv "$plugin_copy.tmp" "$plugin_copy"
run_pass with
rm -f "$plugin_copy"
secs=$(($(date +%s) - start))
while read -r t r s d l; do r_with[$t]=$r step_with[$t]=$s dlog[$t]=$d rlog[$t]=$l; done < <(results "$logs"/with.*.log)


rows=() problems=() warnings=() n_ok=0 n_without=0
fmt="%-18s %-4s %-8s %-8s %-12s %s"
for t in "${sample[@]}"; do
	w=${r_without[$t]:-missing} p=${r_with[$t]:-missing} note=
	verdict=ok
	if [ "$w" = pass ] && [ "$p" != pass ]; then
		verdict=REGRESSION
		problems+=("$t (${flavor_of[$t]}): passes without the plugin, $p with it (at ${step_with[$t]//_/ }); see $logs/with.${flavor_of[$t]}.log")
	elif [ "$w" != pass ]; then
		verdict=not-counted
		warnings+=("$t (${flavor_of[$t]}): $w without the plugin on this machine (the sample expects a pass); not counted")
	fi
	if [ "${loaded_without[$t]:-0}" != 0 ]; then
		verdict=LOADED-WITHOUT
		problems+=("$t: notify_plugin was loaded in the run without it (another copy in $tdir/plugins?)")
	fi
	if [ "$p" = pass ]; then
		d=${dlog[$t]} l=${rlog[$t]}
		read -r loaded owned errors <<< "$(evidence "$tdir/$d" "$tdir/$l")"
		note="plugin loaded in $loaded/2 logs, owned $owned, errors $errors"
		if [ "$d" = - ] || [ "$l" = - ] || [ "$loaded" != 2 ]; then
			verdict=NOT-LOADED
			problems+=("$t: notify_plugin was not loaded in both dump.log and restore.log ($tdir/$d, $tdir/$l)")
		elif [ "$owned" != 0 ] || [ "$errors" != 0 ]; then
			verdict=PLUGIN-ACTED
			problems+=("$t: the plugin owned $owned file(s) or logged $errors error(s) in a test without inotify/epoll; see $tdir/$d")
		fi
	fi
	[ "$verdict" = ok ] && n_ok=$((n_ok + 1))
	[ "$w" = pass ] && n_without=$((n_without + 1))
	rows+=("$(printf "$fmt" "$t" "${flavor_of[$t]}" "$w" "$p" "$verdict" "$note")")
done

# A sample that mostly fails by itself says nothing about the plugin.
if [ $((n_without * 4)) -lt $((${#sample[@]} * 3)) ]; then
	problems+=("only $n_without of ${#sample[@]} tests pass without the plugin: zdtm does not work here; see $logs/without.*.log")
fi

{
	echo "criu-notify zdtm sample report ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
	echo "CRIU tree $tree ($("$criu" --version | awk '/^Version/ { print $2 }')); plugin $plugin; ${#sample[@]} tests, ${secs}s"
	echo
	printf "$fmt\n" test flav without with verdict "with the plugin"
	printf '%s\n' "${rows[@]}"
	echo
	echo "  without/with: zdtm's verdict with no plugin / with notify_plugin.so in $tdir/plugins"
	echo "  verdict: ok; REGRESSION (passes without, fails with); not-counted (fails without);"
	echo "           NOT-LOADED; PLUGIN-ACTED (owned a file or logged an error); LOADED-WITHOUT"
	if [ ${#warnings[@]} -gt 0 ]; then
		echo
		echo "Warnings (do not fail the run):"
		printf '  ! %s\n' "${warnings[@]}"
	fi
	echo
	if [ ${#problems[@]} -gt 0 ]; then
		echo "FAILED:"
		printf '  * %s\n' "${problems[@]}"
	else
		echo "PASSED: $n_ok of ${#sample[@]} tests pass with the plugin as without it"
	fi
} | tee "$report"

[ ${#problems[@]} -eq 0 ]
