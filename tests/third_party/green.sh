#!/usr/bin/env bash
# Real blocking crates from crates.io run their own test suites twice: with
# plain `cargo test` (real std) and with `cargo green test` (the crate and
# its whole dependency graph rebuilt against greenstd, nothing edited by
# hand), on 2 workers. Prints a table: crate, version, tests passed on std,
# tests passed under cargo green, time of each run.
#
# Each crate's source is fetched through cargo (nothing of it is committed)
# and copied to target/third-party-green/src/. Tests that would leave
# loopback (internet hosts, private-range addresses) are skipped by name:
# every suite's tests were read for addresses other than
# 127.0.0.1 / [::1] / localhost, and each skip below says why.
#
# Usage: tests/third_party/green.sh [CRATE ...]   (default: all of them)
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$root/target/third-party-green"
mkdir -p "$work"

# cargo green itself, on PATH as a cargo subcommand (built where the
# workspace's builds go: CARGO_TARGET_DIR when set).
green_target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && CARGO_TARGET_DIR="$green_target" cargo build --quiet -p cargo-green) || exit 1
export PATH="$green_target/debug:$PATH"

export CARGO_TARGET_DIR="$work/target"
export GREENSTD_WORKERS=2
export CARGO_TERM_COLOR=never
per_run_timeout="${GREEN_SUITE_TIMEOUT:-600}"

# Each suite: "crate version | cargo test's target arguments | tests to skip"
# (a skip is a name filter for the test harness's --skip). Doc tests are
# not run: they are usage examples, and several name real hosts.
# ureq 2.12.1 with its default features (tls, gzip): the tests that leave
# loopback, each by its full path (a --skip filter matches a substring, so a
# bare name would skip more than it says). Every other test talks to a
# `test://` handler in memory or to a server of its own on localhost.
ureq_skips=(
  "tests::connect_http_google"              # GET http://www.google.com/
  "tests::connect_https_google_rustls"      # GET https://www.google.com/
  "tests::connect_https_invalid_name"       # resolves example.com{REQUEST_URI} with the system resolver
  "error::tests::status_code_error_redirect" # its handler redirects to http://example.com/status/500
  "request::tests::send_byte_slice"         # POST http://example.com
  "test::range::read_range_rustls"          # GET from an S3 bucket (amazonaws.com)
  "test::redirect::redirect_host"           # follows a redirect to example.invalid (a DNS lookup)
  "test::agent_test::socket_addr_fail_over" # connects to 10.255.255.1 (private range) before 127.0.0.1
)
crossbeam_quick="--lib --test after --test array --test golang --test iter --test list --test mpsc --test never --test same_channel --test thread_locals --test tick"
if [ "${GREEN_SUITES_FULL:-0}" = 1 ]; then crossbeam_quick="--lib --tests"; fi
suites=(
  # A blocking HTTP server (std::net, std::thread, mpsc); only loopback.
  "tiny_http 0.12.0 | --lib --tests |"
  # WebSocket; its published tests are unit tests (no sockets).
  "tungstenite 0.21.0 | --lib --tests |"
  # Its current version: its dev-dependencies (env_logger, anstream,
  # is_terminal_polyfill) name std's sealed IsTerminal, and env_logger
  # shares log's types with env_filter.
  "tungstenite 0.29.0 | --lib --tests |"
  # A blocking HTTP server framework with a thread pool. Every one of its
  # client tests names example.com or wikipedia.org: the module is skipped;
  # its server tests talk to localhost / 127.0.0.1 / [::1].
  "oxhttp 0.2.7 | --lib --tests | client::tests::"
  # An HTTP client whose tests run a local server (testserver.rs, on
  # localhost) or in-memory `test://` handlers. Skipped: the tests listed
  # in ureq_skips above (each leaves loopback); tests/https-agent.rs (all
  # of it on the internet) is not run (--lib).
  "ureq 2.12.1 | --lib | ${ureq_skips[*]}"
  # Parks through crossbeam-utils (a crate of greenstd's own runtime, so
  # rebuilt as a renamed copy). CI runs its lighter test files; set
  # GREEN_SUITES_FULL=1 for all of them (select, select_macro, ready and
  # zero add ~5 minutes on 2 cores).
  "crossbeam-channel 0.5.15 | $crossbeam_quick |"
  # Parks through parking_lot (its Condvar: renamed copies of parking_lot
  # and parking_lot_core with greenstd's thread parker).
  "scheduled-thread-pool 0.2.7 | --lib --tests |"
)

fetch() { # crate version -> prints the source directory
  local crate="$1" version="$2" dir="$work/fetch-$1-$2"
  mkdir -p "$dir/src"
  : >"$dir/src/lib.rs"
  printf '[package]\nname = "fetch-third-party"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$version" >"$dir/Cargo.toml"
  (cd "$dir" && cargo fetch --quiet) || return 1
  (cd "$dir" && cargo metadata --format-version 1 --quiet) \
    | grep -o "\"manifest_path\":\"[^\"]*/$crate-$version/Cargo.toml\"" \
    | head -n 1 | sed 's/^"manifest_path":"//; s/\/Cargo.toml"$//'
}

count() { # log -> "passed failed"
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "%d %d", p, f }' "$1"
}

want=("$@")
rows=()
status=0
for line in "${suites[@]}"; do
  IFS='|' read -r head targets skips <<<"$line"
  read -r crate version <<<"$head"
  read -r -a target_args <<<"$targets"
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " =~ " $crate " ]]; then continue; fi
  src="$(fetch "$crate" "$version")"
  if [ -z "$src" ]; then echo "green-suites: cannot fetch $crate $version" >&2; status=1; continue; fi
  dst="$work/src/$crate-$version"
  rm -rf "$dst"
  mkdir -p "$work/src"
  cp -R "$src" "$dst"
  chmod -R u+w "$dst"
  printf '\n[workspace]\n' >>"$dst/Cargo.toml"
  # A lockfile shipped with the crate can pin versions today's rustc
  # rejects: both runs resolve afresh (the green run copies the std run's).
  rm -f "$dst/Cargo.lock"
  skip_args=()
  for s in $skips; do skip_args+=(--skip "$s"); done
  for mode in std green; do
    log="$work/$crate-$version.$mode.log"
    if [ "$mode" = std ]; then cmd=(cargo test); else cmd=(cargo green test); fi
    echo "green-suites: $crate $version: ${cmd[*]}" >&2
    start=$(date +%s)
    (cd "$dst" && timeout "$per_run_timeout" "${cmd[@]}" --no-fail-fast "${target_args[@]}" -- "${skip_args[@]}") >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    read -r passed failed <<<"$(count "$log")"
    eval "${mode}_passed=$passed ${mode}_failed=$failed ${mode}_secs=$secs ${mode}_rc=$rc"
    grep -E "^cargo green: " "$log" >&2 || true
  done
  # Tests that fail under cargo green and pass on std: each is run once
  # more, alone, under cargo green (the suites have timing assertions and
  # this machine is shared); one that fails again is a difference.
  failed_names() { sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$1" | sort -u; }
  note=""
  differs=0
  for t in $(comm -13 <(failed_names "$work/$crate-$version.std.log") <(failed_names "$work/$crate-$version.green.log")); do
    if (cd "$dst" && timeout "$per_run_timeout" cargo green test "${target_args[@]}" -- --exact "$t") \
      >"$work/$crate-$version.green.rerun.log" 2>&1; then
      note="$note $t: failed once, passed when run again;"
    else
      note="$note $t: FAILS under cargo green;"
      differs=1
    fi
  done
  rows+=("$(printf '| %s | %s | %s passed, %s failed | %s passed, %s failed | %ss / %ss |%s' \
    "$crate" "$version" "$std_passed" "$std_failed" "$green_passed" "$green_failed" "$std_secs" "$green_secs" \
    "${note:+ $note}")")
  # A failure with no failed test to show for it: a build error, a crash
  # or the timeout.
  if [ "$green_rc" -ne 0 ] && [ "$std_rc" -eq 0 ] \
    && [ -z "$(failed_names "$work/$crate-$version.green.log")" ]; then
    differs=1
  fi
  if [ "$green_passed" -eq 0 ] || [ $((green_passed + green_failed)) -ne $((std_passed + std_failed)) ]; then
    differs=1
  fi
  if [ "$differs" -ne 0 ]; then
    echo "green-suites: $crate $version differs under cargo green (exit $green_rc; see $work/$crate-$version.green.log)" >&2
    status=1
  fi
done

echo
echo "| crate | version | tests on std | tests under cargo green | time (std / green) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit "$status"
