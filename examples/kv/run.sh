#!/bin/sh
# Runs the kv server on a free port and the client against it; once the
# client has stored a third of its keys, kills the server with SIGKILL and
# starts a new one on the same port. The client must reconnect, store again
# what the lost server held, and finish. Then SIGTERM stops the server.
#   run.sh SERVER CLIENT
set -eu
dir=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill -KILL $spid 2>/dev/null; rm -rf "$dir"' EXIT
mkfifo "$dir/s1" "$dir/s2" "$dir/c"
"$1" icerpc://127.0.0.1:0 >"$dir/s1" 2>"$dir/log1" &
spid=$!
read -r line <"$dir/s1"
addr=${line#listening on }
"$2" "$addr" >"$dir/c" 2>"$dir/clog" &
cpid=$!
exec 3<"$dir/c"
read -r progress <&3
echo "client: $progress; killing the server"
kill -KILL $spid
wait $spid || true
"$1" "$addr" >"$dir/s2" 2>"$dir/log2" &
spid=$!
read -r line <"$dir/s2"
echo "server: restarted, $line"
cat <&3
rc=0
wait $cpid || rc=$?
kill -TERM $spid
wait $spid
spid=
grep -hv '^WARNING' "$dir/clog" "$dir/log2" || true
exit $rc
