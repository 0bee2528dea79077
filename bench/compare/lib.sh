# shellcheck shell=bash
# What bench/compare/run.sh, bench/compare/tls.sh and bench/ice/run.sh
# share (sourced from the top of the tree after they parse their options,
# with `rounds` set): a directory of the run, removed on exit with the
# server still running; a server started and stopped; the figures read
# from a client's output (every client prints the same lines); the median
# of a figure's rounds.
#
#   . bench/compare/lib.sh NAME   the directory is /tmp/irpc-bench-NAME-*

tmp=$(mktemp -d "/tmp/irpc-bench-$1-XXXXXX")
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill -TERM "$server_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_server ERRFILE CMD...: starts CMD (its error output to ERRFILE)
# and sets address to the line it prints when ready (empty when it exited
# or said nothing within 20 s) and server_pid.
# shellcheck disable=SC2034
start_server() {
  local err=$1 fd
  shift
  exec {fd}< <(exec "$@" 2>"$err")
  server_pid=$!
  IFS= read -r -t 20 -u "$fd" address || address=""
  exec {fd}<&-
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# fig FILE FIGURE: one figure of a client's output (p50, p99: us; rate:
# calls/s with 64 in flight; kib, mib: MB/s of 64 KiB, 1 MiB echo; hs:
# connections or handshakes per second), nothing when it is not there.
fig() {
  awk -v f="$2" '
    f == "p50" && / latency / { for (i = 1; i <= NF; i++) if ($i == "p50") print $(i+1) }
    f == "p99" && / latency / { for (i = 1; i <= NF; i++) if ($i == "p99") print $(i+1) }
    f == "rate" && / inflight_64 / { for (i = 1; i <= NF; i++) if ($i == "calls/s") print $(i-1) }
    f == "kib" && / echo_64KiB / { for (i = 1; i <= NF; i++) if ($i == "MB/s") print $(i-1) }
    f == "mib" && / echo_1MiB / { for (i = 1; i <= NF; i++) if ($i == "MB/s") print $(i-1) }
    f == "hs" && / (connects|handshakes) / { print $3 }
  ' "$1" | head -n 1
}

declare -A res

# median KEY: the median of res[KEY.1] .. res[KEY.$rounds], those set;
# nothing when none is (rounds: the caller's).
# shellcheck disable=SC2154
median() {
  local r vals=()
  for ((r = 1; r <= rounds; r++)); do
    [ -n "${res[$1.$r]:-}" ] && vals+=("${res[$1.$r]}")
  done
  [ ${#vals[@]} -gt 0 ] || return 0
  printf '%s\n' "${vals[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
