#!/usr/bin/env bash
# Provision a CRIU that works on this kernel, plus crit and zdtm, for
# criu-notify.
#
#   provision-criu.sh              prints, as its last line, the criu binary
#                                  to use:
#     1. $CRIU if set (the caller chose);
#     2. `criu` on PATH if it is >= 4.1 and `criu check` passes;
#     3. otherwise the CRIU this script builds (below).
#   provision-criu.sh --tree       builds (if needed) and prints the CRIU
#                                  source tree: <tree>/criu/criu, crit
#                                  (<tree>/lib, <tree>/crit), zdtm
#                                  (<tree>/test); ignores $CRIU and PATH.
#   provision-criu.sh --check BIN  only the 4.1.x check below, for BIN.
#
# What it builds, into $CACHE/criu-<version> (default .cache/ in the repo,
# git-ignored), chosen by CRIU_WANT:
#   4.2 (default)  Debian's criu source package from the first of the suites
#                  $CRIU_SUITES (default "sid forky trixie-backports") that
#                  has 4.2.x;
#   4.1            the same from trixie (CRIU_SUITES default "trixie"): 4.1.x;
#   dev            CRIU's development branch from the snapshot
#                  $CRIU_DEV_SRC/criu-dev-*.tar.xz (default: ../shared/criu-src
#                  beside the repo), into $CACHE/criu-dev.
# Each gets `make criu`, `make lib crit` and zdtm's lib and the static tests
# in $ZDTM_TESTS. An existing complete tree of that version is reused without
# asking the archive again: a second run only prints the path.
#
# A criu 4.1.x (on PATH, in $CRIU, or built with CRIU_WANT=4.1) is used, but
# when this kernel answers EOPNOTSUPP to getsockopt(SO_PASSCRED) on an inet
# socket, which 4.1.x asks for on every socket it dumps, a warning says that
# it cannot dump TCP/UDP sockets here (CRIU 4.2 asks only AF_UNIX/netlink
# sockets). CRIU_NOTIFY_CHECK=0 leaves that check out.
#
# Other settings: CRIU_NOTIFY_BUILD_CRIU=1 ignores criu on PATH;
# CRIU_NOTIFY_JOBS (default nproc) is make's -j.
#
# No registry host is written anywhere: the deb-src line reuses the URI that
# the machine's own apt sources already name, in a private apt state dir.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CRIU_NOTIFY_CACHE:-$top/.cache}
JOBS=${CRIU_NOTIFY_JOBS:-$(nproc)}
WANT=${CRIU_WANT:-4.2}
ZDTM_TESTS="inotify00 inotify01 inotify02 inotify04 inotify_irmap inotify_system inotify_system_nodel epoll epoll01 fanotify00"

log() { echo "provision-criu: $*" >&2; }
die() { log "$*"; exit 1; }

mode=path
case ${1:-} in
--tree) mode=tree ;;
--check) mode=check; [ -n "${2:-}" ] || die "--check needs a criu binary" ;;
"") ;;
*) die "unknown argument '$1' (--tree, --check BIN)" ;;
esac

case $WANT in
4.2) SUITES=${CRIU_SUITES:-sid forky trixie-backports} ;;
4.1) SUITES=${CRIU_SUITES:-trixie} ;;
dev) DEV_SRC=${CRIU_DEV_SRC:-$top/../shared/criu-src} ;;
*) die "CRIU_WANT must be 4.2, 4.1 or dev, not '$WANT'" ;;
esac

# The version a criu binary reports ("4.1.1", "4.2"), empty if it does not run.
criu_version() {
	"$1" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -1
}

criu_ok() {
	local bin=$1 v
	[ -x "$bin" ] || return 1
	v=$(criu_version "$bin")
	[ -n "$v" ] || return 1
	# >= 4.1
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%.*}
	if [ "$major" -lt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -lt 1 ]; }; then
		return 1
	fi
	"$bin" check >/dev/null 2>&1
}

# CRIU 4.1.x reads SO_PASSCRED (SOL_SOCKET 1, optname 16) with getsockopt on
# every socket it dumps; current kernels answer EOPNOTSUPP for inet sockets,
# and the dump fails. Try it rather than trust a table of kernel versions.
# Prints the error ("Operation not supported") when the kernel refuses.
inet_passcred_error() {
	[ -x /usr/bin/python3 ] || return 0
	/usr/bin/python3 - <<- 'EOF' || true
	import errno, os, socket
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	try:
	    s.getsockopt(socket.SOL_SOCKET, 16)  # SO_PASSCRED
	except OSError as e:
	    if e.errno == errno.EOPNOTSUPP:
	        print(os.strerror(e.errno))
	EOF
}

# warn_if_41 BIN [HINT]
warn_if_41() {
	local bin=$1 hint=${2:-} v err
	[ "${CRIU_NOTIFY_CHECK:-1}" != 0 ] || return 0
	v=$(criu_version "$bin")
	case $v in 4.1 | 4.1.*) ;; *) return 0 ;; esac
	err=$(inet_passcred_error)
	[ -n "$err" ] || return 0
	log "WARNING: criu 4.1.x cannot dump TCP/UDP sockets on this kernel (getsockopt SO_PASSCRED: $err); use CRIU >= 4.2 ($bin is $v)"
	[ -z "$hint" ] || log "WARNING: $hint"
}

if [ "$mode" = check ]; then
	warn_if_41 "$2" "rm .cache/criu-path; CRIU_NOTIFY_BUILD_CRIU=1 make criu builds CRIU 4.2 into .cache/ and uses it"
	exit 0
fi

BUILD_DEPS="build-essential pkgconf libbsd-dev libcap-dev libgnutls28-dev libnet1-dev \
 libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler \
 protobuf-compiler uuid-dev python3-protobuf python3-yaml iptables \
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

# Always make sure the packages the plugin build and the tests need are there.
need_pkgs $BUILD_DEPS

if [ "$mode" = path ]; then
	if [ -n "${CRIU:-}" ]; then
		criu_ok "$CRIU" || die "CRIU=$CRIU is not a working criu >= 4.1"
		warn_if_41 "$CRIU" "unset CRIU to have CRIU 4.2 built into .cache/"
		echo "$CRIU"
		exit 0
	fi
	if [ -z "${CRIU_NOTIFY_BUILD_CRIU:-}" ] && [ -z "${CRIU_WANT:-}" ] &&
		sys=$(command -v criu) && criu_ok "$sys"; then
		log "using $sys ($("$sys" --version | head -1))"
		warn_if_41 "$sys" "rm .cache/criu-path; CRIU_NOTIFY_BUILD_CRIU=1 make criu builds CRIU 4.2 into .cache/ and uses it"
		echo "$sys"
		exit 0
	fi
fi

mkdir -p "$CACHE"

# ---------------------------------------------------------------------------
# Finding or fetching the source tree: sets SRC
# ---------------------------------------------------------------------------

# The newest unpacked tree of $WANT already in $CACHE (built or not).
existing_tree() {
	local t
	case $WANT in
	dev) t=$CACHE/criu-dev ;;
	*) t=$(ls -d "$CACHE"/criu-"$WANT".*/ 2>/dev/null | sed 's|/$||' | grep -v -e '-ext$' -e '\.tmp$' | sort -V | tail -1 || true) ;;
	esac
	[ -n "$t" ] && [ -f "$t/Makefile" ] && echo "$t"
	return 0
}

# Debian's source package of the first suite in $SUITES whose criu is $WANT.x.
fetch_debian() {
	local uri st dl opts s v ver= suite= upstream orig
	# The debian.sources (deb822) or sources.list URI of the main archive.
	uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || die "no Debian archive URI found in apt sources"
	st=$CACHE/apt-state-$WANT
	dl=$CACHE/src-$WANT
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/etc/preferences.d" "$dl"
	opts=(-o "Dir::Etc::SourceList=$st/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::Etc::PreferencesParts=$st/etc/preferences.d"
		-o "Dir::State::Lists=$st/lists" -o "Dir::Cache=$st/cache" -o "APT::Sandbox::User=root")
	# One suite at a time: the first whose criu is $WANT.x.
	for s in $SUITES; do
		echo "deb-src $uri $s main" > "$st/etc/sources.list"
		apt-get "${opts[@]}" update -qq >&2
		v=$(apt-cache "${opts[@]}" showsrc criu 2>/dev/null | sed -n 's/^Version: *//p' |
			grep -E "^([0-9]+:)?${WANT//./\\.}(\.|-|\+|~|$)" | sort -V | tail -1 || true)
		log "suite $s: criu ${v:-(no $WANT.x)}"
		if [ -n "$v" ]; then
			suite=$s
			ver=$v
			break
		fi
	done
	[ -n "$ver" ] || die "no suite of [$SUITES] has criu $WANT.x"
	upstream=${ver#*:}
	upstream=${upstream%-*}
	SRC=$CACHE/criu-$upstream
	log "fetching criu $ver source package from $suite"
	(cd "$dl" && apt-get "${opts[@]}" source --tar-only "criu=$ver" >&2)
	orig=$(ls "$dl"/criu_"$upstream"*.orig.tar.* 2>/dev/null | head -1)
	[ -n "$orig" ] || { ls "$dl" >&2; die "criu_$upstream orig tarball not found"; }
	rm -rf "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -xf "$orig" -C "$SRC.tmp" --strip-components=1
	mv "$SRC.tmp" "$SRC"
}

# The criu-dev snapshot (newest criu-dev-*.tar.xz of $DEV_SRC). The tree
# remembers which tarball it came from and is replaced when that changes.
dev_tarball() {
	ls "$DEV_SRC"/criu-dev-*.tar.* 2>/dev/null | sort -V | tail -1  || true
}
fetch_dev() {
	local tb=$1
	SRC=$CACHE/criu-dev
	log "unpacking $tb into $SRC"
	rm -rf "$SRC.tmp" "$SRC"
	mkdir -p "$SRC.tmp"
	tar -xf "$tb" -C "$SRC.tmp" --strip-components=1
	basename "$tb" > "$SRC.tmp/.criu-notify-source"
	mv "$SRC.tmp" "$SRC"
}

SRC=$(existing_tree)
if [ "$WANT" = dev ]; then
	tb=$(dev_tarball)
	[ -n "$tb" ] || die "no criu-dev-*.tar.* in $DEV_SRC (CRIU_DEV_SRC=dir names another)"
	if [ -z "$SRC" ] || [ "$(cat "$SRC/.criu-notify-source" 2>/dev/null)" != "$(basename "$tb")" ]; then
		fetch_dev "$tb"
	fi
elif [ -z "$SRC" ]; then
	fetch_debian
fi

# ---------------------------------------------------------------------------
# Building what is missing
# ---------------------------------------------------------------------------

if ! criu_ok "$SRC/criu/criu"; then
	log "building CRIU in $SRC"
	make -C "$SRC" -j"$JOBS" criu >&2
fi
if [ ! -f "$SRC/lib/pycriu/images/magic.py" ] || [ ! -f "$SRC/crit/crit/version.py" ]; then
	# crit (the image decoder the tests and zdtm use) needs the generated
	# python protobuf modules: run it as
	#   PYTHONPATH=$SRC/lib:$SRC/crit /usr/bin/python3 -m crit
	log "building crit and pycriu"
	make -C "$SRC" -j"$JOBS" lib crit >&2
fi

zdtm_built=1
[ -f "$SRC/test/zdtm/lib/libzdtmtst.a" ] || zdtm_built=0
for t in $ZDTM_TESTS; do [ -x "$SRC/test/zdtm/static/$t" ] || zdtm_built=0; done
if [ "$zdtm_built" = 0 ]; then
	log "building zdtm lib and static tests: $ZDTM_TESTS"
	make -C "$SRC/test/zdtm/lib" -j"$JOBS" >&2
	make -C "$SRC/test/zdtm/static" -j"$JOBS" $ZDTM_TESTS >&2
fi

if ! criu_ok "$SRC/criu/criu"; then
	"$SRC/criu/criu" check >&2 || true
	die "built criu at $SRC/criu/criu does not pass 'criu check'"
fi
log "CRIU $(criu_version "$SRC/criu/criu") in $SRC"
if [ "$mode" = tree ]; then
	echo "$SRC"
else
	warn_if_41 "$SRC/criu/criu"
	echo "$SRC/criu/criu"
fi
