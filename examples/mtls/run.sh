#!/bin/sh
# Makes a throwaway CA and certificates with the openssl command (a server
# certificate for 127.0.0.1, client certificates for alice and mallory),
# then runs the example with them.
#   run.sh MTLS
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.pem -days 2 -subj "/CN=example CA" 2>/dev/null
issue() { # name subject san
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf 'subjectAltName=%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 1 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
issue server "/CN=server" "IP:127.0.0.1"
issue alice "/CN=alice" "URI:spiffe://example.org/alice"
issue mallory "/CN=mallory" "URI:spiffe://example.org/mallory"
"$1" "$dir"
