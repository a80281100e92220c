#!/usr/bin/env python3
"""Read-only summary of the host balance probe's records (tests/PleSim.Experiments.Tests/HostBalanceProbe.cs).

Written for docs/anomalies/riel-2011-after-0086.md. The records come from
  PLESIM_BALANCE_PROBE_OUT=FILE PLESIM_BALANCE_PROBE_SEEDS=2011-2040 PLESIM_BALANCE_PROBE_SET='k=v;k=v' \
  dotnet test tests/PleSim.Experiments.Tests -c Release --no-build --filter Diagnostic_dump
one line per migration of a VCPU thread in the measured window (1 s per seed; from boot with
PLESIM_BALANCE_PROBE_FROM_MS=0), with each host CPU's
run queue (nr_running, weight, cpu_load[0..2], cpu_load[0] at its last 8 ticks, the VCPU threads
whose CPU it is: R running, Q queued, H halted with ms since it blocked) and, for a balancing pass,
the recomputed inputs of 2.6.39 find_busiest_group (load index, this CPU's target_load, the domain
average, the busiest CPU's source_load, the imbalance).

It prints, per file:
  moves      migrations per second of the window by cause and kind of thread (AMQP VCPU / hog);
  periodic   the host's periodic-balance moves: what the balancing CPU held (its AMQP VCPU halted,
             for how long), the loads it compared, what moved, and whether the move put two AMQP
             VCPUs on one CPU ("stacks"), split them ("unstacks") or neither;
  stacking   per seed, the first migration after which two AMQP VCPUs share a CPU, by cause.
Usage: scripts/balance-probe.py FILE.tsv [FILE.tsv ...]
"""
import collections
import re
import statistics
import sys


def parse_cpu(field):
    m = re.match(r"nr=(\d+) w=(\d+) load=([\d,]+) ticks=([\d,]+) lb=(\d*) curr=(\S+) \[(.*)\]", field)
    vcpus = {}
    for item in m.group(7).split():
        name, state = item.rsplit(":", 1)
        vcpus[name] = state
    return {"nr": int(m.group(1)), "w": int(m.group(2)), "load": [int(x) for x in m.group(3).split(",")],
            "ticks": [int(x) for x in m.group(4).split(",")], "lb": int(m.group(5)) if m.group(5) else None,
            "curr": m.group(6), "vcpus": vcpus}


def read(path):
    recs, seeds, window = [], set(), 1000.0
    with open(path) as f:
        header = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                seeds.add(line.split()[2])
                window = float(line.split()[-1])
                continue
            cols = line.split("\t")
            if header is None:
                header = cols
                continue
            r = dict(zip(header, cols))
            r["cpus"] = [parse_cpu(r[f"cpu{i}"]) for i in range(4)]
            r["from"], r["to"], r["t"] = int(r["from"]), int(r["to"]), float(r["t_ms"])
            recs.append(r)
    return recs, len(seeds), window


def kind(task):
    return "AMQP VCPU" if task.startswith("amqp/") else "hog"


def homes(cpus):
    h = {}
    for c, v in enumerate(cpus):
        for name in v["vcpus"]:
            h[name] = c
    return h


def stacked(h):
    a = [c for n, c in h.items() if n.startswith("amqp/")]
    return len(set(a)) < len(a)


def effect(r):
    before = homes(r["cpus"])
    after = dict(before)
    after[r["task"]] = r["to"]
    b, a = stacked(before), stacked(after)
    pairs_b = sum(1 for c in range(4) if sum(1 for n, x in before.items() if n.startswith("amqp/") and x == c) > 1)
    pairs_a = sum(1 for c in range(4) if sum(1 for n, x in after.items() if n.startswith("amqp/") and x == c) > 1)
    if pairs_a > pairs_b or (a and not b):
        return "stacks"
    if pairs_a < pairs_b:
        return "unstacks"
    return "neither"


def main(paths):
    for path in paths:
        recs, nseeds, window = read(path)
        secs = nseeds * window / 1000
        print(f"== {path}: {nseeds} seeds, {len(recs)} VCPU-thread migrations")
        c = collections.Counter((r["cause"], kind(r["task"])) for r in recs)
        for k, v in sorted(c.items(), key=lambda x: -x[1]):
            print(f"  moves {k[0]:16s} {k[1]:10s} {v / secs:5.2f}/s")
        per = [r for r in recs if r["cause"] == "PeriodicBalance"]
        rows = collections.Counter()
        halted_ms, this_l, max_l = [], [], []
        for r in per:
            dst = r["cpus"][r["to"]]
            amqp_dst = [s for n, s in dst["vcpus"].items() if n.startswith("amqp/")]
            dst_state = "no AMQP VCPU" if not amqp_dst else ("AMQP VCPU halted" if all(s.startswith("H") for s in amqp_dst) else "AMQP VCPU runnable")
            for s in amqp_dst:
                if s.startswith("H"):
                    halted_ms.append(float(s[1:]))
            src = r["cpus"][r["from"]]
            src_amqp = sum(1 for n in src["vcpus"] if n.startswith("amqp/") and not src["vcpus"][n].startswith("H"))
            rows[(kind(r["task"]), dst_state, f"src {src['nr']} runnable ({src_amqp} AMQP)", effect(r))] += 1
            this_l.append(int(r["this_load"]))
            max_l.append(int(r["max_load"]))
        print(f"  periodic-balance moves {len(per) / secs:.2f}/s; balancing CPU's target_load median {statistics.median(this_l) if this_l else 0}, "
              f"busiest's source_load median {statistics.median(max_l) if max_l else 0}; "
              f"halted AMQP VCPU on the balancing CPU: median {statistics.median(halted_ms) if halted_ms else float('nan'):.1f} ms since it blocked")
        for k, v in sorted(rows.items(), key=lambda x: -x[1]):
            print(f"    {v / secs:5.2f}/s ({v:3d})  moved {k[0]:9s} | balancing CPU: {k[1]:18s} | {k[2]:24s} | {k[3]}")
        first = {}
        for r in recs:
            seed = r["label"]
            if seed in first:
                continue
            if effect(r) == "stacks" and not stacked(homes(r["cpus"])):
                first[seed] = (r["t"], r["cause"], kind(r["task"]))
        fc = collections.Counter((v[1], v[2]) for v in first.values())
        print(f"  first stacking in the window: {len(first)} of {nseeds} seeds (seeds stacked at the window start by earlier moves are not counted), by "
              + ", ".join(f"{k[0]} of a {k[1]} {v}" for k, v in fc.most_common()))


if __name__ == "__main__":
    main(sys.argv[1:])
