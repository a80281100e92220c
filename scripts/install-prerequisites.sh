#!/usr/bin/env bash
# Installs the Debian packages some PleSim tests need, and nothing else:
#   chromium           the headless browser that checks the HTML report (PuppeteerSharp drives it)
#   fonts-dejavu-core  the font every plot uses (identical plots on every machine)
#   slurmctld slurmd slurm-client munge   a one-node Slurm for the job-array sweep test
# Idempotent: when everything is installed it only checks (well under a second).
# Usage: scripts/install-prerequisites.sh        (CI runs it before the tests; tests run it if they find something missing)
# Exit status: 0 when all packages are present afterwards; 1 when they cannot be installed (reason on stderr).
set -euo pipefail

packages=(chromium fonts-dejavu-core slurmctld slurmd slurm-client munge)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "prerequisites: all present (${packages[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "prerequisites: cannot install ${missing[*]}: this is not a Debian/Ubuntu system (no apt-get); install the equivalents by hand" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "prerequisites: cannot install ${missing[*]}: not root and no password-less sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
# Refresh the package lists only when they are missing or a day old.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  "${sudo[@]}" apt-get update -qq
fi
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/plesim-apt.log 2>&1; then
  # The lists may be stale: refresh once and retry.
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/plesim-apt.log 2>&1 || {
    echo "prerequisites: apt-get could not install ${missing[*]}; see /tmp/plesim-apt.log:" >&2
    tail -n 5 /tmp/plesim-apt.log >&2
    exit 1
  }
fi
echo "prerequisites: installed ${missing[*]} in $(( $(date +%s) - start )) s"
