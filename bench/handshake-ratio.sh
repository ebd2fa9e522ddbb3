#!/usr/bin/env bash
# Full mTLS handshakes per second through mtlslb's verify listener against a bare crypto/tls server with
# RequireAndVerifyClientCert in front of httputil.ReverseProxy: same process, same PKI, same target, same
# load generator (see BenchmarkFullHandshake). Prints the median of each and their ratio.
#
#   bench/handshake-ratio.sh [count] [benchtime]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-8}
benchtime=${2:-3s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)"
go test -run '^$' -bench 'FullHandshake' -benchmem -benchtime "$benchtime" -count "$count" ./internal/engine/ | tee "$out"
awk '
  /BenchmarkFullHandshake\/mtlslb/ { for (i=1;i<=NF;i++) if ($(i+1)=="handshakes/s") m[nm++]=$i }
  /BenchmarkFullHandshake\/bare/   { for (i=1;i<=NF;i++) if ($(i+1)=="handshakes/s") b[nb++]=$i }
  function median(a, n,   i, j, t) {
    for (i=0;i<n;i++) for (j=i+1;j<n;j++) if (a[j] < a[i]) { t=a[i]; a[i]=a[j]; a[j]=t }
    return (n%2) ? a[int(n/2)] : (a[n/2-1]+a[n/2])/2
  }
  END {
    mm = median(m, nm); mb = median(b, nb)
    printf "\nmedian handshakes/s: mtlslb %.0f, bare crypto/tls %.0f, ratio %.3f (target >= 0.95)\n", mm, mb, mm/mb
  }' "$out"
