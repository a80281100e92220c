#!/usr/bin/env bash
# Re-run one README command and keep its table output, results.json and CPU time.
# Usage: scripts/rw20-rerun.sh NAME plesim-args...   (writes $OUT/NAME.txt, $OUT/NAME/, $OUT/NAME.time)
# Run from the worktree root; OUT defaults to /tmp/rw20-out; PLESIM_DLL picks another build (e.g. a copy of an older commit).
set -u
OUT=${OUT:-/tmp/rw20-out}
name=$1; shift
mkdir -p "$OUT"
cmd=("$@")
if [ "${cmd[0]}" = run ]; then cmd+=(-o "$OUT/$name"); fi
/usr/bin/time -f '%e s wall %U user %S sys' -o "$OUT/$name.time" \
  dotnet "${PLESIM_DLL:-src/PleSim.Cli/bin/Release/net10.0/plesim.dll}" "${cmd[@]}" > "$OUT/$name.txt" 2> "$OUT/$name.err"
echo "$name rc=$? $(cat "$OUT/$name.time")"
