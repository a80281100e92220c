#!/usr/bin/env python3
"""Read-only analysis of `plesim run ... --trace FILE` traces of the riel-2011 AMQP scenario.

Written for docs/anomalies/riel-2011-2x-after-0085.md. Uses scripts/trace-placement.py's reader.
For each trace file it prints:
  - "stacked": the share of 100 us samples of the traced window in which at least two AMQP VCPUs
    live on the same host CPU (a VCPU lives on the CPU it last ran on or was migrated to);
  - when stacking first began;
  - the spin time whose ground-truth cause is a preempted lock holder or a preempted next ticket
    waiter, split by whether the AMQP VCPUs were stacked in that 100 us sample;
  - the host migrations in the window (time ms, task, from, to, cause), the first four of them;
  - each AMQP VCPU's share of the time it ran on a host CPU, from the window's start to the first
    host migration (at least 50 ms; the whole window when there is none).
Usage: scripts/trace-stacking.py TRACE.json [TRACE.json ...]
"""
import collections
import importlib.util
import os
import sys

_spec = importlib.util.spec_from_file_location(
    "trace_placement", os.path.join(os.path.dirname(os.path.abspath(__file__)), "trace-placement.py"))
tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tp)

for path in sys.argv[1:]:
    t = tp.Trace(path)
    samples = []
    ts = t.t0
    while ts < t.t1:
        homes = [h for h in (t.home(a, ts) for a in t.amqp) if h is not None]
        samples.append(len(set(homes)) < len(homes))
        ts += 100
    first = next((t.t0 + 100 * i for i, s in enumerate(samples) if s), None)
    spin_stacked = spin_apart = 0.0
    for e in t.ev:
        if e.get("cat") == "spin_cause" and e["args"]["cause"] in ("next_waiter_preempted", "holder_preempted"):
            i = int((e["ts"] - t.t0) // 100)
            if 0 <= i < len(samples):
                if samples[i]:
                    spin_stacked += e["dur"]
                else:
                    spin_apart += e["dur"]
    migs = [(round(e["ts"] / 1000, 1), e["args"]["task"], e["args"]["from"], e["args"]["to"], e["args"]["cause"])
            for e in t.ev if e.get("cat") == "migrate"]
    tend = max(min([e["ts"] for e in t.ev if e.get("cat") == "migrate"] or [t.t1]), t.t0 + 50000)
    ran = collections.Counter()
    for e in t.sched:
        if e["name"].startswith("amqp/") and e["ts"] < tend:
            ran[e["name"]] += min(e["ts"] + e["dur"], tend) - e["ts"]
    shares = " ".join(f"{a[5:]} {ran[a] / (tend - t.t0):.2f}" for a in t.amqp)
    print(f"{os.path.basename(path)}: stacked {sum(samples) / len(samples):.3f}; first stacked at "
          f"{'never' if first is None else f'{first / 1000:.1f} ms'}; preempted holder/waiter spin "
          f"{spin_stacked / 1000:.1f} ms stacked, {spin_apart / 1000:.1f} ms apart; {len(migs)} migrations, "
          f"first: {migs[:4]}; run share over the first {(tend - t.t0) / 1000:.0f} ms: {shares}")
