#!/usr/bin/env bash
# Layer-4 throughput of mtlslb's TCP listener against HAProxy (mode tcp) and nginx (stream), in one run on this
# machine: bytes per second over one connection (a large transfer), and short connections per second. Every proxy
# forwards 127.0.0.1 to the same target (l4bench sink); "direct" is the target without a proxy. The load
# generator, the proxy and the target share the machine's cores, as they do in CI.
#
#   bench/l4/compare.sh [bytes] [conn-seconds] [concurrency]
#
# Defaults: 1 GiB, 5 s, 32. Run bench/l4/install-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
bytes=${1:-1073741824}
secs=${2:-5}
conc=${3:-32}
runs=${RUNS:-3}

for bin in nginx haproxy; do
  command -v "$bin" >/dev/null || { echo "$bin is missing: run bench/l4/install-deps.sh" >&2; exit 1; }
done
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || { echo "nginx stream module missing: run bench/l4/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/l4bench" ./bench/l4/l4bench
mapfile -t port < <("$work/l4bench" ports 4)
p_sink=${port[0]} p_lb=${port[1]} p_ha=${port[2]} p_ng=${port[3]}

"$work/l4bench" sink -listen "127.0.0.1:$p_sink" & pids+=($!)
"$work/l4bench" serve -listen "127.0.0.1:$p_lb" -target "127.0.0.1:$p_sink" & pids+=($!)

cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 10s
    timeout client 350s
    timeout server 350s
frontend lb
    bind 127.0.0.1:$p_ha
    default_backend sink
backend sink
    server sink 127.0.0.1:$p_sink
CFG
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 & pids+=($!)

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
stream {
    upstream sink { server 127.0.0.1:$p_sink; }
    server {
        listen 127.0.0.1:$p_ng;
        proxy_pass sink;
        proxy_timeout 350s;
        proxy_half_close on; # pass the client's FIN on, as mtlslb and HAProxy do
    }
}
CFG
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & pids+=($!)

for p in $p_sink $p_lb $p_ha $p_ng; do
  up=""
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then up=1; break; fi
    sleep 0.05
  done
  if [ -z "$up" ]; then
    echo "nothing listens on port $p; HAProxy and nginx said:" >&2
    cat "$work/haproxy.log" "$work/nginx/error.log" >&2 2>/dev/null || true
    exit 1
  fi
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), $(uname -r)"
echo "versions: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3)"
echo "transfer: $bytes bytes over one connection; short connections: $secs s at concurrency $conc; median of $runs runs"
echo
declare -A bps cps
for name in direct mtlslb haproxy nginx; do
  case $name in
    direct) port=$p_sink ;; mtlslb) port=$p_lb ;; haproxy) port=$p_ha ;; nginx) port=$p_ng ;;
  esac
  bps[$name]=$(for _ in $(seq "$runs"); do "$work/l4bench" load -addr "127.0.0.1:$port" -bytes "$bytes" | awk '{print $2}'; done | median)
  cps[$name]=$(for _ in $(seq "$runs"); do "$work/l4bench" load -addr "127.0.0.1:$port" -conns -c "$conc" -d "${secs}s" | awk '{print $2}'; done | median)
  printf "%-8s %10.0f MB/s %10.0f conns/s\n" "$name" "$(awk -v b="${bps[$name]}" 'BEGIN {print b / 1e6}')" "${cps[$name]}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
printf "mtlslb / haproxy: bytes %s, connections %s\n" "$(ratio "${bps[mtlslb]}" "${bps[haproxy]}")" "$(ratio "${cps[mtlslb]}" "${cps[haproxy]}")"
printf "mtlslb / nginx:   bytes %s, connections %s\n" "$(ratio "${bps[mtlslb]}" "${bps[nginx]}")" "$(ratio "${cps[mtlslb]}" "${cps[nginx]}")"
printf "mtlslb / direct:  bytes %s, connections %s\n" "$(ratio "${bps[mtlslb]}" "${bps[direct]}")" "$(ratio "${cps[mtlslb]}" "${cps[direct]}")"
