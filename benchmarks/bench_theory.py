"""Speed of the capacity-allocation theory: closed forms on 1e6-point grids, water-filling, 0/1 MILP.

Run: ``python benchmarks/bench_theory.py`` (prints a table, writes benchmarks/results/theory.json).
Targets: a 1e6-point (N, r) grid of learned_fraction and critical_ratio in < 1 s each (issue 2); water-filling of
1e6 facts in well under a second.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from phasemix.theory import allocation as al
from phasemix.theory import knapsack as ks
from phasemix.theory.capacity import KnowledgeSet

RESULTS = Path(__file__).parent / "results" / "theory.json"


def best_of(fn, repeats: int = 5) -> float:
    """Best wall time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    k = KnowledgeSet.synbio()
    side = 1000
    nn, rr = np.meshgrid(np.geomspace(1e6, 1e11, side), np.linspace(1e-4, 1 - 1e-4, side))
    sizes = np.geomspace(1e6, 1e11, side * side)
    rng = np.random.default_rng(0)
    freqs = rng.pareto(1.5, 10**6) * 1e-9
    bits = rng.uniform(10.0, 60.0, freqs.size)
    rows = [
        ("learned_fraction, 1e6 (N, r) points", best_of(lambda: al.learned_fraction(nn, rr, k)), 1.0),
        ("critical_ratio, 1e6 sizes", best_of(lambda: al.critical_ratio(sizes, k)), 1.0),
        ("onset_params, 1e6 ratios", best_of(lambda: al.onset_params(rr, k)), 1.0),
        ("water_fill, 1e6 facts", best_of(lambda: ks.water_fill(freqs, bits, 1e8, 0.9), 3), 1.0),
    ]
    tf = float(al.threshold_frequency(1e4, 0.1))
    for n in (10, 20, 40):
        f = tf * np.exp(rng.normal(0.0, 1.5, n))
        h = rng.uniform(300.0, 4000.0, n)
        rows.append((f"solve_binary (MILP), n={n}", best_of(lambda f=f, h=h: ks.solve_binary(f, h, 1e4, 0.9), 2),
                     None))
    print(f"{'benchmark':<40} {'seconds':>10} {'target':>8} {'ok':>4}")
    out = []
    for name, sec, target in rows:
        ok = "" if target is None else ("yes" if sec < target else "NO")
        print(f"{name:<40} {sec:>10.4f} {'' if target is None else f'<{target:g}s':>8} {ok:>4}")
        out.append({"benchmark": name, "seconds": sec, "target_seconds": target, "meets_target": ok == "yes"
                    if target is not None else None})
    speed = rows[0][1] / rows[1][1]
    print(f"ratio learned_fraction / critical_ratio time (same run): {speed:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.write_text(json.dumps({"meta": meta, "rows": out}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
