# Sourced by submit-sweep.sh and submit-catalog.sh: their shared leading options.
#
#   parse_submit_options SCRIPT-NAME "$@"; shift "$consumed"
#
# Sets wait (() or (--wait)), shards (default 4), extra (the words of --sbatch "OPTIONS") and
# consumed (how many arguments were options, "--" included). Stops at the first non-option.
parse_submit_options() {
  local name=$1
  shift
  wait=()
  shards=4
  extra=()
  consumed=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --wait) wait=(--wait); shift; consumed=$((consumed + 1)) ;;
      --shards) shards=$2; shift 2; consumed=$((consumed + 2)) ;;
      --sbatch) read -ra extra <<< "$2"; shift 2; consumed=$((consumed + 2)) ;;
      --) consumed=$((consumed + 1)); break ;;
      -*) echo "$name: unknown option $1" >&2; exit 2 ;;
      *) break ;;
    esac
  done
}
