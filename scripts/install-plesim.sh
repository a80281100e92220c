#!/usr/bin/env bash
# Installs the plesim command from this checkout, in one of two forms:
#   scripts/install-plesim.sh [--tool] [DEST]   pack src/PleSim.Cli as the .NET tool "PleSim" into a
#       local folder and install it: globally (~/.dotnet/tools, on PATH) or, with DEST, into DEST
#       (dotnet tool install --tool-path DEST). Needs the .NET 10 runtime where it runs.
#   scripts/install-plesim.sh --single-file [DEST]   publish one self-contained linux-x64
#       executable DEST/plesim (default DEST: ./plesim-linux-x64); needs no .NET on the target.
# The scenarios and catalog cases reproduce needs are embedded in the program, so either form runs
# outside the repository. Only NuGet is contacted (restore). PLESIM_CONFIGURATION (default Release)
# picks the build configuration; the install test passes the one the test suite was built with, so
# that packing reuses that build instead of compiling everything again.
set -euo pipefail
config="${PLESIM_CONFIGURATION:-Release}"

mode=tool
case "${1:-}" in
  --tool) shift ;;
  --single-file) mode=single-file; shift ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "install-plesim.sh: unknown option '$1' (use --tool or --single-file)" >&2; exit 2 ;;
esac
dest="${1:-}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$repo/src/PleSim.Cli/PleSim.Cli.csproj"

if [[ "$mode" == single-file ]]; then
  dest="${dest:-$PWD/plesim-linux-x64}"
  dotnet publish "$project" -c "$config" -r linux-x64 --self-contained -p:PublishSingleFile=true -o "$dest"
  echo "installed: $dest/plesim"
  "$dest/plesim" --version
  exit 0
fi

feed="$(mktemp -d)"
trap 'rm -rf "$feed"' EXIT
dotnet pack "$project" -c "$config" -o "$feed"
if [[ -n "$dest" ]]; then
  # Reinstalling the same version replaces it.
  dotnet tool uninstall --tool-path "$dest" PleSim >/dev/null 2>&1 || true
  dotnet tool install --tool-path "$dest" --add-source "$feed" PleSim
  echo "installed: $dest/plesim"
  "$dest/plesim" --version
else
  dotnet tool uninstall --global PleSim >/dev/null 2>&1 || true
  dotnet tool install --global --add-source "$feed" PleSim
  echo "installed: plesim (add ~/.dotnet/tools to PATH if the shell does not find it)"
fi
