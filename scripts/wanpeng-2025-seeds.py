#!/usr/bin/env python3
"""Read-only, seed-by-seed comparison of the wanpeng-2025-semantics-aware-yield cells.

Written for docs/anomalies/wanpeng-2025-after-0085.md. Reads the results.sqlite that
`plesim reproduce wanpeng-2025-semantics-aware-yield --out DIR` writes (DIR/wanpeng-2025-semantics-aware-yield/
results.sqlite) and prints, for each row (2/3/4 VMs) and seed, base vs series (both halves on):
  - guest 1's dedup MB/s and the paired change (the case's value), then the mean, the sample
    standard deviation and a 95% t interval of the paired changes;
  - guest 1's VCPU time by category (seconds of VCPU time: guest run, spin, PAUSE exit, halted,
    preempted), from the frac_* metrics times 16 VCPUs x the measured window;
  - guest 1's spin by ground-truth cause (seconds of VCPU time);
  - guest 1's yield_to labels (counts), its directed-yield walks and the IPI-aware tiers;
  - the host's debooster counters (per second) and PV counters (kicks, lock halts, sched yields).
With --trims, per row instead: each seed's heap trims per chunk (guest 1's glibc heap_trim madvises,
each a TLB shootdown) in base and series, their paired difference with a 95% t interval, the
correlation of the throughput change with the trim difference, and a least-squares fit over all
runs of the row, ln(MB/s) = a + b x trims/chunk + c x series, with c's standard error (the
series' effect at equal trims; an inference, not a trace).
Several RESULTS.sqlite files may be given; their runs are pooled (a seed present in two files is
taken from the last).
Usage: scripts/wanpeng-2025-seeds.py RESULTS.sqlite [...] [--rows "2 VMs,3 VMs"] [--brief | --trims]
"""
import json
import math
import sqlite3
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 24: 2.064, 29: 2.045}


def t975(df):
    if df in T975:
        return T975[df]
    return T975[max(k for k in T975 if k <= df)]


def load(path):
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    labels = {p: l for p, l in c.execute("select point, label from points")}
    cells = {}
    for point, seed, status, metrics in c.execute("select point, seed, status, metrics from runs"):
        if status != "ok" and status != "Ok" and status.lower() != "ok":
            print(f"# point {labels[point]} seed {seed}: status {status}", file=sys.stderr)
        lab = labels[point]
        # "2 VMs @ dedup" and "2 VMs @ dedup (base)"; a case copy with other columns gives "2 VMs @ deboost".
        row, col = lab.split(" @ ")
        variant = "base" if col.endswith("(base)") else "series"
        col = col.replace(" (base)", "")
        key = row if col == "dedup" else f"{row} @ {col}"
        cells.setdefault(key, {}).setdefault(seed, {})[variant] = json.loads(metrics)
    return cells


def g(m, k):
    v = m.get(k)
    return float("nan") if v is None else float(v)


CATS = ["frac_guest_run", "frac_spin", "frac_pause_exit", "frac_other_exit", "frac_halted", "frac_preempted",
        "frac_userspace"]
CAUSES = ["holder_preempted", "holder_in_exit", "next_waiter_preempted", "next_waiter_in_exit",
          "ack_owed_preempted", "ack_owed_halted", "ack_owed_irqs_off", "ack_in_flight",
          "mutex_owner_running", "mutex_owner_preempted", "handoff_reserved", "contention", "other"]
LABELS = ["holder", "next_waiter", "waiter_ahead", "ack_debtor", "other_spinner", "unrelated",
          "failed_target_running", "failed_target_not_runnable", "failed_target_not_queued"]
SKIPS = ["halted", "in_guest", "not_preempted", "user_mode", "ipi_aware_rejected", "ipi_aware_relaxed_not_preempted"]
HOST = ["host.yield_deboost_attempts_per_second", "host.yield_deboosts_per_second",
        "host.yield_deboost_rate_limited_per_second", "host.yield_deboost_other_rq_per_second",
        "host.yield_deboost_no_contention_per_second", "host.yield_deboost_mean_penalty_us"]
PV = ["pv_kicks_per_second", "pv_lock_halts_per_second", "pv_sched_yields_per_second", "hlt_exits_per_second",
      "lock_holder_preemptions_per_second", "futex_sleeps_per_second", "shootdowns_per_s"]


def vcpu_seconds(m):
    # frac_* are shares of guest 1's VCPU time over the measured window (16 VCPUs x the window); the
    # window's length is not a metric, so it is recovered from the spin: spin_ns = frac_spin x 16 x window.
    f = g(m, "guest1.frac_spin")
    return g(m, "guest1.spin_ns") / 1e9 / f if f > 0 else float("nan")


def mean_ci(xs):
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else float("nan")
    h = t975(n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    return m, sd, m - h, m + h


def solve3(a, b):
    # Gaussian elimination for a 3x3 system.
    m = [a[i][:] + [b[i]] for i in range(3)]
    for i in range(3):
        piv = max(range(i, 3), key=lambda r: abs(m[r][i]))
        m[i], m[piv] = m[piv], m[i]
        for r in range(3):
            if r != i:
                f = m[r][i] / m[i][i]
                m[r] = [m[r][k] - f * m[i][k] for k in range(4)]
    return [m[i][3] / m[i][i] for i in range(3)]


def inv3(a):
    cols = [solve3(a, [1.0 if i == j else 0.0 for i in range(3)]) for j in range(3)]
    return [[cols[j][i] for j in range(3)] for i in range(3)]


def trim_report(cell, seeds, ch):
    tr = "guest1.dedup_heap_trims_per_chunk"
    print(f"{'seed':>4} {'trims base':>10} {'series':>7} {'diff':>7} {'change%':>8}")
    d = []
    for s, c in zip(seeds, ch):
        b, v = g(cell[s]["base"], tr), g(cell[s]["series"], tr)
        d.append(v - b)
        print(f"{s:>4} {b:10.3f} {v:7.3f} {v - b:+7.3f} {c:+8.1f}")
    lowb = sum(1 for x in seeds if g(cell[x]["base"], tr) < 1.2)
    lows = sum(1 for x in seeds if g(cell[x]["series"], tr) < 1.2)
    print(f"runs below 1.2 trims/chunk (the switch came early): base {lowb} of {len(seeds)}, series {lows} of {len(seeds)}")
    if len(d) < 3:
        return
    m, sd, lo, hi = mean_ci(d)
    print(f"trim difference: mean {m:+.3f} sd {sd:.3f} 95% t [{lo:+.3f}, {hi:+.3f}]")
    mc = sum(ch) / len(ch)
    cov = sum((x - m) * (y - mc) for x, y in zip(d, ch))
    r = cov / math.sqrt(sum((x - m) ** 2 for x in d) * sum((y - mc) ** 2 for y in ch))
    print(f"correlation of the change with the trim difference over seeds: r = {r:+.2f}")
    X, Y = [], []
    for s in seeds:
        for variant, ind in (("base", 0.0), ("series", 1.0)):
            X.append([1.0, g(cell[s][variant], tr), ind])
            Y.append(math.log(g(cell[s][variant], "guest1.dedup_mb_per_s")))
    xtx = [[sum(x[i] * x[j] for x in X) for j in range(3)] for i in range(3)]
    xty = [sum(x[i] * y for x, y in zip(X, Y)) for i in range(3)]
    beta = solve3(xtx, xty)
    res = [y - sum(b * xi for b, xi in zip(beta, x)) for x, y in zip(X, Y)]
    dof = len(Y) - 3
    s2 = sum(e * e for e in res) / dof
    cov = inv3(xtx)
    se = [math.sqrt(s2 * cov[i][i]) for i in range(3)]
    yt = sum(Y) / len(Y)
    r2 = 1 - sum(e * e for e in res) / sum((y - yt) ** 2 for y in Y)
    print(f"fit over {len(Y)} runs: ln(MB/s) = {beta[0]:.3f} {beta[1]:+.3f} (se {se[1]:.3f}) x trims/chunk "
          f"{beta[2]:+.3f} (se {se[2]:.3f}) x series; R^2 {r2:.2f}; series at equal trims "
          f"{100 * (math.exp(beta[2]) - 1):+.1f}% [{100 * (math.exp(beta[2] - t975(dof) * se[2]) - 1):+.1f}, "
          f"{100 * (math.exp(beta[2] + t975(dof) * se[2]) - 1):+.1f}]")


def main():
    args = sys.argv[1:]
    brief = "--brief" in args
    rows = None
    if "--rows" in args:
        rows = args[args.index("--rows") + 1].split(",")
    trims = "--trims" in args
    paths = [a for a in args if a.endswith(".sqlite")]
    cells = {}
    for path in paths:
        for row, seeds in load(path).items():
            for seed, variants in seeds.items():
                cells.setdefault(row, {}).setdefault(seed, {}).update(variants)
    for row in sorted(cells, key=lambda r: (int(r.split()[0]), r)):
        if rows and row.split(" @ ")[0] not in rows:
            continue
        seeds = sorted(s for s in cells[row] if "base" in cells[row][s] and "series" in cells[row][s])
        ch = []
        print(f"== {row} ({len(seeds)} paired seeds; 'series' is the column's variant)")
        print(f"{'seed':>4} {'base MB/s':>9} {'series':>9} {'change%':>8}")
        for s in seeds:
            b, v = cells[row][s]["base"], cells[row][s]["series"]
            x, y = g(b, "guest1.dedup_mb_per_s"), g(v, "guest1.dedup_mb_per_s")
            ch.append(100 * (y - x) / x)
            print(f"{s:>4} {x:9.2f} {y:9.2f} {ch[-1]:+8.1f}")
        n = len(ch)
        if n >= 2:
            mean, sd, lo, hi = mean_ci(ch)
            print(f"mean {mean:+.1f}% sd {sd:.1f} 95% t [{lo:+.1f}, {hi:+.1f}]")
        if trims:
            trim_report(cells[row], seeds, ch)
            continue
        if brief:
            continue
        for s in seeds:
            print(f"-- {row} seed {s}")
            for variant in ("base", "series"):
                m = cells[row][s][variant]
                vs = vcpu_seconds(m)
                cat = " ".join(f"{c[5:]} {g(m, 'guest1.' + c) * vs:.2f}" for c in CATS)
                print(f"  {variant:6} dedup {g(m, 'guest1.dedup_elapsed_s'):.3f} s, window {vs / 16:.3f} s; VCPU s: {cat}")
                spin = g(m, "guest1.spin_ns") / 1e9
                causes = " ".join(f"{c} {g(m, 'guest1.spin_ns.' + c) / 1e9:.3f}" for c in CAUSES
                                  if g(m, 'guest1.spin_ns.' + c) > 0)
                print(f"         spin {spin:.3f} s: {causes}")
                labs = " ".join(f"{l} {g(m, 'guest1.yield_to.' + l):.0f}" for l in LABELS if g(m, 'guest1.yield_to.' + l) > 0)
                print(f"         yield_to {g(m, 'guest1.yield_to_calls'):.0f}: {labs}; walks {g(m, 'guest1.dy_walks'):.0f}"
                      f" without yield {g(m, 'guest1.dy_walks_without_yield'):.0f}")
                sk = " ".join(f"{k} {g(m, 'guest1.dy_skipped.' + k):.0f}" for k in SKIPS if g(m, 'guest1.dy_skipped.' + k) > 0)
                print(f"         skipped: {sk}")
                ia = " ".join(f"{k[len('guest1.ipi_aware_'):]} {g(m, k):.0f}" for k in sorted(m)
                              if k.startswith("guest1.ipi_aware_") and g(m, k) > 0)
                if ia:
                    print(f"         ipi-aware /s: {ia}")
                hs = " ".join(f"{k[len('host.yield_deboost'):] or 's'} {g(m, k):.0f}" for k in HOST if g(m, k) == g(m, k) and g(m, k) > 0)
                if hs:
                    print(f"         debooster /s: {hs}")
                pv = " ".join(f"{k} {g(m, 'guest1.' + k):.0f}" for k in PV)
                print(f"         {pv}")
                print(f"         pause_exits/s {g(m, 'guest1.pause_exits_per_second'):.0f} frac_time_split {g(m, 'guest1.frac_time_split'):.3f}"
                      f" cpus_used {g(m, 'guest1.cpus_used'):.2f} host_switches/s {g(m, 'host_switches_per_second'):.0f}")


main()
