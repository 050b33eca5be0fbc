"""``phasemix simulate``: run (or resume) a memorization Monte-Carlo sweep from a TOML config.

Examples::

    phasemix simulate                                  # the shipped tiny example
    phasemix simulate -c sweep.toml -o out/my-sweep --plot learned.png --parquet results.parquet
    phasemix simulate -c sweep.toml --dry-run          # show the plan, run nothing
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="memorization Monte-Carlo sweeps (M1/M2/M3) with resume",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", help="sweep TOML (default: the shipped example)")
    p.add_argument("-o", "--out", help="results folder (default: out/simulate/<config stem>); rerun to resume")
    p.add_argument("--backend", choices=("auto", "numpy", "numba", "cuda", "cupy"),
                   help="compute backend (overrides the config; PHASEMIX_BACKEND replaces 'auto')")
    p.add_argument("--seed", type=int, help="run only this seed (replaces sweep.seeds)")
    p.add_argument("--executor", choices=("serial", "local", "ray"), help="how to run tasks (overrides the config)")
    p.add_argument("--address", help="Ray cluster HOST:PORT, ray://HOST:PORT or auto (with --executor ray; "
                                     "default: start a local Ray); see docs/distributed.md")
    p.add_argument("--workers", type=int, help="processes (local) or CPUs of a local Ray (ray)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--plot", help="PNG of the learned fraction over (N, r) with the theory boundary (inside --out)")
    p.add_argument("--parquet", help="export the results to this Parquet file (inside --out)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(_run=run)


def _inside(out_dir: Path, name: str, flag: str) -> Path:
    """Resolve ``name`` relative to ``out_dir`` and refuse paths that leave it."""
    target = (out_dir / name).resolve() if not os.path.isabs(name) else Path(name).resolve()
    root = out_dir.resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{flag} must stay inside the results folder {str(root)!r}, got {name!r}")
    return target


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from phasemix.kernels.backend import resolve_backend
    from phasemix.sim.store import ResultStore, utc_now
    from phasemix.sim.sweep import EXAMPLE_CONFIG, SweepConfig, load_records, plot_learned, run_sweep

    cfg_path = Path(args.config) if args.config else EXAMPLE_CONFIG
    cfg = SweepConfig.from_toml(cfg_path)
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        cfg = replace(cfg, seeds=(args.seed,))
    if args.backend:
        cfg = replace(cfg, backend=args.backend)
    if args.executor:
        cfg = replace(cfg, executor=args.executor)
    if args.workers is not None:
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        cfg = replace(cfg, workers=args.workers)
    out_dir = Path(args.out) if args.out else Path("out") / "simulate" / cfg_path.stem
    plot_path = _inside(out_dir, args.plot, "--plot") if args.plot else None
    parquet_path = _inside(out_dir, args.parquet, "--parquet") if args.parquet else None
    backend = resolve_backend(cfg.backend)
    if args.dry_run:
        from phasemix.kernels.backend import get_kernels

        family = get_kernels(backend).rng_family
        done = ResultStore(out_dir).completed_keys()
        points = cfg.points()
        tasks = cfg.tasks(skip=done, rng_family=family)
        todo = sum(len(t["points"]) for t in tasks)
        print(f"sweep {cfg.name!r}: model {cfg.model}, backend {backend}, {len(points)} settings, "
              f"{len(points) - todo} already in {str(out_dir)!r}, {todo} to run in {len(tasks)} tasks "
              f"({cfg.executor} executor)")
        return 0
    from phasemix.sim.executors import make_executor

    with make_executor(cfg.executor, cfg.workers, address=args.address) as executor:
        summary = run_sweep(cfg, out_dir, executor=executor, progress=not args.quiet)
    print(f"sweep {cfg.name!r}: {summary.ran} settings run, {summary.already_done} already done, "
          f"{summary.failed} failed, results in {str(out_dir / 'results.jsonl')!r}")
    for err in summary.errors:
        print(f"  {err}", file=sys.stderr)
    records = load_records(out_dir)
    if plot_path is not None:
        print(f"plot: {plot_learned(cfg, records, plot_path)}")
    if parquet_path is not None:
        print(f"parquet: {ResultStore(out_dir).to_parquet(parquet_path)}")
    run_json = {"utc": utc_now(), "config_path": str(cfg_path), "config": cfg.to_dict(), "backend": backend,
                "summary": {"total": summary.total, "ran": summary.ran, "already_done": summary.already_done,
                            "failed": summary.failed}}
    from phasemix.results import write_text_atomic

    write_text_atomic(out_dir / "run.json", json.dumps(run_json, indent=2, sort_keys=True))
    return 1 if summary.failed else 0
