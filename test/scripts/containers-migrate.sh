# shellcheck shell=bash
# Migration scenarios of `make test-containers`, sourced by containers.sh
# (which owns the helpers, the work dir and the cleanup: runc ids, podman
# stores, mounts under the work dir and cgroups named in $WORK/state).
#
# "Another host" is simulated on this one: after the checkpoint everything
# the restore needs is on filesystems that did not exist at dump (new
# s_dev, new inode numbers), so the plugin cannot find a watched object by
# its file handle and re-attaches each watch by its path; restore.log says
# so ("re-attached by path on a different filesystem than at dump
# (migration)").
#
#   runc-migrate     runc checkpoint; the images copied to another directory,
#                    the bundle (rootfs) copied onto a fresh tmpfs, the volume
#                    (a tmpfs) copied onto a fresh tmpfs at the same host path;
#                    the originals removed; runc restore from the copies.
#   podman-migrate   podman container checkpoint --export; the container and
#                    the store's image removed; the volume moved onto a fresh
#                    tmpfs; podman container restore --import into a second,
#                    empty store (its own --root/--runroot: new overlay
#                    mounts), which gets the image by podman save/load (the
#                    same image ID, as from a registry). The dump needs
#                    irmap-scan-path for the overlay watch, as podman-overlay.

# Move the tmpfs volume at $SDIR/vol onto a fresh tmpfs at the same path;
# the new one is mounted before the old one goes, so it gets another st_dev
# (a freed anonymous device number is handed out again).
migrate_volume() {
	mkdir -p "$SDIR/vol.new"
	mount -t tmpfs -o size=16m,mode=0755 cnotify-vol2 "$SDIR/vol.new"
	cp -a "$SDIR/vol/." "$SDIR/vol.new/"
	umount "$SDIR/vol"
	mount --move "$SDIR/vol.new" "$SDIR/vol"
	rmdir "$SDIR/vol.new"
}

# restore.log ($1) must say that $2 (default 2) watches moved filesystems.
check_migrated() {
	local n want="${2:-2}"
	n="$(grep -o 'notify_plugin: inotify id [0-9]*: [0-9]* watches re-attached by path on a different filesystem than at dump (migration)' "$1" |
		awk '{s += $5} END {print s + 0}')"
	if [[ $n -eq $want ]]; then
		info "restore.log: $(grep -o 'notify_plugin: inotify id .*(migration)' "$1" | head -n1)"
	else
		soft "restore.log: $n watches re-attached by path after the migration, want $want: $(grep -o 'notify_plugin: .*' "$1" | tail -n 4 | tr '\n' '|')"
	fi
}

scenario_runc-migrate() {
	local id="cnotify-$SCEN-$$" bundle="$SDIR/bundle" img="$SDIR/img" host2="$SDIR/host2" pid t0
	local env=(CRIU_LIBS_DIR="$LIBDIR")
	echo "$id" >>"$WORK/state/runc.ids"
	echo "$id" >>"$WORK/state/cgroup.names"
	mkdir -p "$SDIR/vol" "$bundle" "$host2"
	mount -t tmpfs -o size=16m,mode=0755 cnotify-vol "$SDIR/vol"
	mkdir -p "$SDIR/vol/w"
	cp -a "$ROOTFS_TEMPLATE" "$bundle/rootfs"
	(cd "$bundle" && "$RUNC" spec)
	"$PY" - "$bundle/config.json" "$SDIR" "${PROG_ARGS[@]}" <<'EOF'
import json, sys
path, sdir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"]["readonly"] = False
c["mounts"].append({"destination": "/vol", "type": "bind", "source": sdir + "/vol", "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
EOF
	"$RUNC" --log "$SDIR/runc.log" run -d -b "$bundle" "$id" </dev/null >/dev/null 2>&1 ||
		fail "runc run: $(tail -n 3 "$SDIR/runc.log")"
	wait_line "$SDIR/vol/events.log" "ready" 10 || fail "program not ready: $(cat "$SDIR/vol/events.log" 2>/dev/null)"
	poke_and_check "$SDIR/vol/w" "$bundle/rootfs/watched" before 1
	pid="$("$RUNC" state "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
	fd_sig "$pid" >"$SDIR/fd.before"

	env "${env[@]}" "$RUNC" --criu "$CRIU" checkpoint --image-path "$img" "$id" \
		</dev/null >/dev/null 2>"$SDIR/checkpoint.err" ||
		fail "runc checkpoint: $(cat "$SDIR/checkpoint.err"); $(grep -h -e Error -e 'notify_plugin' "$img/dump.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	check_images "$img" "/vol/w,/watched"
	"$RUNC" delete -f "$id" >/dev/null 2>&1 || true

	# "Another host": images in another directory, the bundle on a fresh
	# tmpfs, the volume on a fresh tmpfs at the same path; originals gone.
	local dev0
	dev0="$(stat -c %d "$bundle/rootfs")/$(stat -c %d "$SDIR/vol")"
	mount -t tmpfs -o size=64m,mode=0755 cnotify-host2 "$host2"
	cp -a "$img" "$host2/img"
	cp -a "$bundle" "$host2/bundle"
	rm -rf "$img" "$bundle"
	migrate_volume
	info "moved: images to $host2/img, bundle to $host2/bundle and the volume onto fresh tmpfs (st_dev rootfs/volume $dev0 at dump, now $(stat -c %d "$host2/bundle/rootfs")/$(stat -c %d "$SDIR/vol"))"

	t0="$(now)"
	env "${env[@]}" "$RUNC" --log "$SDIR/runc.log" --criu "$CRIU" restore -d --image-path "$host2/img" -b "$host2/bundle" "$id" \
		</dev/null >/dev/null 2>&1 ||
		fail "runc restore on the new filesystems: $(tail -n 3 "$SDIR/runc.log"); $(grep -h -e Error -e 'notify_plugin' "$host2/img/restore.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	info "runc restore from the copies: $(secs "$t0" "$(now)") s"
	check_logs "$host2/img/dump.log" "$host2/img/restore.log"
	check_migrated "$host2/img/restore.log"
	pid="$("$RUNC" state "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
	fd_sig "$pid" >"$SDIR/fd.after"
	compare_sig
	poke_and_check "$SDIR/vol/w" "$host2/bundle/rootfs/watched" after 2

	"$RUNC" kill "$id" KILL >/dev/null 2>&1 || true
	"$RUNC" delete -f "$id" >/dev/null 2>&1 || true
	umount "$SDIR/vol" "$host2" 2>/dev/null || umount -l "$SDIR/vol" "$host2" 2>/dev/null || true
	[[ ! -s "$SDIR/failures" ]]
}

scenario_podman-migrate() {
	local name="cnotify-$SCEN-$$" cid pid merged t0 ud
	local common="--cgroup-manager cgroupfs --events-backend none"
	local store1="--root $SDIR/store --runroot $WORK/r$SNUM --tmpdir $SDIR/tmp $common"
	# The same --runroot path (emptied in between): podman 4.3.1 keeps
	# conmon's pid file path from the exported config.dump, which lies in
	# the runroot, so the target's runroot must be at the same path (it is
	# on real hosts: /run/containers/storage). Everything else is new.
	local store2="--root $SDIR/store2 --runroot $WORK/r$SNUM --tmpdir $SDIR/tmp2 $common"
	echo "$store1" >>"$WORK/state/podman.stores"
	echo "$store2" >>"$WORK/state/podman.stores"
	# shellcheck disable=SC2086
	pm1() { PATH="$WORK/bin:$PATH" podman $store1 "$@"; }
	# shellcheck disable=SC2086
	pm2() { PATH="$WORK/bin:$PATH" podman $store2 "$@"; }
	mkdir -p "$SDIR/vol"
	mount -t tmpfs -o size=16m,mode=0755 cnotify-vol "$SDIR/vol"
	mkdir -p "$SDIR/vol/w"
	printf '# CRIU options for runc (org.criu.config)\nlibdir %s\nirmap-scan-path /watched\n' "$LIBDIR" >"$SDIR/criu.conf"
	local run_opts=(--name "$name" --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768
		-v "$SDIR/vol:/vol" --annotation "org.criu.config=$SDIR/criu.conf")
	pm1 import -q "$WORK/rootfs.tar" localhost/criu-notify-test:latest >/dev/null 2>"$SDIR/import.err" ||
		fail "podman import: $(cat "$SDIR/import.err")"
	pm1 run -d "${run_opts[@]}" localhost/criu-notify-test:latest "${PROG_ARGS[@]}" >"$SDIR/cid" 2>"$SDIR/run.err" ||
		fail "podman run: $(cat "$SDIR/run.err")"
	cid="$(cat "$SDIR/cid")"
	echo "$cid" >>"$WORK/state/cgroup.names"
	wait_line "$SDIR/vol/events.log" "ready" 10 || fail "program not ready: $(cat "$SDIR/vol/events.log" 2>/dev/null)"
	merged="$(pm1 inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name")"
	poke_and_check "$SDIR/vol/w" "$merged/watched" before 1
	pid="$(pm1 inspect -f '{{.State.Pid}}' "$name")"
	fd_sig "$pid" >"$SDIR/fd.before"
	local dev0 dev1
	dev0="$(stat -c %d "$merged/watched")"

	t0="$(now)"
	pm1 container checkpoint --keep --export "$SDIR/ckpt.tar.gz" --compress gzip "$name" >/dev/null 2>"$SDIR/checkpoint.err" ||
		fail "podman container checkpoint --export: $(cat "$SDIR/checkpoint.err"); $(grep -h -e Error -e 'notify_plugin' "$SDIR/store/overlay-containers/$cid/userdata/dump.log" 2>/dev/null | tail -n 5 | tr '\n' '|')"
	info "podman container checkpoint --export: $(secs "$t0" "$(now)") s, $(stat -c %s "$SDIR/ckpt.tar.gz") bytes"
	mkdir -p "$SDIR/exported"
	tar -C "$SDIR/exported" -xzf "$SDIR/ckpt.tar.gz"
	check_images "$SDIR/exported/checkpoint" "/vol/w,/watched"
	cp "$SDIR/store/overlay-containers/$cid/userdata/dump.log" "$SDIR/dump.log" 2>/dev/null || true
	pm1 save -q -o "$SDIR/image.tar" localhost/criu-notify-test:latest 2>"$SDIR/save.err" ||
		fail "podman save: $(cat "$SDIR/save.err")"
	# The first "host" goes away: its container, image and overlay mounts.
	pm1 rm -f -t 0 "$name" >/dev/null 2>&1 || true
	pm1 rmi -f -a >/dev/null 2>&1 || true
	findmnt -rn -o TARGET | grep -F -e "$SDIR/store/" -e "$WORK/r$SNUM/" | sort -r | xargs -r umount || true
	rm -rf "$SDIR/store" "$WORK/r$SNUM" "$SDIR/tmp"
	migrate_volume

	# The second store on a filesystem of its own (new upper dirs, inodes
	# and fsid under the new overlay). A placeholder tmpfs takes the device
	# number the old overlay freed, so the new overlay gets another one.
	mkdir -p "$SDIR/store2" "$SDIR/devhold"
	mount -t tmpfs -o size=256m,mode=0700 cnotify-store2 "$SDIR/store2"
	mount -t tmpfs -o size=1m cnotify-devhold "$SDIR/devhold"
	pm2 load -q -i "$SDIR/image.tar" >/dev/null 2>"$SDIR/load.err" || fail "podman load into the second store: $(cat "$SDIR/load.err")"
	t0="$(now)"
	pm2 container restore --keep --import "$SDIR/ckpt.tar.gz" >"$SDIR/cid2" 2>"$SDIR/restore.err" ||
		fail "podman container restore --import into the second store: $(cat "$SDIR/restore.err"); $(grep -h -e Error -e 'notify_plugin' "$SDIR"/store2/overlay-containers/*/userdata/restore.log 2>/dev/null | tail -n 5 | tr '\n' '|')"
	info "podman container restore --import into the second store: $(secs "$t0" "$(now)") s"
	cid="$(pm2 inspect -f '{{.Id}}' "$name")"
	echo "$cid" >>"$WORK/state/cgroup.names"
	ud="$SDIR/store2/overlay-containers/$cid/userdata"
	check_logs "$SDIR/dump.log" "$ud/restore.log"
	merged="$(pm2 inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name")"
	dev1="$(stat -c %d "$merged/watched")"
	[[ $dev0 == "$dev1" ]] && info "the new overlay has the st_dev of the old one ($dev0): a freed device number handed out again"
	check_migrated "$ud/restore.log"
	pid="$(pm2 inspect -f '{{.State.Pid}}' "$name")"
	fd_sig "$pid" >"$SDIR/fd.after"
	compare_sig
	merged="$(pm2 inspect -f '{{.GraphDriver.Data.MergedDir}}' "$name")"
	info "rootfs now: $merged ($(findmnt -n -o FSTYPE --target "$merged"))"
	poke_and_check "$SDIR/vol/w" "$merged/watched" after 2

	pm2 rm -f -t 0 "$name" >/dev/null 2>&1 || true
	pm2 rmi -f -a >/dev/null 2>&1 || true
	findmnt -rn -o TARGET | grep -F "$SDIR/store2/" | sort -r | xargs -r umount || true
	# (Busy for a moment while podman's cleanup process exits: lazily then;
	# containers.sh's cleanup unmounts whatever is left under the work dir.)
	local m
	for m in "$SDIR/vol" "$SDIR/devhold" "$SDIR/store2"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
	[[ ! -s "$SDIR/failures" ]]
}
