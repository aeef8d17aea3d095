#!/bin/sh
# Instructions (and, with CACHE=1, simulated cache misses) per echo round
# trip of one server variant, deterministic and insensitive to load: runs
# the server under callgrind while bench/echo_rounds.py makes CONNS x R and
# then CONNS x 3R round trips, and divides the difference by CONNS x 2R
# (start-up, accepts and tear-down cancel).
#
#   bench/callgrind-echo.sh greenstd [CONNS] [R]   # target/release/greenstd-echo
#   bench/callgrind-echo.sh may 5000 10            # target/release/may-echo
#
# Build first: cargo build --release -p bench-greenstd -p bench-may
# -p bench-tokio. WORKERS (default 2) sets GREENSTD_WORKERS. KEEP=DIR keeps
# both runs' profiles there, one file per thread (callgrind_annotate
# DIR/3r.out-02).
#
# Each thread is counted apart (bench/callgrind_roles.py), and the round
# trip's instructions are also printed by role: may's scheduler threads
# (the workers, and threads that took a worker's slot in a hand-off), the
# monitor, the rest; with the hand-offs the monitor tried. Valgrind runs one
# thread at a time, ~50x slower: the monitor finds workers held (waiting
# for valgrind's lock, in a system call) far more often than natively and
# hands them off (natively an echo server has none), so the whole-process
# count moves by +-20% run to run with the hand-offs. GREENSTD_MAX_THREADS=2
# (passed through) refuses them: the scheduler threads' count is then
# stable to about 1%.
set -eu
variant=$1
conns=${2:-100}
r=${3:-50}
workers=${WORKERS:-2}
here=$(dirname "$0")
bin=${CARGO_TARGET_DIR:-$here/../target}/release/$variant-echo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
opts=""
[ -n "${CACHE:-}" ] && opts="--cache-sim=yes"
opts="$opts --separate-threads=yes"
ulimit -n 20000 2>/dev/null || true
count() {
    port=$((25000 + $(od -An -N2 -tu2 /dev/urandom) % 5000))
    GREENSTD_WORKERS=$workers nice -n 19 valgrind --tool=callgrind $opts \
        --callgrind-out-file="$tmp/$1.out" "$bin" "127.0.0.1:$port" >/dev/null 2>"$tmp/$1.err" &
    server=$!
    # Wait until it listens (valgrind starts slowly).
    i=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$tmp/$1.err" >&2; exit 1; }
        sleep 0.2
    done
    python3 "$here/echo_rounds.py" "$port" "$conns" "$2"
    # (TERM: a background job of a script ignores INT; its pid may be a
    # shell's, not valgrind's.)
    pkill -TERM -f "callgrind-out-file=$tmp/$1.out" || true
    wait $server 2>/dev/null || true
    # One "totals:" line per thread's file; summed per event.
    cat "$tmp/$1".out-* | sed -n 's/^totals: //p' |
        awk '{for (i = 1; i <= NF; i++) s[i] += $i} END {for (i = 1; i <= NF; i++) printf "%d ", s[i]; print ""}'
}
a=$(count 1r "$r")
b=$(count 3r $((3 * r)))
n=$((conns * 2 * r))
echo "$variant echo: $(echo "$a" | awk -v b="$b" -v n=$n '{split(b, y, " "); out=""; for (i = 1; i <= NF; i++) out = out sprintf("%.1f ", (y[i] - $i) / n); print out}')per round trip (workers=$workers, $conns conns, $n round trips; events: $(sed -n 's/^events: //p' "$tmp/3r.out-01"))"
python3 "$here/callgrind_roles.py" "$tmp" "$n"
if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cp "$tmp"/1r.out-* "$tmp"/3r.out-* "$KEEP/"
fi
