#!/usr/bin/env bash
# irpc and ZeroC Ice 3.7 side by side over the ice protocol, in one run.
# Client and server are two processes pinned to one core (taskset), over
# TCP on loopback; each pairing measures what irpc-bench rpc measures:
# latency (p50 and p99 of empty calls one at a time), calls/s with 64 calls
# in flight, and MB/s of 1 MiB echo calls one at a time.
#
#   Ice client  -> Ice server     irpc-bench-ice-client, irpc-bench-ice-server
#   Ice client  -> irpc server    irpc-bench-ice-client, irpc-bench serve ice://
#   Ice client  -> floor server   irpc-bench-ice-client,
#                                 irpc-bench-ice-floor-server
#   irpc client -> Ice server     irpc-bench rpc --protocol ice (or
#                                 irpc-bench-client), Ice server
#   irpc client -> irpc server    the same irpc client, irpc-bench serve
#
# The floor server does the least work a server of the ice protocol can do
# (blocking reads, one writev of canned headers and the request payloads):
# what the Ice client achieves against it bounds what any server can make
# that client achieve here. The pairings run in rotation, --rounds times;
# each figure is the median of its rounds. Then the ratios against
# Ice -> Ice, and the target: an irpc server makes an Ice client at least
# 1.5x faster than an Ice server does, on each figure, with the floor's
# ratio beside it. A pairing whose program is missing is skipped with the
# reason.
#
#   bench/ice/run.sh [--seconds S] [--rounds N] [--cpu N] [--build DIR]
#
# Builds irpc (Release) and the Ice peers into DIR (default build-bench);
# needs libzeroc-ice-dev and g++ (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=1
rounds=3
cpu=0
build=build-bench
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) seconds=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --cpu) cpu=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  *) echo "usage: bench/ice/run.sh [--seconds S] [--rounds N] [--cpu N] [--build DIR]" >&2
     exit 2 ;;
  esac
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF \
  -DIRPC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target irpc-bench >/dev/null
if ! cmake --build "$build" -j"$(nproc)" --target irpc-bench-ice-server \
  irpc-bench-ice-client irpc-bench-ice-floor-server >/dev/null 2>&1; then
  echo "the Ice peers did not build: is libzeroc-ice-dev installed?" >&2
  echo "(scripts/deps.sh installs it)" >&2
  exit 1
fi
irpc_bench=$PWD/$build/bench/irpc-bench
ice_server=$PWD/$build/bench/ice/irpc-bench-ice-server
ice_client=$PWD/$build/bench/ice/irpc-bench-ice-client
floor_server=$PWD/$build/bench/ice/irpc-bench-ice-floor-server
pin=(taskset -c "$cpu")

# shellcheck source=bench/compare/lib.sh
. bench/compare/lib.sh ice

# The irpc client: irpc-bench rpc --protocol ice when it can call a server
# of another process (the option its usage names), else the irpc client of
# the comparison (irpc-bench-client), which measures the same way.
rpc_usage=$("$irpc_bench" rpc --help 2>&1 || true)
irpc_client=()
irpc_client_why="irpc has no ice protocol (irpc-bench-client not built)"
if grep -q -- "--protocol" <<<"$rpc_usage" && grep -q "ice" <<<"$rpc_usage"; then
  for opt in --server --connect --address --to; do
    if grep -q -- "$opt" <<<"$rpc_usage"; then
      irpc_client=("$irpc_bench" rpc --protocol ice --seconds "$seconds" "$opt")
      break
    fi
  done
fi
if [ ${#irpc_client[@]} -eq 0 ] && cmake --build "$build" -j"$(nproc)" \
  --target irpc-bench-client >/dev/null 2>&1; then
  irpc_client=("$PWD/$build/bench/compare/irpc-bench-client" --seconds
    "$seconds")
fi

# run_pair KEY CLIENT-CMD...: one round of a pairing; its figures are kept
# under KEY.<figure>.<round>.
run_pair() {
  local key=$1
  shift
  res[$key]=1
  if ! "${pin[@]}" "$@" >"$tmp/$key.out" 2>"$tmp/$key.client.err"; then
    res[$key.err]="the client failed: $(tail -n 2 "$tmp/$key.client.err" | tr '\n' ' ')"
  fi
  res[$key.p50.$round]=$(fig "$tmp/$key.out" p50)
  res[$key.p99.$round]=$(fig "$tmp/$key.out" p99)
  res[$key.rate.$round]=$(fig "$tmp/$key.out" rate)
  res[$key.mbps.$round]=$(fig "$tmp/$key.out" mib)
}

echo "ice protocol over TCP on 127.0.0.1, client and server two processes on" \
  "core $cpu, about ${seconds} s a figure, medians of $rounds rounds"

skipped=()
for ((round = 1; round <= rounds; round++)); do
  # Ice -> Ice, then irpc -> Ice while the Ice server is up.
  start_server "$tmp/ice.err" "${pin[@]}" "$ice_server"
  if [ -z "$address" ]; then
    echo "the Ice server did not start: $(cat "$tmp/ice.err")" >&2
    exit 1
  fi
  run_pair ice_ice "$ice_client" --seconds "$seconds" "$address"
  [ ${#irpc_client[@]} -gt 0 ] && run_pair irpc_ice "${irpc_client[@]}" "$address"
  stop_server

  # Ice -> irpc, and irpc -> irpc.
  start_server "$tmp/irpc.err" "${pin[@]}" "$irpc_bench" serve ice://127.0.0.1:0
  if [ -z "$address" ] || [ "${address#ice://}" = "$address" ]; then
    why=$(tr '\n' ' ' <"$tmp/irpc.err")
    skipped+=("irpc server: irpc-bench serve does not serve ice:// (${why:-no address printed})")
  else
    run_pair ice_irpc "$ice_client" --seconds "$seconds" "$address"
    [ ${#irpc_client[@]} -gt 0 ] && run_pair irpc_irpc "${irpc_client[@]}" "$address"
  fi
  stop_server

  # Ice -> floor.
  start_server "$tmp/floor.err" "${pin[@]}" "$floor_server"
  if [ -z "$address" ]; then
    skipped+=("floor server: $(tr '\n' ' ' <"$tmp/floor.err")")
  else
    run_pair ice_floor "$ice_client" --seconds "$seconds" "$address"
  fi
  stop_server
done
[ ${#irpc_client[@]} -gt 0 ] || skipped+=("irpc client: $irpc_client_why")

label_of() {
  case $1 in
  ice_ice) echo "Ice client -> Ice server" ;;
  ice_irpc) echo "Ice client -> irpc server" ;;
  ice_floor) echo "Ice client -> floor server" ;;
  irpc_ice) echo "irpc client -> Ice server" ;;
  irpc_irpc) echo "irpc client -> irpc server" ;;
  esac
}
keys=(ice_ice ice_irpc ice_floor irpc_ice irpc_irpc)
declare -A med
for key in "${keys[@]}"; do
  [ -n "${res[$key]:-}" ] || continue
  for f in p50 p99 rate mbps; do med[$key.$f]=$(median "$key.$f"); done
  printf '  %-28s p50 %8s us  p99 %8s us  %10s calls/s (64 in flight)  %7s MB/s (1 MiB echo)\n' \
    "$(label_of "$key")" "${med[$key.p50]:--}" "${med[$key.p99]:--}" \
    "${med[$key.rate]:--}" "${med[$key.mbps]:--}"
  [ -z "${res[$key.err]:-}" ] || echo "    ${res[$key.err]}"
done
for s in "${skipped[@]}"; do echo "  skipped: $s"; done

# Ratios against Ice -> Ice: how many times faster (latency: Ice's p50 over
# the pairing's; rate and MB/s: the pairing's over Ice's).
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
declare -A rat
echo
echo "times faster than Ice client -> Ice server:"
for key in ice_irpc ice_floor irpc_ice irpc_irpc; do
  [ -n "${res[$key]:-}" ] || continue
  rat[$key.l]=$(ratio "${med[ice_ice.p50]}" "${med[$key.p50]}")
  rat[$key.r]=$(ratio "${med[$key.rate]}" "${med[ice_ice.rate]}")
  rat[$key.m]=$(ratio "${med[$key.mbps]}" "${med[ice_ice.mbps]}")
  printf '  %-28s latency %5sx  64 in flight %5sx  1 MiB echo %5sx\n' \
    "$(label_of "$key")" "${rat[$key.l]}" "${rat[$key.r]}" "${rat[$key.m]}"
done

# The target, figure by figure, beside the bound the floor server sets.
at_least() { awk -v v="$1" -v t="$2" 'BEGIN{ exit !(v != "-" && v >= t) }'; }
if [ -z "${res[ice_irpc]:-}" ]; then
  echo "target: not measured (no irpc server over ice)"
  exit 0
fi
echo
echo "target: an irpc server makes an Ice client >= 1.5x faster than an Ice server does"
verdict=met
for f in l:latency r:"64 in flight" m:"1 MiB echo"; do
  k=${f%%:*} name=${f#*:}
  v=${rat[ice_irpc.$k]} bound=${rat[ice_floor.$k]:--}
  if at_least "$v" 1.5; then
    state=met
  elif [ "$bound" != "-" ] && ! at_least "$bound" 1.5; then
    state="not met; no server can: the floor server gives ${bound}x"
    verdict="not met"
  else
    state="not met (the floor server gives ${bound}x)"
    verdict="not met"
  fi
  printf '  %-14s irpc server %5sx  %s\n' "$name" "$v" "$state"
done
echo "target: $verdict"
