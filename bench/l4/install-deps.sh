#!/usr/bin/env bash
# Installs what the layer-4 comparison and the nginx end-to-end test of internal/l4 need, from Debian packages:
# nginx (the mTLS backend of TestNginxBackendDoesMTLS, and nginx stream in compare.sh, whose module is packaged
# apart as libnginx-mod-stream) and HAProxy. Idempotent: installs only what is missing.
set -euo pipefail
# Debian puts both daemons in /usr/sbin, which an unprivileged PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
# The packages start system services on some images; the tests and the comparison run their own instances on
# loopback ports.
for svc in nginx haproxy; do
  $sudo service "$svc" stop >/dev/null 2>&1 || true
done
command -v nginx >/dev/null && command -v haproxy >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ]
