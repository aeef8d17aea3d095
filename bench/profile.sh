#!/usr/bin/env bash
# Syscalls and context switches per round trip of one server variant under
# load: the profile behind the analysis in BENCHMARKS.md.
#
#   bench/profile.sh VARIANT KIND CONNS     e.g. bench/profile.sh greenstd echo 1000
#
# VARIANT: greenstd | may | tokio | std (or go, echo only, once the benchmark
# built target/release/go-echo); KIND: echo | http. Needs `perf`
# (apt-get install linux-perf) and the release binaries (the benchmark
# command builds them). Records the server for 2 s of a 3 s measured window.
set -euo pipefail
v=$1 kind=$2 conns=$3
cd "${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release"
port=$((21000 + RANDOM % 4000))
data=$(mktemp -d)
"./$v-$kind" "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
sleep 0.3
(
  sleep 1.5
  perf stat -e task-clock,context-switches,cpu-migrations -p "$server" -o "$data/stat" -- sleep 2 >/dev/null 2>&1 &
  perf record -q -e raw_syscalls:sys_enter -p "$server" -o "$data/sys" -- sleep 2 >/dev/null 2>&1
  wait
) &
out=$(./loadgen "$kind" "127.0.0.1:$port" --conns "$conns" --warmup-ms 1000 --duration-ms 3000)
wait %2 2>/dev/null || true
echo "$v $kind $conns: $out"
rps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$out")
grep -E "task-clock|context-switches|cpu-migrations" "$data/stat"
echo "syscalls per round trip (thread, syscall number):"
perf script -i "$data/sys" -F comm,trace 2>/dev/null >"$data/calls"
awk -v rps="$rps" '{n[$1" "$3]++; t++}
    END {for (k in n) if (n[k] / (rps * 2) >= 0.005) printf "  %-32s %.2f\n", k, n[k] / (rps * 2);
         printf "  %-32s %.2f\n", "total", t / (rps * 2)}' "$data/calls" | sort -k3 -rn
# The rate above is loadgen's over its 3 s, the calls perf's over 2 s of them:
# for a server that answers each request with one `sendto` (every variant but
# Go, which uses `write`), the count per `sendto` (number 44 on x86_64, the
# machine these benchmarks run on) is the steadier figure.
awk '$3 == 44 {s++} {t++} END {if (s) printf "  %-32s %.2f\n", "total per sendto", t / s}' "$data/calls"
