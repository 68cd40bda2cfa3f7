#!/usr/bin/env bash
# `make test-containers`: checkpoint and restore containers with runc and
# podman (Debian 12's runc 1.1.5 and podman 4.3.1) driving CRIU >= 4.1 with
# the plugin installed the way a package installs it, and check that the
# plugin, not CRIU, owns every inotify and epoll fd, and that events still
# arrive in the container after the restore.
#
# The container runs test/progs/container_watch.c (static) in a busybox-static
# rootfs. It watches /vol/w (a bind-mounted volume) and /watched (the
# container's own root filesystem) with one inotify instance and waits on an
# epoll set over that instance and a pipe, logging what it sees to
# /vol/events.log.
#
# Scenarios (each one runs even when an earlier one failed):
#   runc-tmpfs-volume   runc; the volume is a tmpfs, the rootfs a directory
#                       on the host's filesystem; plugin via CRIU_LIBS_DIR
#                       (runc passes its environment to criu), plugin settings
#                       via CRIU_NOTIFY_CONFIG.
#   runc-same-fs        runc; volume and rootfs are two directories of one
#                       host filesystem; plugin via a `libdir` line in
#                       /etc/criu/runc.conf, the CRIU config file runc names
#                       when the container has no org.criu.config annotation
#                       (removed again; whatever was there is put back).
#   podman-overlay      podman import + run on overlay (podman's default
#                       storage options, no nfs_export); plugin via a CRIU
#                       config file (`libdir` only) named by the
#                       org.criu.config annotation, and no irmap-scan-path
#                       anywhere: the plugin gives CRIU the paths of the
#                       rootfs watches (CRIU alone fails on them with "Can't
#                       dump that handle"). The program also watches the
#                       rootfs' / and a lower-layer file, /etc/app.conf,
#                       which a write after the restore copies up.
#   podman-nfs-export   podman on overlay mounted with index=on,nfs_export=on;
#                       plugin installed in CRIU's default /usr/lib/criu/ and
#                       settings in /etc/criu/notify-plugin.conf (both removed
#                       again, whatever was there before is put back).
#   runc-migrate, podman-migrate
#                       restore on new filesystems, as on another host
#                       (test/scripts/containers-migrate.sh).
#   containerd-ctr      containerd 1.6 + runc, ctr checkpoint/restore, plugin
#                       in /usr/lib/criu (test/scripts/containers-containerd.sh).
#
# podman runs with a private store (--root/--runroot/--tmpdir under a temp
# dir), so no image or container of the machine's own store is touched.
# Everything is removed at exit (trap): containers, images, mounts, cgroups,
# files placed in system directories, the temp dir (which holds the `criu`
# symlink put first on PATH for podman).
#
# Needs root. Installs runc, busybox-static and podman with apt-get when
# missing. CRIU: $CRIU, else .cache/criu-path (make criu).
# Keep the temp dir for inspection: CONTAINERS_KEEP=1.
# Run a subset: CONTAINERS_ONLY="runc-tmpfs-volume podman-overlay".
set -euo pipefail

TOP="${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$TOP"

CRIU="${CRIU:-$(cat "$TOP/.cache/criu-path" 2>/dev/null || true)}"
# crit: $CRIU_TREE, else the provisioned tree (make criu-tree).
CRIU_TREE="${CRIU_TREE:-$(cat "$TOP/.cache/criu-tree" 2>/dev/null || true)}"
PY=/usr/bin/python3
SCENARIOS=(runc-tmpfs-volume runc-same-fs podman-overlay podman-nfs-export runc-migrate podman-migrate containerd-ctr)
SCEN_ALL=("${SCENARIOS[@]}")
[[ -n "${CONTAINERS_ONLY:-}" ]] && read -r -a SCENARIOS <<<"$CONTAINERS_ONLY"

say() { printf '%s\n' "containers: $*" >&2; }
die() {
	say "$*"
	exit 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[[ $(id -u) -eq 0 ]] || die "needs root (runc, podman and criu do)"
[[ -n "$CRIU" ]] || die "no CRIU (run: make criu, or set CRIU=)"
CRIU="$(readlink -f "$CRIU")"
[[ -x "$CRIU" ]] || die "$CRIU is not executable"
[[ -f "$CRIU_TREE/crit/crit/__main__.py" ]] || die "no crit in ${CRIU_TREE:-(no CRIU tree)} (run: make criu-tree)"
T_START="$(now)"

# --- packages ---------------------------------------------------------------
missing=()
for p in runc busybox-static podman; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	say "apt-get install ${missing[*]}"
	if apt-cache policy "${missing[@]}" 2>/dev/null | grep -q 'Candidate: (none)' ||
		[[ -z "$(apt-cache policy "${missing[@]}" 2>/dev/null)" ]]; then
		apt-get update -qq >&2
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
RUNC="$(command -v runc)"
BUSYBOX="$(dpkg -L busybox-static | grep -m1 -E '/bin/busybox$')"
[[ -x "$BUSYBOX" ]] || die "busybox-static has no /bin/busybox"
say "criu $("$CRIU" --version | head -n1 | awk '{print $2}') ($CRIU), $("$RUNC" --version | head -n1), $(podman --version)"
T_PKGS="$(now)"

# --- work dir and cleanup ---------------------------------------------------
# Short: podman refuses a --runroot longer than 50 characters.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cnotify-ct.XXXXXX")"
WORK="$(readlink -f "$WORK")"
((${#WORK} <= 46)) || {
	rmdir "$WORK"
	die "temp dir $WORK too long for podman's --runroot (50 characters); set TMPDIR=/tmp"
}
STAGE="$WORK/stage"
LIBDIR="$STAGE/usr/lib/criu"
SYS_PLUGIN=/usr/lib/criu/notify_plugin.so
SYS_CONF=/etc/criu/notify-plugin.conf
SYS_RUNC_CONF=/etc/criu/runc.conf
# Podman state directories that podman creates on first use even with a
# private store; removed at exit when they did not exist before.
PODMAN_STATE=(/var/lib/containers /run/containers /run/libpod /etc/containers/networks)
mkdir -p "$WORK/state"
for d in "${PODMAN_STATE[@]}" /etc/criu /usr/lib/criu /run/runc; do
	[[ -e "$d" ]] || echo "$d" >>"$WORK/state/absent"
done
touch "$WORK/state/absent"
# podman's cgroupfs manager leaves libpod_parent/conmon behind (shared by all
# its containers): removed at exit (when empty) if there was none before.
find /sys/fs/cgroup -maxdepth 5 -type d -name libpod_parent 2>/dev/null | grep -q . || touch "$WORK/state/no-libpod-parent"

# Put back a system file we replaced (or remove the one we created).
sys_restore() {
	local f="$1" key="$2"
	[[ -e "$WORK/state/$key.placed" ]] || return 0
	if [[ -e "$WORK/state/$key.orig" ]]; then
		cp -a "$WORK/state/$key.orig" "$f"
	else
		rm -f "$f"
	fi
	rm -f "$WORK/state/$key.placed"
}
# Place file $1 at system path $2 (key $3), remembering what was there.
sys_place() {
	local src="$1" f="$2" key="$3"
	if [[ ! -e "$WORK/state/$key.placed" ]]; then
		[[ -e "$f" ]] && cp -a "$f" "$WORK/state/$key.orig"
		touch "$WORK/state/$key.placed"
	fi
	install -D -m "${4:-0644}" "$src" "$f"
}

cleanup() {
	local rc=$? id line d
	set +e
	# runc containers (by the ids we created).
	if [[ -f "$WORK/state/runc.ids" ]]; then
		while read -r id; do
			"$RUNC" kill "$id" KILL >/dev/null 2>&1
			"$RUNC" delete -f "$id" >/dev/null 2>&1
		done <"$WORK/state/runc.ids"
	fi
	# podman: every container and image of our private stores.
	if [[ -f "$WORK/state/podman.stores" ]]; then
		while read -r line; do
			# shellcheck disable=SC2086
			PATH="$WORK/bin:$PATH" podman $line rm -f -t 0 -a >/dev/null 2>&1
			# shellcheck disable=SC2086
			PATH="$WORK/bin:$PATH" podman $line rmi -f -a >/dev/null 2>&1
		done <"$WORK/state/podman.stores"
	fi
	sys_restore "$SYS_PLUGIN" plugin
	sys_restore "$SYS_CONF" conf
	sys_restore "$SYS_RUNC_CONF" runcconf
	# Mounts under the work dir (tmpfs volume, podman's overlay, shm),
	# deepest first.
	for _ in 1 2 3; do
		findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r d; do
			umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null
		done
	done
	# Cgroups runc/podman left for our containers (empty directories only).
	if [[ -f "$WORK/state/cgroup.names" ]]; then
		while read -r id; do
			find /sys/fs/cgroup -depth -type d -name "*$id*" -exec rmdir {} \; 2>/dev/null
		done <"$WORK/state/cgroup.names"
	fi
	[[ -e "$WORK/state/no-libpod-parent" ]] &&
		find /sys/fs/cgroup -depth -type d -path '*/libpod_parent*' -exec rmdir {} \; 2>/dev/null
	while read -r d; do
		[[ -n "$d" ]] || continue
		case "$d" in
		/etc/criu | /usr/lib/criu | /run/runc) rmdir "$d" 2>/dev/null ;;
		*) rm -rf "$d" ;;
		esac
	done <"$WORK/state/absent"
	if [[ "${CONTAINERS_KEEP:-0}" == 1 ]]; then
		say "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build: plugin staging root, static program, rootfs ---------------------
make -s -C "$TOP" install DESTDIR="$STAGE" PREFIX=/usr >&2
[[ -f "$LIBDIR/notify_plugin.so" ]] || die "make install did not produce $LIBDIR/notify_plugin.so"
mkdir -p "$WORK/bin"
ln -s "$CRIU" "$WORK/bin/criu" # podman runs `criu` from PATH
cc -static -O2 -Wall -o "$WORK/container_watch" "$TOP/test/progs/container_watch.c"

ROOTFS_TEMPLATE="$WORK/rootfs"
mkdir -p "$ROOTFS_TEMPLATE"/{bin,dev,etc,proc,sys,tmp,run,vol,watched}
echo "setting = 1" >"$ROOTFS_TEMPLATE/etc/app.conf"
cp "$BUSYBOX" "$ROOTFS_TEMPLATE/bin/busybox"
for a in sh ls cat touch sleep ps; do ln -s busybox "$ROOTFS_TEMPLATE/bin/$a"; done
install -m 0755 "$WORK/container_watch" "$ROOTFS_TEMPLATE/bin/container_watch"
tar -C "$ROOTFS_TEMPLATE" -cf "$WORK/rootfs.tar" .
PROG_ARGS=(/bin/container_watch /vol/events.log /vol/w /watched)
# podman-overlay: also the rootfs' root directory and a lower-layer file.
PROG_ARGS_OVERLAY=("${PROG_ARGS[@]}" / /etc/app.conf)
T_BUILD="$(now)"

# --- helpers used by the scenarios ------------------------------------------
# Within a scenario: record a failure and go on (soft) or stop (fail).
soft() {
	echo "$*" >>"$SDIR/failures"
	say "[$SCEN] FAIL: $*"
}
fail() {
	soft "$@"
	exit 1
}
info() { say "[$SCEN] $*"; }

# Wait up to $3 s for a line containing $2 in file $1 ($4: how many).
wait_line() {
	local i n="${4:-1}"
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		[[ $(grep -c -F -- "$2" "$1" 2>/dev/null || true) -ge $n ]] && return 0
		sleep 0.1
	done
	return 1
}

# The inotify watches and epoll registrations of task $1, as fdinfo shows
# them, without the inode numbers (tmpfs/overlay remounts change s_dev).
fd_sig() {
	local fd t
	for fd in /proc/"$1"/fd/*; do
		t="$(readlink "$fd" 2>/dev/null)" || continue
		case "$t" in
		anon_inode:inotify | anon_inode:\[eventpoll\]) ;;
		*) continue ;;
		esac
		echo "fd ${fd##*/} $t flags $(awk '/^flags:/ {print $2}' "/proc/$1/fdinfo/${fd##*/}")"
		sed -n -e 's/^inotify \(wd:[0-9a-f]*\) .* \(mask:[0-9a-f]*\) \(ignored_mask:[0-9a-f]*\).*/  \1 \2 \3/p' \
			-e 's/^tfd: *\([0-9]*\) events: *\([0-9a-f]*\) data: *\([0-9a-f]*\).*/  tfd:\1 events:\2 data:\3/p' \
			"/proc/$1/fdinfo/${fd##*/}" | sort
	done
}

# Check the dump images in $1: files.img has no INOTIFY/EVENTPOLL entry and
# EXT ones, notify-inotify.img / notify-eventpoll.img exist and hold the
# expected watches (paths $2, comma separated) and registrations.
check_images() {
	local img="$1" f
	for f in files notify-inotify notify-eventpoll inventory; do
		[[ -f "$img/$f.img" ]] || {
			soft "no $f.img in the checkpoint"
			[[ $f == notify-* ]] && continue
			return 0
		}
		PYTHONPATH="$CRIU_TREE/lib:$CRIU_TREE/crit" "$PY" -m crit decode -i "$img/$f.img" \
			-o "$SDIR/$f.json" --pretty 2>"$SDIR/crit.err" || soft "crit decode $f.img: $(cat "$SDIR/crit.err")"
	done
	echo "the image checker crashed" >"$SDIR/images.err"
	"$PY" - "$SDIR" "$2" <<'EOF' 2>&1 | sed "s/^/containers: [$SCEN] /" >&2
import json, os, sys
d, want = sys.argv[1], sorted(sys.argv[2].split(","))
errs = []
def load(name):
    p = os.path.join(d, name + ".json")
    return json.load(open(p))["entries"] if os.path.exists(p) else None
files = load("files") or []
types = {}
for e in files:
    types.setdefault(e["type"], []).append(e["id"])
print("files.img: " + ", ".join("%s %s" % (t, ids) for t, ids in sorted(types.items())))
for bad in ("INOTIFY", "EVENTPOLL"):
    if bad in types:
        errs.append("files.img still has %s entries %s: CRIU, not the plugin, owns them" % (bad, types[bad]))
if len(types.get("EXT", [])) < 2:
    errs.append("files.img has %d EXT entries, want >= 2" % len(types.get("EXT", [])))
ino = load("notify-inotify")
if ino is not None:
    paths = sorted(w.get("f_handle", {}).get("path", "?") for f in ino for w in f.get("wd", []))
    print("notify-inotify.img: %d instance(s), watch paths %s" % (len(ino), paths))
    if paths != want:
        errs.append("notify-inotify.img watch paths %s, want %s" % (paths, want))
ep = load("notify-eventpoll")
if ep is not None:
    n = [len(f.get("tfd", [])) for f in ep]
    print("notify-eventpoll.img: %d instance(s), registrations %s" % (len(ep), n))
    if n != [2]:
        errs.append("notify-eventpoll.img registrations %s, want [2]" % n)
inv = load("inventory") or [{}]
plugins = inv[0].get("plugins_entry", {}).get("plugins", [])
if "notify_plugin" not in plugins:
    errs.append("inventory.img does not require notify_plugin (plugins %s)" % plugins)
open(os.path.join(d, "images.err"), "w").write("; ".join(errs))
EOF
	[[ -s "$SDIR/images.err" ]] && soft "dump images: $(cat "$SDIR/images.err")"
	return 0
}

# Check the plugin's lines in the dump and restore logs.
check_logs() {
	local dlog="$1" rlog="$2"
	if grep -q 'notify_plugin: owns inotify id' "$dlog" && grep -q 'notify_plugin: owns eventpoll id' "$dlog"; then
		info "$(grep -o 'notify_plugin: owns .*' "$dlog" | tr '\n' ';')"
	else
		soft "dump.log has no 'notify_plugin: owns inotify/eventpoll id' lines: $(grep -o 'notify_plugin: take.*' "$dlog" | grep -v -e ' in [0-9.]* ms$' | tail -n 2 | tr '\n' ' ')"
	fi
	if [[ -n "$rlog" ]]; then
		grep -q 'notify_plugin: restored inotify id' "$rlog" && grep -q 'notify_plugin: restored eventpoll id' "$rlog" ||
			soft "restore.log has no 'notify_plugin: restored inotify/eventpoll id' lines"
	fi
}

# Touch files in the two watched directories (host paths $1 = the volume's
# w/, $2 = the rootfs' watched/) and wait for the program to report them.
# $3: tag; $4: expected number of "pipe bytes=1" lines afterwards.
poke_and_check() {
	local vol="$1" root="$2" tag="$3" pipes="$4" log="$SDIR/vol/events.log"
	touch "$vol/$tag" "$root/$tag"
	wait_line "$log" "dir=/vol/w name=$tag mask=IN_CREATE" 10 ||
		fail "no IN_CREATE for $tag on the volume watch; log: $(tail -n 5 "$log" | tr '\n' '|')"
	wait_line "$log" "dir=/watched name=$tag mask=IN_CREATE" 10 ||
		fail "no IN_CREATE for $tag on the rootfs watch; log: $(tail -n 5 "$log" | tr '\n' '|')"
	touch "$vol/poke-$tag"
	wait_line "$log" "pipe bytes=1" 10 "$pipes" ||
		fail "the epoll registration of the pipe did not fire after poke-$tag; log: $(tail -n 5 "$log" | tr '\n' '|')"
	wait_line "$log" "name=poke-$tag mask=IN_CLOSE_WRITE" 10 || true
	grep -q -F 'fatal' "$log" && fail "the program failed: $(grep fatal "$log")"
	info "events after $tag: ok (volume, rootfs, pipe)"
}

compare_sig() {
	if ! diff -u "$SDIR/fd.before" "$SDIR/fd.after" >"$SDIR/fd.diff"; then
		soft "inotify/epoll state differs after restore: $(tr '\n' '|' <"$SDIR/fd.diff")"
	else
		info "fdinfo after restore matches: $(grep -c 'wd:' "$SDIR/fd.after") watches, $(grep -c 'tfd:' "$SDIR/fd.after") registrations"
	fi
}

# --- runc -------------------------------------------------------------------
# $1: "tmpfs" (volume on its own tmpfs) or "samefs" (a directory beside the
# bundle); $2: "env" (CRIU_LIBS_DIR) or "runcconf" (/etc/criu/runc.conf).
runc_scenario() {
	local volkind="$1" how="$2" id="cnotify-$SCEN-$$" bundle="$SDIR/bundle" img="$SDIR/img" pid
	local env=()
	echo "$id" >>"$WORK/state/runc.ids"
	echo "$id" >>"$WORK/state/cgroup.names"
	mkdir -p "$SDIR/vol" "$bundle"
	[[ $volkind == tmpfs ]] && mount -t tmpfs -o size=16m,mode=0755 cnotify-vol "$SDIR/vol"
	mkdir -p "$SDIR/vol/w"
	cp -a "$ROOTFS_TEMPLATE" "$bundle/rootfs"
	(cd "$bundle" && "$RUNC" spec)
	case "$how" in
	env)
		printf 'queued = drop\n' >"$SDIR/notify.conf"
		env=(CRIU_LIBS_DIR="$LIBDIR" CRIU_NOTIFY_CONFIG="$SDIR/notify.conf")
		;;
	runcconf)
		printf '# CRIU options for runc (make test-containers)\nlibdir %s\n' "$LIBDIR" >"$SDIR/runc.conf"
		sys_place "$SDIR/runc.conf" "$SYS_RUNC_CONF" runcconf
		;;
	esac
	"$PY" - "$bundle/config.json" "$SDIR" "$how" "${PROG_ARGS[@]}" <<'EOF'
import json, sys
path, sdir, how, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"]["readonly"] = False
c["mounts"].append({"destination": "/vol", "type": "bind", "source": sdir + "/vol", "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
EOF
	# The container's stdio is runc's: /dev/null, not a host regular file
	# (CRIU cannot look up that file's mount from inside the container).
	# runc's own messages go to --log.
	"$RUNC" --log "$SDIR/runc.log" run -d -b "$bundle" "$id" </dev/null >/dev/null 2>&1 ||
		fail "runc run: $(tail -n 3 "$SDIR/runc.log")"
	wait_line "$SDIR/vol/events.log" "ready" 10 || fail "program not ready: $(cat "$SDIR/vol/events.log" 2>/dev/null)"
	info "$(head -n1 "$SDIR/vol/events.log")"
	poke_and_check "$SDIR/vol/w" "$bundle/rootfs/watched" before 1
	pid="$("$RUNC" state "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
	fd_sig "$pid" >"$SDIR/fd.before"

	local t0 t1
	t0="$(now)"
	env "${env[@]}" "$RUNC" --criu "$CRIU" checkpoint --image-path "$img" "$id" \
		</dev/null >/dev/null 2>"$SDIR/checkpoint.err" ||
		fail "runc checkpoint: $(cat "$SDIR/checkpoint.err"); $(grep -h -e Error -e 'notify_plugin' "$img/dump.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	t1="$(now)"
	info "runc checkpoint: $(secs "$t0" "$t1") s; dump.log is in the image path (runc's --work-path defaults to it)"
	check_images "$img" "/vol/w,/watched"
	[[ $how == env ]] && { grep -q "notify_plugin: settings read from $SDIR/notify.conf" "$img/dump.log" ||
		soft "CRIU_NOTIFY_CONFIG did not reach the plugin through runc"; }

	t0="$(now)"
	env "${env[@]}" "$RUNC" --log "$SDIR/runc.log" --criu "$CRIU" restore -d --image-path "$img" -b "$bundle" "$id" \
		</dev/null >/dev/null 2>&1 ||
		fail "runc restore: $(tail -n 3 "$SDIR/runc.log"); $(grep -h -e Error -e 'notify_plugin' "$img/restore.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	t1="$(now)"
	info "runc restore: $(secs "$t0" "$t1") s"
	check_logs "$img/dump.log" "$img/restore.log"
	pid="$("$RUNC" state "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
	fd_sig "$pid" >"$SDIR/fd.after"
	compare_sig
	poke_and_check "$SDIR/vol/w" "$bundle/rootfs/watched" after 2

	"$RUNC" kill "$id" KILL >/dev/null 2>&1 || true
	"$RUNC" delete -f "$id" >/dev/null 2>&1 || true
	[[ $volkind == tmpfs ]] && umount "$SDIR/vol"
	[[ $how == runcconf ]] && sys_restore "$SYS_RUNC_CONF" runcconf
	[[ ! -s "$SDIR/failures" ]]
}

scenario_runc-tmpfs-volume() { runc_scenario tmpfs env; }
scenario_runc-same-fs() { runc_scenario samefs runcconf; }

# --- podman -----------------------------------------------------------------
# $1: "overlay" (default storage options) or "nfs_export"; $2: "conf"
# (plugin via the org.criu.config annotation) or "system" (/usr/lib/criu).
podman_scenario() {
	local kind="$1" how="$2" name="cnotify-$SCEN-$$" ud cid pid merged t0 t1
	local store="--root $SDIR/store --runroot $WORK/r$SNUM --tmpdir $SDIR/tmp --cgroup-manager cgroupfs --events-backend none"
	[[ $kind == nfs_export ]] && store+=" --storage-opt overlay.mountopt=nodev,index=on,nfs_export=on"
	echo "$store" >>"$WORK/state/podman.stores"
	# shellcheck disable=SC2086
	pm() { PATH="$WORK/bin:$PATH" podman $store "$@"; }
	mkdir -p "$SDIR/vol/w"
	# --ulimit: podman's default RLIMIT_NOFILE (1048576) is above the hard
	# limit root may set on some hosts (20000 on the test VM), and then the
	# container does not start. --network none: a bridge network would add
	# firewall rules, /run/netns and ip_forward=1 on the host.
	local run_opts=(--name "$name" --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768
		-v "$SDIR/vol:/vol")
	local args=("${PROG_ARGS[@]}") paths="/vol/w,/watched"
	[[ $kind == overlay ]] && args=("${PROG_ARGS_OVERLAY[@]}") paths="/,/etc/app.conf,/vol/w,/watched"
	case "$how" in
	conf)
		printf '# CRIU options for runc (org.criu.config)\nlibdir %s\n' "$LIBDIR" >"$SDIR/criu.conf"
		run_opts+=(--annotation "org.criu.config=$SDIR/criu.conf")
		;;
	system)
		sys_place "$LIBDIR/notify_plugin.so" "$SYS_PLUGIN" plugin 0755
		printf '# criu-notify settings (make test-containers)\nqueued = drop\n' >"$SDIR/notify-plugin.conf"
		sys_place "$SDIR/notify-plugin.conf" "$SYS_CONF" conf
		;;
	esac
	pm import -q "$WORK/rootfs.tar" localhost/criu-notify-test:latest >/dev/null 2>"$SDIR/import.err" ||
		fail "podman import: $(cat "$SDIR/import.err")"
	pm run -d "${run_opts[@]}" localhost/criu-notify-test:latest "${args[@]}" >"$SDIR/cid" 2>"$SDIR/run.err" ||
		fail "podman run: $(cat "$SDIR/run.err")"
	cid="$(cat "$SDIR/cid")"
	echo "$cid" >>"$WORK/state/cgroup.names"
	ud="$SDIR/store/overlay-containers/$cid/userdata"
	wait_line "$SDIR/vol/events.log" "ready" 10 || fail "program not ready: $(cat "$SDIR/vol/events.log" 2>/dev/null)"
	info "$(head -n1 "$SDIR/vol/events.log")"
	merged="$(pm inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name")"
	info "rootfs: $(findmnt -n -o FSTYPE,OPTIONS "$merged" | sed 's/lowerdir=[^,]*,upperdir=[^,]*,workdir=[^,]*,//')"
	poke_and_check "$SDIR/vol/w" "$merged/watched" before 1
	pid="$(pm inspect -f '{{.State.Pid}}' "$name")"
	fd_sig "$pid" >"$SDIR/fd.before"

	if [[ $kind == overlay ]]; then
		# The premise: no irmap-scan-path anywhere CRIU reads options from
		# (CRIU alone fails on the rootfs watches then, "Can't dump that
		# handle": test/integration/irmap.rs checks that part).
		local f
		for f in "$SDIR/criu.conf" /etc/criu/default.conf /etc/criu/runc.conf; do
			if [[ -f $f ]] && grep -q '^[[:space:]]*irmap-scan-path' "$f"; then
				fail "$f sets irmap-scan-path: this scenario needs none"
			fi
		done
	fi

	t0="$(now)"
	pm container checkpoint --keep "$name" >/dev/null 2>"$SDIR/checkpoint.err" ||
		fail "podman container checkpoint: $(cat "$SDIR/checkpoint.err"); $(grep -h -e Error -e 'notify_plugin' "$ud/dump.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	t1="$(now)"
	info "podman container checkpoint --keep: $(secs "$t0" "$t1") s; images in <store>/overlay-containers/<id>/userdata/checkpoint/, dump.log in userdata/"
	check_images "$ud/checkpoint" "$paths"
	if [[ $kind == overlay ]]; then
		grep -q 'notify_plugin: irmap: pid .* gave CRIU the paths of 3 watched objects' "$ud/dump.log" ||
			soft "dump.log has no 'gave CRIU the paths of 3 watched objects' line: $(grep -o 'notify_plugin: irmap.*' "$ud/dump.log" | tail -n 3 | tr '\n' '|')"
		info "$(grep -o 'notify_plugin: irmap: pid .* gave CRIU .*' "$ud/dump.log")"
		[[ -e "$ud/irmap-cache" || -e "$ud/irmap-cache.notify-new" ]] && soft "the plugin left an irmap-cache in $ud"
	fi
	[[ $how == system ]] && { grep -q "notify_plugin: settings read from $SYS_CONF" "$ud/dump.log" ||
		soft "the plugin did not read $SYS_CONF"; }

	t0="$(now)"
	pm container restore --keep "$name" >/dev/null 2>"$SDIR/restore.err" ||
		fail "podman container restore: $(cat "$SDIR/restore.err"); $(grep -h -e Error -e 'notify_plugin' "$ud/restore.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	t1="$(now)"
	info "podman container restore --keep: $(secs "$t0" "$t1") s"
	check_logs "$ud/dump.log" "$ud/restore.log"
	pid="$(pm inspect -f '{{.State.Pid}}' "$name")"
	fd_sig "$pid" >"$SDIR/fd.after"
	compare_sig
	merged="$(pm inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name")"
	poke_and_check "$SDIR/vol/w" "$merged/watched" after 2
	if [[ $kind == overlay ]]; then
		# The lower-layer file: this write copies it up.
		echo "setting = 2" >>"$merged/etc/app.conf"
		wait_line "$SDIR/vol/events.log" "dir=/etc/app.conf name= mask=IN_CLOSE_WRITE" 10 ||
			fail "no IN_CLOSE_WRITE on the lower-layer file watch after the restore; log: $(tail -n 5 "$SDIR/vol/events.log" | tr '\n' '|')"
		touch "$merged/after-root"
		wait_line "$SDIR/vol/events.log" "dir=/ name=after-root mask=IN_CREATE" 10 ||
			fail "no IN_CREATE on the rootfs root watch after the restore; log: $(tail -n 5 "$SDIR/vol/events.log" | tr '\n' '|')"
		info "events after the restore on the rootfs' / and its lower-layer file (copied up now): ok"
	fi

	pm rm -f -t 0 "$name" >/dev/null 2>&1 || true
	pm rmi -f -a >/dev/null 2>&1 || true
	if [[ $how == system ]]; then
		sys_restore "$SYS_PLUGIN" plugin
		sys_restore "$SYS_CONF" conf
	fi
	[[ ! -s "$SDIR/failures" ]]
}

scenario_podman-overlay() { podman_scenario overlay conf; }
scenario_podman-nfs-export() { podman_scenario nfs_export system; }

# shellcheck source=test/scripts/containers-migrate.sh
source "$TOP/test/scripts/containers-migrate.sh"
# shellcheck source=test/scripts/containers-containerd.sh
source "$TOP/test/scripts/containers-containerd.sh"

# --- run --------------------------------------------------------------------
declare -A RESULT TIME
SNUM=0
for SCEN in "${SCENARIOS[@]}"; do
	SNUM=$((SNUM + 1))
	declare -F "scenario_$SCEN" >/dev/null || die "unknown scenario $SCEN (have: ${SCEN_ALL[*]})"
	SDIR="$WORK/$SCEN"
	mkdir -p "$SDIR"
	: >"$SDIR/failures"
	t0="$(now)"
	set +e
	(
		set -e
		"scenario_$SCEN"
	)
	rc=$?
	set -e
	TIME[$SCEN]="$(secs "$t0" "$(now)")"
	if [[ $rc -eq 0 && ! -s "$SDIR/failures" ]]; then RESULT[$SCEN]=PASS; else RESULT[$SCEN]=FAIL; fi
done

T_END="$(now)"
echo
echo "== make test-containers"
fails=0
for SCEN in "${SCENARIOS[@]}"; do
	printf '%-4s %-20s %5s s\n' "${RESULT[$SCEN]}" "$SCEN" "${TIME[$SCEN]}"
	if [[ ${RESULT[$SCEN]} != PASS ]]; then
		fails=$((fails + 1))
		sed 's/^/       /' "$WORK/$SCEN/failures"
	fi
done
echo "time: packages $(secs "$T_START" "$T_PKGS") s, build $(secs "$T_PKGS" "$T_BUILD") s, scenarios $(secs "$T_BUILD" "$T_END") s, total $(secs "$T_START" "$T_END") s"
((fails == 0))
