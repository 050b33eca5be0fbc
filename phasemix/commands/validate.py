"""``phasemix validate``: small real training runs that test the predictions, with mechanism checks."""

from __future__ import annotations

import shlex
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate", help="train small GPTs on SynBio + web text and check the theory (see docs/validate.md)",
        description="Run a validate experiment (the shipped default when no --config is given), write results.jsonl "
                    "incrementally (a rerun resumes), then report.json and PNG figures into --out.")
    p.add_argument("--config", default=None, help="experiment TOML (default: the shipped default.toml); "
                   "'smoke', 'default' or 'mitigation' pick a shipped config")
    p.add_argument("--out", default="out/validate", help="results folder (default: out/validate)")
    p.add_argument("--seed", type=int, default=None, help="base seed (overrides [experiment] seed)")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="torch device (default: cpu)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from existing results")
    p.set_defaults(_run=run)


def run(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from phasemix.validate.config import load_config, shipped_config

    path = args.config
    if path in ("smoke", "default", "mitigation"):
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
    argv = [a for a in sys.argv[2:] if a != "--report-only"] if sys.argv[1:2] == ["validate"] else []
    command = " ".join(["phasemix validate", *(shlex.quote(a) for a in argv)])
    results = out / RESULTS if args.report_only else run_experiment(cfg, out, device=args.device)
    report = write_report(results, out, cfg.analysis, command=command)
    print(f"report: {report}")
    return 0
