#!/usr/bin/env bash
# Installs the reference proxies of the layer-7 comparison (nginx and HAProxy, from Debian packages).
# Idempotent: does nothing when both are already on PATH.
set -euo pipefail
# Debian puts both daemons in /usr/sbin, which an unprivileged PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
if command -v nginx >/dev/null 2>&1 && command -v haproxy >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq nginx haproxy >/dev/null
# The packages start system services on some images; the comparison runs its own instances on loopback ports.
for svc in nginx haproxy; do
  $sudo service "$svc" stop >/dev/null 2>&1 || true
done
command -v nginx >/dev/null && command -v haproxy >/dev/null
