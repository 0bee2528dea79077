#!/bin/sh
# Builds the libFuzzer targets with clang (fuzzer, address and undefined
# sanitizers) and runs each one for a number of seconds.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS (default 60) is the whole budget, split between the targets run
# by weight (at least 1 s each): the whole-session targets
# (fuzz_icerpc_server, fuzz_icerpc_client, fuzz_ice_server,
# fuzz_ice_client), whose inputs
# run a real
# connection each, get two shares, the others one. TARGET defaults to every
# target. The
# build goes to build-fuzz/ (override with IRPC_FUZZ_BUILD_DIR). Each target starts from a
# copy of its checked-in corpus under build-fuzz/corpus/<target>, so new
# inputs do not land in the source tree; crashes are written to
# build-fuzz/artifacts/. Exits non-zero if a target finds a failure, after
# a summary that names each failing target and prints its input (base64,
# for inputs up to 4 KiB) so a failure seen only in a log can be replayed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
build=${IRPC_FUZZ_BUILD_DIR:-$root/build-fuzz}
cc=${CC:-clang}
case $cc in *clang*) ;; *) cc=clang ;; esac

flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
flags="$flags -fno-omit-frame-pointer -g -O1"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DIRPC_BUILD_FUZZ=ON -DIRPC_BUILD_BENCH=OFF -DIRPC_BUILD_EXAMPLES=OFF \
  >/dev/null

all="fuzz_slice_decoder fuzz_slic_frames fuzz_icerpc_header fuzz_connection"
all="$all fuzz_slicec_parser fuzz_slice_parse fuzz_slice_gen fuzz_slice1_gen"
all="$all fuzz_icerpc_server fuzz_icerpc_client fuzz_ice_server fuzz_ice_address"
all="$all fuzz_ice_client"
all="$all fuzz_tls_server"
targets=${*:-$all}
weight() {
  case $1 in
  fuzz_icerpc_server | fuzz_icerpc_client | fuzz_ice_server) echo 2 ;;
  fuzz_ice_client) echo 2 ;;
  *) echo 1 ;;
  esac
}
shares=0
for t in $targets; do shares=$((shares + $(weight "$t"))); done
status=0
failed=""
mkdir -p "$build/artifacts"
stamp=$build/artifacts/.start
touch "$stamp"
for t in $targets; do
  time=$((seconds * $(weight "$t") / shares))
  [ "$time" -ge 1 ] || time=1
  cmake --build "$build" --target "$t" -j2 >/dev/null
  case $t in
  fuzz_slice_decoder) seeds=$here/corpus/slice ;;
  fuzz_slic_frames) seeds=$here/corpus/slic ;;
  fuzz_icerpc_header) seeds=$here/corpus/icerpc_header ;;
  fuzz_slicec_parser) seeds=$here/corpus/slicec ;;
  fuzz_slice_parse) seeds=$here/corpus/slice_parse ;;
  fuzz_connection) seeds=$here/corpus/connection ;;
  fuzz_slice_gen) seeds=$here/corpus/slice_gen ;;
  fuzz_slice1_gen) seeds=$here/corpus/slice1_gen ;;
  fuzz_icerpc_server) seeds=$here/corpus/icerpc_server ;;
  fuzz_icerpc_client) seeds=$here/corpus/icerpc_client ;;
  fuzz_ice_server) seeds=$here/corpus/ice_server ;;
  fuzz_ice_address) seeds=$here/corpus/ice_address ;;
  fuzz_ice_client) seeds=$here/corpus/ice_client ;;
  fuzz_tls_server) seeds=$here/corpus/tls_server ;;
  *) seeds=$here/corpus/$t ;;
  esac
  corpus=$build/corpus/$t
  mkdir -p "$corpus" "$build/artifacts"
  cp "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "== $t: ${time}s"
  if ! "$build/tests/fuzz/$t" -max_total_time="$time" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" "$corpus"; then
    status=1
    failed="$failed $t"
  fi
done
if [ $status -ne 0 ]; then
  echo "== fuzz targets that failed:$failed"
  find "$build/artifacts" -type f -newer "$stamp" ! -name .start |
  while read -r a; do
    echo "-- $(basename "$a") ($(wc -c <"$a") bytes)"
    if [ "$(wc -c <"$a")" -le 4096 ]; then base64 "$a"; fi
  done
  echo "replay: $build/tests/fuzz/<target> <input file>"
fi
exit $status
