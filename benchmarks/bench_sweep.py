"""Sweep overhead per point: serial vs local process pool vs Ray, on this machine, measured in one run.

Run: ``python benchmarks/bench_sweep.py`` (prints a table, writes benchmarks/results/sweep.json).

Three workloads through each executor's ``map`` (the sweep driver's only contact with an executor):

- ``trivial``: ``abs(i)`` for 400 points. Wall time per point is the executor's dispatch overhead.
- ``sleep 20 ms``: ``time.sleep(0.02)`` for 100 points; parallel efficiency = (points × 20 ms / workers) / wall.
- ``simulate example``: the shipped example sweep (40 settings, 10 tasks of 4, numpy backend) through
  ``run_sweep`` into a fresh folder, i.e. the real path with the store.

Start-up (pool creation plus a first point, or ``ray.init``) is reported separately; steady-state numbers are the
median of 3 repeats after a warm-up. Both parallel executors get 2 workers (2 CPUs for Ray). The machine is shared,
so the load average at the start is recorded with the numbers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "sweep.json"
N_TRIVIAL = 400
N_SLEEP = 100
SLEEP_S = 0.02
WORKERS = 2
REPEATS = 3


def _drain(ex, fn, args) -> float:
    t0 = time.perf_counter()
    outs = list(ex.map(fn, args))
    dt = time.perf_counter() - t0
    bad = [o for o in outs if not o.ok]
    if len(outs) != len(args) or bad:
        raise RuntimeError(f"{ex.name}: {len(outs)} outcomes for {len(args)} points, {len(bad)} failed")
    return dt


def _median(ex, fn, args) -> float:
    return statistics.median(_drain(ex, fn, args) for _ in range(REPEATS))


def _sweep_once(ex, cfg) -> float:
    from phasemix.sim.sweep import run_sweep

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        s = run_sweep(cfg, Path(d) / "out", executor=ex, progress=False)
        dt = time.perf_counter() - t0
    if s.ran != s.total or s.failed:
        raise RuntimeError(f"{ex.name}: sweep ran {s.ran} of {s.total}, {s.failed} failed")
    return dt


def measure(name: str, make) -> dict:
    from phasemix.sim.sweep import EXAMPLE_CONFIG, SweepConfig

    cfg = replace(SweepConfig.from_toml(EXAMPLE_CONFIG), backend="numpy", batch=4)
    t0 = time.perf_counter()
    ex = make()
    _drain(ex, abs, [1] * WORKERS)  # workers exist and have imported what they need
    startup = time.perf_counter() - t0
    try:
        _drain(ex, abs, list(range(50)))  # warm-up
        trivial = _median(ex, abs, list(range(N_TRIVIAL)))
        sleep = _median(ex, time.sleep, [SLEEP_S] * N_SLEEP)
        _sweep_once(ex, cfg)  # warm-up: imports of the simulation code in the workers
        sweep = statistics.median(_sweep_once(ex, cfg) for _ in range(REPEATS))
    finally:
        ex.close()
    workers = 1 if name == "serial" else WORKERS
    return {
        "executor": name, "workers": workers, "startup_s": startup,
        "trivial_points": N_TRIVIAL, "trivial_wall_s": trivial, "overhead_per_point_ms": 1e3 * trivial / N_TRIVIAL,
        "sleep_points": N_SLEEP, "sleep_s": SLEEP_S, "sleep_wall_s": sleep,
        "parallel_efficiency": N_SLEEP * SLEEP_S / workers / sleep,
        "example_sweep_settings": 40, "example_sweep_tasks": 10, "example_sweep_wall_s": sweep,
    }


def main() -> None:
    import ray

    from phasemix.sim.executors import LocalExecutor, SerialExecutor
    from phasemix.sim.ray_executor import RayExecutor

    load = os.getloadavg()[0]
    rows = [
        measure("serial", SerialExecutor),
        measure("local", lambda: LocalExecutor(workers=WORKERS)),
        measure("ray", lambda: RayExecutor(num_cpus=WORKERS, progress=False,
                                           init_kwargs={"object_store_memory": 100 * 2**20})),
    ]
    base = {r["executor"]: r for r in rows}
    for r in rows:
        r["overhead_vs_local"] = r["overhead_per_point_ms"] / base["local"]["overhead_per_point_ms"]
    hdr = (f"{'executor':<8} {'start s':>8} {'trivial ms/pt':>14} {'vs local':>9} {'sleep20ms wall s':>17} "
           f"{'par. eff.':>10} {'example sweep s':>16}")
    print(hdr)
    for r in rows:
        print(f"{r['executor']:<8} {r['startup_s']:>8.2f} {r['overhead_per_point_ms']:>14.3f} "
              f"{r['overhead_vs_local']:>9.2f} {r['sleep_wall_s']:>17.2f} {r['parallel_efficiency']:>10.2f} "
              f"{r['example_sweep_wall_s']:>16.2f}")
    out = {
        "benchmark": "sweep executor overhead (serial vs local process pool vs Ray), one run",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "ray": ray.__version__, "loadavg_1min_at_start": load},
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
