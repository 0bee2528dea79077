#!/usr/bin/env bash
# Quick start, second command: installs what is missing, builds (Debug, with
# AddressSanitizer and UndefinedBehaviorSanitizer, -Wall -Wextra -Werror) and
# runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DIRPC_SANITIZE=ON \
  -DIRPC_WERROR=ON >/dev/null
cmake --build build-test -j"$(nproc)"
cd build-test
ctest --output-on-failure -j"$(nproc)"
