#!/usr/bin/env bash
# A real blocking server crate from crates.io, rebuilt on greenstd with only
# the Cargo form added to its Cargo.toml, must pass its own test suite.
#
# The crate's source is fetched with cargo (nothing of it is committed),
# copied to a scratch directory, given
#
#     [dependencies.std]
#     package = "greenstd"
#     path = "<this workspace>"
#
# and tested with `cargo test`. A small probe test is added beside its own
# tests to show that the patch took effect (its `std` is greenstd, its server
# threads are coroutines). Everything happens under target/third-party.
#
# Usage: tests/third_party/run.sh [CRATE VERSION]   (default: tiny_http 0.12.0)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
crate="${1:-tiny_http}"
version="${2:-0.12.0}"
work="$root/target/third-party"
mkdir -p "$work"

# 1. Fetch the published source through cargo's registry cache.
fetch="$work/fetch-$crate-$version"
mkdir -p "$fetch/src"
: >"$fetch/src/lib.rs"
cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "fetch-third-party"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$crate = "=$version"
TOML
(cd "$fetch" && cargo fetch --quiet)
manifest="$(cd "$fetch" && cargo metadata --format-version 1 --quiet \
  | grep -o "\"manifest_path\":\"[^\"]*/$crate-$version/Cargo.toml\"" \
  | head -n 1 | sed 's/^"manifest_path":"//; s/"$//')"
if [ -z "$manifest" ]; then
  echo "third-party: cannot find the source of $crate $version" >&2
  exit 1
fi

# 2. A writable copy, patched by its Cargo.toml alone.
src="$work/$crate-$version"
rm -rf "$src"
cp -R "$(dirname "$manifest")" "$src"
chmod -R u+w "$src"
rm -f "$src/Cargo.lock"
# Pin greenstd's own dependencies to the workspace's versions.
cp "$root/Cargo.lock" "$src/Cargo.lock"
cat >>"$src/Cargo.toml" <<TOML

# Added by greenstd's tests/third_party/run.sh: the whole patch.
[dependencies.std]
package = "greenstd"
path = "$root"

[workspace]
TOML

# 3. The probe: proof that this build's std is greenstd.
probe="$root/tests/third_party/probe/$crate.rs"
if [ -f "$probe" ]; then
  cp "$probe" "$src/tests/greenstd_probe.rs"
fi

# 4. Its own test suite (and the probe), in its own target directory.
cd "$src"
echo "third-party: cargo test of $crate $version on greenstd ($src)"
CARGO_TARGET_DIR="$work/target" cargo test --no-fail-fast 2>&1 | tee "$work/$crate-$version.log"
status="${PIPESTATUS[0]}"
echo "third-party: $crate $version: cargo test exited with $status"
exit "$status"
