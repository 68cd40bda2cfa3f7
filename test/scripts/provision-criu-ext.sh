#!/usr/bin/env bash
# A test-only CRIU that hands inotify and epoll fds to plugins through
# DUMP_EXT_FILE, to test the plugin's dump_ext_file path with real fds.
#
# Stock CRIU dumps those fds with its own code (criu/files.c, dump_one_file:
# anon inodes `inotify` and `[eventpoll]` get inotify_dump_ops and
# eventpoll_dump_ops). This copies a CRIU tree (CRIU_EXT_BASE=<tree>;
# default the provisioned one, .cache/criu-tree or `provision-criu.sh
# --tree`: CRIU 4.2.x) to <tree>-ext, changes those two lines of dump_one_file so that such fds
# take the path of unknown anon inodes, dump_unsupp_fd(), i.e. files-ext.c's
# dump_one_ext_file() -> run_plugins(DUMP_EXT_FILE, lfd, id) and an EXT
# entry in files.img, and rebuilds `criu` (only files.o changes: seconds).
# Restore needs nothing special: EXT entries go to RESTORE_EXT_FILE in any CRIU.
#
# Prints, as its last line, the path of that criu binary. Re-runs are no-ops.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CRIU_NOTIFY_CACHE:-$top/.cache}
MARK="criu-notify: ext-file test build"

log() { echo "provision-criu-ext: $*" >&2; }

BASE=${CRIU_EXT_BASE:-$(cat "$CACHE/criu-tree" 2>/dev/null || true)}
if [ -z "$BASE" ] || [ ! -f "$BASE/criu/files.c" ]; then
	log "no CRIU tree${BASE:+ at $BASE}: provisioning it (provision-criu.sh --tree)"
	BASE=$(bash "$top/test/scripts/provision-criu.sh" --tree | tail -1)
fi
BASE=${BASE%/}
[ -f "$BASE/criu/files.c" ] || { log "no CRIU tree at $BASE"; exit 1; }
DST=$BASE-ext

if [ ! -f "$DST/criu/files.c" ]; then
	log "copying $BASE to $DST"
	rm -rf "$DST.tmp"
	mkdir -p "$DST.tmp"
	# The build products come along, so only the patched file recompiles.
	tar -C "$BASE" --exclude=./test -cf - . | tar -C "$DST.tmp" -xf -
	mv "$DST.tmp" "$DST"
fi

f=$DST/criu/files.c
if ! grep -q "$MARK" "$f"; then
	log "patching $f: inotify and eventpoll fds -> dump_unsupp_fd (DUMP_EXT_FILE)"
	sed -i "/^static int dump_one_file(/,/^}/{
s|^\(\t*\)ops = &eventpoll_dump_ops;|\1return dump_unsupp_fd(\&p, lfd, \"anon\", link, e); /* $MARK */|
s|^\(\t*\)ops = &inotify_dump_ops;|\1return dump_unsupp_fd(\&p, lfd, \"anon\", link, e); /* $MARK */|
}" "$f"
	n=$(grep -c "$MARK" "$f" || true)
	[ "$n" = 2 ] || { log "expected 2 patched lines in $f, found $n (CRIU changed dump_one_file?)"; exit 1; }
fi

bin=$DST/criu/criu
if [ ! -x "$bin" ] || [ "$f" -nt "$bin" ]; then
	log "building criu in $DST"
	make -C "$DST" -j"${CRIU_NOTIFY_JOBS:-$(nproc)}" criu >&2
fi
"$bin" --version >/dev/null || { log "$bin does not run"; exit 1; }
echo "$bin"
