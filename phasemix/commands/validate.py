"""``phasemix validate``: small real training runs that test the predictions, with mechanism checks."""

from __future__ import annotations

import shlex
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="train small GPTs on SynBio + web text and check the theory (see docs/validate.md)",
        description="Run a validate experiment (the shipped default when no --config is given), write results.jsonl "
                    "incrementally (a rerun resumes), then report.json and PNG figures into --out.")
    p.add_argument("-c", "--config", default=None, help="experiment TOML (default: the shipped default.toml); "
                   "'smoke', 'default' or 'mitigation' pick a shipped config")
    p.add_argument("-o", "--out", default="out/validate", help="results folder (default: out/validate)")
    p.add_argument("--seed", type=int, default=None, help="base seed (overrides [experiment] seed)")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="torch device (default: cpu)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from existing results")
    p.add_argument("--predict-only", action="store_true",
                   help="configs with [predict]: write DIR/predictions.json (calibrated on earlier runs) and stop, so "
                        "the predictions can be committed before the runs are trained")
    p.add_argument("--executor", choices=("serial", "local", "ray"), default="serial",
                   help="how the runs of one group are trained: serial (default, one after another here), local "
                        "(a process pool of --workers) or ray (a local Ray instance, or the cluster at --address)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes (local) or CPUs of a local Ray instance (default: all cores)")
    p.add_argument("--address", default=None, help="Ray cluster address (HOST:PORT, ray://HOST:PORT or auto); "
                   "only with --executor ray")
    p.set_defaults(_run=run)


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from phasemix.validate.config import load_config, shipped_config

    path = args.config
    if path in ("smoke", "default", "mitigation", "predict_then_measure"):
        path = shipped_config(path)
    cfg = load_config(path)
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        cfg = replace(cfg, seed=args.seed)
    if args.dry_run:
        from phasemix.validate.experiment import plan

        for line in plan(cfg):
            print(line)
        return 0
    from phasemix.validate.experiment import RESULTS, run_experiment
    from phasemix.validate.report import write_report

    out = Path(args.out)
    argv = [a for a in sys.argv[2:] if a not in ("--report-only", "--predict-only")] \
        if sys.argv[1:2] == ["validate"] else []
    command = " ".join(["phasemix validate", *(shlex.quote(a) for a in argv)])
    if args.predict_only and not cfg.predict:
        raise ValueError("--predict-only needs a config with a [predict] table (e.g. --config predict_then_measure)")
    if cfg.predict:
        return _predict_then_measure(args, cfg, out, command)
    failures: list[dict] = []
    if args.report_only:
        results = out / RESULTS
    else:
        executor = _executor(args, cfg)
        try:
            results, failures = run_experiment(cfg, out, device=args.device, executor=executor)
        finally:
            if executor is not None:
                executor.close()
    report = write_report(results, out, cfg.analysis, command=command)
    print(f"report: {report}")
    if failures:
        print(f"{len(failures)} run(s) failed: {', '.join(f['run_id'] for f in failures)}; rerun the same command "
              "to retry them (finished runs are skipped)", file=sys.stderr)
        return 1
    return 0


def _predict_then_measure(args, cfg, out, command: str) -> int:
    """[predict] configs: predictions first (written once, kept), then the runs, then the comparison report."""
    from phasemix.validate import predict as pm
    from phasemix.validate.experiment import RESULTS, run_experiment

    planned = pm.planned_runs(cfg)
    failures: list[dict] = []
    if not args.report_only:
        path = pm.write_predictions(cfg, planned, out)
        print(f"predictions: {path}")
        if args.predict_only:
            return 0
        executor = _executor(args, cfg)
        try:
            _, failures = run_experiment(cfg, out, device=args.device, executor=executor)
        finally:
            if executor is not None:
                executor.close()
    report = pm.write_comparison(out / RESULTS, out, cfg, planned, command=command)
    print(f"report: {report}")
    return 1 if failures else 0


def _executor(args, cfg):
    """None for serial (the in-process path), else a :mod:`phasemix.sim.executors` executor."""
    from phasemix.errors import ConfigError

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        raise ConfigError(f"--address {args.address!r} applies only to --executor ray, got --executor {args.executor}")
    if args.executor == "serial":
        return None
    if args.executor == "ray":
        from phasemix.sim import ray_executor as rx

        if not rx.ray_available():
            raise ImportError(f"--executor ray needs Ray, which is not installed here: {rx.INSTALL_HINT}")
        rx.check_address(args.address)
        return rx.RayExecutor(address=args.address, num_cpus=args.workers if args.address is None else None,
                              cpus_per_point=cfg.threads)
    from phasemix.sim.executors import make_executor

    return make_executor(args.executor, args.workers)
