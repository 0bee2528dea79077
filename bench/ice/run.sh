#!/usr/bin/env bash
# irpc and ZeroC Ice 3.7 side by side over the ice protocol, in one run.
# Client and server are two processes pinned to one core (taskset), over
# TCP on loopback; each pairing measures what irpc-bench rpc measures:
# latency (p50 and p99 of empty calls one at a time), calls/s with 64 calls
# in flight, and MB/s of 1 MiB echo calls one at a time.
#
#   Ice client  -> Ice server     irpc-bench-ice-client, irpc-bench-ice-server
#   Ice client  -> irpc server    irpc-bench-ice-client, irpc-bench serve ice://
#   irpc client -> Ice server     irpc-bench rpc --protocol ice (or
#                                 irpc-bench-ice-irpc-client), Ice server
#   irpc client -> irpc server    the same irpc client, irpc-bench serve
#
# then the ratios against Ice -> Ice, and the target: an irpc server makes
# an Ice client at least 1.5x faster than an Ice server does, on each
# figure. A pairing whose irpc program does not support it yet is skipped
# with the reason.
#
#   bench/ice/run.sh [--seconds S] [--cpu N] [--build DIR]
#
# Builds irpc (Release) and the Ice peers into DIR (default build-bench);
# needs libzeroc-ice-dev and g++ (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=1
cpu=0
build=build-bench
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) seconds=$2; shift 2 ;;
  --cpu) cpu=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  *) echo "usage: bench/ice/run.sh [--seconds S] [--cpu N] [--build DIR]" >&2
     exit 2 ;;
  esac
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF \
  -DIRPC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target irpc-bench >/dev/null
if ! cmake --build "$build" -j"$(nproc)" --target irpc-bench-ice-server \
  irpc-bench-ice-client >/dev/null 2>&1; then
  echo "the Ice peers did not build: is libzeroc-ice-dev installed?" >&2
  echo "(scripts/deps.sh installs it)" >&2
  exit 1
fi
irpc_bench=$PWD/$build/bench/irpc-bench
ice_server=$PWD/$build/bench/ice/irpc-bench-ice-server
ice_client=$PWD/$build/bench/ice/irpc-bench-ice-client
pin=(taskset -c "$cpu")

tmp=$(mktemp -d /tmp/irpc-bench-ice-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME CMD...: starts a server pinned to the core, reads the
# address it prints when ready into $address (empty when it exited or said
# nothing within 20 s; its error output is in $tmp/NAME.err).
start_server() {
  local name=$1 fd
  shift
  address=""
  exec {fd}< <(exec "${pin[@]}" "$@" 2>"$tmp/$name.err")
  server_pid=$!
  pids+=("$server_pid")
  IFS= read -r -t 20 -u "$fd" address || address=""
  exec {fd}<&-
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

# Figures from a client's output (both clients print the same lines).
p50() { awk '/ latency /{for(i=1;i<=NF;i++) if($i=="p50"){print $(i+1); exit}}' "$1"; }
p99() { awk '/ latency /{for(i=1;i<=NF;i++) if($i=="p99"){print $(i+1); exit}}' "$1"; }
rate64() { awk '/ inflight_64 /{for(i=1;i<=NF;i++) if($i=="calls/s"){print $(i-1); exit}}' "$1"; }
mbps() { awk '/ echo_1MiB /{for(i=1;i<=NF;i++) if($i=="MB/s"){print $(i-1); exit}}' "$1"; }

# The irpc client: irpc-bench rpc --protocol ice when it can call a server
# of another process (the option its usage names), else the irpc client of
# bench/ice (irpc-bench-ice-irpc-client, built when irpc has the ice
# protocol), which measures the same way.
rpc_usage=$("$irpc_bench" rpc --help 2>&1 || true)
irpc_client=()
irpc_client_why="irpc has no ice protocol yet (irpc-bench-ice-irpc-client not built)"
if grep -q -- "--protocol" <<<"$rpc_usage" && grep -q "ice" <<<"$rpc_usage"; then
  for opt in --server --connect --address --to; do
    if grep -q -- "$opt" <<<"$rpc_usage"; then
      irpc_client=("$irpc_bench" rpc --protocol ice --seconds "$seconds" "$opt")
      break
    fi
  done
fi
if [ ${#irpc_client[@]} -eq 0 ] && cmake --build "$build" -j"$(nproc)" \
  --target irpc-bench-ice-irpc-client >/dev/null 2>&1; then
  irpc_client=("$PWD/$build/bench/ice/irpc-bench-ice-irpc-client" --seconds
    "$seconds")
fi

declare -A res
run_pair() { # run_pair KEY LABEL CLIENT-CMD...
  local key=$1 label=$2
  shift 2
  local failed=0
  "${pin[@]}" "$@" >"$tmp/$key.out" 2>"$tmp/$key.client.err" || failed=1
  res[$key]=1
  res[$key.p50]=$(p50 "$tmp/$key.out")
  res[$key.p99]=$(p99 "$tmp/$key.out")
  res[$key.rate]=$(rate64 "$tmp/$key.out")
  res[$key.mbps]=$(mbps "$tmp/$key.out")
  printf '  %-28s p50 %8s us  p99 %8s us  %10s calls/s (64 in flight)  %7s MB/s (1 MiB echo)\n' \
    "$label" "${res[$key.p50]:--}" "${res[$key.p99]:--}" \
    "${res[$key.rate]:--}" "${res[$key.mbps]:--}"
  if [ "$failed" = 1 ]; then
    echo "    the client failed: $(tail -n 2 "$tmp/$key.client.err" | tr '\n' ' ')"
  fi
}

echo "ice protocol over TCP on 127.0.0.1, client and server two processes on" \
  "core $cpu, about ${seconds} s a figure"

# 1. Ice -> Ice
start_server ice "$ice_server"
if [ -z "$address" ]; then
  echo "the Ice server did not start: $(cat "$tmp/ice.err")" >&2
  exit 1
fi
ice_address=$address
run_pair ice_ice "Ice client -> Ice server" "$ice_client" --seconds "$seconds" \
  "$ice_address"

# 3. irpc -> Ice (the Ice server is still up)
if [ ${#irpc_client[@]} -eq 0 ]; then
  echo "  irpc client -> Ice server:   skipped: $irpc_client_why"
else
  run_pair irpc_ice "irpc client -> Ice server" "${irpc_client[@]}" \
    "$ice_address"
fi
stop_server

# 2. Ice -> irpc, and 4. irpc -> irpc
start_server irpc "$irpc_bench" serve ice://127.0.0.1:0
if [ -z "$address" ] || [ "${address#ice://}" = "$address" ]; then
  why=$(tr '\n' ' ' <"$tmp/irpc.err")
  echo "  Ice client -> irpc server:   skipped: irpc-bench serve does not" \
    "serve ice:// yet (${why:-no address printed})"
  echo "  irpc client -> irpc server:  skipped: the same"
else
  run_pair ice_irpc "Ice client -> irpc server" "$ice_client" --seconds \
    "$seconds" "$address"
  if [ ${#irpc_client[@]} -gt 0 ]; then
    run_pair irpc_irpc "irpc client -> irpc server" "${irpc_client[@]}" \
      "$address"
  else
    echo "  irpc client -> irpc server:  skipped: $irpc_client_why"
  fi
fi
stop_server

# Ratios against Ice -> Ice: how many times faster (latency: Ice's p50 over
# the pairing's; rate and MB/s: the pairing's over Ice's).
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "times faster than Ice client -> Ice server (target for an irpc server: >= 1.5 on each):"
verdict=""
for key in ice_irpc irpc_ice irpc_irpc; do
  [ -n "${res[$key]:-}" ] || continue
  case $key in
  ice_irpc) label="Ice client -> irpc server" ;;
  irpc_ice) label="irpc client -> Ice server" ;;
  irpc_irpc) label="irpc client -> irpc server" ;;
  esac
  l=$(ratio "${res[ice_ice.p50]}" "${res[$key.p50]}")
  r=$(ratio "${res[$key.rate]}" "${res[ice_ice.rate]}")
  m=$(ratio "${res[$key.mbps]}" "${res[ice_ice.mbps]}")
  printf '  %-28s latency %5sx  64 in flight %5sx  1 MiB echo %5sx\n' \
    "$label" "$l" "$r" "$m"
  if [ "$key" = ice_irpc ]; then
    verdict="met"
    for v in "$l" "$r" "$m"; do
      awk -v v="$v" 'BEGIN{ exit !(v != "-" && v >= 1.5) }' || verdict="not met"
    done
  fi
done
if [ -n "$verdict" ]; then
  echo "target (an irpc server makes an Ice client >= 1.5x faster on each figure): $verdict"
else
  echo "target: not measured (no irpc server over ice yet)"
fi
