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
export CARGO_TARGET_DIR="$work/target"
export GREENSTD_WORKERS=2
export CARGO_TERM_COLOR=never
per_run_timeout="${GREEN_SUITE_TIMEOUT:-600}"

# cargo green itself, on PATH as a cargo subcommand.
(cd "$root" && cargo build --quiet -p cargo-green) || exit 1
export PATH="$root/target/debug:$PATH"

# crate version skip... (a skip is a test-name filter for `--skip`)
suites=(
  "tiny_http 0.12.0"
  "tungstenite 0.21.0"
  # Every one of its client tests names example.com or wikipedia.org (all
  # skipped); its server tests talk to localhost / 127.0.0.1 / [::1].
  "oxhttp 0.2.7 client::tests::"
  "crossbeam-channel 0.5.15"
  "scheduled-thread-pool 0.2.7"
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
  read -r crate version skips <<<"$line"
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
    (cd "$dst" && timeout "$per_run_timeout" "${cmd[@]}" --no-fail-fast -- "${skip_args[@]}") >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    read -r passed failed <<<"$(count "$log")"
    eval "${mode}_passed=$passed ${mode}_failed=$failed ${mode}_secs=$secs ${mode}_rc=$rc"
    grep -E "^cargo green: " "$log" >&2 || true
  done
  rows+=("$(printf '| %s | %s | %s passed, %s failed | %s passed, %s failed | %ss / %ss |' \
    "$crate" "$version" "$std_passed" "$std_failed" "$green_passed" "$green_failed" "$std_secs" "$green_secs")")
  if [ "$green_rc" -ne 0 ] || [ "$green_passed" -ne "$std_passed" ] || [ "$green_passed" -eq 0 ]; then
    echo "green-suites: $crate $version differs under cargo green (exit $green_rc; see $work/$crate-$version.green.log)" >&2
    status=1
  fi
done

echo
echo "| crate | version | tests on std | tests under cargo green | time (std / green) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
total_passed=0; total_failed=0
exit "$status"
