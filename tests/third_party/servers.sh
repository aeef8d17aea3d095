#!/usr/bin/env bash
# Blocking clients of real servers, plain and under `cargo green`: redis
# (sync API) against redis-server, postgres against PostgreSQL, and
# reqwest::blocking (which runs a tokio runtime inside) against a local
# HTTP server that answers after 100 ms — all on loopback.
# tests/third_party/clients is built with `cargo build --release` and with
# `cargo green build --release`, unchanged, and each mode runs on both
# builds with 2 workers. Prints a table; fails when a request fails, when
# the green build is slower than 1.5 x plain (+0.5 s of slack for a busy
# machine) or uses more than 16 OS threads, or when a green run does not
# finish on 1 worker.
#
# Needs redis-server and PostgreSQL's initdb/pg_ctl (Debian: redis-server,
# postgresql; .ci/run installs them). Servers are started here, on free
# ports, data in target/, and stopped on exit.
#
# Usage: tests/third_party/servers.sh
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$root/target/third-party-servers"
mkdir -p "$work"
green_target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && CARGO_TARGET_DIR="$green_target" cargo build --quiet -p cargo-green) || exit 1
export PATH="$green_target/debug:$PATH"
export CARGO_TERM_COLOR=never

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if ! command -v redis-server >/dev/null || [ ! -x "$pg_bin/initdb" ]; then
  echo "servers: needs redis-server and PostgreSQL (Debian packages redis-server, postgresql)" >&2
  exit 1
fi

# The clients, plain and green (each in its own target directory).
src="$work/src"
rm -rf "$src"
cp -R "$root/tests/third_party/clients" "$src"
(cd "$src" && CARGO_TARGET_DIR="$work/plain" cargo build --quiet --release) || exit 1
(cd "$src" && CARGO_TARGET_DIR="$work/green" cargo green build --quiet --release) || exit 1
plain="$work/plain/release/real-clients"
green="$work/green/release/real-clients"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  if [ -f "$work/pg/data/postmaster.pid" ]; then as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1; fi
}
trap cleanup EXIT
free_port() { # a port nobody listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}
# PostgreSQL refuses to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# redis-server, no persistence.
redis_port="$(free_port)"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --maxclients 2000 >"$work/redis.log" 2>&1 &
pids+=($!)
# PostgreSQL: a fresh cluster, trust authentication, on loopback.
rm -rf "$work/pg"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres >"$work/initdb.log" 2>&1 || { echo "servers: initdb failed (see $work/initdb.log)" >&2; exit 1; }
pg_port="$(free_port)"
as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -c max_connections=300 -c unix_socket_directories=$work/pg" start >/dev/null \
  || { echo "servers: PostgreSQL did not start (see $work/pg/log)" >&2; exit 1; }
# The HTTP server: the plain build's, on OS threads.
"$plain" serve >"$work/http.port" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$work/http.port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
  sleep 0.1
done
http_port="$(head -n 1 "$work/http.port")"

field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }
status=0
rows=()
run() { # name expected-ok args...
  local name="$1" want="$2"
  shift 2
  local p g one
  p="$(GREENSTD_WORKERS=2 timeout 300 "$plain" "$@")"
  g="$(GREENSTD_WORKERS=2 timeout 300 "$green" "$@")"
  one="$(GREENSTD_WORKERS=1 timeout 300 "$green" "$@")"
  local pms gms gth note=""
  pms="$(field elapsed_ms "$p")"
  gms="$(field elapsed_ms "$g")"
  gth="$(field os_threads "$g")"
  if [ "$(field ok "$p")" != "$want" ] || [ "$(field ok "$g")" != "$want" ]; then note="$note requests failed;"; fi
  if [ "$(field ok "$one")" != "$want" ]; then note="$note did not finish on 1 worker;"; fi
  if [ -z "$gms" ] || [ -z "$pms" ] || [ "$gms" -gt $((pms * 3 / 2 + 500)) ]; then note="$note slower than 1.5x plain;"; fi
  if [ -z "$gth" ] || [ "$gth" -gt 16 ]; then note="$note more than 16 OS threads;"; fi
  [ -n "$note" ] && status=1
  rows+=("$(printf '| %s | %s ms, %s OS threads | %s ms, %s OS threads | %s ms |%s' "$name" \
    "$pms" "$(field os_threads "$p")" "$gms" "$gth" "$(field elapsed_ms "$one")" "${note:+ FAILED:$note}")")
}
run "redis: 200 threads x 50 SET + GET" 10000 redis "127.0.0.1:$redis_port" 200
run "postgres: 200 threads x 5 pg_sleep(0.05)" 1000 postgres "host=127.0.0.1 port=$pg_port user=postgres" 200
run "reqwest::blocking: 200 threads x 5 GETs (100 ms), shared Client" 1000 http "http://127.0.0.1:$http_port/" 200 shared
run "reqwest::blocking: same, a Client per request" 1000 http "http://127.0.0.1:$http_port/" 200 each

echo
echo "| clients (release, 2 workers) | plain | cargo green | cargo green, 1 worker |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit "$status"
