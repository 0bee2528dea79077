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
files=0 runs=0 failed=0 warnings=0
start=$(date +%s%N)
for d in "${dirs[@]}"; do
  mapfile -t srcs < <(find "$d" -maxdepth 1 -name '*.slice' -type f | sort)
  files=$((files + ${#srcs[@]}))
  runs=$((runs + 1))
  if ! out=$("$slicec" "${srcs[@]}" "${args[@]+"${args[@]}"}" 2>&1); then
    failed=$((failed + 1))
    echo "FAIL $d"
    echo "$out" | grep -v '^irpc-slicec: [0-9]* error' | sed 's/^/    /'
  fi
  w=$(echo "$out" | grep 'warning:' | grep -vc DuplicateFile || true)
  warnings=$((warnings + w))
done
end=$(date +%s%N)
ms=$(((end - start) / 1000000))
# CPU time of the runs (user + system, the compiler's and the few
# helper commands'), from bash's `times`: the
# wall time also counts process start-up and whatever else the machine does.
tmp=$(mktemp)
times >"$tmp"
cpu=$(tail -1 "$tmp" | awk '{
  split($1, u, /[ms]/); split($2, s, /[ms]/);
  printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 }')
rm -f "$tmp"
echo "$files files in $runs runs: $((runs - failed)) runs passed, $failed failed," \
  "$warnings warnings; ${ms} ms wall, ${cpu} ms CPU (compiler runs)"
[ $failed = 0 ]
