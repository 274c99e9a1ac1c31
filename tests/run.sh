#!/usr/bin/env bash
# The whole floodgate test suite on a fresh Debian machine (run as root, or with sudo available):
#   tests/run.sh
# It installs what it needs (apt packages, i2pd, cargo-fuzz, the Python deployment linters), then
# runs, in order: formatting, clippy, every unit/integration/interop test, the benchmarks and the
# relay bench (tests/bench/relay-bench.sh) in smoke mode, the deployment checks, the container delivery (tests/deploy/container-ci.sh: Docker image
# built and run, compose relay, dashboard queries against live routers), and a short fuzz smoke run.
# Environment knobs:
#   FUZZ_SECONDS=N     seconds per fuzz target (default 20; 0 skips the fuzz smoke run)
#   SKIP_SETUP=1       do not install packages (you have them)
#   CONTAINER_CI=0     skip the container delivery step (it needs root and docker.io, installed if missing)
#   CARGO_TARGET_DIR / CCACHE_DIR   default to ~/.cache/floodgate/{target,ccache} so repeated runs
#                      (and CI on the same machine) reuse the RocksDB C++ build
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n=== %s\n' "$*"; }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  say "setup: system packages"
  # libclang-dev: bindgen for librocksdb-sys; ccache: C++ build cache; i2pd: the interop peers;
  # prometheus: promtool; iproute2: network namespaces for the private testnet.
  # jq, util-linux (taskset): the relay bench script. libssl-dev, pkg-config: the openssl crate
  # (NTCP2's data-phase AEAD, see src/crypto/noise.rs).
  pkgs=(libclang-dev libssl-dev pkg-config ccache i2pd prometheus iproute2 procps curl zip python3-venv shellcheck jq util-linux)
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # i2pd's Debian package starts a system router on the real network; the tests never want it.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now i2pd >/dev/null 2>&1 || true; fi
  $SUDO pkill -x -f '/usr/sbin/i2pd --conf=/etc/i2pd/i2pd.conf.*' 2>/dev/null || true
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floodgate/target}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/floodgate/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
if command -v ccache >/dev/null 2>&1; then export CC="ccache gcc" CXX="ccache g++"; fi
mkdir -p "$CARGO_TARGET_DIR" "$CCACHE_DIR"
# External tools are mandatory in this script: tests fail instead of skipping when one is missing.
export CI=true
export RUST_BACKTRACE=1

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

say "cargo test"
test_log=$(mktemp)
cargo test --lib --bins --tests --locked -- --test-threads=2 2>&1 | tee "$test_log"
# Summed from cargo's per-binary "test result" lines, for the closing line below.
read -r tests_passed tests_failed < <(awk '/^test result:/ {p += $4; f += $6} END {print p + 0, f + 0}' "$test_log")
rm -f "$test_log"

say "benches, smoke mode (each criterion benchmark runs once, unmeasured)"
cargo test --benches --locked

say "relay bench, smoke mode (floodgate bench against floodgate and i2pd: tunnels, TunnelData, netDb)"
# The real side-by-side run (release build, K=1000) is in README's performance section; this only
# proves the pipeline works end to end against both routers. Needs root (network namespace).
$SUDO env "PATH=$PATH" tests/bench/relay-bench.sh --smoke --bin "$CARGO_TARGET_DIR/debug/floodgate"

say "deployment checks (Helm chart, manifests, Dockerfile, compose, alert rules, dashboard PromQL)"
tests/deploy/check.sh

if [ "${CONTAINER_CI:-1}" != 0 ]; then
  say "container delivery (image from the Dockerfile, two live routers, compose relay, dashboard queries)"
  # The debug binary `cargo test` just built is the fallback image payload when the static release
  # build is cold; the script prints which image path it took. Needs root (dockerd, nsenter).
  ci_env=(env "PATH=$PATH" "HOME=$HOME" "CCACHE_DIR=$CCACHE_DIR"
          "FLOODGATE_DEBUG_BINARY=$CARGO_TARGET_DIR/debug/floodgate")
  if [ -n "${CC:-}" ]; then ci_env+=("CC=$CC" "CXX=$CXX"); fi
  $SUDO "${ci_env[@]}" tests/deploy/container-ci.sh
fi

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
if [ "$FUZZ_SECONDS" != 0 ] && [ -d fuzz ]; then
  say "fuzz smoke (${FUZZ_SECONDS}s per target)"
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  fi
  # Separate target dir: sanitizer flags would otherwise invalidate the test build.
  for t in $(cargo +nightly fuzz list); do
    CC=gcc CXX=g++ CARGO_TARGET_DIR="$HOME/.cache/floodgate/fuzz-target" \
      cargo +nightly fuzz run "$t" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 2>&1 | tail -n 3
  done
fi

say "all stages passed"
echo "tests: ${tests_passed} passed, ${tests_failed} failed"
