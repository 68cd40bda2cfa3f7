#!/usr/bin/env bash
# Build a second CRIU, 4.2.x, from Debian's *source* package of another suite
# (default sid; CRIU_SUITES="sid forky trixie-backports" is the order tried),
# to check the plugin against it:
#
#   bash test/scripts/provision-criu-4.2.sh          # prints the criu path
#   CRIU=$(bash test/scripts/provision-criu-4.2.sh | tail -1) make integration
#
# Same method as provision-criu.sh (run `make criu` first: it installs the
# build dependencies): a private apt state dir under .cache/ with one deb-src
# line that reuses the archive URI the machine's own apt sources name, then
# `apt-get source --tar-only criu/<suite>`, `make criu` (and `lib crit`, so the
# tests can decode images with that version's crit). The tree lands in
# .cache/criu-<version>; a second run only prints the path.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CRIU_NOTIFY_CACHE:-$top/.cache}
SUITES=${CRIU_SUITES:-sid forky trixie-backports}

log() { echo "provision-criu-4.2: $*" >&2; }

# A tree already built by an earlier run.
for t in "$CACHE"/criu-4.2*/; do
	t=${t%/}
	case $t in *-ext) continue ;; esac  # provision-criu-ext.sh's test builds
	if [ -x "$t/criu/criu" ] && "$t/criu/criu" check >/dev/null 2>&1 \
		&& [ -f "$t/crit/crit/version.py" ]; then
		echo "$t/criu/criu"
		exit 0
	fi
done

uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || { log "no Debian archive URI found in apt sources"; exit 1; }

st=$CACHE/apt-state-4.2
dl=$CACHE/src-4.2
mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/etc/preferences.d" "$dl"
opts=(-o "Dir::Etc::SourceList=$st/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::Etc::PreferencesParts=$st/etc/preferences.d"
	-o "Dir::State::Lists=$st/lists" -o "Dir::Cache=$st/cache" -o "APT::Sandbox::User=root")

# One suite at a time: the first whose criu is 4.2.x.
ver=
for s in $SUITES; do
	echo "deb-src $uri $s main" > "$st/etc/sources.list"
	apt-get "${opts[@]}" update -qq >&2
	v=$(apt-cache "${opts[@]}" showsrc criu 2>/dev/null | sed -n 's/^Version: *//p' | sort -V | tail -1)
	log "suite $s: criu ${v:-(none)}"
	case $v in 4.2*) suite=$s; ver=$v; break ;; esac
done
[ -n "$ver" ] || { log "no suite of [$SUITES] has criu 4.2.x"; exit 1; }
upstream=${ver#*:}
upstream=${upstream%-*}
SRC=$CACHE/criu-$upstream

if [ ! -f "$SRC/Makefile" ]; then
	log "fetching criu $ver source package from $suite"
	(cd "$dl" && apt-get "${opts[@]}" source --tar-only "criu/$suite" >&2)
	orig=$(ls "$dl"/criu_"$upstream"*.orig.tar.* 2>/dev/null | head -1)
	[ -n "$orig" ] || { log "criu_$upstream orig tarball not found"; ls "$dl" >&2; exit 1; }
	rm -rf "$SRC.tmp"
	mkdir -p "$SRC.tmp"
	tar -xf "$orig" -C "$SRC.tmp" --strip-components=1
	mv "$SRC.tmp" "$SRC"
fi
if ! [ -x "$SRC/criu/criu" ]; then
	log "building CRIU $upstream in $SRC"
	make -C "$SRC" -j"$(nproc)" criu >&2
fi
if [ ! -f "$SRC/crit/crit/version.py" ]; then
	log "building crit and pycriu"
	make -C "$SRC" -j"$(nproc)" lib crit >&2
fi
"$SRC/criu/criu" check >&2 || { log "$SRC/criu/criu does not pass 'criu check'"; exit 1; }
echo "$SRC/criu/criu"
