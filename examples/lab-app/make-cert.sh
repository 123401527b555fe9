#!/bin/sh
# Makes the wallet's TLS key and self-signed certificate: make-cert.sh DIR [HOSTNAME].
#
# Why at every start: the certificate names the container's host name (CN and DNS
# subjectAltName), which is only known when the container runs, and a fresh key per start
# means no key is baked into the image. basicConstraints CA:FALSE because clients such as
# rustls refuse an end-entity certificate that claims to be a CA. The files go to DIR
# (/run/wallet by default, outside /data: nothing of it should persist).
set -eu
dir=${1:?usage: make-cert.sh DIR [HOSTNAME]}
host=${2:-$(hostname)}
umask 077
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth"
