#!/usr/bin/env bash
# irpc side by side with raw libuv, ZeroC Ice 3.7 and gRPC, on this machine.
# Each system runs as its own echo server and client, two processes pinned
# to one core (taskset), over TCP on loopback, and is measured the same way:
#   p50, p99     latency of empty calls one at a time;
#   64 in flight calls per second with 64 calls in flight on one connection;
#   64 KiB, 1 MiB
#                MB/s of echo calls one at a time.
# Raw libuv (bench/compare/raw.c: bytes echoed, no protocol) is the
# baseline: each figure comes with its ratio to raw's, measured in the same
# run. The systems run in rotation, --rounds times; each figure is the
# median of its rounds. Prints one table (Markdown) and writes an SVG chart.
#
#   raw libuv       irpc-bench-raw serve / client
#   irpc (icerpc)   irpc-bench serve icerpc:// / irpc-bench-client
#   irpc (ice)      irpc-bench serve ice:// / irpc-bench-client
#   ZeroC Ice 3.7   irpc-bench-ice-server / irpc-bench-ice-client
#                   (bench/ice, when libzeroc-ice-dev is installed)
#   gRPC C++        irpc-bench-grpc-server / irpc-bench-grpc-client
#                   (when libgrpc++-dev and protobuf-compiler-grpc are)
#
#   bench/compare/run.sh [--seconds S] [--rounds N] [--cpu N] [--build DIR]
#                        [--svg FILE]
#
# Builds irpc (Release) and the peers into DIR (default build-bench); the
# chart goes to FILE (default DIR/compare.svg). A system whose programs
# did not build is left out, with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=1
rounds=3
cpu=0
build=build-bench
svg=""
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) seconds=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --cpu) cpu=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  --svg) svg=$2; shift 2 ;;
  *) echo "usage: bench/compare/run.sh [--seconds S] [--rounds N] [--cpu N]" \
       "[--build DIR] [--svg FILE]" >&2
     exit 2 ;;
  esac
done
[ -n "$svg" ] || svg=$build/compare.svg

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF \
  -DIRPC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target irpc-bench irpc-bench-raw \
  irpc-bench-client >/dev/null
b=$PWD/$build/bench
pin=(taskset -c "$cpu")

# The systems: key, label, server command, client command (the server's
# address is appended to the client's).
systems=(raw irpc_icerpc irpc_ice ice grpc)
declare -A label server client why
label[raw]="raw libuv"
server[raw]="$b/compare/irpc-bench-raw serve"
client[raw]="$b/compare/irpc-bench-raw client --seconds $seconds"
label[irpc_icerpc]="irpc (icerpc)"
server[irpc_icerpc]="$b/irpc-bench serve icerpc://127.0.0.1:0"
client[irpc_icerpc]="$b/compare/irpc-bench-client --seconds $seconds"
label[irpc_ice]="irpc (ice)"
server[irpc_ice]="$b/irpc-bench serve ice://127.0.0.1:0"
client[irpc_ice]="$b/compare/irpc-bench-client --seconds $seconds"
label[ice]="ZeroC Ice 3.7"
server[ice]="$b/ice/irpc-bench-ice-server"
client[ice]="$b/ice/irpc-bench-ice-client --seconds $seconds"
label[grpc]="gRPC C++"
server[grpc]="$b/compare/irpc-bench-grpc-server"
client[grpc]="$b/compare/irpc-bench-grpc-client --seconds $seconds"
cmake --build "$build" -j"$(nproc)" --target irpc-bench-ice-server \
  irpc-bench-ice-client >/dev/null 2>&1 ||
  why[ice]="its programs did not build (libzeroc-ice-dev and g++ missing?)"
cmake --build "$build" -j"$(nproc)" --target irpc-bench-grpc-server \
  irpc-bench-grpc-client >/dev/null 2>&1 ||
  why[grpc]="its programs did not build (libgrpc++-dev, libprotobuf-dev,\
 protobuf-compiler-grpc and g++ missing?)"
grep -q '^IRPC_WITH_ICE:BOOL=ON' "$build/CMakeCache.txt" ||
  why[irpc_ice]="irpc was built without the ice protocol"

# shellcheck source=bench/compare/lib.sh
. bench/compare/lib.sh compare
figures=(p50 p99 rate kib mib)

run_system() { # run_system KEY: one round
  local key=$1
  # shellcheck disable=SC2086
  start_server "$tmp/$key.server.err" "${pin[@]}" ${server[$key]}
  if [ -z "$address" ]; then
    why[$key]="its server did not start: $(tr '\n' ' ' <"$tmp/$key.server.err")"
  else
    # shellcheck disable=SC2086
    if ! "${pin[@]}" ${client[$key]} "$address" >"$tmp/$key.out" \
      2>"$tmp/$key.err"; then
      res[$key.err]="the client failed: $(tail -n 2 "$tmp/$key.err" | tr '\n' ' ')"
    fi
    for f in "${figures[@]}"; do res[$key.$f.$round]=$(fig "$tmp/$key.out" "$f"); done
  fi
  stop_server
}

for ((round = 1; round <= rounds; round++)); do
  for key in "${systems[@]}"; do
    [ -n "${why[$key]:-}" ] || run_system "$key"
  done
done
[ -z "${why[raw]:-}" ] || { echo "the baseline failed: ${why[raw]}" >&2; exit 1; }

declare -A med
for key in "${systems[@]}"; do
  [ -z "${why[$key]:-}" ] || continue
  for f in "${figures[@]}"; do med[$key.$f]=$(median "$key.$f"); done
done

# cell VALUE RAW KIND: the figure and its ratio to raw (latency: times
# raw's; the others: percent of raw's).
cell() {
  awk -v v="${1:-}" -v r="${2:-}" -v k="$3" '
  function commas(n,   s) {
    s = sprintf("%d", n + 0.5)
    while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
    return s
  }
  BEGIN {
    if (v == "") { print "-"; exit }
    if (k == "us") s = sprintf("%.1f us", v)
    else if (k == "rate") s = commas(v) "/s"
    else s = commas(v) " MB/s"
    if (r > 0 && v > 0) {
      if (k == "us") s = s sprintf(" (%.2fx)", v / r)
      else s = s sprintf(" (%d%%)", v / r * 100 + 0.5)
    }
    print s }'
}

cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo "TCP on 127.0.0.1, client and server two processes on core $cpu" \
  "($cpu_model), ${seconds} s a figure, medians of $rounds rounds;"
echo "in parentheses: latency as times raw libuv's, rates as percent of raw's"
echo
echo "| | p50 | p99 | 64 in flight | 64 KiB echo | 1 MiB echo |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
tsv=$tmp/compare.tsv
: >"$tsv"
for key in "${systems[@]}"; do
  [ -z "${why[$key]:-}" ] || continue
  printf '| %s | %s | %s | %s | %s | %s |\n' "${label[$key]}" \
    "$(cell "${med[$key.p50]}" "${med[raw.p50]}" us)" \
    "$(cell "${med[$key.p99]}" "${med[raw.p99]}" us)" \
    "$(cell "${med[$key.rate]}" "${med[raw.rate]}" rate)" \
    "$(cell "${med[$key.kib]}" "${med[raw.kib]}" mbps)" \
    "$(cell "${med[$key.mib]}" "${med[raw.mib]}" mbps)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${label[$key]}" "${med[$key.p50]:-0}" \
    "${med[$key.p99]:-0}" "${med[$key.rate]:-0}" "${med[$key.kib]:-0}" \
    "${med[$key.mib]:-0}" >>"$tsv"
done
echo
for key in "${systems[@]}"; do
  [ -z "${res[$key.err]:-}" ] || echo "${label[$key]}: ${res[$key.err]}"
  [ -z "${why[$key]:-}" ] || echo "left out: ${label[$key]}: ${why[$key]}"
done
if command -v python3 >/dev/null; then
  python3 bench/compare/chart.py "$tsv" "$svg" \
    "TCP loopback, two processes on one core, medians of $rounds rounds" &&
    echo "chart: $svg"
else
  echo "no chart: python3 is not installed"
fi
