"""Speed of the finite-training predictor: calibration on gu2025-70m and a 1e5-point prediction grid.

Run: ``python benchmarks/bench_dynamics.py`` (prints a table, writes benchmarks/results/dynamics.json).
Targets (finite-training issue): one model's calibration (multi-start fit, 200 bootstrap replicates, leave-one-out)
under 10 s; a 1e5-point (N, r, D) grid of accuracy under 1 s per model. All rows are measured in one run.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from phasemix.theory import dynamics as dy
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.datasets import load
from phasemix.theory.dynamics_models import MODELS

RESULTS = Path(__file__).parent / "results" / "dynamics.json"


def timed(fn):
    """(wall seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best_of(fn, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` calls, seconds."""
    return min(timed(fn)[0] for _ in range(repeats))


def main() -> None:
    table = load("gu2025-70m")
    ks = KnowledgeSet.synbio()
    rng = np.random.default_rng(0)
    m = 100_000
    n = np.exp(rng.uniform(np.log(1e7), np.log(1e10), m))
    r = rng.uniform(0.0, 1.0, m)
    d = np.exp(rng.uniform(np.log(1e8), np.log(1e13), m))
    rows, fits = [], {}
    for name in MODELS:
        sec, cal = timed(lambda name=name: dy.calibrate(table, name, bootstrap=200, seed=0))
        fits[name] = cal
        rows.append((f"calibrate {name} (200 bootstrap + LOO)", sec, 10.0))
    for name in MODELS:
        theta = fits[name].parameters
        rows.append((f"accuracy {name}, 1e5 (N, r, D) points",
                     best_of(lambda name=name, theta=theta: dy.accuracy(name, theta, n, r, ks, d)), 1.0))
    for name in MODELS:
        theta = fits[name].parameters
        rows.append((f"tokens_to_target {name}, 1e5 points",
                     best_of(lambda name=name, theta=theta: dy.tokens_to_target(name, theta, n, r, ks, 0.4)), 1.0))
    cal = min(fits.values(), key=lambda c: c.aic)
    rows.append((f"predict_at_budget ({cal.model}, 200-sample band, off-size)",
                 best_of(lambda: dy.predict_at_budget(410e6, 0.3, ks, 32e9, cal)), None))

    print(f"{'benchmark':<48} {'seconds':>10} {'target':>8} {'ok':>4}")
    out = []
    for name, sec, target in rows:
        ok = "" if target is None else ("yes" if sec < target else "NO")
        print(f"{name:<48} {sec:>10.4f} {'' if target is None else f'<{target:g}s':>8} {ok:>4}")
        out.append({"benchmark": name, "seconds": sec, "target_seconds": target, "meets_target": ok == "yes"})
    fitted = {k: {"parameters": dict(zip(c.parameter_names, c.parameters)), "objective": c.objective,
                  "aic": c.aic, "loo_rmse_accuracy": c.loo_rmse_accuracy,
                  "loo_rmse_log_tokens": c.loo_rmse_log_tokens} for k, c in fits.items()}
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": "2-core machine shared with other jobs; wall times are upper bounds"}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "rows": out, "fits": fitted}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
