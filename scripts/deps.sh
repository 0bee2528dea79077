#!/usr/bin/env bash
# Installs the Debian packages irpc needs to build and test, if missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libuv1-dev libcmocka-dev libzstd-dev libbrotli-dev zlib1g-dev
  libbz2-dev libssl-dev openssl)
# ZeroC Ice 3.7, the peer of the ice protocol's interop tests and benchmarks.
[ "${IRPC_WITH_ICE_PEER:-1}" = 1 ] && pkgs+=(zeroc-ice-compilers libzeroc-ice-dev python3-zeroc-ice
  zeroc-icegrid zeroc-ice-slice)
# gRPC C++, a peer of the side-by-side benchmark (bench/compare) only.
[ "${IRPC_WITH_GRPC_PEER:-0}" = 1 ] && pkgs+=(g++ libgrpc++-dev libprotobuf-dev protobuf-compiler-grpc)
[ "${IRPC_WITH_FUZZ:-0}" = 1 ] && pkgs+=(clang libclang-rt-14-dev)
[ "${IRPC_WITH_FORMAT:-0}" = 1 ] && pkgs+=(clang-format)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "irpc needs these packages; run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
