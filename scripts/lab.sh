#!/usr/bin/env bash
# Runs the HPVS secure build lab on the embedded default stack (devstack: real notary-server
# and docker-registry on loopback). Idempotent: every run uses fresh temporary directories.
# Arguments go to the lab binary: `--out DIR`, and `--production-notary` for notary-server on
# PostgreSQL with a separate notary-signer over mutual TLS (notary's production topology).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-peers.sh
cargo run --locked --quiet -p examples --bin lab -- "$@"
