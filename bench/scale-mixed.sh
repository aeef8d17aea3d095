#!/bin/sh
# Idle echo connections beside a crowd of parked threads, in one process:
# `greenstd-scale serve PARKED ADDR` parks PARKED threads on a Condvar, then
# serves echo; `loadgen idle` opens CONNS connections and makes one 64-byte
# round trip on each. Prints the server's ready line, loadgen's result and
# the server's RSS and page tables with everything held.
#
#   bench/scale-mixed.sh [PARKED [CONNS [VARIANT]]]   # default 981000 19000 greenstd
#
# Build first: cargo build --release -p bench -p bench-greenstd. CONNS must
# stay under the open-file limit (ulimit -n) less a few hundred.
set -eu
parked=${1:-981000}
conns=${2:-19000}
variant=${3:-greenstd}
bin=${BIN:-$(dirname "$0")/../target/release}
addr=127.0.0.1:${PORT:-23456}
tmp=$(mktemp -d)
trap 'kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
GREENSTD_WORKERS=2 "$bin/$variant-scale" serve "$parked" "$addr" >"$tmp/out" 2>"$tmp/err" &
srv=$!
while ! grep -q ready "$tmp/out"; do
    kill -0 "$srv" || { cat "$tmp/err"; exit 1; }
    sleep 0.2
done
cat "$tmp/out"
mkfifo "$tmp/hold"
"$bin/loadgen" idle "$addr" --conns "$conns" <"$tmp/hold" >"$tmp/load" &
load=$!
exec 3>"$tmp/hold"
while [ ! -s "$tmp/load" ]; do sleep 0.2; done
sleep 1
echo "loadgen: $(cat "$tmp/load")"
grep -E '^(VmRSS|VmPTE|Threads)' "/proc/$srv/status" | tr -s ' \t' ' ' | tr '\n' ' '
echo
exec 3>&-
wait "$load"
