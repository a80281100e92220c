#!/bin/bash
# Re-runs the commands of README's "Later kernels" section that the nineteenth session (helper rl20,
# 2026-11-27) re-ran after decisions 0086/0087; each run's tables go to OUT/NAME.txt and its JSON to
# OUT/NAME.d/results.json. Outputs are deterministic, so two runs of one build give the same files; wall times
# mean little on a shared machine. Usage: scripts/rerun-later-kernels.sh [OUT] (default /tmp/later-kernels),
# from the repository root after `dotnet build -c Release`. About 15 CPU-minutes; the 128-CPU runs are
# most of it. PLESIM_DLL picks another build (e.g. a copy of an older commit) to compare outputs. Set GATES_OFF=1 to add both new-idle gates off (decisions 0086/0087) to the guest runs.
set -u
OUT=${1:-/tmp/later-kernels}
mkdir -p "$OUT"
P="dotnet ${PLESIM_DLL:-src/PleSim.Cli/bin/Release/net10.0/plesim.dll}"
G=()
if [ "${GATES_OFF:-0}" = 1 ]; then
  G=(--set 'vms[*].guest.newidle_avg_idle_gate=false' --set 'vms[*].guest.newidle_rd_overload_gate=false')
fi
SCALE128=scenarios/bench/scale-128-cpus.yaml
r() { local name=$1; shift; echo "== $name: plesim $*" > "$OUT/$name.txt"; $P "$@" -o "$OUT/$name.d" >> "$OUT/$name.txt" 2>&1; }

# The 128-CPU scenario of `plesim bench scale` is shipped as scenarios/bench/scale-128-cpus.yaml.

# Host only (no guest): PELT/6.6 balancer, cfs-4.19, Xen credit, NUMA spill.
r threehogs run scenarios/live/three-hogs-two-cpus.yaml --runs 4 -j 2
r threehogs-lb2639 run scenarios/live/three-hogs-two-cpus.yaml --runs 4 -j 2 --set host.load_balance=2.6.39
r sixhogs-419 run scenarios/host/six-hogs-four-cpus.yaml -n 3 --set host.scheduler=cfs-4.19 --set duration=5s -j 2
r sixhogs-2639 run scenarios/host/six-hogs-four-cpus.yaml -n 3 --set host.scheduler=cfs-2.6.39 --set duration=5s -j 2
r sixhogs-419-2639dom run scenarios/host/six-hogs-four-cpus.yaml -n 3 --set host.scheduler=cfs-4.19 --set duration=5s --set host.sched_domains=2.6.39 --set host.idle_search=2.6.39 -j 2
r xen run scenarios/host/six-hogs-four-cpus.yaml -n 1 --set host.scheduler=xen-credit-3.4 --set duration=3s
r numa run scenarios/host/numa-balance.yaml

# Lock benchmark, s390, boot storm.
r pvlock-sweep sweep scenarios/kvm/lock-bench.yaml --set kvm.ple_handler=none,directed-yield-2011 --set 'vms[0].guest.spinlock=ticket,pv-ticket,pv-qspinlock' --runs 8 --seed 1 -j 2 "${G[@]}"
r pvq510 run scenarios/kvm/lock-bench.yaml --runs 8 --seed 1 --set 'vms[0].guest.kernel=5.10' -j 2 "${G[@]}"
for L in preemptable-ticket ticket; do
  r $L-none run scenarios/kvm/lock-bench.yaml --runs 2 --seed 1 --set kvm.ple_handler=none --set "vms[0].guest.spinlock=$L" -j 2
  r $L-dy run scenarios/kvm/lock-bench.yaml --runs 2 --seed 1 --set "vms[0].guest.spinlock=$L" -j 2
done
r debooster run scenarios/kvm/lock-bench.yaml --set host.scheduler=eevdf-6.17 --set kvm.version=6.13 --set host.yield_to_debooster=true --set kvm.ipi_aware_yield=true --runs 2 -j 2
r lockbench-spread run scenarios/kvm/lock-bench.yaml --runs 8 --seed 1 --set 'vms[*].vcpu_start_spread=10ms' -j 2
r s390 run scenarios/kvm/s390-lock-bench.yaml --runs 5 -j 2
r dbench-s390 run scenarios/workloads/dbench-s390.yaml
r dbench-none run scenarios/workloads/dbench.yaml --set kvm.ple_handler=none
for V in 2.6.39 3.10 3.18 6.13; do r boot-$V run scenarios/kvm/boot-storm.yaml --set kvm.version=$V; done

# Guests that new-idle balance: APICv/IPIv, ebizzy -m ticking/tickless, dedup, rwsem swaps, AMQP.
for A in false true; do
  r hb-apicv-$A run scenarios/workloads/hackbench.yaml --set 'vms[1].workload.loops=4' --set kvm.version=6.1 --set kvm.apicv=$A --runs 1 "${G[@]}"
  r eb-ipiv-$A run scenarios/workloads/ebizzy.yaml --runs 3 --set kvm.apicv=true --set kvm.ipiv=$A -j 2 "${G[@]}"
  r hb-ipiv-$A run scenarios/workloads/hackbench.yaml --runs 3 --set kvm.apicv=true --set kvm.ipiv=$A -j 2 "${G[@]}"
  r dedup-tickless-$A run scenarios/workloads/dedup.yaml --set "vms[*].guest.tickless_idle=$A" --runs 8 -j 2 "${G[@]}"
  for K in 4.2 5.10 6.1; do
    r ebm-$K-tickless-$A run scenarios/workloads/ebizzy.yaml --set "vms[0].guest.kernel=$K" --set 'vms[0].workload.always_mmap=true' --set "vms[0].guest.tickless_idle=$A" --runs 8 -j 2 "${G[@]}"
  done
done
r rw-42-61 run scenarios/workloads/ebizzy.yaml --set 'vms[0].guest.kernel=4.2' --set 'vms[0].workload.always_mmap=true' --set 'vms[0].guest.rwsem=6.1' --runs 4 -j 2 "${G[@]}"
r rw-61-419 run scenarios/workloads/ebizzy.yaml --set 'vms[0].guest.kernel=6.1' --set 'vms[0].workload.always_mmap=true' --set 'vms[0].guest.rwsem=4.19' --runs 4 -j 2 "${G[@]}"
r rw-42-cores run scenarios/workloads/ebizzy.yaml --set 'vms[0].guest.kernel=4.2' --set 'vms[0].workload.always_mmap=true' --set 'vms[0].guest.topology=cores' --runs 4 -j 2 "${G[@]}"
r amqp-nospread run scenarios/riel-2011/amqp.yaml --set 'vms[1].workload.loops=4' --runs 8 -j 2 "${G[@]}"
r amqp-spread run scenarios/riel-2011/amqp.yaml --set 'vms[1].workload.loops=4' --runs 8 -j 2 --set 'vms[*].vcpu_start_spread=10ms' "${G[@]}"
r amqp1x-2639 run scenarios/riel-2011/amqp.yaml --runs 30 -j 2 "${G[@]}"
r amqp1x-419 run scenarios/riel-2011/amqp.yaml --runs 30 -j 2 --set host.scheduler=cfs-4.19 "${G[@]}"
ST=(--set host.scheduler=eevdf-6.18 --set kvm.version=6.13 --set 'vms[*].guest.kernel=6.1' --set 'vms[*].guest.spinlock=pv-qspinlock'
    --set 'vms[*].guest.pv_tlb_flush=true' --set 'vms[*].guest.pv_sched_yield=true')
r dd-on run scenarios/riel-2011/amqp.yaml --set 'vms[1].workload.loops=4' "${ST[@]}" --set seed=2011 --runs 20 -j 2 "${G[@]}"
r dd-off run scenarios/riel-2011/amqp.yaml --set 'vms[1].workload.loops=4' "${ST[@]}" --set host.sched.features.DELAY_DEQUEUE=false --set seed=2011 --runs 20 -j 2 "${G[@]}"

# The 128-CPU big host (about 40 s of CPU per 10 runs; the staggered runs about five times that).
r scale-cfs run "$SCALE128" --set kvm.version=6.12 --set duration=1s --runs 10 -j 2 "${G[@]}"
r scale-spread run "$SCALE128" --set kvm.version=6.12 --set duration=1s --runs 10 -j 2 --set 'vms[*].vcpu_start_spread=10ms' "${G[@]}"
for S in eevdf-6.12 eevdf-6.14; do
  r scale-$S run "$SCALE128" --set kvm.version=6.12 --set duration=1s --set host.scheduler=$S --runs 3 -j 2 "${G[@]}"
done
echo "done: $OUT"
