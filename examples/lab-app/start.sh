#!/bin/sh
# The container's entry point: a fresh certificate for this host name, then the wallet on
# port 443 with its data in /data. Needs no environment.
set -eu
/app/make-cert.sh /run/wallet
exec python3 /app/wallet.py
