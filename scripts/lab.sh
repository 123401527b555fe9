#!/usr/bin/env bash
# Runs the HPVS secure build lab on the embedded default stack (devstack: real notary-server
# and docker-registry on loopback). Idempotent: every run uses fresh temporary directories.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-peers.sh
cargo run --locked --quiet -p examples --bin lab -- "$@"
