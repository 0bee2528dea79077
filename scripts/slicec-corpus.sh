#!/usr/bin/env bash
# Runs irpc-slicec over every .slice file under a directory and reports how
# many pass, which fail (with their diagnostics), and the time taken.
#
#   scripts/slicec-corpus.sh DIR [-R REFERENCE]... [-D SYMBOL]...
#
# The .slice files of one directory are compiled together, in one run of
# the compiler, as a project would compile them; each directory is one run.
# -R and -D are passed to every run; when DIR has a top-level slice/
# directory (shared definitions, as in icerpc-csharp) and no -R is given,
# it is the reference. A file that is both a source and a reference is
# compiled once (the compiler's DuplicateFile warning is not counted).
#
# The compiler is $SLICEC, or the Release build's (build-rel), or the test
# build's (build-test). Exit status: 0 when every run passed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: slicec-corpus.sh DIR [-R REFERENCE]... [-D SYMBOL]...}
shift
dir=$(cd "$dir" && pwd) || exit 2
slicec=${SLICEC:-}
for cand in "$root/build-rel/slice/compiler/irpc-slicec" \
  "$root/build-test/slice/compiler/irpc-slicec"; do
  [ -n "$slicec" ] && break
  [ -x "$cand" ] && slicec=$cand
done
[ -x "$slicec" ] || { echo "irpc-slicec not built (set SLICEC)" >&2; exit 2; }

args=("$@")
has_ref=0
for a in "${args[@]+"${args[@]}"}"; do [ "$a" = -R ] && has_ref=1; done
if [ $has_ref = 0 ] && [ -d "$dir/slice" ]; then
  args+=(-R "$dir/slice")
fi

cd "$dir"
mapfile -t dirs < <(find . -name '*.slice' -type f -printf '%h\n' | sort -u)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# First the compiler runs alone, so that the times are the compiler's.
files=0 runs=0
declare -a status
start=$(date +%s%N)
for d in "${dirs[@]}"; do
  srcs=("$d"/*.slice)
  files=$((files + ${#srcs[@]}))
  "$slicec" "${srcs[@]}" "${args[@]+"${args[@]}"}" >"$out/$runs" 2>&1
  status[runs]=$?
  runs=$((runs + 1))
done
end=$(date +%s%N)
times >"$out/times"
# The CPU time (user + system) of the runs, from bash's `times`: the wall
# time also counts process start-up and whatever else the machine does.
cpu=$(tail -1 "$out/times" | awk '{
  split($1, u, /[ms]/); split($2, s, /[ms]/);
  printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }')
ms=$(((end - start) / 1000000))

failed=0 warnings=0
for ((i = 0; i < runs; i++)); do
  if [ "${status[i]}" != 0 ]; then
    failed=$((failed + 1))
    echo "FAIL ${dirs[i]}"
    grep -v '^irpc-slicec: [0-9]* error' "$out/$i" | sed 's/^/    /'
  fi
  w=$(grep 'warning:' "$out/$i" | grep -vc DuplicateFile || true)
  warnings=$((warnings + w))
done
echo "$files files in $runs runs: $((runs - failed)) runs passed, $failed failed," \
  "$warnings warnings; ${ms} ms wall, ${cpu} ms CPU"
[ $failed = 0 ]
