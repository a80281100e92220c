#!/bin/bash
# Trace CPU 0's scheduler events (sched_switch, sched_wakeup, hrtimer expiries incl. the tick) with
# ftrace while `plesim live` runs scenarios/live/hog-and-sleeper.yaml, then print the sleeper's
# wake-up latency by phase after the last tick (scripts/live-trace-wakeups.py). Needs root and a
# writable /sys/kernel/tracing; run on a quiet machine. Usage: live-trace-hog-sleeper.sh [DURATION] [TRACE_S]
# PLESIM: the command to run plesim (default: the Release build of this repository).
HERE=$(cd "$(dirname "$0")/.." && pwd)
PLESIM=${PLESIM:-"dotnet $HERE/src/PleSim.Cli/bin/Release/net10.0/plesim.dll"}
T=/sys/kernel/tracing
echo 0 > $T/tracing_on; echo > $T/trace
echo 1 > $T/tracing_cpumask
echo mono > $T/trace_clock
echo 'sched:sched_switch sched:sched_wakeup timer:hrtimer_expire_entry' > $T/set_event
echo 40000 > $T/buffer_size_kb
DUR=${1:-5s}
( sleep 1.5; echo 1 > $T/tracing_on; sleep ${2:-3}; echo 0 > $T/tracing_on ) &
OUT=${OUT:-/tmp/plesim-live-trace}; mkdir -p $OUT
$PLESIM live $HERE/scenarios/live/hog-and-sleeper.yaml --duration $DUR > $OUT/live.txt 2>&1
wait
cp $T/trace $OUT/trace.txt
echo > $T/trace; echo 3 > $T/tracing_cpumask; echo > $T/set_event; echo local > $T/trace_clock
python3 $HERE/scripts/live-trace-wakeups.py $OUT/trace.txt
