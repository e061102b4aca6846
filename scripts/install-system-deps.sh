#!/usr/bin/env bash
# Installs the Debian packages the tests, the lab and the demo need (idempotent; needs root).
set -euo pipefail
PKGS=(iptables ipset nftables iproute2 kmod docker.io runc tini openssh-server openssh-client busybox-static curl socat systemd sudo opendoas util-linux procps)
# runc (1.1, Debian 12) and tini (docker-init) also serve the Docker 28 that install-docker28.sh unpacks.
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts may try to start docker/ssh services; there is no init system here and none must run
  # in the root namespace, so the policy layer refuses every service start during the install.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi
