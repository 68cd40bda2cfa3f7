#!/usr/bin/env bash
# Provision a CRIU that works on this kernel, plus zdtm, for criu-notify.
#
# Prints, as its last line, the path of the criu binary to use.
#   1. $CRIU if set (the caller chose);
#   2. `criu` on PATH if it is >= 4.1 and `criu check` passes;
#   3. otherwise CRIU 4.1.1 built from Debian trixie's *source* package into
#      $CACHE (default: .cache/ in the repo, git-ignored), with zdtm's static
#      tests that the test suite runs.
# A second run with everything in place does nothing but print the path.
# No registry host is written anywhere: the deb-src line reuses the URI that
# the machine's own apt sources already name.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CRIU_NOTIFY_CACHE:-$top/.cache}
CRIU_VERSION=4.1.1
SRC=$CACHE/criu-$CRIU_VERSION
ZDTM_TESTS="inotify00 inotify01 inotify02 inotify04 inotify_irmap inotify_system inotify_system_nodel epoll epoll01 fanotify00"

log() { echo "provision-criu: $*" >&2; }

BUILD_DEPS="build-essential pkgconf libbsd-dev libcap-dev libgnutls28-dev libnet1-dev \
 libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler \
 protobuf-compiler uuid-dev python3-protobuf python3-yaml iptables libclang-dev \
 dpkg-dev xz-utils"

apt_updated=0
need_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	if [ "$apt_updated" = 0 ]; then
		apt-get update -qq >&2
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

criu_ok() {
	local bin=$1 v
	[ -x "$bin" ] || return 1
	v=$("$bin" --version 2>/dev/null | sed -n 's/^Version: *//p')
	[ -n "$v" ] || return 1
	# >= 4.1
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%.*}
	if [ "$major" -lt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -lt 1 ]; }; then
		return 1
	fi
	"$bin" check >/dev/null 2>&1
}

# Always make sure the packages the plugin build and the tests need are there.
need_pkgs $BUILD_DEPS

if [ -n "${CRIU:-}" ]; then
	criu_ok "$CRIU" || { log "CRIU=$CRIU is not a working criu >= 4.1"; exit 1; }
	echo "$CRIU"
	exit 0
fi

if [ -z "${CRIU_NOTIFY_BUILD_CRIU:-}" ] && sys=$(command -v criu) && criu_ok "$sys"; then
	log "using $sys ($("$sys" --version | head -1))"
	echo "$sys"
	exit 0
fi

fetch_source() {
	# The debian.sources (deb822) or sources.list URI of the main archive.
	local uri
	uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || { log "no Debian archive URI found in apt sources"; exit 1; }
	local st=$CACHE/apt-state
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/etc/preferences.d"
	echo "deb-src $uri trixie main" > "$st/etc/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$st/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::Etc::PreferencesParts=$st/etc/preferences.d"
		-o "Dir::State::Lists=$st/lists" -o "Dir::Cache=$st/cache" -o "APT::Sandbox::User=root")
	log "fetching criu source package from trixie"
	apt-get "${opts[@]}" update -qq >&2
	(cd "$CACHE" && apt-get "${opts[@]}" source --tar-only "criu/trixie" >&2)
	local orig
	orig=$(ls "$CACHE"/criu_"$CRIU_VERSION"*.orig.tar.* 2>/dev/null | head -1)
	[ -n "$orig" ] || { log "criu_$CRIU_VERSION orig tarball not found (trixie moved on?)"; ls "$CACHE" >&2; exit 1; }
	mkdir -p "$SRC.tmp"
	tar -xf "$orig" -C "$SRC.tmp" --strip-components=1
	mv "$SRC.tmp" "$SRC"
}

mkdir -p "$CACHE"
[ -f "$SRC/Makefile" ] || { rm -rf "$SRC.tmp"; fetch_source; }

if ! criu_ok "$SRC/criu/criu"; then
	log "building CRIU $CRIU_VERSION in $SRC"
	make -C "$SRC" -j"$(nproc)" criu >&2
fi
if [ ! -f "$SRC/lib/pycriu/images/magic.py" ] || [ ! -f "$SRC/crit/crit/version.py" ]; then
	# crit (the image decoder the tests and zdtm use) needs the generated
	# python protobuf modules: run it as
	#   PYTHONPATH=$SRC/lib:$SRC/crit /usr/bin/python3 -m crit
	log "building crit and pycriu"
	make -C "$SRC" -j"$(nproc)" lib crit >&2
fi

zdtm_built=1
for t in $ZDTM_TESTS; do [ -x "$SRC/test/zdtm/static/$t" ] || zdtm_built=0; done
if [ "$zdtm_built" = 0 ]; then
	log "building zdtm lib and static tests: $ZDTM_TESTS"
	make -C "$SRC/test/zdtm/lib" -j"$(nproc)" >&2
	make -C "$SRC/test/zdtm/static" -j"$(nproc)" $ZDTM_TESTS >&2
fi

criu_ok "$SRC/criu/criu" || { log "built criu at $SRC/criu/criu does not pass 'criu check'"; "$SRC/criu/criu" check >&2 || true; exit 1; }
echo "$SRC/criu/criu"
