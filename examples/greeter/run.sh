#!/bin/sh
# Runs the greeter server on a free port, calls it with the client, then
# stops the server with SIGTERM and checks that it shut down gracefully.
#   run.sh SERVER CLIENT
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/out"
"$1" icerpc://127.0.0.1:0 >"$dir/out" 2>"$dir/log" &
pid=$!
read -r line <"$dir/out"
"$2" "${line#listening on }" Alice Bob
kill -TERM "$pid"
wait "$pid"
cat "$dir/log"
