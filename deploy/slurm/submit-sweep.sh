#!/usr/bin/env bash
# Submits a PleSim sweep to Slurm: a job array of N shards, then the merge step once every
# shard succeeded (--dependency=afterok). Prints the job ids.
#
#   deploy/slurm/submit-sweep.sh [--wait] [--shards N] [--sbatch "OPTIONS"] SCENARIO OUTDIR [plesim sweep options...]
#
# --wait      block until the merge is done; exit non-zero if a shard or the merge failed
# --shards N  number of array tasks (default 4)
# --sbatch    extra sbatch options for the array, e.g. "--cpus-per-task=16 --partition=long"
# PLESIM (environment) is the command that runs plesim; sbatch passes the environment on.
# Example:
#   PLESIM="dotnet $PWD/publish/plesim.dll" deploy/slurm/submit-sweep.sh --shards 8 \
#     scenarios/riel-2011/amqp.yaml /shared/pw --set kvm.ple_window=1024,4096,16384,65536 --runs 5
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=submit-options.sh
source "$here/submit-options.sh"
parse_submit_options submit-sweep.sh "$@"
shift "$consumed"
if [ $# -lt 2 ] || ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [--wait] [--shards N] [--sbatch \"OPTIONS\"] SCENARIO OUTDIR [plesim sweep options...]" >&2
  exit 2
fi
scenario=$(realpath "$1")
out=$(realpath -m "$2")
shift 2
mkdir -p "$out"

# Array task K = shard K of N (plesim counts shards from 1; it reads SLURM_ARRAY_TASK_MIN, so
# an array numbered from 0 works too).
array=$(sbatch --parsable "${wait[@]}" "${extra[@]}" --array="1-${shards}" --chdir="$out" \
  "$here/sweep.sbatch" "$scenario" "$out" "$@") || {
  echo "submit-sweep.sh: the sweep array failed (job ${array:-?}); logs: $out/plesim-sweep-*.out" >&2
  exit 1
}
array=${array%%;*}
echo "sweep array job: $array ($shards shards)"
if [ ${#wait[@]} -gt 0 ]; then
  merge=$(sbatch --parsable --wait --chdir="$out" --output="$out/plesim-merge-%j.out" "$here/sweep.sbatch" "$scenario" "$out") || {
    echo "submit-sweep.sh: the merge job failed; log: $out/plesim-merge-*.out" >&2
    exit 1
  }
else
  merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --chdir="$out" \
    --output="$out/plesim-merge-%j.out" "$here/sweep.sbatch" "$scenario" "$out")
fi
echo "merge job: ${merge%%;*} -> $out/results.sqlite"
