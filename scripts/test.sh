#!/usr/bin/env bash
# Installs what the tests need, then runs formatting, lint, docs and the whole test suite
# against the real peers. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-peers.sh

# The tests start notary-server and docker-registry on free loopback ports themselves.
export RUST_BACKTRACE=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== cargo test"
cargo test --workspace --locked
FUZZ_PROFILE=dev bash scripts/fuzz.sh 3  # every fuzz target for 3 s over its committed corpus
