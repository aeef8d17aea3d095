#!/bin/sh
# Instructions per operation of one primitive (bench/plain/prims.rs,
# bench/may/src/bin/prims.rs), deterministic and insensitive to load:
# runs `PRIMS xN NAME` and `PRIMS x2N NAME` under callgrind and divides the
# difference of their instruction counts by N (start-up and tear-down cancel).
#
#   bench/callgrind.sh greenstd park_round_trip [N]   # target/release/greenstd-prims
#   bench/callgrind.sh may yield_now                  # target/release/may-prims
#
# Build first: cargo build --release -p bench-greenstd -p bench-may.
# WORKERS (default 1) is the number of workers: with one, every switch is a
# switch on the same worker, the path being measured. KEEP=DIR keeps the
# 2N run's profile there (callgrind_annotate DIR/callgrind.out).
set -eu
variant=$1
name=$2
n=${3:-20000}
workers=${WORKERS:-1}
bin=${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/$variant-prims
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
    GREENSTD_WORKERS=$workers MAY_WORKERS=$workers nice -n 19 \
        valgrind --tool=callgrind --callgrind-out-file="$tmp/$1.out" \
        "$bin" "x$1" "$name" >/dev/null 2>"$tmp/$1.err" ||
        { cat "$tmp/$1.err" >&2; exit 1; }
    sed -n 's/^summary: //p' "$tmp/$1.out"
}
a=$(count "$n")
b=$(count $((2 * n)))
echo "$variant $name $(( (b - a) / n )) Ir/op (workers=$workers, $n and $((2 * n)) ops: $a, $b)"
if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$tmp/$((2 * n)).out" "$KEEP/callgrind.out"
fi
