#!/usr/bin/env bash
# `make demo`: checkpoint and restore a small program that holds an inotify
# instance and an epoll set, with plugins/notify_plugin.so loaded, and show
# that its watches still deliver events after the restore and who (the
# plugin or CRIU's own code) restored each file.
#
# Needs root, cc, a built plugin (make plugin) and CRIU (make criu).
# Exits non-zero when the restored program does not see its event.
set -euo pipefail

TOP="${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$TOP"

CRIU="${CRIU:-$(cat "$TOP/.cache/criu-path" 2>/dev/null || command -v criu || true)}"
# crit, to show the plugin's image: $CRIU_TREE, the provisioned tree, or
# the tree $CRIU was built in; the demo leaves that step out without one.
CRIU_TREE="${CRIU_TREE:-$(cat "$TOP/.cache/criu-tree" 2>/dev/null || true)}"
if [[ ! -f "$CRIU_TREE/crit/crit/__main__.py" && -n "$CRIU" ]]; then
	CRIU_TREE="$(dirname "$(dirname "$(readlink -f "$CRIU")")")"
fi
PLUGINS="$TOP/plugins" # absolute: criu chdirs into the image dir
BIN="$TOP/test/out/bin/demo"

die() { echo "demo: $*" >&2; exit 1; }
hdr() { printf '\n== %s ==\n' "$*"; }

[[ -n "$CRIU" && -x "$CRIU" ]] || die "no criu binary (run: make criu)"
[[ -f "$PLUGINS/notify_plugin.so" ]] || die "no $PLUGINS/notify_plugin.so (run: make plugin)"
[[ $(id -u) -eq 0 ]] || die "criu dump/restore needs root"

PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/criu-notify-demo.XXXXXX")"
cleanup() {
	# Kill the demo program (by its number, only if it is still ours).
	if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -q "$BIN"; then
		kill -KILL "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

IMG="$WORK/img"
RUN="$WORK/run"
OUT="$WORK/demo.out"
mkdir -p "$IMG" "$RUN" "$(dirname "$BIN")"

# Wait up to $2 seconds for file $1 to exist.
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -e "$1" ]] && return 0
		sleep 0.1
	done
	return 1
}

# Print the fdinfo of the program's inotify and epoll fds.
show_fdinfo() {
	local fd target
	for fd in /proc/"$PID"/fd/*; do
		target="$(readlink "$fd" 2>/dev/null)" || continue
		case "$target" in
		anon_inode:inotify | anon_inode:\[eventpoll\]) ;;
		*) continue ;;
		esac
		echo "fd ${fd##*/} -> $target"
		# Drop the pos/ino/mnt_id lines; shorten inotify's long file handles.
		grep -v -e '^pos:' -e '^ino:' -e '^mnt_id:' "/proc/$PID/fdinfo/${fd##*/}" |
			sed -e 's/ fhandle-bytes:.*//' -e 's/^/    /'
	done
}

# Run criu, showing its log tail on failure.
criu_run() {
	local log="$1"
	shift
	if ! "$CRIU" "$@" >"$WORK/criu.stderr" 2>&1; then
		echo "criu $1 failed; last lines of $log:"
		tail -n 15 "$IMG/$log" 2>/dev/null || cat "$WORK/criu.stderr"
		exit 1
	fi
}

hdr "build test/progs/demo.c"
cc -O2 -Wall -o "$BIN" "$TOP/test/progs/demo.c"
echo "criu:   $CRIU ($("$CRIU" --version 2>/dev/null | head -n1))"
echo "plugin: $PLUGINS/notify_plugin.so"

hdr "start"
setsid "$BIN" "$RUN" </dev/null >"$OUT" 2>&1 &
PID=$!
disown "$PID" # no "Killed" job notice when criu dump kills it; bash still reaps it
wait_for "$RUN/ready" 10 || { cat "$OUT"; die "program did not get ready"; }
PID="$(cat "$RUN/ready")" # its own getpid(), in case setsid forked
cat "$OUT"

hdr "before dump: /proc/$PID/fdinfo"
show_fdinfo

hdr "criu dump -t $PID"
criu_run dump.log dump -t "$PID" -D "$IMG" -v4 -o dump.log --lib "$PLUGINS"
# criu killed it; restore needs its pid free again (bash reaps it).
for ((i = 0; i < 50; i++)); do
	[[ -e /proc/$PID ]] || break
	sleep 0.1
done
[[ -e /proc/$PID ]] && die "pid $PID still exists after the dump"
echo "dumped to $IMG ($(ls "$IMG" | wc -l) files); process $PID gone"

hdr "criu restore -d"
criu_run restore.log restore -D "$IMG" -d -v4 -o restore.log --lib "$PLUGINS"
kill -0 "$PID" 2>/dev/null || die "restored process $PID is not running"
echo "restored pid $PID"

hdr "after restore: /proc/$PID/fdinfo"
show_fdinfo
oneshot=no
grep -q -E '^inotify wd:.* mask:8[0-9a-f]{7} ' "/proc/$PID/fdinfo/"* 2>/dev/null && oneshot=yes
echo "IN_ONESHOT (mask bit 80000000, which CRIU's own code drops) still set: $oneshot"

hdr "who restored each fd"
lines="$(grep -h -o -e 'notify_plugin: owns inotify id.*' -e 'notify_plugin: owns eventpoll id.*' \
	-e 'notify_plugin: restored inotify id.*' -e 'notify_plugin: restored eventpoll id.*' \
	"$IMG/dump.log" "$IMG/restore.log" 2>/dev/null || true)"
if [[ -n "$lines" ]]; then
	echo "$lines"
else
	echo "no notify_plugin lines: CRIU's own code dumped and restored them:"
	grep -h -E 'fsnotify:.*is restored|[Ee]ventpoll|epoll:' "$IMG/restore.log" | head -n 8 ||
		echo "(no fsnotify/eventpoll lines in restore.log)"
fi

if [[ -f "$IMG/notify-inotify.img" && -f "$CRIU_TREE/crit/crit/__main__.py" ]]; then
	hdr "crit decode notify-inotify.img (watches)"
	PYTHONPATH="$CRIU_TREE/lib:$CRIU_TREE/crit" /usr/bin/python3 -m crit decode \
		-i "$IMG/notify-inotify.img" --pretty 2>&1 |
		/usr/bin/python3 -c '
import json, sys
text = sys.stdin.read()
try:
    img = json.loads(text)
except ValueError:
    print(text[:800]); sys.exit(0)
for f in img.get("entries", []):
    print("inotify id %s flags %s: %d watch(es)" % (f.get("id"), f.get("flags"), len(f.get("wd", []))))
    for w in f.get("wd", []):
        print("    wd %s mask %s ignored_mask %s ino %s" % (w.get("wd"), w.get("mask"), w.get("ignored_mask"), w.get("i_ino")))
' || echo "(crit decode failed)"
fi

hdr "send SIGUSR1 to restored $PID"
before="$(wc -l <"$OUT")"
kill -USR1 "$PID"
# Not our child after restore -d: wait for its last line, not its exit.
for ((i = 0; i < 100; i++)); do
	grep -q '^IN_CREATE seen:' "$OUT" && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
grep -q '^IN_CREATE seen:' "$OUT" || echo "(no result line from the program after 10 s)"
tail -n +"$((before + 1))" "$OUT"

hdr "result"
if grep -q '^IN_CREATE seen: yes' "$OUT"; then
	echo "OK: the restored inotify/epoll fds still deliver events"
else
	echo "FAIL: the restored program did not see IN_CREATE for new-file"
	exit 1
fi
