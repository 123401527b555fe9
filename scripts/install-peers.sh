#!/usr/bin/env bash
# Installs the real peers the tests, the lab and the benches run against, only where missing:
# the Debian packages notary (notary, notary-server, notary-signer), postgresql (the database
# of devstack's production notary topology), docker-registry, skopeo, gnupg, openssl, and curl
# (the raw-transfer ceiling of the oci bench), and what hpvs-sim runs workloads with: runc,
# busybox-static (the test workloads' root filesystem), iproute2 (network namespaces), mount
# (losetup), e2fsprogs, xfsprogs and btrfs-progs (the quota mounts' mkfs); and schemathesis
# from PyPI for the API fuzz test; git and openssh-server (sshd) for the lab's git host;
# buildah for the Secure Build Server's Dockerfiles with RUN; bzip2 and xxd for the lab's
# manifest commands; mmdebstrap for the lab's Debian base image; chromium and chromium-driver
# for the browser test and the lab's screenshot.
# Idempotent; runs apt-get update once, and only when something is missing.
set -euo pipefail

# binary -> Debian package
peers=(
  "notary:notary"
  "notary-server:notary"
  "notary-signer:notary"
  "docker-registry:docker-registry"
  "skopeo:skopeo"
  "gpg:gnupg"
  "openssl:openssl"
  "curl:curl"
  "runc:runc"
  "busybox:busybox-static"
  "ip:iproute2"
  "losetup:mount"
  "mkfs.ext4:e2fsprogs"
  "mkfs.xfs:xfsprogs"
  "mkfs.btrfs:btrfs-progs"
  "git:git"
  "buildah:buildah"
  "bzip2:bzip2"
  "xxd:xxd"
  "ssh:openssh-client"
  "ssh-keygen:openssh-client"
  "mmdebstrap:mmdebstrap"
  "chromium:chromium"
  "chromedriver:chromium-driver"
)

missing=()
for pair in "${peers[@]}"; do
  bin=${pair%%:*}
  pkg=${pair##*:}
  if ! command -v "$bin" >/dev/null 2>&1; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done
# Debian keeps the PostgreSQL server binaries off PATH, in /usr/lib/postgresql/N/bin.
postgres_present() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_isready" ] && [ -x "$dir/psql" ]; then
      return 0
    fi
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 \
    && command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1
}
if ! postgres_present; then
  missing+=("postgresql")
fi
# sshd (the lab's git host) lives in /usr/sbin, off a non-root PATH.
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
  missing+=("openssh-server")
fi

# schemathesis (PyPI) fuzzes hpvs-sim's API from its OpenAPI document.
if ! command -v st >/dev/null 2>&1; then
  echo "install-peers: installing schemathesis from PyPI"
  python3 -m pip install -q --disable-pip-version-check "schemathesis==4.32.5"
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-peers: all peers present (notary, notary-server, notary-signer, postgresql, docker-registry, skopeo, gpg, openssl, curl, runc, busybox, ip, losetup, mkfs.ext4, mkfs.xfs, mkfs.btrfs, git, buildah, bzip2, xxd, ssh, mmdebstrap, chromium, chromedriver, sshd, st)"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-peers: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-peers: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
# Packages such as openssh-server start their daemon when installed; the tests start their own
# on free loopback ports, so no service is started here (policy-rc.d, as container images do).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  made_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
if [ "$made_policy" = 1 ]; then
  "${sudo_cmd[@]}" rm -f "$policy"
fi
exit "$status"
