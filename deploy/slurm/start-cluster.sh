#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, for testing sweeps as job arrays (the
# usual one-node recipe: slurmctld + slurmd + munge on localhost, verified on Debian 12 without systemd).
# Everything Slurm writes (config, spool, logs, PIDs) lives in a state directory:
#   ${PLESIM_SLURM_STATE:-/tmp/plesim-slurm}
# and callers use the cluster with:  source "$PLESIM_SLURM_STATE/env"   (sets SLURM_CONF)
# Idempotent: if our cluster is already up and idle, it does nothing.
# Exit status: 0 = an idle cluster is ready; 3 = Slurm cannot run here (reason on stderr, a line
# starting "slurm unavailable:"); anything else = it should have worked but did not (log tails printed).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
state="${PLESIM_SLURM_STATE:-/tmp/plesim-slurm}"
conf="$state/slurm.conf"
unavailable() { echo "slurm unavailable: $*" >&2; exit 3; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
idle() { SLURM_CONF="$conf" timeout 5 sinfo -h -o %T 2>/dev/null | grep -qx idle; }

if alive "$state/slurmctld.pid" && alive "$state/slurmd.pid" && idle; then
  echo "slurm: already running and idle (state in $state)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || unavailable "needs root (munged runs as user munge, slurmd as root)"
for bin in slurmctld slurmd sbatch sinfo munged mungekey; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    "$here/../../scripts/install-prerequisites.sh" >&2 || unavailable "the Debian packages slurmctld, slurmd, slurm-client and munge cannot be installed"
    break
  fi
done
command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || unavailable "slurmctld is not installed"
export PATH="$PATH:/usr/sbin"

start=$(date +%s%N)
"$here/stop-cluster.sh" >/dev/null 2>&1 || true
mkdir -p "$state"/{spool/ctld,spool/d,log,run}

# munge: the key, its run directory, the daemon (shared with anything else using munge here).
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create >/dev/null 2>&1 || unavailable "cannot create the munge key"
fi
chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  pgrep -u munge -x munged | head -n 1 > "$state/munged.pid"
fi
munge -n | unmunge >/dev/null 2>&1 || unavailable "munged does not authenticate (munge -n | unmunge fails)"

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
cat > "$conf" <<CONF
# Written by PleSim's deploy/slurm/start-cluster.sh: a one-node test cluster.
ClusterName=plesimtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/run/slurmctld.pid.daemon
SlurmdPidFile=$state/run/slurmd.pid.daemon
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "export SLURM_CONF=$conf" > "$state/env"
export SLURM_CONF="$conf"

setsid slurmctld -D -f "$conf" >>"$state/log/slurmctld.out" 2>&1 < /dev/null &
echo $! > "$state/slurmctld.pid"
setsid slurmd -D -N localhost -f "$conf" >>"$state/log/slurmd.out" 2>&1 < /dev/null &
echo $! > "$state/slurmd.pid"

for _ in $(seq 600); do
  if idle; then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "slurm: one-node cluster idle after $((ms / 1000)).$(( (ms % 1000) / 100 )) s ($cpus CPUs, ${mem} MiB; source $state/env)"
    exit 0
  fi
  if ! alive "$state/slurmctld.pid" || ! alive "$state/slurmd.pid"; then
    break
  fi
  sleep 0.1
done
echo "slurm: the cluster did not become idle; last log lines:" >&2
tail -n 15 "$state"/log/*.log "$state"/log/*.out >&2 2>/dev/null || true
exit 1
