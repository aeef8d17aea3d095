#!/usr/bin/env bash
# Throughput of variant A against variant B as interleaved A/B pairs: the
# method BENCHMARKS.md uses for the throughput targets. On this kind of
# machine throughput moves by up to 2x between runs minutes apart, for
# every variant at once; two runs seconds apart move together, so the ratio
# within one pair is far less noisy than a median across passes.
#
#   bench/pairs.sh A B KIND CONNS [PAIRS]   e.g. bench/pairs.sh greenstd tokio echo 100 7
#
# Each pair runs A then B, or B then A (alternating), each against a fresh
# server with `loadgen KIND --conns CONNS` (WARMUP_MS 1000, DURATION_MS 2000
# by default). Prints each pair's round trips per second and p99, then the
# median of the per-pair ratios A/B (above 1: A is faster; for p99, below 1:
# A's is lower) and each variant's median p99. Needs the release binaries
# (`cargo run --release -p bench` builds them, Go's `go-echo` included);
# GREENSTD_WORKERS passes through.
set -euo pipefail
a=$1 b=$2 kind=$3 conns=$4 pairs=${5:-7}
warmup=${WARMUP_MS:-1000} duration=${DURATION_MS:-2000}
cd "${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release"
ulimit -n 20000 2>/dev/null || true
for v in "$a" "$b"; do
    [ -x "./$v-$kind" ] || { echo "no $PWD/$v-$kind: build it first" >&2; exit 2; }
done
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; true' EXIT

# One run: "RPS P99_US" of variant $1.
run() {
    local port=$((21000 + RANDOM % 4000)) out
    "./$1-$kind" "127.0.0.1:$port" 2>/dev/null &
    server=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    out=$(./loadgen "$kind" "127.0.0.1:$port" --conns "$conns" \
        --warmup-ms "$warmup" --duration-ms "$duration")
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
    case $out in
    *" errors=0 "*) ;;
    *) echo "$1: $out" >&2; exit 1 ;;
    esac
    echo "$out" | sed -n 's/.*rps=\([0-9.]*\).* p99_us=\([0-9.]*\).*/\1 \2/p'
}

results=$(mktemp)
for i in $(seq "$pairs"); do
    if [ $((i % 2)) -eq 1 ]; then
        ra=$(run "$a"); rb=$(run "$b")
    else
        rb=$(run "$b"); ra=$(run "$a")
    fi
    echo "$ra $rb" >>"$results"
    echo "pair $i: $a ${ra% *} rps p99 ${ra#* } us, $b ${rb% *} rps p99 ${rb#* } us" >&2
done
awk -v a="$a" -v b="$b" -v what="$kind $conns" '
function median(x, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
}
{ n++; r[n] = $1 / $3; q[n] = $2 / $4; pa[n] = $2; pb[n] = $4; ra[n] = $1; rb[n] = $3 }
END {
    printf "%s %s vs %s: throughput %.2fx (pairs %d; median rps %.0f vs %.0f), p99 %.2fx (median %.0f vs %.0f us)\n",
        what, a, b, median(r, n), n, median(ra, n), median(rb, n), median(q, n), median(pa, n), median(pb, n)
}' "$results"
rm -f "$results"
