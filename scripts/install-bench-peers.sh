#!/usr/bin/env bash
# Installs the peers only the benches use, where missing: podman (with conmon and
# slirp4netns), the anchor of the appliance bench (`cargo bench -p benches --bench appliance`).
# The tests never need it, so scripts/test.sh does not run this. The peers the tests share
# with the benches (docker-registry, notary-server, runc, busybox-static, skopeo, curl) come
# from scripts/install-peers.sh. Idempotent; runs apt-get update once, only when needed.
set -euo pipefail

# binary -> Debian package
peers=(
  "podman:podman"
  "conmon:conmon"
  "slirp4netns:slirp4netns"
)

missing=()
for pair in "${peers[@]}"; do
  bin=${pair%%:*}
  pkg=${pair##*:}
  if ! command -v "$bin" >/dev/null 2>&1 && ! [ -x "/usr/libexec/podman/$bin" ]; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-peers: all bench peers present (podman, conmon, slirp4netns)"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-bench-peers: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-bench-peers: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
