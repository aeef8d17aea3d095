#!/usr/bin/env bash
# Timer lateness under a saturating load (issue 22 item 4): one variant's
# lateness program (an echo server with 100 threads sleeping 10 ms in a loop
# and 100 threads reading with a 10 ms read timeout from silent
# connections) while loadgen keeps CONNS (default 5,000) echo connections
# busy; prints the p50/p99/max lateness of both kinds of deadline.
#
#   bench/lateness.sh greenstd|tokio|go [CONNS]
#
# 2 worker threads each: GREENSTD_WORKERS=2, tokio's default on 2 cores
# (TOKIO_WORKER_THREADS=2), GOMAXPROCS=2. Build first: cargo build
# --release -p bench -p bench-greenstd -p bench-tokio; the Go program is
# built here with `go build` into target/release/go-lateness.
set -euo pipefail
v=$1 conns=${2:-5000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${CARGO_TARGET_DIR:-$here/../target}/release
if [ "$v" = go ]; then
    (cd "$here/go" && go build -o "$bin/go-lateness" ./lateness)
fi
ulimit -n 20000 2>/dev/null || true
port=$((26000 + RANDOM % 4000))
out=$(mktemp)
trap 'rm -f "$out"' EXIT
GREENSTD_WORKERS=2 TOKIO_WORKER_THREADS=2 GOMAXPROCS=2 "$bin/$v-lateness" "127.0.0.1:$port" 3 >"$out" &
server=$!
sleep 0.3
trap 'kill $server 2>/dev/null; rm -f "$out"' EXIT
# The probes record from 1.5 s to 4.5 s; the load runs from 0.3 s to 6.3 s.
load=$("$bin/loadgen" echo "127.0.0.1:$port" --conns "$conns" --warmup-ms 1000 --duration-ms 5000)
kill $server
wait $server 2>/dev/null || true
echo "$v, $conns busy echo connections: $load"
sed 's/^/  /' "$out"
