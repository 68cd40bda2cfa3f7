# shellcheck shell=bash
# The containerd scenario of `make test-containers`, sourced by
# containers.sh (which owns the helpers, the work dir and the cleanup of
# mounts, cgroups and the files placed in /usr/lib/criu and /etc/criu).
#
#   containerd-ctr   Debian 12's containerd 1.6 (installed with apt-get when
#                    missing; a private daemon with its own root, state and
#                    socket under the work dir, CRI plugin off) with the
#                    runc v2 shim: `ctr run` of an image made from the test
#                    rootfs (podman save, ctr images import), volume bind
#                    mounted; `ctr containers checkpoint --task` into a
#                    checkpoint image; task and container removed;
#                    `ctr containers restore --live`. The plugin is in
#                    /usr/lib/criu; /etc/criu/runc.conf (read by runc when
#                    the container has no org.criu.config annotation) says
#                    `irmap-scan-path /watched` for the overlay watch, as in
#                    podman-overlay. Checks the plugin's images inside the
#                    checkpoint image (the shim deletes dump.log after a
#                    successful dump), restore.log, fdinfo and new events.
#
# The daemon (and its shims, containers, images) is stopped and removed at
# the end of the scenario, also when it fails (an EXIT trap of the
# scenario's subshell).

ctrd_teardown() {
	local d="$SDIR/ctrd" pid
	set +e
	if [[ -S "$d/c.sock" ]]; then
		ctr -a "$d/c.sock" -n "$CTRD_NS" tasks kill -s KILL "$CTRD_ID" >/dev/null 2>&1
		sleep 0.3
		ctr -a "$d/c.sock" -n "$CTRD_NS" tasks rm -f "$CTRD_ID" >/dev/null 2>&1
		ctr -a "$d/c.sock" -n "$CTRD_NS" containers rm "$CTRD_ID" >/dev/null 2>&1
		ctr -a "$d/c.sock" -n "$CTRD_NS" images ls -q 2>/dev/null | xargs -r ctr -a "$d/c.sock" -n "$CTRD_NS" images rm >/dev/null 2>&1
	fi
	if [[ -f "$d/containerd.pid" ]]; then
		pid="$(cat "$d/containerd.pid")"
		if kill -0 "$pid" 2>/dev/null && grep -q containerd "/proc/$pid/comm" 2>/dev/null; then
			kill "$pid"
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$d/containerd.pid"
	fi
	findmnt -rn -o TARGET | grep -F "$d/" | sort -r | xargs -r umount 2>/dev/null
	sys_restore "$SYS_PLUGIN" plugin
	sys_restore "$SYS_RUNC_CONF" runcconf
}

scenario_containerd-ctr() {
	CTRD_NS="cnotify-$$"
	CTRD_ID="cnotify-ctr-$$"
	local d="$SDIR/ctrd" pid ud t0 digest crit_dir="$SDIR/checkpoint"
	if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
		info "apt-get install containerd"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd >&2 ||
			fail "apt-get install containerd"
	fi
	echo "$CTRD_ID" >>"$WORK/state/cgroup.names"
	echo "$CTRD_NS" >>"$WORK/state/cgroup.names"
	trap ctrd_teardown EXIT
	mkdir -p "$d" "$SDIR/vol/w"
	cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.sock.ttrpc"
EOF
	sys_place "$LIBDIR/notify_plugin.so" "$SYS_PLUGIN" plugin 0755
	printf '# CRIU options for runc (make test-containers, containerd-ctr)\nirmap-scan-path /watched\n' >"$SDIR/runc.conf"
	sys_place "$SDIR/runc.conf" "$SYS_RUNC_CONF" runcconf
	# The shim runs runc, runc runs `criu` from PATH: ours first.
	PATH="$WORK/bin:$PATH" setsid containerd --config "$d/config.toml" </dev/null >"$d/containerd.log" 2>&1 &
	echo $! >"$d/containerd.pid"
	local c=(ctr -a "$d/c.sock" -n "$CTRD_NS")
	for _ in $(seq 100); do "${c[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
	"${c[@]}" version >/dev/null 2>&1 || fail "containerd did not start: $(tail -n 3 "$d/containerd.log")"
	info "$(containerd --version | awk '{print "containerd " $3}'), private daemon on $d/c.sock"

	# An image of the test rootfs, by way of podman (docker-archive).
	local ps="--root $d/pstore --runroot $d/prun --tmpdir $d/ptmp --cgroup-manager cgroupfs --events-backend none"
	# shellcheck disable=SC2086
	{ podman $ps import -q "$WORK/rootfs.tar" localhost/criu-notify-test:latest >/dev/null &&
		podman $ps save -q -o "$d/image.tar" localhost/criu-notify-test:latest &&
		podman $ps rmi -f -a >/dev/null; } 2>"$SDIR/image.err" || fail "podman import/save: $(cat "$SDIR/image.err")"
	"${c[@]}" images import "$d/image.tar" >/dev/null 2>"$SDIR/image.err" || fail "ctr images import: $(cat "$SDIR/image.err")"

	"${c[@]}" run -d --null-io --mount "type=bind,src=$SDIR/vol,dst=/vol,options=rbind:rw" \
		localhost/criu-notify-test:latest "$CTRD_ID" "${PROG_ARGS[@]}" >/dev/null 2>"$SDIR/run.err" ||
		fail "ctr run: $(cat "$SDIR/run.err")"
	wait_line "$SDIR/vol/events.log" "ready" 10 || fail "program not ready: $(cat "$SDIR/vol/events.log" 2>/dev/null)"
	local rootfs="$d/state/io.containerd.runtime.v2.task/$CTRD_NS/$CTRD_ID/rootfs"
	poke_and_check "$SDIR/vol/w" "$rootfs/watched" before 1
	pid="$("${c[@]}" tasks ls | awk -v id="$CTRD_ID" '$1 == id {print $2}')"
	fd_sig "$pid" >"$SDIR/fd.before"

	t0="$(now)"
	"${c[@]}" containers checkpoint --task "$CTRD_ID" localhost/criu-notify-ckpt:1 >/dev/null 2>"$SDIR/checkpoint.err" ||
		fail "ctr containers checkpoint --task: $(cat "$SDIR/checkpoint.err"); $(grep -h -e Error -e notify_plugin "$d/state/io.containerd.runtime.v2.task/$CTRD_NS/$CTRD_ID/criu-dump.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	info "ctr containers checkpoint --task: $(secs "$t0" "$(now)") s"
	# The CRIU images: the criu.tar layer of the checkpoint image.
	digest="$("${c[@]}" images ls | awk '$1 == "localhost/criu-notify-ckpt:1" {print $3}')"
	digest="$("${c[@]}" content get "$digest" | "$PY" -c '
import json, sys
for m in json.load(sys.stdin)["manifests"]:
    if m["mediaType"].endswith("criu.checkpoint.criu.tar"):
        print(m["digest"])')"
	mkdir -p "$crit_dir"
	"${c[@]}" content get "$digest" | tar -C "$crit_dir" -xf - || fail "no CRIU images in the checkpoint image"
	check_images "$crit_dir" "/vol/w,/watched"

	"${c[@]}" tasks kill -s KILL "$CTRD_ID" >/dev/null 2>&1 || true
	for _ in $(seq 50); do
		"${c[@]}" tasks rm "$CTRD_ID" >/dev/null 2>&1 && break
		sleep 0.1
	done
	"${c[@]}" containers rm "$CTRD_ID" >/dev/null 2>"$SDIR/rm.err" || fail "ctr containers rm: $(cat "$SDIR/rm.err")"

	t0="$(now)"
	"${c[@]}" containers restore --live "$CTRD_ID" localhost/criu-notify-ckpt:1 >/dev/null 2>"$SDIR/restore.err" ||
		fail "ctr containers restore --live: $(cat "$SDIR/restore.err")"
	info "ctr containers restore --live: $(secs "$t0" "$(now)") s"
	ud="$d/root/io.containerd.runtime.v2.task/$CTRD_NS/$CTRD_ID"
	grep -q 'notify_plugin: restored inotify id' "$ud/restore.log" && grep -q 'notify_plugin: restored eventpoll id' "$ud/restore.log" ||
		soft "restore.log ($ud) has no 'notify_plugin: restored inotify/eventpoll id' lines"
	info "$(grep -o 'notify_plugin: restored .*' "$ud/restore.log" | tr '\n' ';')"
	pid="$("${c[@]}" tasks ls | awk -v id="$CTRD_ID" '$1 == id {print $2}')"
	[[ -n "$pid" ]] || fail "no task after the restore"
	fd_sig "$pid" >"$SDIR/fd.after"
	compare_sig
	poke_and_check "$SDIR/vol/w" "$rootfs/watched" after 2
	[[ ! -s "$SDIR/failures" ]]
}
