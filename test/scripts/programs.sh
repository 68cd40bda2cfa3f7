#!/usr/bin/env bash
# `make test-programs`: checkpoint and restore programs people actually run,
# with the plugin loaded, and show that each one still does its job after the
# restore and that the plugin, not CRIU's own code, checkpointed and restored
# every inotify and epoll fd it has.
#
# Programs (Debian packages, installed with apt-get when missing):
#   nginx      master + 2 workers (`daemon off;` under setsid), listening on
#              127.0.0.1; answers HTTP after the restore, also for a file
#              created after it. Epoll in every worker.
#   redis      redis-server (in-memory, no persistence): SET before the dump,
#              GET after the restore, over a new connection and over a
#              connection held open across the checkpoint (this one needs
#              --tcp-established; CRIU locks it with iptables meanwhile).
#   inotifywait  inotify-tools' `inotifywait -r -m` over 1111 directories;
#              reports a file created after the restore, and one created in
#              a directory made after the restore (its recursive watching).
#   watchdog   python3-watchdog's InotifyObserver (recursive) in a small
#              Python script; reports files created after the restore.
#   node       node: fs.watch plus an HTTP server on 127.0.0.1 that answers
#              with the events fs.watch saw; after the restore it answers
#              and reports a file created after the restore. Needs `node`
#              on PATH (Debian's nodejs is installed when there is none).
#
# Each program: start it in its own session, wait until it is ready, check
# it works, snapshot /proc/PID/fdinfo of its inotify/epoll fds, `criu dump -t
# <root> -D img --lib <plugins> -v4 -o dump.log` (plus --tcp-established for
# redis), wait until every pid of the tree is gone, `criu restore -d -D img
# --lib <plugins> -v4 -o restore.log` (same extra option), check it still
# does its job, then kill it. Listening sockets need no option; nothing
# needs --shell-job (no terminal: stdin is /dev/null, output goes to files).
#
# Ownership checks for each program, from the logs and images:
#   * dump.log: every inotify/eventpoll file CRIU dumped (its own
#     "fsnotify: id" / "epoll: Dumping eventpoll: id" lines) has a
#     `notify_plugin: owns ... id N` line, and at least one does;
#   * restore.log: a `notify_plugin: restored ... id N` line for each of
#     them, and no line of CRIU's own inotify/epoll restore code;
#   * files.img (decoded with CRIU's crit): no INOTIFY or EVENTPOLL entry,
#     an EXT entry for each owned id;
#   * /proc/PID/fdinfo of every inotify/epoll fd of every process is the same
#     after the restore as before the dump (watches: wd, mask, inode, handle;
#     registrations: fd, events, data), except the inode numbers of epoll
#     targets (sockets and eventfds are new objects after a restore).
#
# When a program fails with the plugin, the same program is run again
# without it (an empty --lib directory): if it fails the same way, that is
# CRIU's or the program's problem, not the plugin's, and it is reported as
# SKIP with the reason (see README "Programs: caveats"); otherwise FAIL.
#
# Output: one PASS/FAIL/SKIP line per program and "N passed, N failed,
# N skipped"; exit status non-zero when one failed. Logs and images stay in
# test/out/programs/<program>/ (img/dump.log, img/restore.log, the
# program's own logs); the summary also goes to test/out/programs.txt.
#
# Environment:
#   CRIU=path             criu binary (default: .cache/criu-path); must be
#                         >= 4.2 for the TCP programs (CRIU 4.1 cannot dump
#                         TCP sockets on recent kernels: they become SKIPs)
#   PROGRAMS="nginx redis" run a subset
#   PROGRAMS_NO_INSTALL=1  do not apt-get install; missing programs are SKIPs
#
# Needs root. The CRIU source tree (for crit) is derived from the criu path:
# <tree>/criu/criu -> <tree>.
set -euo pipefail

TOP="${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$TOP"

OUT="$TOP/test/out/programs"
BIN="$TOP/test/out/bin"
PLUGINS="$TOP/plugins" # absolute: criu chdirs into the image dir
NOLIB="$OUT/empty-lib"
REPORT="$TOP/test/out/programs.txt"
PY=/usr/bin/python3 # Debian's, with python3-watchdog (not a pyenv shim)
ALL_PROGRAMS=(nginx redis inotifywait watchdog node)

say() { echo "programs: $*" >&2; }
die() {
	say "$*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (criu does)"
[[ -f "$PLUGINS/notify_plugin.so" ]] || die "no $PLUGINS/notify_plugin.so (run: make plugin)"

# Processes `criu restore -d` leaves behind are re-parented to the nearest
# subreaper: make it this shell (bash reaps whatever child it gets), so
# killed programs do not stay zombies holding their pids (pid 1 here reaps
# orphans only every few seconds).
if [[ -z "${PROGRAMS_REAPED:-}" ]]; then
	mkdir -p "$BIN"
	cc -O2 -Wall -o "$BIN/bench_reaper" "$TOP/test/progs/bench_reaper.c"
	PROGRAMS_REAPED=1 exec "$BIN/bench_reaper" bash "${BASH_SOURCE[0]}" "$@"
fi

CRIU="${CRIU:-$(cat "$TOP/.cache/criu-path" 2>/dev/null || command -v criu || true)}"
[[ -n "$CRIU" ]] || die "no criu (run: make criu, or set CRIU=)"
CRIU="$(readlink -f "$CRIU")"
[[ -x "$CRIU" ]] || die "$CRIU is not executable"
CRIU_TREE="$(dirname "$(dirname "$CRIU")")"
if [[ -f "$CRIU_TREE/crit/crit/__main__.py" && -d "$CRIU_TREE/lib/pycriu" ]]; then
	CRIT=(env PYTHONPATH="$CRIU_TREE/lib:$CRIU_TREE/crit" "$PY" -m crit)
elif command -v crit >/dev/null; then
	CRIT=(crit)
else
	die "no crit: neither $CRIU_TREE/crit nor crit on PATH"
fi
read -r -a PROGS <<<"${PROGRAMS:-${ALL_PROGRAMS[*]}}"

# criu must not see plugin settings of the caller (e.g. CRIU_NOTIFY_QUEUED),
# nor a machine-wide /etc/criu/notify-plugin.conf.
for v in $(compgen -e); do
	[[ $v == CRIU_NOTIFY_* && $v != CRIU_NOTIFY_TOP ]] && unset "$v"
done
unset CRIU_LIBS_DIR
export CRIU_NOTIFY_CONFIG="$OUT/no-notify-plugin.conf"

T0=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- packages ---------------------------------------------------------------
# Debian package -> the command it provides.
declare -A PKG_CMD=([nginx]=nginx [redis-server]=redis-server [redis-tools]=redis-cli
	[inotify-tools]=inotifywait [python3-watchdog]= [curl]=curl)
declare -A NEEDS=([nginx]="nginx curl" [redis]="redis-server redis-tools"
	[inotifywait]="inotify-tools" [watchdog]="python3-watchdog" [node]="curl")
have_pkg() {
	if [[ $1 == python3-watchdog ]]; then
		"$PY" -c 'import watchdog.observers.inotify' 2>/dev/null
	else
		command -v "${PKG_CMD[$1]}" >/dev/null
	fi
}
missing=()
for p in "${PROGS[@]}"; do
	[[ -n "${NEEDS[$p]+x}" ]] || die "unknown program '$p' (known: ${ALL_PROGRAMS[*]})"
	for pkg in ${NEEDS[$p]}; do
		have_pkg "$pkg" || missing+=("$pkg")
	done
	[[ $p == node ]] && ! command -v node >/dev/null && missing+=(nodejs)
done
if ((${#missing[@]})) && [[ -z "${PROGRAMS_NO_INSTALL:-}" ]]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	say "apt-get install ${missing[*]}"
	apt-get update -qq >&2 || say "apt-get update failed; trying the install anyway"
	# policy-rc.d or not: never let a package start its service for us.
	DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		say "apt-get install failed; programs without their packages are skipped"
fi
T_PKGS=$(date +%s.%N)

# --- bookkeeping and cleanup --------------------------------------------------
mkdir -p "$OUT" "$NOLIB"
# Every pid we ever saw in a program's tree, with its start time, so that
# cleanup kills only those very processes (never a reused pid).
declare -A SEEN=()
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
remember() {
	local p st
	for p in "$@"; do
		st=$(starttime "$p") || continue
		[[ -n $st ]] && SEEN[$p]=$st
	done
	return 0
}
still_ours() { [[ -n "${SEEN[$1]:-}" && "$(starttime "$1")" == "${SEEN[$1]}" ]]; }
pgid() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f3; }
kill_seen() {
	local p
	# Whole process groups first (each program runs in its own session,
	# its root leads the group): one kill reaches every member at once, so
	# an nginx master cannot fork a new worker for one killed before it.
	for p in "${!SEEN[@]}"; do
		still_ours "$p" && [[ "$(pgid "$p")" == "$p" ]] && { kill -KILL -- "-$p" 2>/dev/null || true; }
	done
	for p in "${!SEEN[@]}"; do
		still_ours "$p" && { kill -KILL "$p" 2>/dev/null || true; }
		unset "SEEN[$p]"
	done
	return 0
}
cleanup() {
	local rc=$?
	set +e
	kill_seen
	unlock_held
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The process tree below $1 (itself first), from /proc/PID/task/*/children.
tree_pids() {
	local p=$1 t c
	[[ -e /proc/$p ]] || return 0
	echo "$p"
	for t in /proc/"$p"/task/*/children; do
		for c in $(cat "$t" 2>/dev/null); do tree_pids "$c"; done
	done
}
wait_gone() { # pids...: wait until none exists (up to 20 s)
	local p i
	for ((i = 0; i < 400; i++)); do
		for p in "$@"; do [[ -e /proc/$p ]] && break; done
		[[ -e /proc/$p ]] || return 0
		sleep 0.05
	done
	return 1
}
wait_for() { # seconds command...: poll every 0.1 s
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a port nobody listens on, from a random start
	local p=$((20000 + RANDOM % 20000)) i
	for ((i = 0; i < 100; i++, p++)); do
		port_free "$p" && ! ss -Htan "sport = :$p" | grep -q . && { echo "$p"; return 0; }
	done
	return 1
}

# Inotify and epoll fds of a tree, with their fdinfo, as one comparable text.
# The inode number and device of epoll targets are dropped: sockets and
# eventfds are new objects after a restore.
notify_snapshot() {
	local p fd link
	for p in $(printf '%s\n' "$@" | sort -n); do
		for fd in $(ls /proc/"$p"/fd 2>/dev/null | sort -n); do
			link=$(readlink "/proc/$p/fd/$fd" 2>/dev/null) || continue
			case $link in
			anon_inode:inotify | "anon_inode:[eventpoll]")
				echo "pid $p fd $fd $link"
				sed -E -e 's/^(tfd:.*) ino:[0-9a-f]+ sdev:[0-9a-f]+$/\1/' -e 's/^/  /' \
					"/proc/$p/fdinfo/$fd" 2>/dev/null | sort
				;;
			esac
		done
	done
}
count_notify() { # "<inotify fds> <epoll fds>" of the snapshot text on stdin
	awk '/ anon_inode:inotify$/ { i++ } / anon_inode:\[eventpoll\]$/ { e++ } END { printf "%d %d\n", i, e }'
}

# Ownership: reads dump.log, restore.log and files.img of one image dir and
# prints "ok <summary>" or "bad <reason>".
ownership() {
	"$PY" - "$1" "${CRIT[@]}" <<-'EOF'
		import json, re, subprocess, sys
		img, crit = sys.argv[1], sys.argv[2:]
		def lines(name):
		    try:
		        return open(f"{img}/{name}", errors="replace").read().splitlines()
		    except OSError:
		        return []
		D, R = lines("dump.log"), lines("restore.log")
		def ids(L, rx):
		    r = re.compile(rx)
		    return {(m.group(1), int(m.group(2), 0)) for l in L for m in [r.search(l)] if m}
		owned = ids(D, r"notify_plugin: owns (inotify|eventpoll) id (\w+)")
		restored = ids(R, r"notify_plugin: restored (inotify|eventpoll) id (\w+)")
		criu = ({("inotify", i) for _, i in ids(D, r"()fsnotify: id (0x[0-9a-f]+)")} |
		        {("eventpoll", i) for _, i in ids(D, r"()epoll: Dumping eventpoll: id (0x[0-9a-f]+)")})
		own_rst = [l for l in R if "notify_plugin" not in l and
		           re.search(r"fsnotify: |epoll: |fsnotify\.c:|eventpoll\.c:", l)]
		bad = []
		if not owned:
		    bad.append("dump.log has no 'notify_plugin: owns' line")
		if criu - owned:
		    bad.append(f"CRIU dumped {sorted(criu - owned)} that the plugin did not take over")
		if restored != owned:
		    bad.append(f"owned at dump {sorted(owned)} but restored {sorted(restored)}")
		if own_rst:
		    bad.append(f"{len(own_rst)} lines of CRIU's own inotify/epoll restore, first: {own_rst[0].strip()}")
		try:
		    out = subprocess.run(crit + ["decode", "-i", f"{img}/files.img"],
		                         capture_output=True, text=True, check=True).stdout
		    types = {e["id"]: e["type"] for e in json.loads(out)["entries"]}
		except Exception as e:
		    types = None
		    bad.append(f"crit decode files.img failed: {e}")
		if types is not None:
		    left = sorted(t for t in types.values() if t in ("INOTIFY", "EVENTPOLL"))
		    if left:
		        bad.append(f"files.img still has {len(left)} {'/'.join(sorted(set(left)))} entries")
		    not_ext = sorted(i for _, i in owned if types.get(i) != "EXT")
		    if not_ext:
		        bad.append(f"owned ids {not_ext} are not EXT in files.img")
		ni = sum(1 for k, _ in owned if k == "inotify")
		ne = len(owned) - ni
		def total(word):
		    r = re.compile(r"notify_plugin: owns \w+ id \w+ \(.*\): (\d+) " + word)
		    return sum(int(m.group(1)) for l in D for m in [r.search(l)] if m)
		ext = sum(1 for t in (types or {}).values() if t == "EXT")
		if bad:
		    print("bad " + "; ".join(bad))
		else:
		    print(f"ok plugin owned and restored {ni} inotify ({total('watches')} watches) + {ne} eventpoll "
		          f"({total('registrations')} registrations) files; files.img: 0 INOTIFY/EVENTPOLL, {ext} EXT")
	EOF
}

# --- one checkpoint/restore cycle -------------------------------------------
# Each program defines:
#   <prog>_start DIR          start it (setsid, output into DIR); sets ROOT
#   <prog>_ready DIR          true once it is ready
#   <prog>_before DIR         its job, before the dump (sets up state)
#   <prog>_after DIR          its job after the restore; on failure sets WHY
#   <prog>_opts               extra criu options (dump and restore), if any
# Sets STEP (where it failed) and WHY on failure.
STEP= WHY= DETAIL=
cycle() {
	local prog=$1 lib=$2 dir=$3 pids snap_before snap_after own counts opts=()
	STEP= WHY= DETAIL= ROOT=
	rm -rf "$dir"
	mkdir -p "$dir/img"
	if declare -F "${prog}_opts" >/dev/null; then read -r -a opts <<<"$("${prog}_opts")"; fi

	STEP=start
	"${prog}_start" "$dir" || { WHY=${WHY:-could not start}; return 1; }
	remember "$ROOT"
	if ! wait_for 20 "${prog}_ready" "$dir"; then
		WHY="not ready within 20 s"
		return 1
	fi
	mapfile -t pids < <(tree_pids "$ROOT")
	remember "${pids[@]}"
	STEP=before
	"${prog}_before" "$dir" || { WHY=${WHY:-its job failed before the dump}; return 1; }
	mapfile -t pids < <(tree_pids "$ROOT")
	remember "${pids[@]}"
	snap_before=$(notify_snapshot "${pids[@]}")
	echo "$snap_before" >"$dir/fdinfo-before.txt"
	counts=$(count_notify <<<"$snap_before")

	STEP=dump
	if ! timeout -k 5 60 "$CRIU" dump --no-default-config -t "$ROOT" -D "$dir/img" --lib "$lib" \
		-v4 -o dump.log "${opts[@]}" >"$dir/criu-dump.out" 2>&1; then
		WHY="criu dump failed: $(first_error "$dir/img/dump.log" "$dir/criu-dump.out")"
		return 1
	fi
	if ! wait_gone "${pids[@]}"; then
		WHY="dumped processes still present after 20 s"
		return 1
	fi

	STEP=restore
	if ! timeout -k 5 60 "$CRIU" restore --no-default-config -d -D "$dir/img" --lib "$lib" \
		-v4 -o restore.log "${opts[@]}" >"$dir/criu-restore.out" 2>&1; then
		WHY="criu restore failed: $(first_error "$dir/img/restore.log" "$dir/criu-restore.out")"
		return 1
	fi
	remember "${pids[@]}"
	# Before the program's job changes anything (connections, new watches).
	mapfile -t pids < <(tree_pids "$ROOT")
	snap_after=$(notify_snapshot "${pids[@]}")
	echo "$snap_after" >"$dir/fdinfo-after.txt"

	STEP=after
	if ! "${prog}_after" "$dir"; then
		WHY=${WHY:-its job failed after the restore}
		return 1
	fi

	if [[ $lib == "$PLUGINS" ]]; then
		STEP=ownership
		own=$(ownership "$dir/img")
		if [[ $own != ok* ]]; then
			WHY=${own#bad }
			return 1
		fi
		if [[ $snap_before != "$snap_after" ]]; then
			WHY="fdinfo of the inotify/epoll fds changed: diff $dir/fdinfo-before.txt $dir/fdinfo-after.txt: $(diff <(echo "$snap_before") <(echo "$snap_after") | grep -m1 '^[<>]')"
			return 1
		fi
		read -r ni ne <<<"$counts"
		DETAIL="${own#ok }; fdinfo of $ni inotify + $ne epoll fds identical"
	fi
	STEP=done
	return 0
}

first_error() { # log stdout: CRIU's first error line, else the tail of stdout
	local l
	# (CRIU logs "Can't setup RLIMIT_NOFILE for self" in every run here: harmless.)
	l=$(grep -E 'Error \(|Error:|notify_plugin: .*(error|fail)' "$1" 2>/dev/null | grep -v 'RLIMIT_NOFILE for self' |
		head -n1 | sed 's/^([0-9. ]*) *//') || true
	[[ -n $l ]] || l=$(tail -n1 "$2" 2>/dev/null)
	echo "${l:-no error line}"
}

stop_program() {
	local pids
	[[ -n "${ROOT:-}" ]] || return 0
	mapfile -t pids < <(tree_pids "$ROOT")
	remember "${pids[@]}"
	kill_seen
	wait_gone "${pids[@]}" || true
}

# --- nginx ------------------------------------------------------------------
nginx_start() {
	local d=$1
	NGINX_PORT=$(free_port) || return 1
	mkdir -p "$d/www"
	echo "hello from nginx" >"$d/www/index.html"
	# user root: workers keep uid 0 (CRIU, without CAP_SYS_RESOURCE, cannot
	# read the rlimits of a task of another uid).
	cat >"$d/nginx.conf" <<-EOF
		daemon off;
		master_process on;
		worker_processes 2;
		user root;
		pid $d/nginx.pid;
		error_log $d/error.log info;
		events { worker_connections 64; }
		http {
		    access_log $d/access.log;
		    client_body_temp_path $d/tmp-body;
		    proxy_temp_path $d/tmp-proxy;
		    fastcgi_temp_path $d/tmp-fastcgi;
		    uwsgi_temp_path $d/tmp-uwsgi;
		    scgi_temp_path $d/tmp-scgi;
		    server { listen 127.0.0.1:$NGINX_PORT; root $d/www; }
		}
	EOF
	setsid nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" </dev/null >"$d/nginx.out" 2>&1 &
	ROOT=$!
	disown
}
nginx_workers() { [[ $(tree_pids "$ROOT" | wc -l) -ge 3 ]]; }
nginx_ready() { nginx_workers && curl -fsS -m 2 "http://127.0.0.1:$NGINX_PORT/" >/dev/null; }
nginx_before() { [[ "$(curl -fsS -m 2 "http://127.0.0.1:$NGINX_PORT/")" == "hello from nginx" ]]; }
nginx_after() {
	local d=$1 got
	echo "written after the restore" >"$d/www/new.html"
	nginx_workers || { WHY="fewer than 2 workers after the restore"; return 1; }
	# Several requests: both workers share the listening socket.
	for _ in 1 2 3 4; do
		got=$(curl -fsS -m 3 "http://127.0.0.1:$NGINX_PORT/") || { WHY="GET / after the restore failed"; return 1; }
		[[ $got == "hello from nginx" ]] || { WHY="GET / answered '$got'"; return 1; }
	done
	got=$(curl -fsS -m 3 "http://127.0.0.1:$NGINX_PORT/new.html") || { WHY="GET /new.html failed"; return 1; }
	[[ $got == "written after the restore" ]] || { WHY="GET /new.html answered '$got'"; return 1; }
}

# --- redis ------------------------------------------------------------------
# The held connection is this shell's fd 7 (bash /dev/tcp): opened and used
# before the dump, used again after the restore. Its other end, in
# redis-server, is an established TCP socket: --tcp-established.
redis_opts() { echo --tcp-established; }
redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_start() {
	local d=$1
	REDIS_PORT=$(free_port) || return 1
	setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize no --save '' \
		--appendonly no --dir "$d" --logfile "$d/redis.log" --protected-mode no \
		</dev/null >"$d/redis.out" 2>&1 &
	ROOT=$!
	disown
}
redis_ready() { [[ "$(redis_cli ping)" == PONG ]]; }
held_cmd() { # send one inline command on fd 7 and read the reply
	local line
	printf '%s\r\n' "$1" >&7 || return 1
	IFS= read -r -t 5 line <&7 || return 1
	line=${line%$'\r'}
	if [[ $line == \$* && $line != '$-1' ]]; then
		IFS= read -r -t 5 line <&7 || return 1
		line=${line%$'\r'}
	fi
	echo "$line"
}
unlock_held() { exec 7>&-; }
redis_before() {
	[[ "$(redis_cli set fruit banana)" == OK ]] || { WHY="SET failed"; return 1; }
	exec 7<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || { WHY="cannot connect"; return 1; }
	[[ "$(held_cmd 'SET held before-dump')" == +OK ]] || { WHY="SET on the held connection failed"; return 1; }
}
redis_after() {
	local got
	got=$(redis_cli get fruit) || { WHY="GET over a new connection failed"; return 1; }
	[[ $got == banana ]] || { WHY="GET fruit answered '$got'"; return 1; }
	got=$(held_cmd 'GET held') || { WHY="no answer on the connection held across the checkpoint"; return 1; }
	[[ $got == before-dump ]] || { WHY="GET held answered '$got' on the held connection"; return 1; }
	[[ "$(held_cmd 'SET after restored')" == +OK ]] || { WHY="SET on the held connection failed"; return 1; }
	[[ "$(redis_cli get after)" == restored ]] || { WHY="a value set after the restore is not there"; return 1; }
	unlock_held
}

# --- inotifywait -r -m over 1111 directories --------------------------------
inotifywait_start() {
	local d=$1
	mkdir -p "$d/tree"
	(cd "$d/tree" && mkdir -p d{0..9}/e{0..9}/f{0..9})
	setsid inotifywait -r -m -e create -e moved_to --format '%w%f %e' -o "$d/events.log" "$d/tree" \
		</dev/null >"$d/inotifywait.out" 2>&1 &
	ROOT=$!
	disown
}
inotifywait_ready() { grep -q 'Watches established' "$1/inotifywait.out"; }
seen() { grep -qxF "$2" "$1"; }
inotifywait_before() {
	local d=$1
	touch "$d/tree/d1/e2/f3/before"
	wait_for 5 seen "$d/events.log" "$d/tree/d1/e2/f3/before CREATE" || { WHY="no event for a file before the dump"; return 1; }
}
inotifywait_after() {
	local d=$1
	touch "$d/tree/d9/e8/f7/after"
	wait_for 5 seen "$d/events.log" "$d/tree/d9/e8/f7/after CREATE" ||
		{ WHY="no event for a file created after the restore"; return 1; }
	mkdir "$d/tree/d0/new"
	wait_for 5 seen "$d/events.log" "$d/tree/d0/new CREATE,ISDIR" ||
		{ WHY="no event for a directory created after the restore"; return 1; }
	# inotifywait adds its watch on the new directory once it saw the event.
	sleep 0.3
	touch "$d/tree/d0/new/inside"
	wait_for 5 seen "$d/events.log" "$d/tree/d0/new/inside CREATE" ||
		{ WHY="no event in a directory made after the restore (recursive watch not added)"; return 1; }
}

# --- python3-watchdog -------------------------------------------------------
watchdog_start() {
	local d=$1
	mkdir -p "$d/watched/sub"
	cat >"$d/watch.py" <<-'EOF'
		import sys, time
		from watchdog.observers.inotify import InotifyObserver
		from watchdog.events import FileSystemEventHandler
		root, log = sys.argv[1], sys.argv[2]
		class Log(FileSystemEventHandler):
		    def on_created(self, e):
		        with open(log, "a") as f:
		            f.write(f"created {e.src_path}\n")
		obs = InotifyObserver()
		obs.schedule(Log(), root, recursive=True)
		obs.start()
		open(log + ".ready", "w").close()
		while True:
		    time.sleep(3600)
	EOF
	setsid "$PY" "$d/watch.py" "$d/watched" "$d/events.log" </dev/null >"$d/watch.out" 2>&1 &
	ROOT=$!
	disown
}
watchdog_ready() { [[ -e "$1/events.log.ready" ]]; }
watchdog_before() {
	touch "$1/watched/sub/before"
	wait_for 5 seen "$1/events.log" "created $1/watched/sub/before" || { WHY="no event before the dump"; return 1; }
}
watchdog_after() {
	local d=$1
	touch "$d/watched/after"
	wait_for 5 seen "$d/events.log" "created $d/watched/after" || { WHY="no event for a file created after the restore"; return 1; }
	touch "$d/watched/sub/after2"
	wait_for 5 seen "$d/events.log" "created $d/watched/sub/after2" || { WHY="no event in a subdirectory after the restore"; return 1; }
}

# --- node: fs.watch + HTTP server -------------------------------------------
node_start() {
	local d=$1
	NODE_PORT=$(free_port) || return 1
	mkdir -p "$d/watched"
	cat >"$d/server.js" <<-'EOF'
		const fs = require("fs"), http = require("http");
		const [dir, port, ready] = process.argv.slice(2);
		const events = [];
		fs.watch(dir, (type, name) => events.push(`${type} ${name}`));
		http.createServer((req, res) => res.end(events.join("\n") + "\n"))
		    .listen(Number(port), "127.0.0.1", () => fs.writeFileSync(ready, ""));
	EOF
	setsid node "$d/server.js" "$d/watched" "$NODE_PORT" "$d/ready" </dev/null >"$d/node.out" 2>&1 &
	ROOT=$!
	disown
}
node_ready() { [[ -e "$1/ready" ]]; }
node_reports() { curl -fsS -m 2 "http://127.0.0.1:$NODE_PORT/" | grep -qxF "$1"; }
node_before() {
	touch "$1/watched/before"
	wait_for 5 node_reports "rename before" || { WHY="no event reported before the dump"; return 1; }
}
node_after() {
	curl -fsS -m 3 "http://127.0.0.1:$NODE_PORT/" >/dev/null || { WHY="no HTTP answer after the restore"; return 1; }
	node_reports "rename before" || { WHY="the event list from before the dump is gone"; return 1; }
	touch "$1/watched/after"
	wait_for 5 node_reports "rename after" || { WHY="no event reported for a file created after the restore"; return 1; }
	echo x >>"$1/watched/after"
	wait_for 5 node_reports "change after" || { WHY="no change event after the restore"; return 1; }
}

# --- run --------------------------------------------------------------------
prog_available() {
	local pkg
	for pkg in ${NEEDS[$1]}; do have_pkg "$pkg" || return 1; done
	[[ $1 != node ]] || command -v node >/dev/null
}

criu_version=$("$CRIU" --version | awk '/^Version/ { print $2 }')
# Older CRIU rejects the plugin's descriptor: every program would "fail
# without the plugin too" and the run would pass on SKIPs alone.
[[ $(printf '%s\n' 4.1 "$criu_version" | sort -V | head -n1) == 4.1 ]] ||
	die "criu $criu_version ($CRIU) is older than 4.1, which the plugin needs; set CRIU= or run make criu"
say "criu $criu_version ($CRIU), plugin $PLUGINS/notify_plugin.so; out: $OUT"
rows=() passed=0 failed=0 skipped=0
for prog in "${PROGS[@]}"; do
	t=$(date +%s.%N)
	dir="$OUT/$prog"
	if ! prog_available "$prog"; then
		line="SKIP $prog: not installed (needs ${NEEDS[$prog]}$([[ $prog == node ]] && echo ' and node'))"
		skipped=$((skipped + 1))
	elif cycle "$prog" "$PLUGINS" "$dir"; then
		stop_program
		line="PASS $prog ($(secs "$t") s): $DETAIL"
		passed=$((passed + 1))
	else
		stop_program
		step=$STEP why=$WHY
		unlock_held
		# Same failure without the plugin? Then it is not the plugin's.
		say "$prog failed at $step ($why); running it again without the plugin"
		if cycle "$prog" "$NOLIB" "$OUT/$prog-noplugin"; then
			stop_program
			line="FAIL $prog ($(secs "$t") s) at $step: $why [passes without the plugin; see $dir]"
			failed=$((failed + 1))
		else
			stop_program
			if [[ $STEP == "$step" ]]; then
				line="SKIP $prog: fails without the plugin too, at $step: $WHY (README: Programs, caveats)"
				skipped=$((skipped + 1))
			else
				line="FAIL $prog ($(secs "$t") s) at $step: $why [without the plugin it fails elsewhere, at $STEP: $WHY]"
				failed=$((failed + 1))
			fi
		fi
		unlock_held
	fi
	echo "$line"
	rows+=("$line")
done
summary="$passed passed, $failed failed, $skipped skipped"
echo "$summary (criu $criu_version; $(secs "$T_PKGS") s, packages $(awk -v a="$T0" -v b="$T_PKGS" 'BEGIN { printf "%.1f", b - a }') s)"
{
	echo "criu-notify programs report ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), criu $criu_version $CRIU)"
	printf '%s\n' "${rows[@]}"
	echo "$summary"
} >"$REPORT"
[[ $failed -eq 0 ]]
