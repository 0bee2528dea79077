#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds (Release) and
# runs the main demo, the compression benchmark (irpc-bench compress: does
# compression pay for my traffic?), then the call pipeline demo
# (examples/hello). Options are passed to irpc-bench compress, e.g.
#   scripts/demo.sh --payload my.json --link 50mbit,20ms
# The chart is written to build-release/compress.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target irpc-bench irpc-hello
(cd build-release && bench/irpc-bench compress "$@")
echo
echo "---- a call through the pipeline, layer by layer (examples/hello) ----"
build-release/examples/hello/irpc-hello
