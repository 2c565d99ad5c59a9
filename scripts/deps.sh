#!/usr/bin/env bash
# Installs the Debian packages berth's build, demo and tests need, if missing.
set -euo pipefail
pkgs=(busybox-static libseccomp-dev pkg-config util-linux openssl procps nftables iproute2 curl wrk skopeo docker-registry apache2-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v docker >/dev/null || echo "note: the docker CLI is not installed; tests that drive it will fail" >&2
