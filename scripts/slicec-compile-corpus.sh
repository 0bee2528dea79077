#!/bin/sh
# Generates C for every .slice file under DIR with irpc-slicec and compiles
# each generated .c with -Wall -Wextra -Werror against include/.
#
#   scripts/slicec-compile-corpus.sh DIR [BUILD]
#
# BUILD is the build directory holding slice/compiler/irpc-slicec (default
# build-test). Each file is compiled as a source with, as references, the
# other .slice files of its directory and those of DIR/slice (the shared
# definitions of an IceRPC checkout); the headers of the files it includes
# are generated beside it. Prints one line per file and the counts; files
# with stream operations are counted apart (irpc-slicec leaves those
# operations out and says so). Exits 0; the counts are the result.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: slicec-compile-corpus.sh DIR [BUILD]}
build=${2:-$root/build-test}
slicec=$build/slice/compiler/irpc-slicec
cc=${CC:-cc}
[ -x "$slicec" ] || { echo "no $slicec: build irpc-slicec first" >&2; exit 2; }
work=$(mktemp -d /tmp/slicec-corpus.XXXXXX)
trap 'rm -rf "$work"' EXIT

find "$dir" -name '*.slice' | sort > "$work/all"
shared=$(grep "^$dir/slice/" "$work/all" || true)
total=0 gen_ok=0 cc_ok=0 streams=0 front=0 gen_fail=0 cc_fail=0

refs_for() { # FILE: the -R arguments for it
  d=$(dirname "$1")
  for r in $(grep "^$d/[^/]*\.slice$" "$work/all") $shared; do
    [ "$r" = "$1" ] || printf ' -R %s' "$r"
  done
}

while read -r f; do
  total=$((total + 1))
  name=$(basename "$f")
  out=$work/$total
  mkdir -p "$out"
  refs=$(refs_for "$f")
  # shellcheck disable=SC2086
  "$slicec" --output-dir "$out" $refs "$f" > "$out/log" 2>&1
  rc=$?
  rel=${f#"$dir"/}
  if [ $rc -ne 0 ]; then
    if grep -q 'E202' "$out/log" && ! grep 'error:' "$out/log" | grep -vq 'E202'; then
      streams=$((streams + 1))
      echo "STREAMS   $rel"
    elif grep -q '\[E2[0-9][0-9]\]' "$out/log"; then
      gen_fail=$((gen_fail + 1))
      echo "GEN-FAIL  $rel: $(grep -m1 'error:' "$out/log" | sed 's/.*error: //')"
    else
      front=$((front + 1))
      echo "REJECTED  $rel: $(grep -m1 'error:' "$out/log" | sed 's/.*error: //')"
    fi
    continue
  fi
  gen_ok=$((gen_ok + 1))
  # Headers of the other .slice files this one uses, and of those they use
  # (a file of the same directory first, then a shared one).
  d=$(dirname "$f")
  todo=$name
  while [ -n "$todo" ]; do
    next=""
    for h in $todo; do
      for inc in $(sed -n 's/^#include "\(.*\)\.h"$/\1/p' "$out/$h.h"); do
        [ -f "$out/$inc.h" ] && continue
        src=$(grep -x "$d/$inc" "$work/all" || true)
        [ -n "$src" ] || src=$(echo "$shared" | grep "/$inc\$" | head -n 1)
        [ -n "$src" ] || continue
        # shellcheck disable=SC2086
        "$slicec" --output-dir "$out" $(refs_for "$src") "$src" \
          > /dev/null 2>&1
        [ -f "$out/$inc.h" ] && next="$next $inc"
      done
    done
    todo=$next
  done
  if "$cc" -std=gnu11 -c -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -I"$root/include" -I"$out" "$out/$name.c" \
    -o "$out/$name.o" > "$out/cc.log" 2>&1; then
    cc_ok=$((cc_ok + 1))
    echo "OK        $rel"
  else
    cc_fail=$((cc_fail + 1))
    echo "CC-FAIL   $rel: $(grep -m1 'error' "$out/cc.log")"
  fi
done < "$work/all"

echo "files: $total; with streams (left out): $streams; rejected by the front end: $front"
echo "generated: $gen_ok (generator errors: $gen_fail); compiled: $cc_ok (failed: $cc_fail)"
