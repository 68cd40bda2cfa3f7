#!/usr/bin/env bash
# Run CRIU's own zdtm tests for inotify and epoll with notify_plugin.so
# loaded, and prove from the logs and images zdtm keeps that the plugin, not
# CRIU, checkpointed and restored every inotify/epoll file.   (`make zdtm`)
#
# What it does:
#   * uses the CRIU tree $CRIU_TREE, by default the one provision-criu.sh
#     built (named in $CRIU_NOTIFY_TOP/.cache/criu-tree, `make criu-tree`;
#     CRIU 4.2.x); zdtm runs that tree's criu. Builds zdtm's lib and the
#     static tests it needs when they are missing;
#   * copies plugins/notify_plugin.so into <tree>/test/plugins/ (zdtm points
#     CRIU_LIBS_DIR there, and CRIU loads every *.so in it) and removes it again
#     on exit, also when interrupted;
#   * runs each (test, flavor) pair as its own `zdtm.py run` so that a failure
#     in one flavor does not hide the others, and so that each run's dump dir
#     is unambiguous;
#   * for each run, reads dump.log, restore.log and files.img and checks that
#     the plugin owned and restored every inotify/eventpoll file and that CRIU
#     restored none itself;
#   * runs inotify_system and inotify_system_nodel too: they fail with CRIU
#     alone because queued events are dropped; that failure is reported but
#     does not fail `make zdtm` (any other failure of them is reported loudly,
#     and does not fail it either);
#   * prints a report and writes it to test/out/zdtm-report.txt; zdtm's own
#     output of each run is in test/out/zdtm/<test>.<flavor>.log.
#
# Exit status: non-zero if one of the main tests fails, if the plugin was not
# loaded, or (unless ZDTM_OWNERSHIP=warn) if an ownership check fails.
#
# Environment:
#   ZDTM_OWNERSHIP=strict|warn  ownership failures fail the run (default) or
#                               are only printed as warnings
#   ZDTM_TESTS="t1 t2"          main tests to run (default: all eight below)
#   ZDTM_SYSTEM_TESTS="..."     queued-events tests to run ("" to skip them)
#   ZDTM_FLAVORS="h ns uns"     flavors to consider (each test runs in those
#                               of them that its .desc allows)
#   ZDTM_RUN_TIMEOUT=180        seconds before one zdtm.py run is killed
#   ZDTM_PLUGIN=path            plugin to load instead of plugins/notify_plugin.so
#   CRIU_TREE=dir               CRIU tree to run zdtm from (`make test-criu-dev`
#                               passes .cache/criu-dev)
#                               (its descriptor must still be "notify_plugin")
#
# Notes on this machine kind (root without CAP_SYS_RESOURCE):
#   * ZDTM_ROOTLESS=1 is required: zdtm passes it on to the tests, which then
#     stay uid 0 instead of switching to zdtm's uid 18943; otherwise CRIU
#     cannot read the rlimits of the foreign-uid task ("Can't get rlimit 0:
#     Operation not permitted") and the dump fails. It is not zdtm.py's
#     --rootless mode (that runs CRIU itself as uid 65534).
#   * CRIU logs "Error ... rlimit: Can't setup RLIMIT_NOFILE for self" in
#     every dump and restore; it is harmless.
#   * zdtm_ct re-executes zdtm.py by its "#!/usr/bin/env python3" line, so
#     PATH must find the system python3 (with python3-protobuf) first.
set -euo pipefail

top=${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
tree=${CRIU_TREE:-$(cat "$top/.cache/criu-tree" 2>/dev/null || true)}
[ -n "$tree" ] || { echo "zdtm: no CRIU tree; run 'make criu-tree' first (or set CRIU_TREE)" >&2; exit 1; }
tree=${tree%/}
tdir=$tree/test                     # zdtm.py's directory
static=$tdir/zdtm/static
plugin=${ZDTM_PLUGIN:-$top/plugins/notify_plugin.so}
plugin_copy=$tdir/plugins/$(basename "$plugin")
plugin_tag=notify_plugin            # descriptor name and log prefix
out=$top/test/out
logs=$out/zdtm
report=$out/zdtm-report.txt
ztmp=$out/zdtm-tmp                  # TMPDIR for zdtm (its criu-root-* dirs)
py=/usr/bin/python3

mode=${ZDTM_OWNERSHIP:-strict}
read -r -a main_tests <<< "${ZDTM_TESTS-inotify00 inotify01 inotify02 inotify04 inotify_irmap epoll epoll01 fanotify00}"
read -r -a system_tests <<< "${ZDTM_SYSTEM_TESTS-inotify_system inotify_system_nodel}"
flavors_wanted=${ZDTM_FLAVORS:-h ns uns}
run_timeout=${ZDTM_RUN_TIMEOUT:-180}

# zdtm.py and everything it starts see only this environment.
zdtm_env=(env -u PYTHONPATH -u PYTHONHOME
	PATH=/usr/sbin:/usr/bin:/sbin:/bin
	ZDTM_ROOTLESS=1
	TMPDIR="$ztmp")

log() { echo "zdtm: $*" >&2; }
die() { log "$*"; exit 1; }

case $mode in strict | warn) ;; *) die "ZDTM_OWNERSHIP must be strict or warn, not '$mode'" ;; esac
[ -f "$tdir/zdtm.py" ] || die "no CRIU tree at $tree; run 'make criu' first"
[ -f "$plugin" ] || die "$plugin is missing; run 'make plugin' first"
"$py" -c 'import google.protobuf, yaml' 2>/dev/null ||
	die "$py lacks the protobuf/yaml modules zdtm needs (Debian: python3-protobuf python3-yaml)"

# ---------------------------------------------------------------------------
# Cleanup of earlier runs, and of this one on exit
# ---------------------------------------------------------------------------

# Kill what a killed run may have left behind: zdtm.py processes working in
# this tree, zdtm_ct (its pid namespace init goes with it, and with that every
# test and criu inside), and stray test processes. Only processes that belong
# to this tree's zdtm are touched, each by its pid.
kill_leftovers() {
	local p pid exe cwd t victims=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		cwd=$(readlink "$p/cwd" 2>/dev/null) || cwd=
		if [ "$exe" = "$tdir/zdtm_ct" ]; then
			victims+=("$pid")
		elif [ "$cwd" = "$tdir" ] && tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q 'zdtm\.py'; then
			victims+=("$pid")
		else
			for t in "${main_tests[@]}" "${system_tests[@]}"; do
				# Host flavor: the tree's path; ns flavors: the path
				# inside the test root (a bind mount of $tdir).
				if [ "$exe" = "$static/$t" ] || [ "$exe" = "/zdtm/static/$t" ]; then
					victims+=("$pid")
				fi
			done
		fi
	done
	[ ${#victims[@]} -gt 0 ] || return 0
	log "killing leftover zdtm processes: ${victims[*]}"
	kill -KILL "${victims[@]}" 2>/dev/null || true
	sleep 0.5
}

# Files a killed run of test $1 leaves in zdtm/static, and its dump dir.
clean_test_files() {
	local t=$1
	rm -rf "$static/$t".out "$static/$t".out.inprogress "$static/$t".outns \
		"$static/$t".pid "$static/$t".pidns "$static/$t".test \
		"$tdir/dump/zdtm/static/$t"
	case $t in
	inotify_system) rm -rf "$static/inotify" ;;
	inotify_system_nodel) rm -rf "$static/inotify.no_del" ;;
	fanotify00) rm -f "$static/fanotify-del-after-cr" ;;
	esac
}

# One zdtm run at a time per tree: parallel runs would clean up each other.
exec 9> "$tdir/.criu-notify-zdtm.lock"
flock -w 1200 9 || die "another zdtm.sh holds $tdir/.criu-notify-zdtm.lock"

# From here on this run owns the tree: whatever way it ends, take the plugin
# copy out of zdtm's plugin folder and stop the zdtm run in flight.
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

# ---------------------------------------------------------------------------
# Preparation
# ---------------------------------------------------------------------------

need_build=0
[ -f "$tdir/zdtm/lib/libzdtmtst.a" ] || need_build=1
for t in "${main_tests[@]}" "${system_tests[@]}"; do
	[ -x "$static/$t" ] || need_build=1
done
if [ "$need_build" = 1 ]; then
	log "building zdtm lib and static tests"
	make -C "$tdir/zdtm/lib" -j"${CRIU_NOTIFY_JOBS:-$(nproc)}" >&2
	make -C "$static" -j"${CRIU_NOTIFY_JOBS:-$(nproc)}" "${main_tests[@]}" "${system_tests[@]}" >&2
fi

kill_leftovers
rm -rf "${ztmp:?}"/* "$logs"/*
for t in "${main_tests[@]}" "${system_tests[@]}"; do clean_test_files "$t"; done

cp "$plugin" "$plugin_copy.tmp" && mv "$plugin_copy.tmp" "$plugin_copy"

# Flavors test $1 runs in: those its .desc allows, among the wanted ones.
test_flavors() {
	local allowed f res=()
	allowed=$("$py" -c 'import ast, sys
print(ast.literal_eval(open(sys.argv[1]).read()).get("flavor", "h ns uns"))' "$static/$1.desc")
	for f in $flavors_wanted; do
		case " $allowed " in *" $f "*) res+=("$f") ;; esac
	done
	echo "${res[*]}"
}

# ---------------------------------------------------------------------------
# Running one (test, flavor)
# ---------------------------------------------------------------------------

# The number of read(2) on this architecture, for spotting a blocked read.
case $(uname -m) in
x86_64) read_nr=0 ;;
aarch64 | riscv64) read_nr=63 ;;
*) read_nr= ;;
esac

# Pids of processes of test $1 that sit in read(2) on an inotify fd.
blocked_inotify_readers() {
	local t=$1 p nr fd rest
	[ -n "$read_nr" ] || return 0
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = "${t:0:15}" ] || continue
		[ "$(basename "$(readlink "$p/exe" 2>/dev/null)")" = "$t" ] || continue
		read -r nr fd rest < "$p/syscall" 2>/dev/null || continue
		[ "$nr" = "$read_nr" ] || continue
		[ "$(readlink "$p/fd/$((fd))" 2>/dev/null)" = "anon_inode:inotify" ] && echo "${p#/proc/}"
	done
	return 0
}

# run_zdtm TEST FLAVOR LOG [watch]: run one zdtm.py, output to LOG; returns
# zdtm.py's status. With "watch" (queued-events tests), once zdtm has sent
# SIGTERM and the test has not exited for 0.3 s, look whether it is blocked
# reading its inotify fd: the test then waits for events that were lost and
# would only be killed by zdtm after ~50 s. Such a test is killed at once and
# its pids are recorded in $blocked.
blocked=
run_zdtm() {
	local t=$1 f=$2 logf=$3 watch=${4:-} rc=0
	# fd 9 (the lock) is not passed on: leftovers of a killed run must not
	# keep the next run waiting.
	(cd "$tdir" && exec "${zdtm_env[@]}" timeout -k 10 "$run_timeout" \
		"$py" zdtm.py run -t "zdtm/static/$t" -f "$f" --keep-img always) > "$logf" 2>&1 9>&- &
	zdtm_pid=$!
	blocked=
	if [ -n "$watch" ]; then
		while kill -0 "$zdtm_pid" 2>/dev/null; do
			if [ -z "$blocked" ] && grep -qE "Wait for zdtm/static/$t\([0-9]+\) to die for 0\.4" "$logf"; then
				blocked=$(blocked_inotify_readers "$t" | tr '\n' ' ')
				if [ -n "$blocked" ]; then
					kill -KILL $blocked 2>/dev/null || true
				else
					blocked=none
				fi
			fi
			sleep 0.1
		done
	fi
	wait "$zdtm_pid" || rc=$?
	zdtm_pid=
	[ "$blocked" != none ] || blocked=
	return "$rc"
}

# zdtm's verdict for a finished run: pass, skip or fail.
zdtm_result() {
	local t=$1 logf=$2
	if grep -q "Test zdtm/static/$t PASS" "$logf"; then
		echo pass
	elif grep -q "^Skipping zdtm/static/$t " "$logf"; then
		echo skip
	else
		echo fail
	fi
}

# Where zdtm failed ("CRIU dump", "result check", ...), from its FAIL banner.
fail_step() {
	sed -n "s/^#* Test zdtm\/static\/$1 FAIL at \(.*[^ #]\) #*$/\1/p" "$2" | tail -1
}

# The dump.log / restore.log zdtm printed for the run (relative to $tdir).
zdtm_logpath() {
	sed -n "s/^=\[log\]=> \(.*\/$2\)$/\1/p" "$1" | tail -1
}

# CRIU's first real error in the run's logs (restore first, then dump),
# without the timestamp; the RLIMIT_NOFILE one is always there and harmless.
first_criu_error() {
	local f e
	for f in "$@"; do
		[ -f "$f" ] || continue
		e=$(grep -v RLIMIT_NOFILE "$f" | grep -m1 'Error (' | sed 's/^([0-9. ]*) *//') || true
		[ -z "$e" ] || { echo "$e"; return 0; }
	done
	echo "no CRIU error logged"
}

# ---------------------------------------------------------------------------
# Ownership evidence of one run
# ---------------------------------------------------------------------------

# analyze DUMP_LOG RESTORE_LOG FILES_IMG prints one line of fields:
#   loaded_dump loaded_restore owned_dump owned_restore owned_unmatched
#   img_inotify img_eventpoll img_ext criu_ids criu_lines first_criu_line
# owned_*: distinct files named by "notify_plugin: owns ..." at dump and
#   "notify_plugin: restored ..." at restore; owned_unmatched: files in one
#   set but not the other;
# img_*: file_entry types in files.img after the dump (-1: no image);
# criu_ids: distinct inotify/eventpoll files CRIU collected or restored
#   itself (its fsnotify:/epoll: restore lines; fanotify files, which the
#   plugin leaves to CRIU, are told apart through files.img); criu_lines: how
#   many such lines; first_criu_line: restore.log line number of the first.
analyze() {
	PYTHONPATH=$tree/lib "$py" - "$@" <<- 'EOF'
	import re, sys

	dump_log, restore_log, files_img = sys.argv[1:4]

	def read_lines(path):
	    try:
	        with open(path, errors="replace") as f:
	            return f.read().splitlines()
	    except OSError:
	        return []

	D, R = read_lines(dump_log), read_lines(restore_log)
	loaded = lambda L: int(any('Plugin "notify_plugin"' in l for l in L))

	def owned(L, verb):
	    rx = re.compile(r"notify_plugin: %s (inotify|eventpoll) id (\w+)" % verb)
	    return {m.groups() for l in L for m in [rx.search(l)] if m}

	od, orr = owned(D, "owns"), owned(R, "restored")

	types, counts = {}, [-1, -1, -1]
	try:
	    from pycriu import images
	    with open(files_img, "rb") as f:
	        for e in images.load(f)["entries"]:
	            types[e["id"]] = e["type"]
	    counts = [sum(1 for v in types.values() if v == k)
	              for k in ("INOTIFY", "EVENTPOLL", "EXT")]
	except Exception:
	    pass

	# CRIU's own restore of inotify (criu/fsnotify.c) and epoll
	# (criu/eventpoll.c) files, as logged by CRIU 4.1.1, 4.2.1 and criu-dev
	# (the same lines in all three).
	collected = re.compile(r"fsnotify: Collected id (0x[0-9a-f]+)")
	others = re.compile(r"fsnotify: \s*Restore 0x[0-9a-f]+ wd for"
	                    r"|fsnotify: \s*Restore inotify watch"
	                    r"|epoll: (?:Collected|Restore) eventpoll(?:-tfd)?: id (0x[0-9a-f]+)")
	ids, nlines, first = set(), 0, 0
	for n, l in enumerate(R, 1):
	    m = collected.search(l)
	    if m:
	        if types.get(int(m.group(1), 16)) == "FANOTIFY":
	            continue
	        ids.add(m.group(1))
	    else:
	        m = others.search(l)
	        if not m:
	            continue
	        if m.group(1):
	            ids.add(m.group(1))
	    nlines += 1
	    first = first or n

	print(loaded(D), loaded(R), len(od), len(orr), len(od ^ orr),
	      *counts, len(ids), nlines, first)
	EOF
}

# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------

rows=()          # report rows of the main tests
sys_rows=()      # report rows of the queued-events tests
problems=()      # reasons the run fails
warnings=()      # things worth reading that do not fail it
row_fmt="%-14s %-4s %-5s %5s %-9s %-11s %-11s %-6s %s"
sys_fmt="%-21s %-4s %-5s %5s %-9s %-6s %s"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
fmt_secs() { echo "$(($1 / 1000)).$(($1 % 1000 / 100))"; }
start_all=$(now_ms)

# Runs one (test, flavor), sets: result secs logf dlog rlog ev (analyze fields).
run_one() {
	local t=$1 f=$2 watch=${3:-} t0 dir
	logf=$logs/$t.$f.log
	clean_test_files "$t"
	t0=$(now_ms)
	run_zdtm "$t" "$f" "$logf" $watch || true
	secs=$(fmt_secs $(($(now_ms) - t0)))
	result=$(zdtm_result "$t" "$logf")
	dlog=$(zdtm_logpath "$logf" dump.log)
	rlog=$(zdtm_logpath "$logf" restore.log)
	dir=$(dirname "${dlog:-.}")
	local line
	line=$(analyze "$tdir/${dlog:-none}" "$tdir/${rlog:-none}" "$tdir/$dir/files.img") || line=
	read -r -a ev <<< "$line"
	if [ ${#ev[@]} -ne 11 ]; then
		warnings+=("$t ($f): could not analyze the logs/images of this run")
		ev=(0 0 0 0 0 -1 -1 -1 0 0 0)
	fi
	[ -n "$dlog" ] && dlog=$tdir/$dlog
	[ -n "$rlog" ] && rlog=$tdir/$rlog
	return 0
}

img_col() { [ "${ev[5]}" -ge 0 ] && echo "${ev[5]}/${ev[6]}/${ev[7]}" || echo "-"; }

for t in "${main_tests[@]}"; do
	for f in $(test_flavors "$t"); do
		log "run $t ($f)"
		run_one "$t" "$f"
		own=ok
		why=()
		case $result in
		pass) ;;
		skip)
			own=n/a
			warnings+=("$t ($f): skipped by zdtm ($(grep -m1 "^Skipping zdtm/static/$t " "$logf" | sed 's/^Skipping [^ ]* //'))")
			;;
		fail) problems+=("$t ($f): zdtm FAIL at $(fail_step "$t" "$logf"): $(first_criu_error "$rlog" "$dlog"); see $logf") ;;
		esac
		if [ "$result" != skip ]; then
			# ev: 0 loaded_d 1 loaded_r 2 own_d 3 own_r 4 unmatched 5 ify 6 ep 7 ext 8 criu_ids 9 criu_lines 10 first
			if [ -z "$dlog" ] || [ -z "$rlog" ]; then
				own=n/a     # no dump+restore happened; the FAIL above covers it
			elif [ "${ev[0]}" != 1 ] || [ "${ev[1]}" != 1 ]; then
				own=FAIL
				problems+=("$t ($f): $plugin_tag was not loaded (no 'Plugin \"$plugin_tag\"' line in dump.log/restore.log)")
			else
				if [ "${ev[9]}" != 0 ]; then
					# The plugin's own word on why it let go, if it gave one.
					hint=$(grep -m1 -iE "$plugin_tag: .*(fail|error|refus)" "$dlog" | sed 's/^([0-9. ]*) *//') || true
					why+=("CRIU restored ${ev[8]} inotify/eventpoll file(s) itself (${ev[9]} lines, first at $rlog:${ev[10]})${hint:+; dump.log: $hint}")
				fi
				[ "${ev[5]}" -le 0 ] && [ "${ev[6]}" -le 0 ] ||
					why+=("files.img still holds ${ev[5]} INOTIFY and ${ev[6]} EVENTPOLL entries for CRIU")
				[ "${ev[4]}" = 0 ] ||
					why+=("${ev[4]} file(s) owned at dump but not restored by the plugin, or the reverse (dump ${ev[2]}, restore ${ev[3]})")
				[ "${ev[7]}" -lt 0 ] || [ "${ev[2]}" = "${ev[7]}" ] ||
					why+=("the plugin owned ${ev[2]} file(s) but files.img has ${ev[7]} EXT entries")
				if [ ${#why[@]} -gt 0 ]; then
					for w in "${why[@]}"; do
						if [ "$mode" = strict ]; then
							problems+=("$t ($f): ownership: $w")
						else
							warnings+=("$t ($f): ownership: $w")
						fi
					done
					[ "$mode" = strict ] && own=FAIL || own=warn
				fi
			fi
		fi
		rows+=("$(printf "$row_fmt" "$t" "$f" "$result" "${secs}s" "${ev[2]}/${ev[3]}" "${ev[8]} (${ev[9]})" "$(img_col)" "$own" "$(dirname "${dlog#"$tdir"/}")")")
	done
done

for t in "${system_tests[@]}"; do
	for f in $(test_flavors "$t"); do
		log "run $t ($f) [queued-events test; does not fail the run]"
		run_one "$t" "$f" watch
		case $result in
		pass) diag="passes (queued events survived)" ;;
		skip) diag="skipped by zdtm" ;;
		fail)
			step=$(fail_step "$t" "$logf")
			outs=("$static/$t".out "$static/$t".out.inprogress)
			if [ -n "$blocked" ]; then
				diag="expected: queued events lost (after restore the test sat in read() on its inotify fd; killed at once)"
			elif cat "${outs[@]}" "$logf" 2>/dev/null | grep -q "Events are lost"; then
				diag="expected: queued events lost ($(cat "${outs[@]}" "$logf" 2>/dev/null | grep -o -m1 'Events are lost.*'))"
			else
				diag="UNEXPECTED failure at ${step:-?}, not the queued-events one: $(first_criu_error "$rlog" "$dlog"); see $logf"
				warnings+=("$t ($f): $diag")
			fi
			if [ -n "$dlog" ] && grep -q "$plugin_tag: .*queued events are dropped" "$dlog"; then
				diag+="; the plugin logged that it dropped queued events"
			fi
			;;
		esac
		sys_rows+=("$(printf "$sys_fmt" "$t" "$f" "$result" "${secs}s" "${ev[2]}/${ev[3]}" "${ev[8]}" "$diag")")
	done
done

total=$(fmt_secs $(($(now_ms) - start_all)))

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

{
	echo "criu-notify zdtm report ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), CRIU tree $tree)"
	echo "plugin: $plugin ($(stat -c '%y' "$plugin" | cut -d. -f1)); ownership checks: $mode; total ${total}s"
	echo
	echo "Main tests (each must pass, with the plugin owning every inotify/eventpoll file):"
	printf "$row_fmt\n" test flav result time "owned d/r" "CRIU-rst" "img i/e/ext" owner "images (in $tdir)"
	printf '%s\n' "${rows[@]}"
	echo
	echo "  owned d/r:   files the plugin logged as owned at dump / restored at restore"
	echo "  CRIU-rst:    inotify/eventpoll files CRIU restored itself (number of its log lines)"
	echo "  img i/e/ext: INOTIFY / EVENTPOLL / EXT file entries in files.img after the dump"
	if [ ${#system_tests[@]} -gt 0 ]; then
		echo
		echo "Queued-events tests (fail with CRIU alone; reported only, never fail the run):"
		printf "$sys_fmt\n" test flav result time "owned d/r" "CRIU" diagnosis
		printf '%s\n' "${sys_rows[@]}"
	fi
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
		echo "PASSED: ${#rows[@]} main runs"
	fi
} | tee "$report"

[ ${#problems[@]} -eq 0 ]
