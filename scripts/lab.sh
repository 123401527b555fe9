#!/usr/bin/env bash
# Runs the HPVS secure build lab on the embedded default stack: devstack's notary-server,
# docker-registry and git host, and hpvs-sim (the appliance emulator) on loopback; all six
# steps through the appliance, ending with the wallet reached over HTTPS. Installs the peers it
# needs first; every run uses fresh temporary directories (the Debian base image is cached in
# /var/tmp/hpvs-lab-cache, or $HPVS_LAB_CACHE). Runs as root (hpvs-sim runs containers).
#
#   ./scripts/lab.sh [--out DIR] [--keep] [--screenshot FILE] [--production-notary]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-peers.sh
# The lab runs the `hpvs` CLI and starts hpvs-sim: both are found beside the lab binary.
cargo build --locked --quiet -p hpvs-sim --bin hpvs-sim -p examples --bin hpvs --bin lab
cargo run --locked --quiet -p examples --bin lab -- "$@"
