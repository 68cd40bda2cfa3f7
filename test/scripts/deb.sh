#!/usr/bin/env bash
# The Debian package criu-notify.
#
#   deb.sh build   (make deb)       stage and build target/debian/criu-notify_<version>_<arch>.deb
#                                   from plugins/notify_plugin.so (make plugin)
#   deb.sh test    (make test-deb)  install that package, check that plain
#                                   `criu` (no --lib, no CRIU_LIBS_DIR) loads the
#                                   plugin from /usr/lib/criu and that a dump and
#                                   restore of test/progs/demo.c work with it;
#                                   remove it (the conffile stays), purge it
#                                   (nothing of it stays)
#
# The package holds:
#   /usr/lib/criu/notify_plugin.so          CRIU's default plugin directory
#   /etc/criu/notify-plugin.conf            conffile; every setting commented out
#   /usr/share/doc/criu-notify/README.md
#   /usr/share/doc/criu-notify/copyright    machine-readable (DEP-5), MIT
# Version from Cargo.toml, architecture from dpkg --print-architecture. It
# Recommends criu (>= 4.1): Debian 12's criu 3.17 does not work on current
# kernels, and a working CRIU may come from elsewhere (a build in
# /usr/local), so it is no hard dependency.
#
# The test needs root. It puts back whatever was at /usr/lib/criu/notify_plugin.so
# and /etc/criu/notify-plugin.conf before it started (other tests install the
# plugin there too), and purges the package at exit, also on failure.
set -euo pipefail

TOP="${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$TOP"

PKG=criu-notify
PLUGIN="$TOP/plugins/notify_plugin.so"
OUTDIR="$TOP/target/debian"
VERSION="$(awk -F'"' '/^\[/ { pkg = ($0 == "[package]") } pkg && /^version *=/ { print $2; exit }' Cargo.toml)"
ARCH="$(dpkg --print-architecture)"
DEB="$OUTDIR/${PKG}_${VERSION}_${ARCH}.deb"
MAINTAINER="${DEB_MAINTAINER:-criu-notify maintainers <root@localhost>}"

say() { printf 'deb: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# The example config: every key of src/config.rs, commented out, with its default.
write_conf() {
	cat <<'EOF'
# criu-notify: settings of the CRIU plugin /usr/lib/criu/notify_plugin.so.
#
# Read by the plugin inside every criu run (criu dump/restore, and criu swrk
# as runc, podman, containerd and CRI-O start it). One `key = value` per line;
# `#` starts a comment. An environment variable CRIU_NOTIFY_<KEY> (upper case)
# wins over the key here; CRIU_NOTIFY_CONFIG=/other/file names another file
# (runc passes its environment to criu; podman does not).
# Every setting below is commented out: the values shown are the defaults.

# Inotify events queued but not read at dump: `drop` dumps anyway and logs
# how many bytes are dropped per fd; `refuse` fails the dump before anything
# is written (the tasks keep running).
#queued = drop

# At restore, when the dumped path now leads to another object on the same
# filesystem (replaced while checkpointed): `no` fails the restore, `yes`
# watches the object now at that path.
#follow_paths = no

# Seconds the plugin may hold the tasks, for the takeover at dump end (tasks
# frozen) and for the late pass of restore (tasks stopped), each. Past it a
# dump goes on with CRIU's own images; a restore fails.
#deadline = 5
EOF
}

write_copyright() {
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: criu-notify
Comment: The CRIU plugin API header it builds against (criu-headers/) is
 CRIU's criu-plugin.h, LGPL-2.1; the built plugin links no CRIU code.

Files: *
Copyright: criu-notify contributors
License: MIT

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
}

# libc6 (>= the newest GLIBC_x.y symbol version the plugin needs).
libc_dep() {
	local v
	v="$(objdump -T "$PLUGIN" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -u -V | tail -n1)"
	if [[ -n "$v" ]]; then echo "libc6 (>= $v)"; else echo "libc6"; fi
}

build() {
	[[ -f "$PLUGIN" ]] || die "no $PLUGIN (run: make plugin)"
	[[ -n "$VERSION" ]] || die "no version in Cargo.toml"
	local st="$OUTDIR/stage" size
	rm -rf "$st"
	mkdir -p "$st/DEBIAN" "$st/usr/lib/criu" "$st/etc/criu" "$st/usr/share/doc/$PKG"
	# The release profile keeps line tables (debug = 1): not for the package.
	# strip keeps the dynamic symbols CRIU looks up (CR_PLUGIN_DESC, hooks).
	install -m 0644 "$PLUGIN" "$st/usr/lib/criu/notify_plugin.so"
	strip --strip-debug "$st/usr/lib/criu/notify_plugin.so"
	write_conf >"$st/etc/criu/notify-plugin.conf"
	chmod 0644 "$st/etc/criu/notify-plugin.conf"
	install -m 0644 README.md "$st/usr/share/doc/$PKG/README.md"
	write_copyright >"$st/usr/share/doc/$PKG/copyright"
	echo /etc/criu/notify-plugin.conf >"$st/DEBIAN/conffiles"
	size="$(du -k -s --exclude=DEBIAN "$st" | cut -f1)"
	cat >"$st/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $size
Depends: $(libc_dep)
Recommends: criu (>= 4.1)
Enhances: criu
Section: admin
Priority: optional
Description: CRIU plugin that checkpoints and restores inotify and epoll fds exactly
 A plugin for CRIU (>= 4.1), loaded from /usr/lib/criu by every criu run,
 including criu swrk as runc, podman, containerd and CRI-O start it. It
 dumps and restores inotify instances with the same watch descriptors,
 masks (IN_ONESHOT, IN_EXCL_UNLINK included) and flags, and every epoll
 registration under its original (file, fd) key with its events and data.
 .
 Debian 12's criu 3.17 does not work on current kernels: install a CRIU
 >= 4.1. Settings: /etc/criu/notify-plugin.conf.
EOF
	(cd "$st" && find usr etc -type f -exec md5sum {} + | sort -k2) >"$st/DEBIAN/md5sums"
	rm -f "$OUTDIR"/"${PKG}"_*.deb
	dpkg-deb --root-owner-group -Zxz --build "$st" "$DEB" >/dev/null
	rm -rf "$st"
	say "built $DEB"
	echo "$DEB"
}

# --- test -------------------------------------------------------------------
SYS_PLUGIN=/usr/lib/criu/notify_plugin.so
SYS_CONF=/etc/criu/notify-plugin.conf
WORK=""
PID=""
installed=0

pkg_status() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null || true; }

test_cleanup() {
	local rc=$?
	set +e
	if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -q "$WORK/demo"; then
		kill -KILL "$PID"
	fi
	if ((installed)) && [[ -n "$(pkg_status)" ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >/dev/null 2>&1 ||
			dpkg --purge "$PKG" >/dev/null 2>&1
	fi
	# Put back what was there before the test (moved aside at start).
	[[ -e "$WORK/saved/plugin" ]] && { mkdir -p "${SYS_PLUGIN%/*}" && mv -f "$WORK/saved/plugin" "$SYS_PLUGIN"; }
	[[ -e "$WORK/saved/conf" ]] && { mkdir -p "${SYS_CONF%/*}" && mv -f "$WORK/saved/conf" "$SYS_CONF"; }
	[[ -e "$WORK/saved/no-etc-criu" ]] && rmdir /etc/criu 2>/dev/null
	[[ -e "$WORK/saved/no-lib-criu" ]] && rmdir /usr/lib/criu 2>/dev/null
	[[ -n "$WORK" ]] && rm -rf "$WORK"
	if ((rc == 0)); then echo "== make test-deb: PASS"; else echo "== make test-deb: FAIL"; fi
	exit "$rc"
}

# Run criu; on failure show the tail of its log.
criu_run() {
	local log="$1"
	shift
	if ! env -u CRIU_LIBS_DIR -u CRIU_NOTIFY_CONFIG "$CRIU" "$@" >"$WORK/criu.out" 2>&1; then
		tail -n 15 "$WORK/img/$log" 2>/dev/null || cat "$WORK/criu.out"
		die "criu $1 failed"
	fi
}

run_test() {
	[[ $(id -u) -eq 0 ]] || die "needs root (apt-get, criu)"
	CRIU="${CRIU:-$(cat "$TOP/.cache/criu-path" 2>/dev/null || true)}"
	[[ -n "$CRIU" && -x "$CRIU" ]] || die "no criu (run: make criu, or set CRIU=)"
	[[ -f "$DEB" ]] || die "no $DEB (run: make deb)"
	[[ -z "$(pkg_status)" ]] || die "$PKG is installed already ($(pkg_status)); the test would remove it: dpkg --purge $PKG first"

	WORK="$(mktemp -d "${TMPDIR:-/tmp}/cnotify-deb.XXXXXX")"
	trap test_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$WORK/saved" "$WORK/img" "$WORK/run"
	[[ -d /etc/criu ]] || touch "$WORK/saved/no-etc-criu"
	[[ -d /usr/lib/criu ]] || touch "$WORK/saved/no-lib-criu"
	# Files another test (or a make install) left there: moved aside, so dpkg
	# neither overwrites them nor sees a "modified" conffile; put back at exit.
	[[ -e "$SYS_PLUGIN" ]] && mv "$SYS_PLUGIN" "$WORK/saved/plugin"
	[[ -e "$SYS_CONF" ]] && mv "$SYS_CONF" "$WORK/saved/conf"
	[[ -e "$WORK/saved/plugin" || -e "$WORK/saved/conf" ]] &&
		say "moved aside for the test: $(ls "$WORK/saved" | grep -v no- | tr '\n' ' ')"

	say "package: $(dpkg-deb -f "$DEB" Package Version Architecture Depends Recommends | tr '\n' ' ')"
	dpkg-deb -c "$DEB" | awk '{print "deb:   " $1 " " $6}' >&2
	[[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles)" == "$SYS_CONF" ]] ||
		die "conffiles does not list $SYS_CONF"

	installed=1
	# --no-install-recommends: Recommends: criu (>= 4.1) is not in Debian 12;
	# the provisioned CRIU is used.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$DEB" >"$WORK/apt.out" 2>&1 ||
		die "apt-get install $DEB: $(tail -n 5 "$WORK/apt.out")"
	[[ "$(pkg_status)" == "install ok installed" ]] || die "after apt-get install: status '$(pkg_status)'"
	local f
	for f in "$SYS_PLUGIN" "$SYS_CONF" /usr/share/doc/$PKG/copyright /usr/share/doc/$PKG/README.md; do
		[[ -f "$f" ]] || die "$f not installed"
	done
	grep -E -v '^[[:space:]]*(#|$)' "$SYS_CONF" && die "$SYS_CONF sets something (every setting should be commented out)"
	say "installed: $(dpkg -L "$PKG" | grep -c .) paths; $SYS_CONF has no active setting"

	# Plain criu: the plugin comes from its default directory /usr/lib/criu.
	cc -O2 -Wall -o "$WORK/demo" "$TOP/test/progs/demo.c"
	setsid "$WORK/demo" "$WORK/run" </dev/null >"$WORK/demo.out" 2>&1 &
	PID=$!
	disown "$PID"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s "$WORK/run/ready" ]] && break
		sleep 0.1
	done
	[[ -s "$WORK/run/ready" ]] || die "demo not ready: $(cat "$WORK/demo.out")"
	PID="$(cat "$WORK/run/ready")"
	criu_run dump.log dump -t "$PID" -D "$WORK/img" -v4 -o dump.log
	grep -q "notify_plugin: criu-notify $VERSION loaded for dump" "$WORK/img/dump.log" ||
		die "dump.log has no 'criu-notify $VERSION loaded' line: plain criu did not load $SYS_PLUGIN"
	grep -q "notify_plugin: settings read from $SYS_CONF" "$WORK/img/dump.log" ||
		die "the plugin did not read $SYS_CONF"
	grep -q 'notify_plugin: owns inotify id' "$WORK/img/dump.log" &&
		grep -q 'notify_plugin: owns eventpoll id' "$WORK/img/dump.log" ||
		die "dump.log: the plugin did not take over the inotify/eventpoll fds"
	say "$(grep -o 'notify_plugin: criu-notify .*' "$WORK/img/dump.log" | head -n1)"
	for ((i = 0; i < 50; i++)); do
		[[ -e /proc/$PID ]] || break
		sleep 0.1
	done
	criu_run restore.log restore -D "$WORK/img" -d -v4 -o restore.log
	grep -q 'notify_plugin: restored inotify id' "$WORK/img/restore.log" &&
		grep -q 'notify_plugin: restored eventpoll id' "$WORK/img/restore.log" ||
		die "restore.log: the plugin did not restore the inotify/eventpoll fds"
	kill -USR1 "$PID"
	for ((i = 0; i < 100; i++)); do
		grep -q '^IN_CREATE seen:' "$WORK/demo.out" && break
		sleep 0.1
	done
	grep -q '^IN_CREATE seen: yes; IN_ONESHOT kept: yes' "$WORK/demo.out" ||
		die "restored demo: $(tail -n 3 "$WORK/demo.out" | tr '\n' '|')"
	say "dump/restore with the packaged plugin: $(grep '^IN_CREATE seen' "$WORK/demo.out")"
	PID=""

	# remove keeps the (here: edited) conffile; purge removes it.
	echo "queued = drop" >>"$SYS_CONF"
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$PKG" >"$WORK/apt.out" 2>&1 ||
		die "apt-get remove: $(tail -n 5 "$WORK/apt.out")"
	[[ "$(pkg_status)" == "deinstall ok config-files" ]] || die "after remove: status '$(pkg_status)'"
	[[ ! -e "$SYS_PLUGIN" ]] || die "$SYS_PLUGIN still there after apt-get remove"
	[[ -f "$SYS_CONF" ]] || die "apt-get remove deleted the conffile $SYS_CONF"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >"$WORK/apt.out" 2>&1 ||
		die "apt-get purge: $(tail -n 5 "$WORK/apt.out")"
	[[ -z "$(pkg_status)" || "$(pkg_status)" == "unknown ok not-installed" ]] ||
		die "after purge: status '$(pkg_status)'"
	dpkg -L "$PKG" >/dev/null 2>&1 && die "dpkg -L $PKG still lists files after purge"
	for f in "$SYS_PLUGIN" "$SYS_CONF" "$SYS_CONF.dpkg-old" "$SYS_CONF.dpkg-dist" /usr/share/doc/$PKG; do
		[[ ! -e "$f" ]] || die "$f left after purge"
	done
	say "removed (conffile kept), purged: nothing left"
}

case "${1:-}" in
build) build ;;
test) run_test ;;
*) die "usage: $0 build|test" ;;
esac
