#!/usr/bin/env bash
# Fails when a C source or header tracked by git is not formatted with the
# repository's .clang-format; prints the files and the command that fixes
# them.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted with .clang-format:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix with: clang-format -i ${bad[*]}" >&2
  exit 1
fi
echo "format: $(git ls-files '*.c' '*.h' | wc -l) files formatted"
