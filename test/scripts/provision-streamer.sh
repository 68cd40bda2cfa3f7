#!/usr/bin/env bash
# criu-image-streamer, the program `criu dump/restore --stream` talks to,
# for the --stream test (test/integration/modes.rs).
#
# Unpacks a source tarball of criu-image-streamer into .cache/ (git-ignored)
# and builds it with cargo (its crates come from crates.io). Nothing of it is
# committed. Without LTO and with parallel codegen (the upstream release
# profile uses lto = true, codegen-units = 1: minutes on two cores for no
# gain in a test).
#
#   STREAMER_TARBALL=path   source tarball (default: the snapshot in
#                           /work/shared/criu-src/, commit 6117660)
#
# Prints, as its last line, the path of the binary. Re-runs are no-ops.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CRIU_NOTIFY_CACHE:-$top/.cache}
TARBALL=${STREAMER_TARBALL:-/work/shared/criu-src/criu-image-streamer-6117660.tar.xz}
name=$(basename "$TARBALL")
name=${name%.tar.*}
DST=$CACHE/$name
bin=$DST/target/release/criu-image-streamer

log() { echo "provision-streamer: $*" >&2; }

if [ ! -x "$bin" ]; then
	[ -f "$TARBALL" ] || { log "no source tarball at $TARBALL (set STREAMER_TARBALL)"; exit 1; }
	command -v cargo >/dev/null || { log "cargo is needed to build criu-image-streamer"; exit 1; }
	command -v protoc >/dev/null || { log "protoc is needed (Debian: protobuf-compiler)"; exit 1; }
	if [ ! -f "$DST/Cargo.toml" ]; then
		log "unpacking $TARBALL into $DST"
		rm -rf "$DST.tmp"
		mkdir -p "$DST.tmp"
		# The tarball holds one directory, whatever its name.
		tar -C "$DST.tmp" --strip-components=1 -xf "$TARBALL"
		mv "$DST.tmp" "$DST"
	fi
	log "building $DST (cargo build --release)"
	(cd "$DST" && CARGO_TARGET_DIR="$DST/target" \
		CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
		cargo build --release --locked >&2)
fi
"$bin" --help >/dev/null 2>&1 || { log "$bin does not run"; exit 1; }
echo "$bin"
