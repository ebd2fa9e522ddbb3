#!/usr/bin/env bash
# Layer-7 comparison (issue 4): keep-alive HTTPS requests per second through an mTLS verify listener with RULES
# path rules, for mtlslb, nginx and HAProxy configured the same way, with the same load generator, in the same
# run; plus a direct connection to the target as the latency baseline. See README.md beside this file.
#
#   bench/l7/compare.sh [duration] [connections] [--output table|json]
#
# Environment:
#   RULES=100          path rules /svc0/* .. /svc<RULES-1>/*; 0 forwards everything through the default action
#   PIN=0              1: proxies on CPU 0, load generator and targets on CPU 1, one worker per proxy
#   PACED_RATE=2000    total req/s of the paced (latency) phase; 0 skips it
#   PACED_CONNS=8      connections of the paced phase
#   ROUNDS=1           run every system this many times, interleaved; the table shows medians
#   QUIET_MAX=60       seconds to wait, before each measurement, for other people's load on the machine to drop
#   WARMUP=2s          load sent before each measurement
#   SYSTEMS="direct direct-tls mtlslb nginx haproxy"
#   PROFILE=1          build mtlslb from a copy of the tree with net/http/pprof added, and save a CPU and an
#                      allocation profile of its throughput phase (top entries printed at the end)
#   MTLSLB_SRC=DIR     build mtlslb from this copy of the tree (for trying a change) instead of this repository
#   MTLSLB_BIN=PATH    use this mtlslb binary instead of building one (not with PROFILE=1)
#   KEEP=1             keep the temporary directory (configs, logs, raw results) and print its path
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
src=${MTLSLB_SRC:-$repo}
export PATH="$PATH:/usr/sbin:/sbin"

output=table
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --output) output=${2:?--output needs table or json}; shift 2 ;;
    --output=*) output=${1#--output=}; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) positional+=("$1"); shift ;;
  esac
done
duration=${positional[0]:-10s}
conns=${positional[1]:-64}
case "$output" in table|json) ;; *) echo "compare.sh: --output is table or json" >&2; exit 2 ;; esac
RULES=${RULES:-100}
PIN=${PIN:-0}
PACED_RATE=${PACED_RATE:-2000}
PACED_CONNS=${PACED_CONNS:-8}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
QUIET_MAX=${QUIET_MAX:-60}
PROFILE=${PROFILE:-0}
SYSTEMS=${SYSTEMS:-direct direct-tls mtlslb nginx haproxy}

# Progress goes to stderr so that --output json leaves stdout to the JSON document.
log() { echo "compare: $*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtlslb-l7.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background with its output in $tmp/NAME.log and remembers its pid.
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=("$!")
  last_pid=$!
}

# stop PID: ends a process started by start, waits for it, and forgets it (so that cleanup never signals a
# reused pid).
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  pids=("${keep[@]}")
}

# Pinning, applied identically to every system: the proxy (or, for the direct runs, nothing) on CPU 0, the load
# generator and the targets on CPU 1; each proxy then runs one worker, since it has one CPU.
proxy_cpu=()
client_cpu=()
workers=$(nproc)
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || { echo "compare.sh: PIN=1 needs taskset" >&2; exit 1; }
  proxy_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
  workers=1
fi

for p in nginx haproxy; do
  if [[ " $SYSTEMS " == *" $p "* ]] && ! command -v "$p" >/dev/null; then
    log "$p is not installed: running $here/install-deps.sh"
    "$here/install-deps.sh"
  fi
done

log "building mtlslb and the bench tool in $tmp"
if [ "$PROFILE" = 1 ]; then
  command -v curl >/dev/null || { echo "compare.sh: PROFILE=1 needs curl" >&2; exit 1; }
  # The tree stays untouched: a copy of it gets one more file, which serves net/http/pprof when asked to.
  mkdir -p "$tmp/src"
  cp -r "$src/cmd" "$src/internal" "$src/go.mod" "$src/go.sum" "$tmp/src/"
  cat >"$tmp/src/cmd/mtlslb/zz_bench_pprof.go" <<'EOF'
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("MTLSLB_BENCH_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
EOF
  (cd "$tmp/src" && go build -o "$tmp/mtlslb" ./cmd/mtlslb)
elif [ -n "${MTLSLB_BIN:-}" ]; then
  cp "$MTLSLB_BIN" "$tmp/mtlslb"
else
  (cd "$src" && go build -o "$tmp/mtlslb" ./cmd/mtlslb)
fi
(cd "$here/tool" && go build -o "$tmp/tool" .)
tool=$tmp/tool
"$tool" pki -dir "$tmp/pki" 2>/dev/null
pki=$tmp/pki

read -r -d '' target_port fallback_port target_tls_port mtlslb_port nginx_port haproxy_port pprof_port \
  < <("$tool" freeport -n 7 | tr '\n' ' '; printf '\0') || true

start target "${client_cpu[@]}" "$tool" target -addr "127.0.0.1:$target_port"
# With rules, the default action forwards to a fallback target that answers 404, so a request that no rule
# matched counts as an error in the table instead of passing unnoticed.
start fallback "${client_cpu[@]}" "$tool" target -addr "127.0.0.1:$fallback_port" -status 404
start target-tls "${client_cpu[@]}" "$tool" target -addr "127.0.0.1:$target_tls_port" \
  -cert "$pki/server.pem" -key "$pki/server-key.pem" -client-ca "$pki/client-ca.pem"

# The paths the load cycles through: ten rules spread evenly over the list (first, last and between), so
# linear rule evaluation pays its average cost. Without rules, the same paths.
paths=""
n=${RULES}
[ "$n" -gt 0 ] || n=100
for i in 0 1 2 3 4 5 6 7 8 9; do
  k=$(( i * (n - 1) / 9 ))
  paths+="${paths:+,}/svc$k/x"
done

# ---- configurations -------------------------------------------------------------------------------------
write_mtlslb_config() {
  local f=$tmp/mtlslb.yaml
  local default_tg=app
  [ "$RULES" -gt 0 ] && default_tg=fallback
  cat >"$f" <<EOF
name: bench
trust_stores:
  - name: bench-clients
    ca_certificates_bundle: pki/client-ca.pem
listeners:
  - port: $mtlslb_port
    address: 127.0.0.1
    protocol: HTTPS
    certificates:
      - certificate: pki/server.pem
        private_key: pki/server-key.pem
    mutual_authentication:
      mode: verify
      trust_store: bench-clients
    default_actions:
      - type: forward
        target_group: $default_tg
EOF
  if [ "$RULES" -gt 0 ]; then
    echo "    rules:" >>"$f"
    for ((i = 0; i < RULES; i++)); do
      cat >>"$f" <<EOF
      - priority: $((i + 1))
        conditions:
          - path_pattern: { values: ["/svc$i/*"] }
        actions:
          - type: forward
            target_group: app
EOF
    done
  fi
  cat >>"$f" <<EOF
target_groups:
  - name: app
    protocol: HTTP
    targets:
      - { id: 127.0.0.1, port: $target_port }
  - name: fallback
    protocol: HTTP
    targets:
      - { id: 127.0.0.1, port: $fallback_port }
EOF
}

write_nginx_config() {
  local d=$tmp/nginx
  mkdir -p "$d"
  {
    cat <<EOF
worker_processes $([ "$PIN" = 1 ] && echo 1 || echo auto);
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  # nginx closes a keep-alive connection after 1000 requests by default; mtlslb and HAProxy do not.
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  upstream app {
    server 127.0.0.1:$target_port;
    keepalive 64;
    keepalive_requests 100000000;
  }
  upstream fallback {
    server 127.0.0.1:$fallback_port;
    keepalive 8;
  }
  server {
    listen 127.0.0.1:$nginx_port ssl reuseport;
    ssl_certificate $pki/server.pem;
    ssl_certificate_key $pki/server-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate $pki/client-ca.pem;
    ssl_verify_depth 2;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # What mtlslb adds in verify mode (alb-compat §3.1) and its trace id, and the client's Host as mtlslb forwards it.
    proxy_set_header Host \$http_host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header X-Forwarded-Port \$server_port;
    proxy_set_header X-Amzn-Mtls-Clientcert-Serial-Number \$ssl_client_serial;
    proxy_set_header X-Amzn-Mtls-Clientcert-Issuer \$ssl_client_i_dn;
    proxy_set_header X-Amzn-Mtls-Clientcert-Subject \$ssl_client_s_dn;
    proxy_set_header X-Amzn-Mtls-Clientcert-Validity "NotBefore=\$ssl_client_v_start;NotAfter=\$ssl_client_v_end";
    proxy_set_header X-Amzn-Mtls-Clientcert-Leaf \$ssl_client_escaped_cert;
    proxy_set_header X-Amzn-Trace-Id "Root=1-\$request_id";
EOF
    if [ "$RULES" -gt 0 ]; then
      for ((i = 0; i < RULES; i++)); do
        echo "    location /svc$i/ { proxy_pass http://app; }"
      done
      echo "    location / { proxy_pass http://fallback; }"
    else
      echo "    location / { proxy_pass http://app; }"
    fi
    echo "  }"
    echo "}"
  } >"$d/nginx.conf"
}

write_haproxy_config() {
  local f=$tmp/haproxy.cfg
  {
    cat <<EOF
global
  nbthread $([ "$PIN" = 1 ] && echo 1 || echo 2)
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s
  http-reuse always
frontend bench
  bind 127.0.0.1:$haproxy_port ssl crt $pki/server-crt-key.pem ca-file $pki/client-ca.pem verify required ssl-min-ver TLSv1.2 ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  # What mtlslb adds in verify mode (alb-compat §3.1), and its trace id.
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Amzn-Mtls-Clientcert-Serial-Number %[ssl_c_serial,hex]
  http-request set-header X-Amzn-Mtls-Clientcert-Issuer "%[ssl_c_i_dn(,0,rfc2253)]"
  http-request set-header X-Amzn-Mtls-Clientcert-Subject "%[ssl_c_s_dn(,0,rfc2253)]"
  http-request set-header X-Amzn-Mtls-Clientcert-Validity "NotBefore=%[ssl_c_notbefore];NotAfter=%[ssl_c_notafter]"
  http-request set-header X-Amzn-Mtls-Clientcert-Leaf "-----BEGIN%%20CERTIFICATE-----%%0A%[ssl_c_der,base64]%%0A-----END%%20CERTIFICATE-----%%0A"
  http-request set-header X-Amzn-Trace-Id "Root=1-%[date,hex]-%[rand,hex]%[rand,hex]%[rand,hex]"
EOF
    if [ "$RULES" -gt 0 ]; then
      # First match wins, as listener rules in priority order.
      for ((i = 0; i < RULES; i++)); do
        echo "  use_backend app if { path_beg /svc$i/ }"
      done
      echo "  default_backend fallback"
    else
      echo "  default_backend app"
    fi
    cat <<EOF
backend app
  server target 127.0.0.1:$target_port
backend fallback
  server fallback 127.0.0.1:$fallback_port
EOF
  } >"$f"
}

# ---- measurement ----------------------------------------------------------------------------------------

# cpu_ticks PID...: user+system CPU ticks of the PIDs and their children (nginx's workers), each counted once.
cpu_ticks() {
  local p
  {
    for p in "$@"; do
      echo "$p"
      ps -o pid= --ppid "$p" 2>/dev/null || true
    done
  } | sort -u | while read -r p; do
    awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{ t += $1 } END { print t + 0 }'
}

# busy_ticks: CPU ticks the whole machine spent running processes (user, nice, system, steal).
busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $9 }' /proc/stat
}

# irq_ticks: CPU ticks spent in interrupts and softirqs, which are charged to no process. Loopback TCP does much
# of its receive work there, on behalf of whichever process sent or reads the data.
irq_ticks() {
  awk '/^cpu / { print $7 + $8 }' /proc/stat
}

# tcp_segments: TCP segments sent by this network namespace (loopback: every segment is also received).
tcp_segments() {
  awk '$1 == "Tcp:" && $2 ~ /^[0-9]+$/ { print $12 }' /proc/net/snmp
}

# wait_quiet: the machine is shared (other people's builds and tests run on it); wait up to QUIET_MAX seconds
# for the CPU time spent outside this script to fall under a third of a core, so that measurements are not
# taken in the middle of somebody's fuzzing run. Measurements record the outside load either way.
wait_quiet() {
  local waited=0 b0 o0 foreign
  while :; do
    b0=$(busy_ticks)
    o0=$(cpu_ticks "${pids[@]}" $$)
    sleep 1
    foreign=$(( ($(busy_ticks) - b0) - ($(cpu_ticks "${pids[@]}" $$) - o0) ))
    if [ $((foreign * 3)) -lt "$hz" ] || [ "$waited" -ge "$QUIET_MAX" ]; then
      [ "$waited" -gt 0 ] && log "  waited ${waited}s for other load to drop (now $foreign ticks/s)"
      return 0
    fi
    waited=$((waited + 1))
  done
}

# wait_ready URL: polls until the system answers 200 on URL, for up to 15 s.
wait_ready() {
  local i
  for ((i = 0; i < 150; i++)); do
    if "$tool" loadgen -url "$1" -show "${client_tls[@]}" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

secs() { # a Go duration of seconds or milliseconds as seconds
  case "$1" in
    *ms) awk -v v="${1%ms}" 'BEGIN { print v / 1000 }' ;;
    *s) echo "${1%s}" ;;
    *m) awk -v v="${1%m}" 'BEGIN { print v * 60 }' ;;
    *) echo "compare.sh: durations are like 10s, 500ms or 1m" >&2; exit 2 ;;
  esac
}
duration_s=$(secs "$duration")
hz=$(getconf CLK_TCK)
warmup_s=$(secs "$WARMUP")

# measure SYSTEM URL PID: the throughput phase (closed loop, $conns connections) and the paced phase, with the
# proxy's CPU time sampled over the measured interval of the first.
measure() {
  local system=$1 url=$2 pid=$3 res=$tmp/results
  mkdir -p "$res"
  wait_quiet
  log "$system (round $round/$ROUNDS): throughput, $conns connections, $duration after $WARMUP warm-up"
  "${client_cpu[@]}" "$tool" loadgen -url "$url" -paths "$paths" -c "$conns" -d "$duration" -warmup "$WARMUP" \
    "${client_tls[@]}" >"$res/$system.throughput.r$round.json" 2>"$res/$system.throughput.r$round.log" &
  local lg=$!
  # Sample within the measured interval (a little inside it, so the load generator is still running at both
  # ends): the proxy's CPU time, and the machine's busy time minus everything this script runs, which is the
  # other people's load the measurement shared the machine with.
  sleep "$warmup_s"
  sleep 0.2
  local p0 o0 b0 i0 s0 p1 o1 b1 i1 s1 t0 t1
  t0=$(date +%s%N)
  p0=$(cpu_ticks $pid)
  o0=$(cpu_ticks "${pids[@]}" "$lg" $$)
  b0=$(busy_ticks)
  i0=$(irq_ticks)
  s0=$(tcp_segments)
  local window prof=()
  window=$(awk -v d="$duration_s" 'BEGIN { print (d > 0.6 ? d - 0.4 : d / 2) }')
  if [ "$PROFILE" = 1 ] && [ "$system" = mtlslb ]; then
    local secs_int=${window%.*}
    [ "${secs_int:-0}" -ge 1 ] || secs_int=1
    curl -sf -o "$res/mtlslb.r$round.cpu.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=$secs_int" &
    prof+=("$!")
    curl -sf -o "$res/mtlslb.r$round.allocs.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/allocs?seconds=$secs_int" &
    prof+=("$!")
  fi
  sleep "$window"
  p1=$(cpu_ticks $pid)
  o1=$(cpu_ticks "${pids[@]}" "$lg" $$)
  b1=$(busy_ticks)
  i1=$(irq_ticks)
  s1=$(tcp_segments)
  t1=$(date +%s%N)
  local proxy=-1
  [ -n "$pid" ] && proxy=$((p1 - p0))
  # PROXY_TICKS CLK_TCK SECONDS FOREIGN_TICKS IRQ_TICKS TCP_SEGMENTS, read by `tool report`.
  echo "$proxy $hz $(awk -v n=$((t1 - t0)) 'BEGIN { print n / 1e9 }') $(( (b1 - b0) - (o1 - o0) )) $((i1 - i0)) $((s1 - s0))" \
    >"$res/$system.throughput.r$round.cpu"
  wait "$lg" || { cat "$res/$system.throughput.r$round.log" >&2; return 1; }
  [ ${#prof[@]} -eq 0 ] || wait "${prof[@]}" || log "  fetching the profiles failed"
  log "  $(sed -n '1s/^loadgen: //p' "$res/$system.throughput.r$round.log")"
  if [ "$PACED_RATE" != 0 ]; then
    wait_quiet
    log "$system (round $round/$ROUNDS): paced, $PACED_RATE req/s over $PACED_CONNS connections, $duration"
    "${client_cpu[@]}" "$tool" loadgen -url "$url" -paths "$paths" -c "$PACED_CONNS" -rate "$PACED_RATE" \
      -d "$duration" -warmup "$WARMUP" "${client_tls[@]}" >"$res/$system.paced.r$round.json" 2>"$res/$system.paced.r$round.log" \
      || { cat "$res/$system.paced.r$round.log" >&2; return 1; }
    log "  $(sed -n '1s/^loadgen: //p' "$res/$system.paced.r$round.log")"
  fi
}

# run_proxy SYSTEM PORT CMD...: starts a proxy, checks it routes and forwards the client-certificate headers,
# measures it, stops it.
run_proxy() {
  local system=$1 port=$2
  shift 2
  start "$system" "${proxy_cpu[@]}" "$@"
  local pid=$last_pid
  client_tls=(-cert "$pki/client.pem" -key "$pki/client-key.pem" -ca "$pki/server-ca.pem")
  local base=https://127.0.0.1:$port
  if ! wait_ready "$base/svc0/x"; then
    log "$system did not answer 200 on $base/svc0/x; its log:"
    cat "$tmp/$system.log" >&2
    return 1
  fi
  # What the target receives through this proxy, for a person to compare (README: "headers").
  if [ "$round" = 1 ]; then
    "$tool" loadgen -url "$base/svc0/__echo" -show "${client_tls[@]}" >"$tmp/results/$system.headers.txt" 2>&1 || true
  fi
  measure "$system" "$base/svc0/x" "$pid"
  stop "$pid"
}

mkdir -p "$tmp/results"
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); pin=$PIN; rules=$RULES"

if [ "$RULES" -gt 0 ]; then
  write_mtlslb_config
  if ! "$tmp/mtlslb" validate --config "$tmp/mtlslb.yaml" >"$tmp/validate.log" 2>&1; then
    cat "$tmp/validate.log" >&2
    log "mtlslb refuses the $RULES-rule configuration (above); RULES=0 runs the comparison without rules"
    exit 1
  fi
fi

for ((round = 1; round <= ROUNDS; round++)); do
  for system in $SYSTEMS; do
    case "$system" in
      direct)
        client_tls=()
        measure direct "http://127.0.0.1:$target_port/svc0/x" ""
        ;;
      direct-tls)
        client_tls=(-cert "$pki/client.pem" -key "$pki/client-key.pem" -ca "$pki/server-ca.pem")
        measure direct-tls "https://127.0.0.1:$target_tls_port/svc0/x" ""
        ;;
      mtlslb)
        write_mtlslb_config
        run_proxy mtlslb "$mtlslb_port" env MTLSLB_BENCH_PPROF="$([ "$PROFILE" = 1 ] && echo "127.0.0.1:$pprof_port")" \
          "$tmp/mtlslb" serve --config "$tmp/mtlslb.yaml" --admin-address off
        ;;
      nginx)
        write_nginx_config
        run_proxy nginx "$nginx_port" nginx -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
        ;;
      haproxy)
        write_haproxy_config
        haproxy -c -q -f "$tmp/haproxy.cfg" >&2
        run_proxy haproxy "$haproxy_port" haproxy -f "$tmp/haproxy.cfg" -db
        ;;
      *)
        log "unknown system $system (direct, direct-tls, mtlslb, nginx, haproxy)"
        exit 2
        ;;
    esac
  done
done

meta="duration=$duration,connections=$conns,rules=$RULES,pin=$PIN,rounds=$ROUNDS,warmup=$WARMUP,paced_rate=$PACED_RATE,paced_connections=$PACED_CONNS"
meta+=",cores=$(nproc),proxy_workers=$workers,nginx=$(nginx -v 2>&1 | cut -d/ -f2),haproxy=$(haproxy -v 2>&1 | sed -n "1s/^HAProxy version \([^ ]*\).*/\1/p")"
meta+=",mtlslb_tree=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$src" diff --quiet HEAD -- cmd internal 2>/dev/null || echo +changes)"
meta+=",go=$(go env GOVERSION),loadavg_at_end=$(cut -d' ' -f1 /proc/loadavg),date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ "$output" = table ]; then
  echo
  echo "$(nproc) cores shared by the load generator, the targets and the proxy (pin=$PIN); rules=$RULES;" \
    "$conns keep-alive mTLS connections for $duration after $WARMUP warm-up; load paths: $paths"
fi
"$tool" report -dir "$tmp/results" -systems "${SYSTEMS// /,}" -output "$output" -meta "$meta"

if [ "$PROFILE" = 1 ] && [ -s "$tmp/results/mtlslb.r1.cpu.pprof" ]; then
  {
    echo
    echo "mtlslb CPU profile of the throughput phase (round 1), top 25 by cumulative, then by flat:"
    go tool pprof -top -cum -nodecount=25 "$tmp/mtlslb" "$tmp/results/mtlslb.r1.cpu.pprof" 2>/dev/null | sed -n '1,35p'
    go tool pprof -top -nodecount=25 "$tmp/mtlslb" "$tmp/results/mtlslb.r1.cpu.pprof" 2>/dev/null | sed -n '6,35p'
    echo
    echo "mtlslb allocations during the throughput phase (round 1), top 20 by objects:"
    go tool pprof -top -sample_index=alloc_objects -nodecount=20 "$tmp/mtlslb" "$tmp/results/mtlslb.r1.allocs.pprof" 2>/dev/null | sed -n '1,30p'
    if [ "${KEEP:-0}" = 1 ]; then
      echo "profiles: $tmp/results/mtlslb.r*.{cpu,allocs}.pprof (binary: $tmp/mtlslb)"
    fi
  } >&2
fi
