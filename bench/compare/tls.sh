#!/usr/bin/env bash
# icerpc over TLS against plain TCP, two processes: irpc-bench serve (with
# and without its TLS options) and irpc-bench-client, and OpenSSL alone
# echoing (irpc-bench-raw-tls) as the floor of what TLS costs here, plus
# raw libuv over TCP (irpc-bench-raw) as the floor without TLS. Each
# system runs as its own server and client process over loopback TCP,
# placed two ways:
#   1 core   both processes pinned to core A (taskset -c A): one core does
#            both sides' work, every byte is encrypted and decrypted twice
#            on it per echo;
#   2 cores  the server on core A, the client on core B.
# Figures (medians of --rounds rounds, the systems in rotation):
#   p50, p99     latency of empty calls (16-byte messages), one at a time;
#   64 in flight calls per second (irpc only);
#   1 MiB echo   MB/s of echo calls one at a time;
#   connects/s   connections established per second (TLS: full handshakes,
#                P-256 certificate, TLS 1.3).
# The ratio column is TLS over TCP for irpc, and raw TLS over raw TCP for
# OpenSSL alone. `openssl speed -evp aes-128-gcm` at 16 KiB gives the cost
# of the cipher per byte on this machine.
#
#   bench/compare/tls.sh [--seconds S] [--rounds N] [--cpus A,B]
#                        [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=1
rounds=3
cpus=0,1
build=build-bench
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) seconds=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --cpus) cpus=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  *) echo "usage: bench/compare/tls.sh [--seconds S] [--rounds N]" \
       "[--cpus A,B] [--build DIR]" >&2
     exit 2 ;;
  esac
done
cpu_a=${cpus%,*}
cpu_b=${cpus#*,}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF \
  -DIRPC_BUILD_EXAMPLES=OFF -DIRPC_WITH_TLS=ON >/dev/null
cmake --build "$build" -j2 --target irpc-bench irpc-bench-raw \
  irpc-bench-raw-tls irpc-bench-client >/dev/null
b=$PWD/$build/bench

# shellcheck source=bench/compare/lib.sh
. bench/compare/lib.sh tls

# A P-256 certificate for 127.0.0.1, its own trust root.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 -subj /CN=irpc-bench \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null

systems=(raw raw_tls tcp tls)
declare -A label server client
label[raw]="raw libuv, TCP"
server[raw]="$b/compare/irpc-bench-raw serve"
client[raw]="$b/compare/irpc-bench-raw client --seconds $seconds"
label[raw_tls]="OpenSSL alone, TLS"
server[raw_tls]="$b/compare/irpc-bench-raw-tls serve $tmp/cert.pem $tmp/key.pem"
client[raw_tls]="$b/compare/irpc-bench-raw-tls client --seconds $seconds"
label[tcp]="irpc icerpc, TCP"
server[tcp]="$b/irpc-bench serve icerpc://127.0.0.1:0"
client[tcp]="$b/compare/irpc-bench-client --connects --seconds $seconds"
label[tls]="irpc icerpc, TLS"
server[tls]="$b/irpc-bench serve --tls-cert $tmp/cert.pem --tls-key $tmp/key.pem icerpc://127.0.0.1:0"
client[tls]="$b/compare/irpc-bench-client --connects --tls-ca $tmp/cert.pem --seconds $seconds"

figures=(p50 p99 rate mib hs)

run() { # run KEY PLACEMENT SERVER_CPU CLIENT_CPU
  local key=$1 pl=$2
  # shellcheck disable=SC2086
  start_server "$tmp/server.err" taskset -c "$3" ${server[$key]}
  if [ -z "$address" ]; then
    echo "${label[$key]}: the server did not start: $(cat "$tmp/server.err")" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  if ! taskset -c "$4" ${client[$key]} "$address" >"$tmp/out" 2>"$tmp/err"; then
    echo "${label[$key]}: the client failed: $(tail -n 3 "$tmp/err")" >&2
    exit 1
  fi
  for f in "${figures[@]}"; do res[$key.$pl.$f.$round]=$(fig "$tmp/out" "$f"); done
  stop_server
}

for ((round = 1; round <= rounds; round++)); do
  for key in "${systems[@]}"; do
    run "$key" one "$cpu_a" "$cpu_a"
    run "$key" two "$cpu_a" "$cpu_b"
  done
done

aes=$(openssl speed -evp aes-128-gcm -bytes 16384 -seconds 1 2>/dev/null |
  awk 'tolower($1) == "aes-128-gcm" { v = $2; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }')
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo "loopback TCP, two processes ($cpu_model), ${seconds} s a figure," \
  "medians of $rounds rounds; AES-128-GCM at 16 KiB: ${aes:-?} MB/s on one core"
for pl in one two; do
  echo
  if [ "$pl" = one ]; then
    echo "client and server on core $cpu_a"
  else
    echo "server on core $cpu_a, client on core $cpu_b"
  fi
  printf '| %-20s | %9s | %9s | %12s | %11s | %11s |\n' "" "p50 us" "p99 us" \
    "64 in flight" "1 MiB MB/s" "connects/s"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  declare -A m
  for key in "${systems[@]}"; do
    for f in "${figures[@]}"; do m[$key.$f]=$(median "$key.$pl.$f"); done
    printf '| %-20s | %9s | %9s | %12s | %11s | %11s |\n' "${label[$key]}" \
      "${m[$key.p50]:--}" "${m[$key.p99]:--}" "${m[$key.rate]:--}" \
      "${m[$key.mib]:--}" "${m[$key.hs]:--}"
  done
  ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
  printf '| %-20s | %9s | %9s | %12s | %11s | %11s |\n' "irpc TLS / TCP" \
    "$(ratio "${m[tls.p50]}" "${m[tcp.p50]}")" \
    "$(ratio "${m[tls.p99]}" "${m[tcp.p99]}")" \
    "$(ratio "${m[tls.rate]}" "${m[tcp.rate]}")" \
    "$(ratio "${m[tls.mib]}" "${m[tcp.mib]}")" \
    "$(ratio "${m[tls.hs]}" "${m[tcp.hs]}")"
  printf '| %-20s | %9s | %9s | %12s | %11s | %11s |\n' "OpenSSL / raw TCP" \
    "$(ratio "${m[raw_tls.p50]}" "${m[raw.p50]}")" \
    "$(ratio "${m[raw_tls.p99]}" "${m[raw.p99]}")" "-" \
    "$(ratio "${m[raw_tls.mib]}" "${m[raw.mib]}")" "-"
  printf '| %-20s | %9s | %9s | %12s | %11s | %11s |\n' "irpc TLS / OpenSSL" \
    "$(ratio "${m[tls.p50]}" "${m[raw_tls.p50]}")" \
    "$(ratio "${m[tls.p99]}" "${m[raw_tls.p99]}")" "-" \
    "$(ratio "${m[tls.mib]}" "${m[raw_tls.mib]}")" \
    "$(ratio "${m[tls.hs]}" "${m[raw_tls.hs]}")"
done
