#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10s).
# Usage: scripts/fuzz.sh [FUZZTIME]   e.g. scripts/fuzz.sh 10m
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
status=0
for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for target in $targets; do
    echo "== fuzz $pkg $target ($fuzztime)"
    log=$(mktemp)
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
      # The fuzzing engine can report "context deadline exceeded" when its
      # workers stop at -fuzztime on a loaded machine, with no failing
      # input: run that target once more. A real crasher is never retried.
      if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "== retry $target: fuzzing engine shutdown error, no failing input"
        go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" || status=1
      else
        status=1
      fi
    fi
    rm -f "$log"
  done
done
exit $status
