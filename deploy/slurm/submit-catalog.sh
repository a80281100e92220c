#!/usr/bin/env bash
# Submits the catalog of published results to Slurm: a job array of N shards (every case's cells
# dealt round-robin), then, once every shard succeeded (--dependency=afterok), the step that
# merges the shard stores and prints the scorecard from them. Prints the job ids.
#
#   deploy/slurm/submit-catalog.sh [--wait] [--shards N] [--sbatch "OPTIONS"] [all|CASE] OUTDIR [--quick] [--runs N]
#
# --wait      block until the scorecard is written; exit non-zero if a shard or the last step failed
# --shards N  number of array tasks (default 4)
# --sbatch    extra sbatch options for the array, e.g. "--cpus-per-task=16 --partition=long"
# The scorecard ends up in OUTDIR/catalog.txt (and OUTDIR/catalog.json); the last step's log is
# OUTDIR/plesim-catalog-final-<job>.out. PLESIM (environment) is the command that runs plesim.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=submit-options.sh
source "$here/submit-options.sh"
parse_submit_options submit-catalog.sh "$@"
shift "$consumed"
what=all
if [ $# -ge 2 ] && [[ "$2" != -* ]]; then
  what=$1
  shift
fi
if [ $# -lt 1 ] || ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [--wait] [--shards N] [--sbatch \"OPTIONS\"] [all|CASE] OUTDIR [--quick] [--runs N]" >&2
  exit 2
fi
# A case file being run by path must be found from the tasks' working directory (OUTDIR).
if [ -f "$what" ]; then
  what=$(realpath "$what")
fi
out=$(realpath -m "$1")
shift
mkdir -p "$out"

# Array task K = shard K of N (plesim counts shards from 1).
array=$(sbatch --parsable "${wait[@]}" "${extra[@]}" --array="1-${shards}" --chdir="$out" \
  "$here/catalog.sbatch" "$what" "$out" "$@") || {
  echo "submit-catalog.sh: the catalog array failed (job ${array:-?}); logs: $out/plesim-catalog-*.out" >&2
  exit 1
}
array=${array%%;*}
echo "catalog array job: $array ($shards shards)"
if [ ${#wait[@]} -gt 0 ]; then
  final=$(sbatch --parsable --wait --chdir="$out" --output="$out/plesim-catalog-final-%j.out" "$here/catalog.sbatch" "$what" "$out" "$@") || {
    echo "submit-catalog.sh: the merge + scorecard job failed; log: $out/plesim-catalog-final-*.out" >&2
    exit 1
  }
else
  final=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --chdir="$out" \
    --output="$out/plesim-catalog-final-%j.out" "$here/catalog.sbatch" "$what" "$out" "$@")
fi
echo "merge + scorecard job: ${final%%;*} -> $out/catalog.txt"
