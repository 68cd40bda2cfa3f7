#!/usr/bin/env bash
# Fuzz every decoder of the plugin with cargo fuzz (libFuzzer), one target
# after the other, and turn what crashes into regression inputs.
#                                     (`make fuzz FUZZ_SECONDS=N`)
#
# Usage: test/scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS   how long each target runs (default 600)
#   TARGET    targets to run (default: all, as `cargo fuzz list` shows them)
#
# What it does:
#   * installs cargo-fuzz from crates.io when it is missing;
#   * builds the targets of test/fuzz (its own workspace; build in
#     test/fuzz/target) with AddressSanitizer, falling back to no sanitizer
#     when ASan does not build or run here, and with debug assertions
#     (overflow checks) on;
#   * seeds test/fuzz/corpus/<target>/ with small valid inputs made by the
#     crate's own encoders (test/fuzz/examples/seed.rs) and with real CRIU
#     images from earlier test runs (test/out, CRIU's zdtm dump dirs, or
#     $FUZZ_IMAGES_DIR), so that the fuzzer starts past the headers;
#   * runs each target for SECONDS with -rss_limit_mb=512 -malloc_limit_mb=256
#     -timeout=10 (a panic, a hang over 10 s, a single allocation over
#     256 MiB or an RSS over 512 MiB is a crash); one libFuzzer process (one
#     job, one worker) at a time: the machine has 2 cores;
#   * copies each crashing input (minimized with `cargo fuzz tmin` when that
#     works) to test/fuzz/regressions/<target>/, where the plugin's
#     `fuzz_regressions` test (cargo test --test fuzz_regressions, part of
#     `make unit`) replays it; commit it together with the fix;
#   * writes test/out/fuzz/report.txt (runs, coverage, corpus, result per
#     target) and each target's libFuzzer log test/out/fuzz/<target>.log.
#
# Exit status: non-zero if a target crashed (or did not build).
#
# How it works on this machine: cargo fuzz passes -Z flags to rustc
# (-Zsanitizer=address, -Cpasses=sancov-module ...), which only a nightly
# compiler accepts. The machine has the stable toolchain only, and none can
# be downloaded, so RUSTC_BOOTSTRAP=1 makes stable rustc accept them; its
# rust-std ships the ASan runtime (librustc-stable_rt.asan.a).
#
# Environment:
#   FUZZ_SANITIZER=address|none   force a sanitizer (default: address, else none)
#   FUZZ_IMAGES_DIR=dir           more real CRIU images to seed from
#   FUZZ_TOOLCHAIN=+nightly       a cargo toolchain argument to use instead
#                                 of stable + RUSTC_BOOTSTRAP
#   FUZZ_ARGS="..."               extra libFuzzer flags
set -euo pipefail

top=${CRIU_NOTIFY_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$top"
secs=${1:-600}
[[ -n $secs ]] || secs=600
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number, got '$secs'" >&2; exit 2; }
shift || true

fdir=test/fuzz
out=test/out/fuzz
corpus=$fdir/corpus
artifacts=$fdir/artifacts
regressions=$fdir/regressions
mkdir -p "$out" "$corpus" "$regressions"

toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z $toolchain ]]; then
    export RUSTC_BOOTSTRAP=1
fi
cargo_() { cargo ${toolchain:+"$toolchain"} "$@"; }

# --- cargo-fuzz ------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked
fi
echo "fuzz: $(cargo fuzz --version), $(rustc ${toolchain:+"$toolchain"} --version)${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}"

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo_ fuzz list --fuzz-dir "$fdir")
fi
((${#targets[@]} > 0)) || { echo "fuzz: no targets" >&2; exit 1; }

# --- build -----------------------------------------------------------------
# -a: debug assertions and overflow checks; release otherwise.
build() { cargo_ fuzz build --fuzz-dir "$fdir" -a -s "$1" >"$out/build-$1.log" 2>&1; }
# A tiny run of one target: does a binary built with this sanitizer start here?
smoke() {
    local d; d=$(mktemp -d)
    printf 'x' >"$d/x"
    cargo_ fuzz run --fuzz-dir "$fdir" -a -s "$1" "${targets[0]}" "$d" -- -runs=100 >"$out/smoke-$1.log" 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}
san=${FUZZ_SANITIZER:-}
built=
if [[ -z $san ]]; then
    san=address
    echo "fuzz: building ${#targets[@]} targets with ASan"
    if build address && smoke address; then
        built=yes
    else
        echo "fuzz: ASan does not build or run here (see $out/build-address.log, $out/smoke-address.log); no sanitizer"
        san=none
    fi
fi
echo "fuzz: sanitizer '$san'"
if [[ -z $built ]] && ! build "$san"; then
    echo "fuzz: build failed:" >&2
    tail -30 "$out/build-$san.log" >&2
    exit 1
fi

# --- seeds -----------------------------------------------------------------
echo "fuzz: seeding corpora"
cargo run -q --manifest-path "$fdir/Cargo.toml" --example seed -- "$corpus"

# Real CRIU images, at most 64 KiB each and 40 of a kind, named by content.
seed_images() {
    local dirs=() d f base sum n=0
    for d in "${FUZZ_IMAGES_DIR:-}" test/out .cache/criu-*/test/dump; do
        [[ -n $d && -d $d ]] && dirs+=("$d")
    done
    ((${#dirs[@]} > 0)) || return 0
    while IFS= read -r -d '' f; do
        base=$(basename "$f")
        case $base in
            notify-inotify.img|notify-eventpoll.img) kind=plugin ;;
            files.img|fdinfo-*.img|inventory.img) kind=takeover ;;
            pstree.img|ids-*.img|stats-dump|stats-restore) kind=tree ;;
            *) continue ;;
        esac
        sum=$(sha1sum "$f" | cut -c1-16)
        # `find` lists files in directory order, so a kind's first 40 are a
        # mix of runs; keep a count per base kind.
        local key=${base%%-[0-9]*}
        local c; c=$(ls "$corpus/image_framing" 2>/dev/null | grep -c "^real-$key" || true)
        ((c < 40)) || continue
        cp "$f" "$corpus/image_framing/real-$key-$sum"
        cp "$f" "$corpus/messages/real-$key-$sum"
        case $kind in
            plugin) cp "$f" "$corpus/validate/real-$key-$sum" ;;
            takeover) { printf '\xff'; cat "$f"; } >"$corpus/takeover_rewrite/real-$key-$sum" ;;
        esac
        n=$((n + 1))
    done < <(find "${dirs[@]}" -type f \( -name '*.img' -o -name 'stats-*' \) -size -64k -print0 2>/dev/null)
    echo "fuzz: $n real CRIU images added to the corpora"
}
seed_images

# --- run -------------------------------------------------------------------
flags=(-max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 -print_final_stats=1)
# shellcheck disable=SC2206
flags+=(${FUZZ_ARGS:-})
report=$out/report.txt
{
    echo "criu-notify fuzzing: $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "sanitizer: $san; per target: ${secs}s; libFuzzer flags: ${flags[*]}"
    printf '%-18s %8s %12s %8s %8s %10s  %s\n' target seconds runs cov ft corpus result
} >"$report"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t" "$artifacts/$t"
    before=$(ls "$artifacts/$t" | sort)
    echo "fuzz: $t for ${secs}s"
    start=$(date +%s)
    set +e
    cargo_ fuzz run --fuzz-dir "$fdir" -a -s "$san" "$t" "$corpus/$t" -- "${flags[@]}" >"$out/$t.log" 2>&1
    rc=$?
    set -e
    took=$(($(date +%s) - start))
    last=$(grep -a -E '^#[0-9]+' "$out/$t.log" | tail -1 || true)
    runs=$(grep -a -oE 'stat::number_of_executed_units: *[0-9]+' "$out/$t.log" | grep -oE '[0-9]+$' || true)
    [[ -n $runs ]] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
    ncorp=$(ls "$corpus/$t" | wc -l)
    new=$(comm -13 <(echo "$before") <(ls "$artifacts/$t" | sort) | grep -E '^(crash|oom|timeout|leak)-' || true)
    result=ok
    if ((rc != 0)) || [[ -n $new ]]; then
        result="FAILED (exit $rc)"
        failed+=("$t")
        echo "fuzz: $t FAILED (exit $rc); log: $out/$t.log" >&2
        grep -a -m1 -A3 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY" "$out/$t.log" >&2 || true
        mkdir -p "$regressions/$t"
        for a in $new; do
            src=$artifacts/$t/$a
            min=$artifacts/$t/minimized-$a
            # Minimize (bounded); keep the original when that fails.
            if timeout 120 cargo ${toolchain:+"$toolchain"} fuzz tmin --fuzz-dir "$fdir" -a -s "$san" "$t" "$src" -- -runs=5000 \
                -exact_artifact_path="$min" >"$out/$t.tmin.log" 2>&1 && [[ -s $min ]]; then
                src=$min
            fi
            cp "$src" "$regressions/$t/$a"
            echo "fuzz: $t: new regression input $regressions/$t/$a" >&2
            result+=" $a"
        done
    fi
    printf '%-18s %8s %12s %8s %8s %10s  %s\n' "$t" "$took" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$ncorp" "$result" >>"$report"
done

echo
cat "$report"
if ((${#failed[@]} > 0)); then
    echo "fuzz: crashes in: ${failed[*]}; inputs are in $regressions/ (replayed by cargo test --test fuzz_regressions)" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
