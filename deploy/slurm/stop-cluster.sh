#!/usr/bin/env bash
# Stops the one-node test cluster started by start-cluster.sh (slurmd, slurmctld, and munged if
# that script started it) and clears its spool, so the next start is clean. Idempotent.
set -euo pipefail

state="${PLESIM_SLURM_STATE:-/tmp/plesim-slurm}"
[ -d "$state" ] || exit 0
for d in slurmd slurmctld munged; do
  f="$state/$d.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
done
rm -rf "$state/spool" "$state/run"
echo "slurm: stopped (state in $state)"
