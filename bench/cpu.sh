#!/usr/bin/env bash
# CPU time per round trip of the server and of the client, user and system,
# over 2.8 s of a 3 s measured window: where a variant's share of the two
# cores goes (client and server share them, so a server that costs the
# client more CPU per round trip is slower too).
#
#   bench/cpu.sh VARIANT KIND CONNS      e.g. bench/cpu.sh greenstd echo 10000
#
# Reads /proc/PID/stat (utime, stime) of the server and of loadgen; needs the
# release binaries (the benchmark command builds them). GREENSTD_WORKERS is
# passed through (default: one per core).
set -euo pipefail
v=$1 kind=$2 conns=$3
cd "${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release"
ulimit -n 20000 2>/dev/null || true
port=$((21000 + RANDOM % 4000))
"./$v-$kind" "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.3
out=$(mktemp)
./loadgen "$kind" "127.0.0.1:$port" --conns "$conns" --warmup-ms 1500 --duration-ms 3000 >"$out" &
client=$!
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
sleep 1.6
read -r su0 ss0 < <(ticks $server); read -r cu0 cs0 < <(ticks $client); t0=$(date +%s.%N)
sleep 2.8
read -r su1 ss1 < <(ticks $server); read -r cu1 cs1 < <(ticks $client); t1=$(date +%s.%N)
wait $client
rps=$(sed 's/.*rps=\([0-9]*\).*/\1/' "$out")
echo "$v $kind $conns: $(cat "$out")"
rm -f "$out"
awk -v rps="$rps" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    -v su=$((su1 - su0)) -v ss=$((ss1 - ss0)) -v cu=$((cu1 - cu0)) -v cs=$((cs1 - cs0)) 'BEGIN {
    dt = t1 - t0; f = 1e6 / hz / dt / rps
    printf "  server %.2f CPUs, %.1f us per round trip (user %.1f, system %.1f)\n", (su + ss) / hz / dt, (su + ss) * f, su * f, ss * f
    printf "  client %.2f CPUs, %.1f us per round trip (user %.1f, system %.1f)\n", (cu + cs) / hz / dt, (cu + cs) * f, cu * f, cs * f
}'
