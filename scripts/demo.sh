#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds (Release) and
# runs the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DIRPC_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target irpc-hello
exec build-release/examples/irpc-hello "$@"
